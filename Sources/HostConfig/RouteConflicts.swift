import HostSupport

/// Two apps that would receive the same requests.
///
/// The same `route.path`, and either both without
/// `route.hosts` or with a host in common. `add`, `check`, and the daemon's start, reload and
/// SIGHUP refuse them.
public enum RouteConflicts {
    /// Whether `a` and `b` claim the same requests.
    public static func overlap(_ a: AppConfig, _ b: AppConfig) -> Bool {
        guard a.name != b.name, a.route.path == b.route.path else { return false }
        let hostsA = Set(a.route.hosts)
        let hostsB = Set(b.route.hosts)
        return (hostsA.isEmpty && hostsB.isEmpty) || !hostsA.isDisjoint(with: hostsB)
    }

    /// One problem per pair.
    ///
    /// An app of `apps` whose route an app before it in `apps`, or one of
    /// `others` (apps not being checked now, e.g. those already running), already has. The problem
    /// points at the app's `route.path` (its handler config's first line when that is a default).
    public static func find(
        in apps: [ResolvedApp], others: [AppConfig] = [], handlerPath: (String) -> String
    ) -> [ConfigDiagnostic] {
        var problems: [ConfigDiagnostic] = []
        for (index, app) in apps.enumerated() {
            let earlier = apps[..<index].map(\.config) + others
            for other in earlier where overlap(app.config, other) {
                let location =
                    app.values["route.path"]?.source.location
                    ?? SourceLocation(file: handlerPath(app.config.name), line: 1, column: 1)
                problems.append(
                    ConfigDiagnostic(
                        location,
                        "route \(describe(app.config)) is also the route of app '\(other.name)'; give one of them another route.path or route.hosts"
                    ))
            }
        }
        return problems
    }

    /// `/x`, or `/x` with its hosts.
    static func describe(_ config: AppConfig) -> String {
        config.route.hosts.isEmpty
            ? config.route.path : "\(config.route.path) (hosts \(config.route.hosts.joined(separator: ", ")))"
    }
}
