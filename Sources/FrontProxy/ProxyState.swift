import NIOCore
import Synchronization

/// What every connection of the proxy shares: the endpoint table, the in-flight counts that the
/// balancer reads, and the connection count.
final class ProxyState: Sendable {
    let settings: ProxySettings
    let parser: RequestHeadParser
    private let table = Mutex(EndpointTable.empty)
    private let inFlight = Mutex([String: Int]())
    private let upgraded = Mutex([String: Int]())
    private let connections = Atomic<Int>(0)
    private let rotation = Atomic<Int>(0)
    /// Requests given to each worker with a `maxRequests`, and who hears when one reaches it.
    private let served = Mutex([String: Int]())
    private let onRequestLimit: @Sendable (_ app: String, _ worker: EndpointTable.Worker) -> Void

    init(
        settings: ProxySettings,
        onRequestLimit: @escaping @Sendable (_ app: String, _ worker: EndpointTable.Worker) -> Void = { _, _ in }
    ) {
        self.onRequestLimit = onRequestLimit
        self.settings = settings
        parser = RequestHeadParser(maxRequestLine: settings.maxRequestLine, maxHeadSize: settings.maxHeadSize)
    }

    var snapshot: EndpointTable { table.withLock { $0 } }

    func update(_ new: EndpointTable) {
        table.withLock { $0 = new }
    }

    /// The ready worker of `app` with the fewest requests in flight, below its limit; its count goes up by one.
    func pick(_ app: EndpointTable.App, excluding excluded: Set<String> = []) -> EndpointTable.Worker? {
        guard !app.workers.isEmpty else { return nil }
        let start = rotation.wrappingAdd(1, ordering: .relaxed).oldValue
        return inFlight.withLock { counts in
            var best: EndpointTable.Worker?
            var bestCount = Int.max
            for offset in 0..<app.workers.count {
                let worker = app.workers[(start &+ offset) % app.workers.count]
                if excluded.contains(worker.endpoint) { continue }
                let count = counts[worker.endpoint, default: 0]
                if count < worker.maxConcurrent && count < bestCount {
                    best = worker
                    bestCount = count
                }
            }
            if let best { counts[best.endpoint, default: 0] += 1 }
            return best
        }.map { worker in
            if worker.maxRequests > 0 {
                let reached = served.withLock { served in
                    served[worker.endpoint, default: 0] += 1
                    return served[worker.endpoint] == worker.maxRequests
                }
                if reached { onRequestLimit(app.route.app, worker) }
            }
            return worker
        }
    }

    /// A request to `endpoint` finished.
    func release(_ endpoint: String) {
        inFlight.withLock { counts in
            let value = counts[endpoint, default: 1] - 1
            counts[endpoint] = value > 0 ? value : nil
        }
    }

    /// Requests in flight to `endpoint`.
    func inFlightCount(_ endpoint: String) -> Int { inFlight.withLock { $0[endpoint, default: 0] } }

    /// Upgraded connections held open to `endpoint`.
    func upgradedCount(_ endpoint: String) -> Int { upgraded.withLock { $0[endpoint, default: 0] } }

    /// A connection to `endpoint` switched protocols and is held open.
    func holdUpgraded(_ endpoint: String) {
        upgraded.withLock { $0[endpoint, default: 0] += 1 }
    }

    /// An upgraded connection to `endpoint` closed.
    func releaseUpgraded(_ endpoint: String) {
        upgraded.withLock { counts in
            let value = counts[endpoint, default: 1] - 1
            counts[endpoint] = value > 0 ? value : nil
        }
    }

    /// Counts a new client connection; false when the limit is reached.
    func admit() -> Bool {
        let now = connections.wrappingAdd(1, ordering: .relaxed).newValue
        if now > settings.maxConnections {
            connections.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func connectionClosed() {
        connections.wrappingSubtract(1, ordering: .relaxed)
    }
}
