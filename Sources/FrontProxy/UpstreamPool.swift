import NIOCore
import NIOPosix
import Synchronization

/// What one event loop keeps for its connections: its copy of the routing table, the balancer's
/// rotation, and the idle keep-alive connections to workers (on each `WorkerState`, in this loop's slot).
///
/// Confined to its loop: client connections and the worker connections they use live on the same
/// loop, so a request never hops threads, takes no lock and touches no cache line another loop writes
/// except the worker's in-flight counter.
final class UpstreamPool {
    let loop: any EventLoop
    /// This loop's slot in `WorkerState.idle`.
    let index: Int
    private let state: ProxyState
    private var cached: RoutingTable
    private var cachedVersion: Int
    private var rotation = 0
    /// Where forwarded heads are written: the same storage serves request after request (it is
    /// copied only when a previous head is still waiting to be written).
    var headBuffer = ByteBufferAllocator().buffer(capacity: 1024)
    static let maxIdlePerEndpoint = 64

    init(loop: any EventLoop, index: Int, state: ProxyState) {
        self.loop = loop
        self.index = index
        self.state = state
        (cached, cachedVersion) = state.current
    }

    /// The current routing table with the settings in force: one atomic load per request, the lock
    /// only after an update.
    var table: RoutingTable {
        if state.version.load(ordering: .acquiring) != cachedVersion {
            (cached, cachedVersion) = state.current
        }
        return cached
    }

    /// Where the next pick starts scanning an app's workers.
    func nextRotation() -> Int {
        rotation &+= 1
        return rotation
    }

    /// An idle connection to `worker` with its handler, when one is pooled (no future, no allocation).
    func takeIdle(_ worker: WorkerState) -> (channel: any Channel, handler: UpstreamHandler)? {
        let idle = worker.idle[index].value
        while let entry = idle.entries.popLast() {
            if entry.channel.isActive { return entry }
        }
        return nil
    }

    /// Makes new connections instead of `ClientBootstrap` (tests on an embedded event loop).
    var connector: ((WorkerState) -> EventLoopFuture<any Channel>)?

    /// A new connection to `worker`.
    func connect(_ worker: WorkerState) -> EventLoopFuture<any Channel> {
        if let connector { return connector(worker) }
        // The initializer runs on this pool's loop (the bootstrap's group is that loop alone).
        let pool = LoopConfined(self)
        // ClientBootstrap sets TCP_NODELAY on a TCP connection by default (and nothing on a Unix socket).
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.allowRemoteHalfClosure, value: false)
            .channelOption(.recvAllocator, value: ProxyServer.receiveBuffers)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = UpstreamHandler(worker: worker)
                    handler.pool = pool.value
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let endpoint = worker.endpoint
        if endpoint.hasPrefix("/") {
            return bootstrap.connect(unixDomainSocketPath: endpoint)
        }
        let port = Int(endpoint.split(separator: ":").last ?? "") ?? 0
        return bootstrap.connect(host: "127.0.0.1", port: port)
    }

    /// Keeps `channel` for reuse (or closes it when the pool for its worker is full).
    func release(_ channel: any Channel, handler: UpstreamHandler) {
        guard channel.isActive else { return }
        guard !handler.worker.departed.load(ordering: .relaxed) else {
            channel.close(promise: nil)
            return
        }
        let idle = handler.worker.idle[index].value
        if idle.entries.count >= Self.maxIdlePerEndpoint {
            channel.close(promise: nil)
            return
        }
        idle.entries.append((channel, handler))
    }

    /// Forgets a closed connection.
    func remove(_ channel: any Channel, worker: WorkerState) {
        let idle = worker.idle[index].value
        if let position = idle.entries.firstIndex(where: { $0.channel === channel }) {
            idle.entries.remove(at: position)
        }
    }

    /// Closes this loop's idle connections to workers that left the table (a replaced or stopped worker).
    func prune(_ left: [WorkerState]) {
        for worker in left {
            let idle = worker.idle[index].value
            let entries = idle.entries
            idle.entries = []
            for entry in entries { entry.channel.close(promise: nil) }
        }
    }
}
