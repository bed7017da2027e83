import NIOCore
import NIOEmbedded
import Testing

@testable import FrontProxy

/// The client handler on an `EmbeddedChannel`, with its worker connection an `EmbeddedChannel` too
/// (put in the pool as an idle connection): routing, the head sent to the worker, the response
/// relayed back, and hostctl's own answers, without sockets or threads.
final class EmbeddedProxy {
    let loop = EmbeddedEventLoop()
    let state: ProxyState
    let pool: UpstreamPool
    let client: EmbeddedChannel
    /// The worker connection the next request takes.
    let upstream: EmbeddedChannel

    init(settings: ProxySettings = ProxySettings(), availability: EndpointTable.Availability = .running) throws {
        state = ProxyState(settings: settings)
        pool = UpstreamPool(loop: loop, index: 0, state: state)
        state.update(
            EndpointTable(apps: [
                EndpointTable.App(
                    route: RouteEntry(app: "dante", path: "/dante", hosts: [], stripPrefix: true),
                    availability: availability,
                    workers: [
                        EndpointTable.Worker(endpoint: "/run/dante.sock", slot: 1, generation: 1, maxConcurrent: 8)
                    ],
                    readyTimeout: .seconds(1)),
                EndpointTable.App(
                    route: RouteEntry(app: "gone", path: "/gone", hosts: [], stripPrefix: true),
                    availability: .unavailable, workers: [], readyTimeout: .seconds(1)),
            ]))
        let worker = try #require(state.current.table.app(named: "dante")?.workers.first)
        let handler = UpstreamHandler(worker: worker)
        handler.pool = pool
        upstream = EmbeddedChannel(handler: handler, loop: loop)
        try upstream.connect(to: SocketAddress(unixDomainSocketPath: "/run/dante.sock")).wait()
        worker.idle[0].value.entries.append((upstream, handler))

        client = EmbeddedChannel(loop: loop)
        client.remoteAddress = try SocketAddress(ipAddress: "192.0.2.7", port: 40000)
        try client.pipeline.syncOperations.addHandler(ClientConnectionHandler(state: state, pool: pool))
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
    }

    /// Bytes from the client.
    func send(_ text: String) throws {
        try client.writeInbound(ByteBuffer(string: text))
    }

    /// Bytes from the worker.
    func answer(_ text: String) throws {
        try upstream.writeInbound(ByteBuffer(string: text))
    }

    /// Everything written to the client so far.
    func toClient() throws -> String { try Self.drain(client) }

    /// Everything written to the worker so far.
    func toWorker() throws -> String { try Self.drain(upstream) }

    static func drain(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
        }
        return text
    }

    func finish() {
        _ = try? client.finish()
        _ = try? upstream.finish()
    }
}

/// Fails the first write at once and closes the channel, as a write on a connection the worker
/// has just closed does (EPIPE before the proxy saw the close).
final class BrokenPipe: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.fail(IOError(errnoCode: 32, reason: "write"))
        context.close(promise: nil)
    }
}

