import NIOCore
import Synchronization

/// One ready worker as the proxy's connections see it: the daemon's entry, the counters the
/// balancer reads, and the idle connections each event loop keeps to it.
///
/// Counters are atomics on the worker itself, so picking and releasing a worker takes no lock and
/// hashes nothing; the same object lives on across table updates for as long as its endpoint stays.
final class WorkerState: Sendable {
    let worker: EndpointTable.Worker
    let app: String
    /// Requests in flight.
    let inFlight = Atomic<Int>(0)
    /// Upgraded connections held open.
    let upgraded = Atomic<Int>(0)
    /// Requests given to it (counted only when it has a `maxRequests`).
    let served = Atomic<Int>(0)
    /// Set once it left the table: connections to it are closed after use, not pooled.
    let departed = Atomic<Bool>(false)
    /// Idle keep-alive connections to it, one list per event loop (indexed by `UpstreamPool.index`).
    let idle: [LoopConfined<IdleConnections>]

    /// Until when it is warming up (slow start): it entered the table, ready, `slowStart` before.
    let warmUntil: NIODeadline

    init(worker: EndpointTable.Worker, app: String, loops: Int, warmUntil: NIODeadline) {
        self.worker = worker
        self.app = app
        self.warmUntil = warmUntil
        idle = (0..<loops).map { _ in LoopConfined(IdleConnections()) }
    }

    var endpoint: String { worker.endpoint }

    /// A client connection to it switched protocols and is held open.
    func holdUpgraded() { upgraded.wrappingAdd(1, ordering: .relaxed) }

    /// A held upgraded connection to it closed.
    func releaseUpgraded() { upgraded.wrappingSubtract(1, ordering: .relaxed) }

    /// Whether requests or upgraded connections are open to it.
    var busy: Bool { inFlight.load(ordering: .relaxed) > 0 || upgraded.load(ordering: .relaxed) > 0 }
}

/// The idle connections of one event loop to one worker.
///
/// Touched only on that loop.
final class IdleConnections {
    var entries: [(channel: any Channel, handler: UpstreamHandler)] = []
}

/// The table as the connections use it: apps in the router's order, workers as `WorkerState`s.
final class RoutingTable: Sendable {
    /// A class, so that handing it along a request's path is one reference, not a copy of its fields.
    final class App: Sendable {
        let route: RouteEntry
        let availability: EndpointTable.Availability
        let workers: [WorkerState]
        let readyTimeout: TimeAmount

        init(
            route: RouteEntry, availability: EndpointTable.Availability, workers: [WorkerState],
            readyTimeout: TimeAmount
        ) {
            self.route = route
            self.availability = availability
            self.workers = workers
            self.readyTimeout = readyTimeout
        }
    }

    let router: Router
    /// Aligned with `router.entries`.
    let apps: [App]
    let indexByName: [String: Int]
    /// The limits and timeouts in force (replaced with the table on SIGHUP).
    let settings: ProxySettings
    /// The head parser with those limits.
    let parser: RequestHeadParser

    init(router: Router, apps: [App], settings: ProxySettings) {
        self.router = router
        self.apps = apps
        self.settings = settings
        parser = RequestHeadParser(maxRequestLine: settings.maxRequestLine, maxHeadSize: settings.maxHeadSize)
        var byName: [String: Int] = [:]
        for (index, app) in apps.enumerated() { byName[app.route.app] = index }
        indexByName = byName
    }

    func app(named name: String) -> App? {
        indexByName[name].map { apps[$0] }
    }

}

/// What every connection of the proxy shares: the routing table with the settings in force, the
/// workers' counters, and the connection count.
final class ProxyState: Sendable {
    let loops: Int
    private let table: Mutex<RoutingTable>
    /// The settings' slow start and connection limit, read where no table is at hand.
    private let slowStartNanoseconds: Atomic<Int64>
    private let maxConnections: Atomic<Int>
    /// Bumped on every update; each event loop re-reads the table only when it changed.
    let version = Atomic<Int>(0)
    /// Every worker of the current table, by endpoint, and those that left it with requests or
    /// upgraded connections still open (a draining worker's `open_connections`).
    private let workers = Mutex((current: [String: WorkerState](), departed: [String: WorkerState]()))
    private let connections = Atomic<Int>(0)
    private let onRequestLimit: @Sendable (_ app: String, _ worker: EndpointTable.Worker) -> Void

    init(
        settings: ProxySettings, loops: Int = 1,
        onRequestLimit: @escaping @Sendable (_ app: String, _ worker: EndpointTable.Worker) -> Void = { _, _ in }
    ) {
        self.onRequestLimit = onRequestLimit
        self.loops = loops
        table = Mutex(RoutingTable(router: Router([]), apps: [], settings: settings))
        slowStartNanoseconds = Atomic(TimeAmount(settings.slowStart).nanoseconds)
        maxConnections = Atomic(settings.maxConnections)
    }

    /// Puts `settings` in force for every request from now on (a SIGHUP): the table is the same.
    func apply(_ settings: ProxySettings) {
        slowStartNanoseconds.store(TimeAmount(settings.slowStart).nanoseconds, ordering: .relaxed)
        maxConnections.store(settings.maxConnections, ordering: .relaxed)
        table.withLock { current in
            current = RoutingTable(router: current.router, apps: current.apps, settings: settings)
            version.wrappingAdd(1, ordering: .releasing)
        }
    }

