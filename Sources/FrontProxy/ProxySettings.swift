import NIOCore

/// The front proxy's limits and timeouts (`proxy:` in the global config; DESIGN.md defaults).
public struct ProxySettings: Sendable {
    /// The longest request line (414 above).
    public var maxRequestLine = 8192
    /// The largest request head (431 above).
    public var maxHeadSize = 32768
    /// The largest request body in bytes (413 above); 0 means no limit.
    public var maxBody: Int64 = 100 << 20
    /// How long a client may take to send a request head (408 after).
    public var headerTimeout = Duration.seconds(10)
    /// How long a client may pause while sending a request body (408 after, as nginx's
    /// `client_body_timeout`): a stalled upload does not hold a worker's place for ever.
    public var bodyTimeout = Duration.seconds(60)
    /// How long a client may take none of the response bytes sent to it before its connection is
    /// closed (as nginx's `send_timeout`).
    ///
    /// A client that stops reading does not hold a worker's
    /// place for ever. Upgraded connections are left alone.
    public var sendTimeout = Duration.seconds(60)
    /// How long a worker may take to send the first response byte (504 after).
    public var responseTimeout = Duration.seconds(60)
    /// How long an idle keep-alive client connection is kept.
    public var idleTimeout = Duration.seconds(75)
    /// The most client connections at once.
    public var maxConnections = 10000
    /// Client addresses whose X-Forwarded-Proto, -Host and -Prefix are kept.
    public var trustedProxies: [String] = []
    /// How long a worker that just became ready takes to reach its full share of new requests
    /// (slow start: a replacement's cold first requests do not collect a queue); zero turns it off.
    public var slowStart = Duration.seconds(1)

    /// The defaults of DESIGN.md.
    public init() {}
}

extension TimeAmount {
    /// The same span as a NIO time amount.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
