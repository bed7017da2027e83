import NIOCore
import NIOPosix

/// Idle keep-alive connections to workers, per endpoint, for one event loop.
///
/// Confined to its loop:
/// client connections and the worker connections they use live on the same loop, so a request
/// never hops threads.
final class UpstreamPool {
    let loop: any EventLoop
    private var idle: [String: [any Channel]] = [:]
    static let maxIdlePerEndpoint = 64

    init(loop: any EventLoop) {
        self.loop = loop
    }

    /// An idle connection to `endpoint`, or a new one; `reused` says which.
    func acquire(_ endpoint: String) -> EventLoopFuture<(channel: any Channel, reused: Bool)> {
        while let channel = idle[endpoint]?.popLast() {
            if channel.isActive { return loop.makeSucceededFuture((channel, true)) }
        }
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: false)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler(endpoint: endpoint))
                }
            }
        let connection: EventLoopFuture<any Channel>
        if endpoint.hasPrefix("/") {
            connection = bootstrap.connect(unixDomainSocketPath: endpoint)
        } else {
            let port = Int(endpoint.split(separator: ":").last ?? "") ?? 0
            connection = bootstrap.connect(host: "127.0.0.1", port: port)
        }
        return connection.map { ($0, false) }
    }

    /// Keeps `channel` for reuse (or closes it when the pool for its endpoint is full).
    func release(_ channel: any Channel, endpoint: String) {
        guard channel.isActive else { return }
        if idle[endpoint, default: []].count >= Self.maxIdlePerEndpoint {
            channel.close(promise: nil)
            return
        }
        idle[endpoint, default: []].append(channel)
    }

    /// Forgets a closed connection.
    func remove(_ channel: any Channel, endpoint: String) {
        idle[endpoint]?.removeAll { $0 === channel }
    }

    /// Closes idle connections to endpoints no longer in the table (a replaced or stopped worker).
    func prune(keeping endpoints: Set<String>) {
        for (endpoint, channels) in idle where !endpoints.contains(endpoint) {
            for channel in channels { channel.close(promise: nil) }
            idle[endpoint] = nil
        }
    }
}