    /// The current table (under the lock: event loops read it through `UpstreamPool.table`).
    var current: (table: RoutingTable, version: Int) {
        table.withLock { ($0, version.load(ordering: .acquiring)) }
    }

    /// Installs `new`; returns the workers that left it (their idle connections are to be closed).
    @discardableResult
    func update(_ new: EndpointTable, now: NIODeadline = .now()) -> [WorkerState] {
        let routes = new.router.entries
        return workers.withLock { registry in
            let known = registry.current
            var next: [String: WorkerState] = [:]
            let apps = routes.map { route -> RoutingTable.App in
                let app = new.apps[route.app]
                let states = (app?.workers ?? []).map { worker -> WorkerState in
                    let state: WorkerState
                    if let existing = known[worker.endpoint], existing.worker == worker, existing.app == route.app {
                        state = existing
                    } else {
                        state = WorkerState(
                            worker: worker, app: route.app, loops: loops,
                            warmUntil: now + .nanoseconds(slowStartNanoseconds.load(ordering: .relaxed)))
                    }
                    next[worker.endpoint] = state
                    return state
                }
                return RoutingTable.App(
                    route: route, availability: app?.availability ?? .unavailable, workers: states,
                    readyTimeout: TimeAmount(app?.readyTimeout ?? .zero))
            }
            let left = known.filter { next[$0.key] !== $0.value }.map(\.value)
            registry.current = next
            registry.departed = registry.departed.filter { $0.value.busy }
            for worker in left {
                worker.departed.store(true, ordering: .relaxed)
                if worker.busy { registry.departed[worker.endpoint] = worker }
            }
            table.withLock { current in
                current = RoutingTable(router: new.router, apps: apps, settings: current.settings)
                version.wrappingAdd(1, ordering: .releasing)
            }
            return left
        }
    }

    /// The ready worker of `app` with the fewest requests in flight, below its limit; its count goes up by one.
    ///
    /// `start` rotates the scan so that ties spread. A worker in its slow start counts as busier
    /// than it is: its in-flight count plus one is divided by its weight, which grows from 1/10 to 1
    /// over `slowStart` after it entered the table (nginx's weighted least-connections with
    /// HAProxy's `slowstart`). Between warm workers that is plain least-in-flight.
    func pick(
        _ app: RoutingTable.App, start: Int, excluding excluded: [WorkerState] = [], now: NIODeadline? = nil
    ) -> WorkerState? {
        let count = app.workers.count
        guard count > 0 else { return nil }
        var now = now
        let slowStart = slowStartNanoseconds.load(ordering: .relaxed)
        while true {
            var best: WorkerState?
            var bestCount = Int.max
            var bestScore = Int.max
            for offset in 0..<count {
                let worker = app.workers[(start &+ offset) % count]
                if !excluded.isEmpty && excluded.contains(where: { $0 === worker }) { continue }
                let load = worker.inFlight.load(ordering: .relaxed)
                guard load < worker.worker.maxConcurrent else { continue }
                var score = (load + 1) * 1000
                if count > 1 && slowStart > 0 {
                    let current = now ?? .now()
                    now = current
                    if current < worker.warmUntil {
                        let left = (worker.warmUntil - current).nanoseconds
                        let weight = max(100, 1000 - Int(left * 1000 / slowStart))
                        score = (load + 1) * 1_000_000 / weight
                    }
                }
                if score < bestScore {
                    best = worker
                    bestCount = load
                    bestScore = score
                }
            }
            guard let best else { return nil }
            // Another loop may have taken the last place meanwhile: then choose again.
            guard
                best.inFlight.compareExchange(expected: bestCount, desired: bestCount + 1, ordering: .relaxed).exchanged
            else { continue }
            if best.worker.maxRequests > 0,
                best.served.wrappingAdd(1, ordering: .relaxed).newValue == best.worker.maxRequests
            {
                onRequestLimit(best.app, best.worker)
            }
            return best
        }
    }

    /// A request to `worker` finished.
    func release(_ worker: WorkerState) {
        worker.inFlight.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Requests in flight to `endpoint`.
    func inFlightCount(_ endpoint: String) -> Int {
        worker(endpoint)?.inFlight.load(ordering: .relaxed) ?? 0
    }

    /// Upgraded connections held open to `endpoint`.
    func upgradedCount(_ endpoint: String) -> Int {
        worker(endpoint)?.upgraded.load(ordering: .relaxed) ?? 0
    }

    private func worker(_ endpoint: String) -> WorkerState? {
        workers.withLock { $0.current[endpoint] ?? $0.departed[endpoint] }
    }

    /// Counts a new client connection; false when the limit is reached.
    func admit() -> Bool {
        let now = connections.wrappingAdd(1, ordering: .relaxed).newValue
        if now > maxConnections.load(ordering: .relaxed) {
            connections.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func connectionClosed() {
        connections.wrappingSubtract(1, ordering: .relaxed)
    }
}
