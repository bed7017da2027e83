import NIOCore

/// The worker's side of an exchange.
///
/// Reads the response, relays its bytes to the client untouched,
/// and follows only its framing to know where it ends. After a `101 Switching Protocols` it relays
/// bytes both ways until either side closes.
final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    enum Body {
        case head
        case length(Int64)
        case chunked(ChunkedFramer)
        case untilClose
    }

    let worker: WorkerState
    /// The client exchange this connection serves now; nil while the connection is idle in the pool.
    var client: ClientConnectionHandler?
    var pool: UpstreamPool?
    /// Whether auto-read is on (tracked here so that a reused connection needs no option lookup).
    private var reading = true
    private var body = Body.head
    private var headBuffer: ByteBuffer?
    private var requestMethod = "GET"
    private var upgradeRequested = false
    private var keepAlive = true
    /// Whether the client made its request in HTTP/1.0.
    private var clientHTTP10 = false
    /// The response head, relayed as the worker wrote it, tells the client the connection ends after it.
    private var closesClient = false
    private(set) var glued = false
    private(set) var sawResponseByte = false
    private var context: ChannelHandlerContext?

    init(worker: WorkerState) {
        self.worker = worker
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The context holds this handler: holding it back past removal would keep both for ever.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Reads the worker's bytes only while the client can take them.
    func setReading(_ on: Bool) {
        guard on != reading, let context else { return }
        reading = on
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: on)
    }

    /// A new request was sent on this connection.
    func begin(client: ClientConnectionHandler, method: String, upgrade: Bool, http10: Bool = false) {
        clientHTTP10 = http10
        closesClient = false
        self.client = client
        requestMethod = method
        upgradeRequested = upgrade
        body = .head
        headBuffer = nil
        sawResponseByte = false
        keepAlive = true
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        guard let client else {
            // Bytes from an idle worker connection: it cannot be reused safely.
            context.close(promise: nil)
            return
        }
        sawResponseByte = true
        if glued {
            client.relayFromUpstream(buffer)
            return
        }
        // Bytes are relayed as one slice per read where possible (a small response's head and body
        // go out in one write): `relayStart` is where the not yet relayed part of `buffer` begins.
        var relayStart = buffer.readerIndex
        // Returns whether it wrote; `last` (the response's end) writes and flushes in one pass.
        @discardableResult func relay(upTo end: Int, last: Bool = false) -> Bool {
            guard end > relayStart else { return false }
            // A view of the bytes between (no copy: only the indices of this copy of the buffer move).
            var slice = buffer
            slice.moveReaderIndex(to: relayStart)
            slice.moveWriterIndex(to: end)
            client.relayFromUpstream(slice, flush: last)
            relayStart = end
            return true
        }
        while buffer.readableBytes > 0 {
            switch body {
            case .head:
                if var pending = headBuffer {
                    pending.writeBuffer(&buffer)
                    headBuffer = nil
                    buffer = pending
                    relayStart = buffer.readerIndex
                }
                let result = buffer.withUnsafeReadableBytes {
                    ResponseHeadParser.parse($0, requestMethod: requestMethod)
                }
                switch result {
                case .incomplete:
                    relay(upTo: buffer.readerIndex)
                    headBuffer = buffer
                    return
                case .invalid(let reason):
                    // Reported once: the close that follows is no second failure.
                    self.client = nil
                    client.upstreamFailed(
                        reason: "invalid response from the worker: \(reason)", responseStarted: false, retryable: false)
                    context.close(promise: nil)
                    return
                case .head(let head):
                    buffer.moveReaderIndex(forwardBy: head.length)
                    if head.status == 101 && upgradeRequested {
                        relay(upTo: buffer.writerIndex)
                        glued = true
                        client.upgraded()
                        return
                    }
                    if head.status < 200 { continue }  // 100 Continue, 103 Early Hints: another head follows.
                    client.responseBegan()
                    keepAlive = head.keepAlive
                    // The client reads the same head: an HTTP/1.0 client keeps its connection only on
                    // `Connection: keep-alive`, an HTTP/1.1 one unless it says close (or is a 1.0 response
                    // without keep-alive). hostctl then closes it too, as RFC 9112 9.6 asks of whoever sent it.
                    closesClient = clientHTTP10 ? !head.saysKeepAlive : !head.keepAlive
                    switch head.framing {
                    case .none:
                        let flushed = relay(upTo: buffer.readerIndex, last: true)
                        finish(context, trailing: buffer.readableBytes, flushed: flushed)
                        return
                    case .length(let length):
                        body = .length(length)
                    case .chunked:
                        body = .chunked(ChunkedFramer(lenientLineEnds: true))
                    case .untilClose:
                        body = .untilClose
                    }
                }
            case .length(let remaining):
                let take = Int(min(Int64(buffer.readableBytes), remaining))
                buffer.moveReaderIndex(forwardBy: take)
                let last = remaining - Int64(take) == 0
                let flushed = relay(upTo: buffer.readerIndex, last: last)
                if last {
                    finish(context, trailing: buffer.readableBytes, flushed: flushed)
                    return
                } else {
                    body = .length(remaining - Int64(take))
                }
            case .chunked(var framer):
                let result = buffer.withUnsafeReadableBytes { framer.consume($0) }
                switch result {
                case .needMore:
                    buffer.moveReaderIndex(to: buffer.writerIndex)
                    relay(upTo: buffer.readerIndex)
                    body = .chunked(framer)
                case .done(let consumed):
                    buffer.moveReaderIndex(forwardBy: consumed)
                    let flushed = relay(upTo: buffer.readerIndex, last: true)
                    finish(context, trailing: buffer.readableBytes, flushed: flushed)
                    return
                case .invalid(let reason):
                    relay(upTo: buffer.readerIndex)
                    self.client = nil
                    client.upstreamFailed(reason: "invalid chunked response: \(reason)", responseStarted: true)
                    context.close(promise: nil)
                    return
                }
            case .untilClose:
                buffer.moveReaderIndex(to: buffer.writerIndex)
                relay(upTo: buffer.readerIndex)
            }
        }
        relay(upTo: buffer.readerIndex)
    }

    /// The response ended.
    ///
    /// Bytes after its end (`trailing`) would be a protocol error: such a
    /// connection is closed, not reused.
    private func finish(_ context: ChannelHandlerContext, trailing: Int, flushed: Bool) {
        let done = client
        client = nil
        body = .head
        done?.responseFinished(reuseUpstream: keepAlive && trailing == 0, closeClient: closesClient, flushed: flushed)
        if trailing > 0 { context.close(promise: nil) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        client?.flushToClient()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        client?.upstreamWritabilityChanged(context.channel.isWritable)
    }

    func channelInactive(context: ChannelHandlerContext) {
        pool?.remove(context.channel, worker: worker)
        guard let client else { return }
        self.client = nil
        if glued {
            client.upstreamClosedAfterUpgrade()
        } else if case .untilClose = body {
            client.responseFinished(reuseUpstream: false, closeClient: true)
        } else {
            client.upstreamFailed(reason: "the worker closed the connection", responseStarted: sawResponseByte)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
