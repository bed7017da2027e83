import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// The client's side of the proxy.
///
/// Parses each request head strictly, routes it, picks a ready
/// worker, forwards the head and relays the body bytes by their framing, then relays the response.
/// Pipelined requests are answered in order: the next head is parsed only after the response to the
/// previous one ended. Reads are requested by hand (auto-read is off), so a slow worker or client
/// slows the other side down instead of filling memory.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        /// Reading or parsing a request head.
        case head
        /// Waiting for a worker (the app is starting, or every worker is at its limit).
        case waiting
        /// Connecting to the worker.
        case connecting
        /// Relaying the request body.
        case body
        /// The request went out; relaying the response.
        case response
        /// After 101: bytes both ways.
        case upgraded
        /// Closing.
        case closed
    }

    /// One request on its way to a worker and back.
    ///
    /// A class, so that updating it copies nothing.
    final class Exchange {
        let head: RequestHead
        let app: String
        /// Bytes of the target's start the worker does not see (the stripped prefix).
        let strip: Int
        /// For `X-Forwarded-Prefix` ("" for none).
        let prefix: String
        var worker: WorkerState
        var reused = false
        /// Set after a reused idle connection failed: the retry opens a new connection.
        var freshOnly = false
        /// Times the request was sent (a send that failed before any response is retried once).
        var attempts = 1
        /// Workers it must not go to: those that refused the connection (it never reached them, so
        /// it goes on to every other ready worker in turn, as nginx's `proxy_next_upstream error`), and
        /// the one whose failure it is retried after.
        var excluded: [WorkerState] = []
        /// Until when it may wait for a worker (the app's ready timeout from its arrival).
        var deadline = NIODeadline.distantFuture
        var upstream: (any Channel)?
        var upstreamHandler: UpstreamHandler?
        var remaining: Int64 = 0
        var framer: ChunkedFramer?
        var bodyBytes: Int64 = 0
        var released = false
        /// The worker's final response head came (not a 100 Continue): no timer for the rest of the body.
        var answered = false

        init(head: RequestHead, app: String, strip: Int, prefix: String, worker: WorkerState) {
            self.head = head
            self.app = app
            self.strip = strip
            self.prefix = prefix
            self.worker = worker
        }
    }

    private let state: ProxyState
    private let pool: UpstreamPool
    private var context: ChannelHandlerContext?
    private var pending: ByteBuffer?
    private var phase = Phase.head
    private var exchange: Exchange?
    private var timer: Scheduled<Void>?
    /// While the client takes no more of what is written to it: closes it after the send timeout.
    private var sendTimer: Scheduled<Void>?
    /// Since when the client has taken none of what is written to it (nil while it keeps up).
    private var stalledSince: NIODeadline?
    private var timerFiresAt: NIODeadline?
    private var deadline: NIODeadline?
    private var deadlineStatus = 0
    private var clientAddress = "unknown"
    private var trusted = false
    /// The worker this connection is glued to after a 101, counted in `open_connections`.
    private var upgradedWorker: WorkerState?

    init(state: ProxyState, pool: UpstreamPool) {
        self.state = state
        self.pool = pool
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let remote = context.channel.remoteAddress {
            clientAddress = remote.ipAddress ?? "unix"
        }
        trusted = pool.table.settings.trustedProxies.contains(clientAddress)
        if context.channel.isActive { start(context) }
    }

    /// The context holds this handler: holding it back past removal would keep both for ever.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private var started = false

    /// Auto-read is off: the first read is asked for once the connection is active.
    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        arm(pool.table.settings.headerTimeout, status: 408)
        resumeReading()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if var unread = pending, unread.readableBytes > 0 {
            unread.writeBuffer(&buffer)
            pending = unread
        } else {
            pending = buffer
        }
        if phase != .head && phase != .body && phase != .upgraded
            && (pending?.readableBytes ?? 0) > pool.table.settings.maxHeadSize
        {
            pauseReading()
        }
        process()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Body bytes are written as they come and flushed once per read; a head without a body was
        // flushed when it was sent.
        if phase == .body { exchange?.upstream?.flush() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Backpressure: stop reading the worker while the client cannot take more.
        let writable = context.channel.isWritable
        exchange?.upstreamHandler?.setReading(writable)
        // A client that stops reading is closed once it took nothing for the send timeout. Lazy, as
        // `arm`: a large response toggles writability on every write, and schedules no task for it.
        if writable {
            stalledSince = nil
        } else if phase != .upgraded {
            let now = pool.loop.now
            stalledSince = now
            if sendTimer == nil { scheduleSendCheck(at: now + TimeAmount(pool.table.settings.sendTimeout), context) }
        }
    }

    private func scheduleSendCheck(at when: NIODeadline, _ context: ChannelHandlerContext) {
        sendTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: when) { [self] in
            sendTimer = nil
            guard let since = stalledSince, phase != .upgraded else { return }
            let due = since + TimeAmount(pool.table.settings.sendTimeout)
            if pool.loop.now < due {
                scheduleSendCheck(at: due, context)
            } else {
                context.close(promise: nil)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseUpgraded()
        phase = .closed
        cancelTimer()
        timer?.cancel()
        timer = nil
        sendTimer?.cancel()
        sendTimer = nil
        state.connectionClosed()
        if let current = exchange {
            releaseWorker(current)
            // A half-done exchange leaves the worker connection in an unknown state: never reuse it.
            current.upstreamHandler?.client = nil
            current.upstream?.close(promise: nil)
            exchange = nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: Requests

    private func process() {
        guard context != nil else { return }
        switch phase {
        case .head:
            guard var buffer = pending, buffer.readableBytes > 0 else {
                pending = nil
                resumeReading()
                return
            }
            let result = buffer.withUnsafeReadableBytes { pool.table.parser.parse($0) }
            switch result {
            case .incomplete:
                resumeReading()
            case .rejected(let rejection):
                respond(rejection.status, rejection.reason, close: true)
            case .head(let head):
                buffer.moveReaderIndex(forwardBy: head.length)
                keep(buffer)
                cancelTimer()
                route(head)
            }
        case .body:
            forwardBody()
        case .upgraded:
            if var buffer = pending, buffer.readableBytes > 0, let upstream = exchange?.upstream {
                pending = nil
                upstream.writeAndFlush(buffer.readSlice(length: buffer.readableBytes) ?? buffer, promise: nil)
            }
            if exchange?.upstream?.isWritable ?? false { resumeReading() } else { pauseReading() }
        case .waiting, .connecting, .response, .closed:
            break
        }
    }

    private func route(_ head: RequestHead) {
        let table = pool.table
        switch table.router.match(host: head.host, path: head.path) {
        case .notFound:
            respond(404, "no app is routed at \(head.path)", close: head.framing != .none || !head.keepAlive)
        case .redirect(let index):
            let location = table.router.location(redirecting: index, query: head.query)
            respond(
                301, "moved to \(location)", close: head.framing != .none || !head.keepAlive,
                extra: [("Location", location)])
        case .forward(let index, let strip):
            let app = table.apps[index]
            let maxBody = table.settings.maxBody
            if maxBody > 0, case .length(let length) = head.framing, length > maxBody {
                respond(413, "the request body is larger than \(maxBody) bytes", close: true)
                return
            }
            dispatch(
                head, app: app, strip: strip, prefix: strip > 0 ? app.route.path : "",
                deadline: pool.loop.now + app.readyTimeout)
        }
    }

    /// Picks a worker now, or waits (bounded by the app's ready timeout) for one.
    ///
    /// It waits while the app is starting, while every worker is at its concurrency limit, or while
    /// every worker the table lists is `excluded`: one that refused the connection or failed the
    /// request has died, and the table will drop it; the workers starting will come. `attempts`: the
    /// times the request was sent already, plus one.
    private func dispatch(
        _ head: RequestHead, app: RoutingTable.App, strip: Int, prefix: String, deadline: NIODeadline,
        excluded: [WorkerState] = [], attempts: Int = 1
    ) {
        guard let context else { return }
        if app.availability == .unavailable {
            respond(503, "\(app.route.app) is not running", close: head.framing != .none || !head.keepAlive)
            return
        }
        guard let worker = state.pick(app, start: pool.nextRotation(), excluding: excluded) else {
            guard pool.loop.now < deadline else {
                if excluded.isEmpty {
                    respond(503, "\(app.route.app) has no ready worker", close: true, extra: [("Retry-After", "5")])
                } else {
                    respond(502, "cannot reach a worker of \(app.route.app)", close: true)
                }
                return
            }
            phase = .waiting
            let name = app.route.app
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(10)) { [self] in
                guard phase == .waiting else { return }
                guard let current = pool.table.app(named: name) else {
                    respond(503, "\(name) is not running", close: true)
                    return
                }
                dispatch(
                    head, app: current, strip: strip, prefix: prefix, deadline: deadline, excluded: excluded,
                    attempts: attempts)
            }
            return
        }
        let exchange = Exchange(head: head, app: app.route.app, strip: strip, prefix: prefix, worker: worker)
        exchange.deadline = deadline
        exchange.excluded = excluded
        exchange.attempts = attempts
        self.exchange = exchange
        connect()
    }

    /// Gets a connection to the exchange's worker (a pooled one at once, else a new one); one that
    /// cannot be reached is retried once on another.
    private func connect() {
        guard let current = exchange else { return }
        phase = .connecting
        if !current.freshOnly, let pooled = pool.takeIdle(current.worker) {
            current.reused = true
            attach(pooled.channel, handler: pooled.handler)
            return
        }
        pool.connect(current.worker).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let channel):
                exchange?.reused = false
                guard let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamHandler.self) else {
                    channel.close(promise: nil)
                    return
                }
                attach(channel, handler: handler)
            case .failure(let error):
                if (error as? IOError)?.errnoCode == EAGAIN, let current = exchange, pool.loop.now < current.deadline {
                    // The worker is up, but its listen backlog is full (a burst of new connections):
                    // the same worker again shortly, as a client of a busy server would.
                    phase = .waiting
                    pool.loop.assumeIsolated().scheduleTask(in: .milliseconds(5)) { [self] in
                        guard phase == .waiting, exchange === current else { return }
                        connect()
                    }
                    return
                }
                // Every worker in the table refused: wait for the table to change (bounded).
                if !retry(unreachable: true), let current = exchange, !redispatch(current) {
                    respond(503, "\(current.app) is not running", close: true)
                }
            }
        }
    }

    /// Ends `current` and dispatches its request again, to a worker other than `current.excluded`
    /// (and `failed`), waiting for one up to the request's deadline.
    ///
    /// False when the app left the table (the request is then the caller's to answer).
    private func redispatch(_ current: Exchange, excluding failed: WorkerState? = nil, attempts: Int = 1) -> Bool {
        releaseWorker(current)
        exchange = nil
        guard let app = pool.table.app(named: current.app) else { return false }
        dispatch(
            current.head, app: app, strip: current.strip, prefix: current.prefix, deadline: current.deadline,
            excluded: current.excluded + (failed.map { [$0] } ?? []), attempts: attempts)
        return true
    }

    /// Moves the exchange to another ready worker.
    ///
    /// False when it cannot be retried. A request that was sent is retried once; one whose
    /// connection was refused (`unreachable`: it reached no worker) goes on to each ready worker that
    /// did not refuse, until one takes it (a worker that died leaves the table only once its exit is
    /// seen). After a reused idle connection failed (`stale`), the worker may not be at fault (it
    /// closed an idle connection), but it may as well have died, which looks the same and leaves it
    /// the least loaded: another ready worker is picked first, and the same one, on a new connection,
    /// only when it is the only one.
    private func retry(stale: Bool = false, unreachable: Bool = false) -> Bool {
        guard let current = exchange, unreachable || current.attempts < 2, phase == .connecting || phase == .response
        else {
            return false
        }
        releaseWorker(current)
        let previous = current.worker
        if stale { current.freshOnly = true }
        if unreachable { current.excluded.append(previous) }
        let excluded = unreachable ? current.excluded : current.excluded + [previous]
        guard let app = pool.table.app(named: current.app),
            let next = state.pick(app, start: pool.nextRotation(), excluding: excluded)
                ?? (stale ? state.pick(app, start: pool.nextRotation(), excluding: current.excluded) : nil)
        else {
            return false
        }
        current.worker = next
        current.released = false
        if !unreachable { current.attempts += 1 }
        current.upstream = nil
        current.upstreamHandler = nil
        current.reused = false
        connect()
        return true
    }

    private func attach(_ upstream: any Channel, handler: UpstreamHandler) {
        guard phase == .connecting, let current = exchange, let context else {
            upstream.close(promise: nil)
            return
        }
        handler.begin(
            client: self, method: current.head.method, upgrade: current.head.upgrade != nil,
            http10: current.head.version == .http10)
        // A pooled connection may have been paused for another client's backpressure: read it as this client allows.
        handler.setReading(context.channel.isWritable)
        current.upstream = upstream
        current.upstreamHandler = handler
        pool.headBuffer.clear()
        HeadWriter.forwarded(
            current.head, strip: current.strip, prefix: current.prefix, clientAddress: clientAddress,
            trusted: trusted, into: &pool.headBuffer)
        let head = pool.headBuffer
        switch current.head.framing {
        case .length(let length):
            upstream.write(head, promise: nil)
            current.remaining = length
            phase = .body
            forwardBody()
        case .chunked:
            upstream.write(head, promise: nil)
            current.framer = ChunkedFramer()
            phase = .body
            forwardBody()
        case .none, .untilClose:
            // No body: the head goes out at once, in one pass through the worker channel's pipeline.
            requestSent(head: head)
        }
    }

    /// Relays the request body bytes already read, by the request's framing.
    private func forwardBody() {
        guard let current = exchange, let upstream = current.upstream else { return }
        guard var buffer = pending, buffer.readableBytes > 0 else {
            waitForBody(upstream)
            return
        }
        var finished = false
        if var framer = current.framer {
            let result = buffer.withUnsafeReadableBytes { framer.consume($0) }
            current.framer = framer
            switch result {
            case .needMore:
                current.bodyBytes += Int64(buffer.readableBytes)
                upstream.write(buffer.readSlice(length: buffer.readableBytes) ?? buffer, promise: nil)
            case .done(let consumed):
                current.bodyBytes += Int64(consumed)
                if let slice = buffer.readSlice(length: consumed) { upstream.write(slice, promise: nil) }
                finished = true
            case .invalid(let reason):
                abandon(status: 400, reason: reason)
                return
            }
        } else {
            let take = Int(min(Int64(buffer.readableBytes), current.remaining))
            if let slice = buffer.readSlice(length: take) { upstream.write(slice, promise: nil) }
            current.remaining -= Int64(take)
            current.bodyBytes += Int64(take)
            finished = current.remaining == 0
        }
        keep(buffer)
        let maxBody = pool.table.settings.maxBody
        if maxBody > 0 && current.bodyBytes > maxBody + 64 {
            abandon(status: 413, reason: "the request body is larger than \(maxBody) bytes")
            return
        }
        if finished {
            requestSent()
        } else {
            waitForBody(upstream)
        }
    }

    /// More of the body is to come: from the client, which may pause up to the body timeout (408
    /// after), or, while the worker takes no more, from the worker's side (bounded by the response
    /// timeout: a worker that neither reads nor answers gives 504).
    private func waitForBody(_ upstream: any Channel) {
        let answered = exchange?.answered ?? true
        if upstream.isWritable {
            resumeReading()
            if !answered { arm(pool.table.settings.bodyTimeout, status: 408) }
        } else {
            pauseReading()
            if !answered { arm(pool.table.settings.responseTimeout, status: 504) }
        }
    }

    /// The worker's final response head arrived (interim 1xx heads aside).
    func responseBegan() {
        exchange?.answered = true
        cancelTimer()
    }

    /// The whole request is out: wait for the response (bounded by the response timeout).
    ///
    /// `head`: a bodiless request's head, written here. The phase changes first: a write that fails
    /// at once (a pooled connection the worker had just closed) reports the failure before the call
    /// returns, and only a request in the response phase is retried.
    private func requestSent(head: ByteBuffer? = nil) {
        guard let upstream = exchange?.upstream else { return }
        phase = .response
        if let head {
            upstream.writeAndFlush(head, promise: nil)
        } else {
            upstream.flush()
        }
        arm(pool.table.settings.responseTimeout, status: 504)
    }

    // MARK: Events from the worker side

    /// Response bytes, relayed untouched; with `flush`, written out at once (a response's last bytes).
    func relayFromUpstream(_ buffer: ByteBuffer, flush: Bool = false) {
        guard let context, phase != .closed else { return }
        if phase == .response || phase == .body { cancelTimer() }
        if flush {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    func flushToClient() {
        context?.flush()
    }

    /// The response ended: hand the worker connection back, then go on with the next request.
    ///
    /// `flushed`: its last bytes were already written out.
    func responseFinished(reuseUpstream: Bool, closeClient: Bool, flushed: Bool = false) {
        guard let context, let current = exchange else { return }
        releaseWorker(current)
        exchange = nil
        // A response that ends before the request body was fully sent leaves the connection unusable.
        let clean = phase == .response
        if let upstream = current.upstream {
            if reuseUpstream && clean {
                current.upstreamHandler?.client = nil
                if let handler = current.upstreamHandler {
                    pool.release(upstream, handler: handler)
                } else {
                    upstream.close(promise: nil)
                }
            } else {
                upstream.close(promise: nil)
            }
        }
        if closeClient || !current.head.keepAlive || !clean {
            phase = .closed
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).assumeIsolated()
                .whenComplete { _ in context.close(promise: nil) }
            return
        }
        if !flushed { context.flush() }
        phase = .head
        arm(pool.table.settings.idleTimeout, status: 0)
        process()
    }

    /// The worker failed.
    ///
    /// Retried once on another worker when no response byte came back, the
    /// request had no body, and the connection was a reused idle one (the worker may have closed it)
    /// or the method is idempotent; else 502, or the client is cut off once the response began.
    /// A worker's answer that is not HTTP (`retryable` false) gets its 502 at once: another worker
    /// of the app would most likely answer the same.
    func upstreamFailed(reason: String, responseStarted: Bool, retryable: Bool = true) {
        guard let current = exchange else { return }
        let idempotent = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"].contains(current.head.method)
        if retryable && !responseStarted && phase == .response && current.head.framing == .none
            && (current.reused || idempotent)
        {
            current.upstream?.close(promise: nil)
            if retry(stale: current.reused) { return }
            // No other worker now (the others are restarting): the retry waits for one, bounded by
            // the ready timeout, and never goes to the one that failed.
            if current.attempts < 2 && redispatch(current, excluding: current.worker, attempts: 2) { return }
        }
        releaseWorker(current)
        current.upstream?.close(promise: nil)
        exchange = nil
        if responseStarted {
            phase = .closed
            context?.flush()
            context?.close(promise: nil)
        } else {
            respond(502, reason, close: true)
        }
    }

    /// 101 Switching Protocols: from now on bytes flow both ways untouched.
    func upgraded() {
        guard let current = exchange else { return }
        cancelTimer()
        // A held upgraded connection does not count against the worker's request limit.
        releaseWorker(current)
        current.worker.holdUpgraded()
        upgradedWorker = current.worker
        phase = .upgraded
        process()
    }

    func upstreamClosedAfterUpgrade() {
        releaseUpgraded()
        phase = .closed
        exchange = nil
        context?.flush()
        context?.close(promise: nil)
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        guard writable else { return }
        if phase == .body, let upstream = exchange?.upstream { waitForBody(upstream) }
        if phase == .upgraded { resumeReading() }
    }

    // MARK: Helpers

    /// Keeps what is left of `buffer` to parse or relay next.
    ///
    /// A drained buffer is dropped, so that
    /// the channel's receive buffer is uniquely owned again and reused for the next read (and a
    /// long keep-alive connection never appends to an ever-growing one).
    private func keep(_ buffer: ByteBuffer) {
        pending = buffer.readableBytes > 0 ? buffer : nil
    }

    /// Reads follow demand with auto-read on (no epoll change per request, as with a manual `read()`
    /// per message); it is turned off only while the worker cannot take the body, or while a client
    /// pipelines more than a head's worth of requests ahead of the responses.
    private var readingPaused = false

    private func resumeReading() {
        guard readingPaused, let context else { return }
        readingPaused = false
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
    }

    private func pauseReading() {
        guard !readingPaused, let context else { return }
        readingPaused = true
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
    }

    private func releaseUpgraded() {
        guard let worker = upgradedWorker else { return }
        upgradedWorker = nil
        worker.releaseUpgraded()
    }

    private func releaseWorker(_ current: Exchange) {
        guard !current.released else { return }
        current.released = true
        state.release(current.worker)
    }

    /// Ends an exchange whose request went wrong after its head was forwarded.
    private func abandon(status: Int, reason: String) {
        guard let current = exchange else { return }
        releaseWorker(current)
        current.upstreamHandler?.client = nil
        current.upstream?.close(promise: nil)
        exchange = nil
        respond(status, reason, close: true)
    }

    /// hostctl's own answer; with `close`, the connection closes after it.
    private func respond(_ status: Int, _ body: String, close: Bool, extra: [(String, String)] = []) {
        guard let context else { return }
        cancelTimer()
        let text = HeadWriter.plain(status, body, close: close, extra: extra)
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        if close {
            phase = .closed
            context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            phase = .head
            arm(pool.table.settings.idleTimeout, status: 0)
            process()
        }
    }

    /// Arms the one timer of the connection: header or body (408), response (504) or idle (close, status 0).
    ///
    /// Lazy: arming only moves `deadline`; a scheduled task exists only when none is pending for an
    /// earlier time, and when it fires before the deadline it reschedules itself. So a request costs
    /// no timer scheduling at all on a busy keep-alive connection.
    private func arm(_ duration: Duration, status: Int) {
        guard let context else { return }
        let when = pool.loop.now + TimeAmount(duration)
        deadline = when
        deadlineStatus = status
        if timer == nil || (timerFiresAt ?? .distantFuture) > when { schedule(at: when, context: context) }
    }

    private func schedule(at when: NIODeadline, context: ChannelHandlerContext) {
        timer?.cancel()
        timerFiresAt = when
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: when) { [self] in
            timer = nil
            timerFiresAt = nil
            guard let deadline else { return }
            if pool.loop.now < deadline {
                schedule(at: deadline, context: context)
                return
            }
            self.deadline = nil
            expire(status: deadlineStatus, context: context)
        }
    }

    private func expire(status: Int, context: ChannelHandlerContext) {
        switch (status, phase) {
        case (0, .head) where (pending?.readableBytes ?? 0) == 0:
            context.close(promise: nil)
        case (0, .head), (408, .head):
            respond(408, "the request head did not arrive in time", close: true)
        case (408, .body):
            abandon(status: 408, reason: "the request body did not arrive in time")
        case (504, _):
            if let upstream = exchange?.upstream {
                exchange?.upstreamHandler?.client = nil
                upstream.close(promise: nil)
            }
            if let current = exchange { releaseWorker(current) }
            exchange = nil
            respond(504, "the worker did not answer in time", close: true)
        default:
            break
        }
    }

    private func cancelTimer() {
        // The scheduled task, if any, finds no deadline and does nothing; it is cancelled on close.
        deadline = nil
    }
}