@Suite("client handler")
struct ClientHandlerTests {
    @Test func closedConnections_freeTheirHandlers() throws {
        // A handler that keeps its context must let it go when it is removed: the context holds
        // the handler, and a handler that holds its context back was never freed, 430 bytes and
        // more for every client connection the daemon ever accepted.
        weak var client: ClientConnectionHandler?
        weak var upstream: UpstreamHandler?
        do {
            let p = try EmbeddedProxy()
            client = try p.client.pipeline.syncOperations.handler(type: ClientConnectionHandler.self)
            upstream = try p.upstream.pipeline.syncOperations.handler(type: UpstreamHandler.self)
            try p.send("GET /dante/ HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try p.toWorker()
            try p.answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            #expect(try p.toClient().hasSuffix("ok"))
            try p.client.close().wait()
            try p.upstream.close().wait()
            p.loop.run()
        }
        #expect(client == nil, "a closed client connection's handler is freed")
        #expect(upstream == nil, "a closed worker connection's handler is freed")
    }

    @Test func forwardsTheRoutedHead_withForwardingHeaders_andRelaysTheResponseUntouched() throws {
        let p = try EmbeddedProxy()
        defer { p.finish() }
        try p.send(
            "GET /dante/canto?n=1 HTTP/1.1\r\nHost: Example.org:8080\r\nX-Forwarded-For: 10.0.0.1\r\n"
                + "X-Forwarded-Proto: https\r\nX-Forwarded-Prefix: /evil\r\nConnection: keep-alive, X-Secret\r\n"
                + "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: x\r\nUpgrade: h2c\r\n"
                + "Accept: */*\r\n\r\n")
        let head = try p.toWorker()
        #expect(head.hasPrefix("GET /canto?n=1 HTTP/1.1\r\n"), "\(head)")
        #expect(head.contains("\r\nHost: Example.org:8080\r\n"))
        #expect(head.contains("\r\nAccept: */*\r\n"))
        #expect(head.contains("\r\nX-Forwarded-For: 10.0.0.1, 192.0.2.7\r\n"), "\(head)")
        #expect(head.contains("\r\nX-Forwarded-Proto: http\r\n"))
        #expect(head.contains("\r\nX-Forwarded-Host: Example.org:8080\r\n"))
        #expect(head.contains("\r\nX-Forwarded-Prefix: /dante\r\n"))
        for gone in ["/evil", "X-Secret", "Keep-Alive", "TE:", "Proxy-Authorization", "Upgrade", "Connection"] {
            #expect(!head.contains(gone), "\(gone) must not reach the worker: \(head)")
        }
        #expect(head.hasSuffix("\r\n\r\n"))

        let response = "HTTP/1.1 404 Not Found\r\nX-App: own\r\nContent-Length: 9\r\n\r\nnot here!"
        try p.answer(response)
        #expect(try p.toClient() == response, "the app's own answers pass through untouched")
        #expect(p.state.inFlightCount("/run/dante.sock") == 0)
    }

    @Test func bodyAndChunkedFraming_areRelayedAsBytes() throws {
        let p = try EmbeddedProxy()
        defer { p.finish() }
        try p.send("POST /dante/up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel")
        try p.send("lo")
        let sent = try p.toWorker()
        #expect(sent.hasPrefix("POST /up HTTP/1.1\r\n") && sent.hasSuffix("\r\n\r\nhello"), "\(sent)")
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        try p.answer(String(chunked.prefix(50)))
        try p.answer(String(chunked.dropFirst(50)))
        #expect(try p.toClient() == chunked)
    }

    @Test func redirectNotFoundAndStoppedApp_areHostctlsOwnAnswers() throws {
        let p = try EmbeddedProxy()
        defer { p.finish() }
        try p.send("GET /dante?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        let redirect = try p.toClient()
        #expect(redirect.hasPrefix("HTTP/1.1 301 Moved Permanently\r\n"), "\(redirect)")
        #expect(redirect.contains("\r\nLocation: /dante/?x=1\r\n"))
        try p.send("GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try p.toClient().hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        try p.send("GET /gone/ HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try p.toClient().hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(try p.toWorker().isEmpty, "none of them reached the worker")
        #expect(p.client.isActive, "keep-alive answers keep the connection")
    }

    @Test func malformedAndOversized_areRefusedAndClosed() throws {
        var settings = ProxySettings()
        settings.maxBody = 10
        let bad = try EmbeddedProxy(settings: settings)
        defer { bad.finish() }
        try bad.send("GET /dante/ HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(try bad.toClient().hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(!bad.client.isActive)

        let big = try EmbeddedProxy(settings: settings)
        defer { big.finish() }
        try big.send("POST /dante/ HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n")
        #expect(try big.toClient().hasPrefix("HTTP/1.1 413 Content Too Large\r\n"))
        #expect(try big.toWorker().isEmpty)
    }

    @Test func timeouts_408ForASlowHead_504ForASilentWorker() throws {
        var settings = ProxySettings()
        settings.headerTimeout = .seconds(2)
        settings.responseTimeout = .seconds(5)
        let slow = try EmbeddedProxy(settings: settings)
        defer { slow.finish() }
        try slow.send("GET /dante/ HTTP/1.1\r\nHost:")
        slow.loop.advanceTime(by: .seconds(3))
        #expect(try slow.toClient().hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))

        let silent = try EmbeddedProxy(settings: settings)
        defer { silent.finish() }
        try silent.send("GET /dante/ HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try silent.toWorker().hasPrefix("GET / HTTP/1.1\r\n"))
        silent.loop.advanceTime(by: .seconds(6))
        #expect(try silent.toClient().hasPrefix("HTTP/1.1 504 Gateway Timeout\r\n"))
        #expect(!silent.upstream.isActive, "the worker connection is not reused after a timeout")
    }

    @Test func aWriteThatFailsAtOnceOnAPooledConnection_isRetriedOnANewOne() throws {
        let p = try EmbeddedProxy()
        defer { p.finish() }
        try p.upstream.pipeline.syncOperations.addHandler(BrokenPipe(), position: .first)
        let fresh = EmbeddedChannel(loop: p.loop)
        p.pool.connector = { [loop = p.loop] worker in
            let handler = UpstreamHandler(worker: worker)
            handler.pool = p.pool
            try? fresh.pipeline.syncOperations.addHandler(handler)
            _ = fresh.connect(to: try! SocketAddress(unixDomainSocketPath: "/run/dante.sock"))
            return loop.makeSucceededFuture(fresh)
        }
        try p.send("GET /dante/ HTTP/1.1\r\nHost: a\r\n\r\n")
        let head = try EmbeddedProxy.drain(fresh)
        #expect(head.hasPrefix("GET / HTTP/1.1\r\n"), "the request went out again on a new connection: \(head)")
        try fresh.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
        #expect(try p.toClient() == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        _ = try? fresh.finish()
    }

    @Test func workerClosingBeforeAnswering_gives502_forARequestWithABody() throws {
        let p = try EmbeddedProxy()
        defer { p.finish() }
        try p.send("POST /dante/ HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
        _ = try p.toWorker()
        try p.upstream.close().wait()
        #expect(try p.toClient().hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        #expect(p.state.inFlightCount("/run/dante.sock") == 0)
    }
}
