import FrontProxy
import HostConfig
import Supervision
import Synchronization

/// Keeps the front proxy's endpoint table in step with the supervisors: every app with a valid
/// config has a route; only its ready workers take requests; a stopped or failed app answers 503,
/// a starting one makes requests wait for its first ready worker.
final class RoutingPublisher: Sendable {
    private struct Entry {
        var config: AppConfig
        var snapshot: AppSnapshot?
        /// Before its supervisor's first snapshot: whether the app is about to start.
        var starting = false
        /// Stopped to be started again (`hostctl restart`, `start` with a changed config): requests
        /// wait for the new workers rather than getting 503 in between.
        var restarting = false
    }

    private let proxy: ProxyServer
    private let entries = Mutex([String: Entry]())
    private let lastStatus = Mutex("")
    private let onStatus: @Sendable (String) -> Void

    /// `onStatus` is called with the one-line summary (`2 apps, 3/4 workers ready`) each time it changes.
    init(proxy: ProxyServer, onStatus: @escaping @Sendable (String) -> Void = { _ in }) {
        self.proxy = proxy
        self.onStatus = onStatus
    }

    /// The one-line summary of the apps: `3 apps, 7/8 workers ready`, then the failed apps if any.
    var status: String { entries.withLock { Self.summary($0) } }

    /// The configs of the apps that have a route, by name.
    var configs: [AppConfig] { entries.withLock { $0.values.map(\.config).sorted { $0.name < $1.name } } }

    /// An app's config (new, or changed).
    ///
    /// Its route is published at once. `starting`: the app is about
    /// to start, so requests wait for it until its supervisor says otherwise.
    func configure(_ config: AppConfig, starting: Bool = false) {
        publish {
            $0[config.name] = Entry(
                config: config, snapshot: $0[config.name]?.snapshot, starting: starting,
                restarting: $0[config.name]?.restarting ?? false)
        }
    }

    /// Marks an app as being restarted (or no longer); its supervisor's next state other than
    /// stopping or stopped ends the mark too.
    func restarting(_ name: String, _ flag: Bool) {
        publish { $0[name]?.restarting = flag }
    }

    /// An app's new state, from its supervisor.
    func changed(_ snapshot: AppSnapshot) {
        publish { entries in
            guard entries[snapshot.name] != nil else { return }
            entries[snapshot.name]?.snapshot = snapshot
            if snapshot.state != .stopping && snapshot.state != .stopped { entries[snapshot.name]?.restarting = false }
        }
    }

    /// An app that is gone (removed): its route goes too.
    func remove(_ name: String) {
        publish { $0[name] = nil }
    }

    private func publish(_ change: (inout [String: Entry]) -> Void) {
        let (table, summary) = entries.withLock { entries -> (EndpointTable, String) in
            change(&entries)
            return (EndpointTable(apps: entries.values.map(Self.app)), Self.summary(entries))
        }
        proxy.update(table)
        let changed = lastStatus.withLock { last in
            defer { last = summary }
            return last != summary
        }
        if changed { onStatus(summary) }
    }

    private static func summary(_ entries: [String: Entry]) -> String {
        var ready = 0
        var slots = 0
        var failed: [String] = []
        for (name, entry) in entries {
            guard let snapshot = entry.snapshot, snapshot.state != .stopped else { continue }
            // Slots, not processes: an old worker draining after a reload (or stopping) is on its way out.
            let current = snapshot.workers.filter { $0.state != .draining && $0.state != .stopping }
            slots += current.count
            ready += current.filter { $0.state == .ready }.count
            if snapshot.state == .failed { failed.append(name) }
        }
        var text = "\(entries.count) app\(entries.count == 1 ? "" : "s"), \(ready)/\(slots) workers ready"
        if !failed.isEmpty { text += ", failed: " + failed.sorted().joined(separator: ", ") }
        return text
    }

    private static func app(_ entry: Entry) -> EndpointTable.App {
        let config = entry.config
        let route = RouteEntry(
            app: config.name, path: config.route.path, hosts: config.route.hosts, stripPrefix: config.route.stripPrefix)
        let workers = (entry.snapshot?.workers ?? []).compactMap { worker -> EndpointTable.Worker? in
            guard worker.state == .ready, let endpoint = worker.endpoint else { return nil }
            return EndpointTable.Worker(
                endpoint: endpoint, slot: worker.slot, generation: worker.generation,
                maxConcurrent: config.limits.maxConcurrentRequests, maxRequests: config.limits.maxRequests)
        }
        let availability: EndpointTable.Availability
        switch entry.snapshot?.state {
        case .running?, .reloading?: availability = workers.isEmpty ? .starting : .running
        case .starting?: availability = workers.isEmpty ? .starting : .running
        case nil: availability = entry.starting ? .starting : .unavailable
        case .failed?, .stopped?, .stopping?:
            availability = !workers.isEmpty ? .running : entry.restarting ? .starting : .unavailable
        }
        return EndpointTable.App(
            route: route, availability: availability, workers: workers, readyTimeout: config.ready.timeout)
    }
}
