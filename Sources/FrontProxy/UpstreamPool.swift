import NIOCore
import NIOPosix

/// Idle keep-alive connections to workers, per endpoint, for one event loop.
///
/// Confined to its loop:
/// client connections and the worker connections they use live on the same loop, so a request
/// never hops threads.
final class UpstreamPool {
    let loop: any EventLoop
    private var idle: [String: [(channel: any Channel, handler: UpstreamHandler)]] = [:]
    static let maxIdlePerEndpoint = 64

    init(loop: any EventLoop) {
        self.loop = loop
    }

    /// An idle connection to `endpoint` with its handler, when one is pooled (no future, no allocation).
    func takeIdle(_ endpoint: String) -> (channel: any Channel, handler: UpstreamHandler)? {
        while let entry = idle[endpoint]?.popLast() {
            if entry.channel.isActive { return entry }
        }
        return nil
    }

    /// A new connection to `endpoint`.
    func connect(_ endpoint: String) -> EventLoopFuture<any Channel> {
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: false)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler(endpoint: endpoint))
                }
            }
        if endpoint.hasPrefix("/") {
            return bootstrap.connect(unixDomainSocketPath: endpoint)
        }
        let port = Int(endpoint.split(separator: ":").last ?? "") ?? 0
        return bootstrap.connect(host: "127.0.0.1", port: port)
    }

    /// Keeps `channel` for reuse (or closes it when the pool for its endpoint is full).
    func release(_ channel: any Channel, handler: UpstreamHandler, endpoint: String) {
        guard channel.isActive else { return }
        if idle[endpoint, default: []].count >= Self.maxIdlePerEndpoint {
            channel.close(promise: nil)
            return
        }
        idle[endpoint, default: []].append((channel, handler))
    }

    /// Forgets a closed connection.
    func remove(_ channel: any Channel, endpoint: String) {
        idle[endpoint]?.removeAll { $0.channel === channel }
    }

    /// Closes idle connections to endpoints no longer in the table (a replaced or stopped worker).
    func prune(keeping endpoints: Set<String>) {
        for (endpoint, channels) in idle where !endpoints.contains(endpoint) {
            for entry in channels { entry.channel.close(promise: nil) }
            idle[endpoint] = nil
        }
    }
}
