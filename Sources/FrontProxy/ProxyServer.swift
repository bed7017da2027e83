import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The front listener.
///
/// One or more bound sockets, an event loop per thread, and the endpoint table
/// the daemon pushes. Every connection's work stays on its event loop.
public final class ProxyServer: Sendable {
    /// Why a listener could not be bound.
    public struct BindError: Error, Sendable, CustomStringConvertible {
        /// The address that failed.
        public var address: String
        /// What the system said.
        public var reason: String
        /// `cannot listen on 127.0.0.1:80: address already in use`.
        public var description: String { "cannot listen on \(address): \(reason)" }
    }

    /// Receive buffers of client and worker connections: NIO's adaptive sizes, from 512 bytes.
    ///
    /// Each channel keeps its last receive buffer for the next read, for as long as it lives: at
    /// NIO's first size (2 KiB), a held WebSocket kept 4 KiB in its two buffers. A request head or
    /// a small response fits in 512 bytes; a larger read grows the next one at once.
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)

    private let group: MultiThreadedEventLoopGroup
    private let state: ProxyState
    private let pools: [ObjectIdentifier: LoopConfined<UpstreamPool>]
    /// The listening channels, each with the address it was asked for (or the passed fd's name).
    private let listeners = Mutex<[(requested: String, channel: any Channel)]>([])
    private let onAcceptFailure: @Sendable (String) -> Void

    /// A proxy with `threads` event loops (0.
    ///
    /// One per CPU). `onRequestLimit` hears (once) when a
    /// worker with a `maxRequests` was given that many requests.
    /// `onAcceptFailure` hears why the listener cannot take new connections (the open-file limit,
    /// memory), at most once every 10 s while it lasts.
    public init(
        settings: ProxySettings, threads: Int,
        onRequestLimit: @escaping @Sendable (_ app: String, _ worker: EndpointTable.Worker) -> Void = { _, _ in },
        onAcceptFailure: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.onAcceptFailure = onAcceptFailure
        let count = threads > 0 ? threads : System.coreCount
        group = MultiThreadedEventLoopGroup(numberOfThreads: count)
        let state = ProxyState(settings: settings, loops: count, onRequestLimit: onRequestLimit)
        self.state = state
        var pools: [ObjectIdentifier: LoopConfined<UpstreamPool>] = [:]
        for (index, loop) in group.makeIterator().enumerated() {
            pools[ObjectIdentifier(loop)] = LoopConfined(UpstreamPool(loop: loop, index: index, state: state))
        }
        self.pools = pools
    }

    /// Replaces the table every new request reads; idle connections to workers that left are closed.
    public func update(_ table: EndpointTable) {
        let left = state.update(table)
        guard !left.isEmpty else { return }
        for loop in group.makeIterator() {
            guard let pool = pools[ObjectIdentifier(loop)] else { continue }
            loop.execute { pool.value.prune(left) }
        }
    }

    /// Puts new limits and timeouts in force for every request from now on (`proxy.threads` stays
    /// what it was when the proxy started).
    public func apply(_ settings: ProxySettings) {
        state.apply(settings)
    }

    /// Requests in flight to `endpoint` now (for status).
    public func inFlight(_ endpoint: String) -> Int { state.inFlightCount(endpoint) }

    /// Client connections using `endpoint` now: requests in flight plus held upgraded connections.
    public func openConnections(_ endpoint: String) -> Int {
        state.inFlightCount(endpoint) + state.upgradedCount(endpoint)
    }

    /// Binds `address` (`HOST:PORT`, `[IPV6]:PORT`; port 0 picks one) and returns the bound address.
    public func bind(_ address: String) async throws(BindError) -> String {
        let (host, port) = Self.split(address)
        do {
            return try await listen(on: bootstrap().bind(host: host, port: port).get(), requested: address)
        } catch let error as IOError {
            throw BindError(address: address, reason: Self.describe(error.errnoCode))
        } catch {
            throw BindError(address: address, reason: "\(error)")
        }
    }

    /// Serves on `descriptor`, a listening socket bound by someone else (systemd socket activation),
    /// and returns its address.
    public func adopt(descriptor: Int32) async throws(BindError) -> String {
        do {
            return try await listen(
                on: bootstrap().withBoundSocket(descriptor).get(), requested: "passed socket fd \(descriptor)")
        } catch let error as IOError {
            throw BindError(address: "passed socket fd \(descriptor)", reason: Self.describe(error.errnoCode))
        } catch {
            throw BindError(address: "passed socket fd \(descriptor)", reason: "\(error)")
        }
    }

    /// Returns once every event loop ran a task: a wedged loop never lets it return (the watchdog).
    public func ping() async {
        for loop in group.makeIterator() {
            try? await loop.submit {}.get()
        }
    }

    /// Listens on `addresses` from now on.
    ///
    /// Binds those not bound yet (all or none: on a failure the
    /// new ones are closed again and the old ones kept), then closes those no longer wanted. Returns
    /// every bound address, in the order of `addresses`.
    public func rebind(to addresses: [String]) async throws(BindError) -> [String] {
        let existing = listeners.withLock { $0 }
        var added: [(requested: String, channel: any Channel)] = []
        for address in addresses where !existing.contains(where: { $0.requested == address }) {
            do {
                _ = try await bind(address)
                if let channel = listeners.withLock({ $0.last?.channel }) { added.append((address, channel)) }
            } catch {
                for (_, channel) in added { try? await channel.close() }
                listeners.withLock { current in
                    current.removeAll { entry in added.contains { $0.channel === entry.channel } }
                }
                throw error
            }
        }
        let leaving = existing.filter { !addresses.contains($0.requested) }
        listeners.withLock { current in current.removeAll { entry in leaving.contains { $0.channel === entry.channel } }
        }
        for (_, channel) in leaving { try? await channel.close() }
        return listeners.withLock { current in
            addresses.compactMap { address in
                current.first { $0.requested == address }.map { Self.describe($0.channel, address) }
            }
        }
    }

    private func listen(on channel: any Channel, requested: String) -> String {
        listeners.withLock { $0.append((requested, channel)) }
        return Self.describe(channel, requested)
    }

    private static func describe(_ channel: any Channel, _ fallback: String) -> String {
        guard let bound = channel.localAddress, let boundPort = bound.port else { return fallback }
        let boundHost = bound.ipAddress ?? fallback
        return bound.protocol == .inet6 ? "[\(boundHost)]:\(boundPort)" : "\(boundHost):\(boundPort)"
    }

    private func bootstrap() -> ServerBootstrap {
        let state = self.state
        let pools = self.pools
        let onAcceptFailure = self.onAcceptFailure
        return ServerBootstrap(group: group)
            // Out of descriptors (or memory), accept fails while the listener stays readable: without
            // a pause the event loop would spin on it (NIO's AcceptBackoffHandler never gets the read
            // it would delay: the failed accept leaves the channel's read pending).
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptPause(report: onAcceptFailure))
                }
            }
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.maxMessagesPerRead, value: 64)
            // No TCP_NODELAY option for the children: ServerBootstrap sets it on a TCP listener, and
            // Linux gives accepted sockets the listener's setting (no syscall per connection).
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .childChannelOption(.recvAllocator, value: ProxyServer.receiveBuffers)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard state.admit() else {
                        channel.close(promise: nil)
                        return
                    }
                    guard let pool = pools[ObjectIdentifier(channel.eventLoop)] else {
                        state.connectionClosed()
                        channel.close(promise: nil)
                        return
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ClientConnectionHandler(state: state, pool: pool.value))
                }
            }
    }

    /// Closes the listeners and stops the event loops.
    public func shutdown() async {
        let channels = listeners.withLock { $0 }
        for (_, channel) in channels { try? await channel.close() }
        try? await group.shutdownGracefully()
    }

    static func split(_ address: String) -> (String, Int) {
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            let host = String(address[address.index(after: address.startIndex)..<close])
            let port = Int(address[address.index(close, offsetBy: 2)...]) ?? 0
            return (host, port)
        }
        let colon = address.lastIndex(of: ":") ?? address.endIndex
        let port = colon < address.endIndex ? Int(address[address.index(after: colon)...]) ?? 0 : 0
        return (String(address[..<colon]), port)
    }

    static func describe(_ code: Int32) -> String {
        switch code {
        case 98: return "address already in use"
        case 13: return "permission denied"
        case 99: return "cannot assign requested address"
        default: return "error \(code)"
        }
    }
}

