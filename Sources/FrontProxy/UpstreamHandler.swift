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

    let endpoint: String
    /// The client exchange this connection serves now; nil while the connection is idle in the pool.
    var client: ClientConnectionHandler?
    var pool: UpstreamPool?
    private var body = Body.head
    private var headBuffer: ByteBuffer?
    private var requestMethod = "GET"
    private var upgradeRequested = false
    private var keepAlive = true
    private(set) var glued = false
    private(set) var sawResponseByte = false
    private var context: ChannelHandlerContext?

    init(endpoint: String) {
        self.endpoint = endpoint
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// A new request was sent on this connection.
    func begin(client: ClientConnectionHandler, method: String, upgrade: Bool) {
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
        while buffer.readableBytes > 0 {
            switch body {
            case .head:
                if headBuffer == nil {
                    headBuffer = buffer
                } else {
                    headBuffer?.writeBuffer(&buffer)
                }
                buffer.clear()
                guard var pending = headBuffer else { return }
                let result = pending.withUnsafeReadableBytes {
                    ResponseHeadParser.parse($0, requestMethod: requestMethod)
                }
                switch result {
                case .incomplete:
                    return
                case .invalid(let reason):
                    headBuffer = nil
                    client.upstreamFailed(reason: "invalid response from the worker: \(reason)", responseStarted: false)
                    context.close(promise: nil)
                    return
                case .head(let head):
                    headBuffer = nil
                    let headBytes = pending.readSlice(length: head.length) ?? ByteBuffer()
                    client.relayFromUpstream(headBytes)
                    buffer = pending
                    if head.status == 101 && upgradeRequested {
                        glued = true
                        client.upgraded()
                        if buffer.readableBytes > 0 { client.relayFromUpstream(buffer) }
                        return
                    }
                    if head.status < 200 { continue }  // 100 Continue, 103 Early Hints: another head follows.
                    keepAlive = head.keepAlive
                    switch head.framing {
                    case .none:
                        finish()
                    case .length(let length):
                        body = .length(length)
                    case .chunked:
                        body = .chunked(ChunkedFramer())
                    case .untilClose:
                        body = .untilClose
                    }
                }
            case .length(let remaining):
                let take = Int(min(Int64(buffer.readableBytes), remaining))
                if let slice = buffer.readSlice(length: take) { client.relayFromUpstream(slice) }
                if remaining - Int64(take) == 0 {
                    finish()
                } else {
                    body = .length(remaining - Int64(take))
                }
            case .chunked(var framer):
                let result = buffer.withUnsafeReadableBytes { framer.consume($0) }
                switch result {
                case .needMore:
                    client.relayFromUpstream(buffer)
                    buffer.clear()
                    body = .chunked(framer)
                case .done(let consumed):
                    if let slice = buffer.readSlice(length: consumed) { client.relayFromUpstream(slice) }
                    finish()
                case .invalid(let reason):
                    client.upstreamFailed(reason: "invalid chunked response: \(reason)", responseStarted: true)
                    context.close(promise: nil)
                    return
                }
            case .untilClose:
                client.relayFromUpstream(buffer)
                buffer.clear()
            }
        }
    }

    private func finish() {
        let done = client
        client = nil
        body = .head
        // Bytes after the end of a response would be a protocol error: such a connection is not reused.
        done?.responseFinished(reuseUpstream: keepAlive, closeClient: false)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        client?.flushToClient()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        client?.upstreamWritabilityChanged(context.channel.isWritable)
    }

    func channelInactive(context: ChannelHandlerContext) {
        pool?.remove(context.channel, endpoint: endpoint)
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