/// A value used only on one event loop (the loop whose identifier keys it), handed across
/// threads only to be used there.
struct LoopConfined<Value>: @unchecked Sendable {
    // Invariant: `value` is only touched on its event loop (ProxyServer keys each pool by its loop,
    // and child channels and `update`'s `execute` run on that loop).
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Stops accepting for 100 ms when accept fails for want of descriptors or memory (nginx pauses
/// 500 ms).
///
/// The connections wait in the listen backlog meanwhile. Tells why, once every 10 s at most
/// while it goes on.
final class AcceptPause: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    static let pause = TimeAmount.milliseconds(100)
    private let report: @Sendable (String) -> Void
    private var lastReport: NIODeadline?
    private var paused = false

    init(report: @escaping @Sendable (String) -> Void) {
        self.report = report
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let code = (error as? IOError)?.errnoCode, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(code) else {
            context.fireErrorCaught(error)
            return
        }
        if !paused {
            paused = true
            // Turning auto-read off takes the listener out of epoll; turning it on again puts it back.
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
            context.eventLoop.assumeIsolated().scheduleTask(in: Self.pause) { [self] in
                paused = false
                try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
            }
        }
        let now = NIODeadline.now()
        if let last = lastReport, now - last < .seconds(10) { return }
        lastReport = now
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        report(
            "cannot accept connections: \(String(cString: strerror(code))) (open-file limit \(limit.rlim_cur));"
                + " they wait in the listen backlog, accepting again every 100 ms")
    }
}
