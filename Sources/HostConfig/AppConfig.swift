import HostSupport

/// One app's effective configuration: built-in defaults, then the global `defaults:`, then the
/// handler config, then the app override (DESIGN.md, Words).
public struct AppConfig: Sendable, Hashable {
    /// How a worker learns where to listen.
    public enum Handoff: String, Sendable, Hashable {
        case pipe, port, fd
    }
    /// When a worker counts as ready.
    public enum ReadyMode: String, Sendable, Hashable {
        case listen, notify
    }
    /// When an exited worker is restarted.
    public enum RestartPolicy: String, Sendable, Hashable {
        case onFailure = "on-failure"
        case always, never
    }
    /// Where worker output goes.
    public enum LogTarget: String, Sendable, Hashable {
        case file, journal, both
    }
    /// Which requests reach the app.
    public struct Route: Sendable, Hashable {
        /// The path prefix, normalised (`/dante`, or `/`).
        public var path: String
        /// Lower-cased host names, exact or `*.` wildcards; empty matches any host.
        public var hosts: [String]
        /// Whether the prefix is removed before forwarding.
        public var stripPrefix: Bool
    }
    /// Readiness settings.
    public struct Ready: Sendable, Hashable {
        /// How readiness is detected.
        public var mode: ReadyMode
        /// How long a worker may take to become ready.
        public var timeout: Duration
    }
    /// Restart settings.
    public struct Restart: Sendable, Hashable {
        /// When to restart.
        public var policy: RestartPolicy
        /// The restart delay after repeated crashes, doubling from the lower to the upper bound.
        public var backoff: ClosedRange<Duration>
        /// Crashes within `interval` that mark the app failed.
        public var burst: Int
        /// The window for `burst`.
        public var interval: Duration
    }
    /// Stop settings.
    public struct Stop: Sendable, Hashable {
        /// The signal name without `SIG` (`TERM`).
        public var signal: String
        /// How long before SIGKILL.
        public var timeout: Duration
    }
    /// Per-worker limits; 0 means no limit.
    public struct Limits: Sendable, Hashable {
        /// Resident memory above which a worker is replaced.
        public var maxMemory: ByteCount
        /// Requests after which a worker is replaced.
        public var maxRequests: Int
        /// Requests a worker is given at once.
        public var maxConcurrentRequests: Int
    }
    /// Log settings.
    public struct Logs: Sendable, Hashable {
        /// Rotation size.
        public var maxSize: ByteCount
        /// Files kept, the current one included.
        public var maxFiles: Int
        /// Where output goes.
        public var target: LogTarget
    }

    public var name: String
    public var directory: String
    /// The argument list with `${PORT}`-style references unexpanded.
    public var command: [String]
    /// Worker count; 0 means one per CPU.
    public var workers: Int
    public var handoff: Handoff
    public var route: Route
    public var env: [String: String]
    /// The user to run workers as, or nil for the daemon's own user.
    public var user: String?
    public var ready: Ready
    /// 0 means off.
    public var watchdog: Duration
    public var restart: Restart
    public var stop: Stop
    public var watch: [String]
    public var limits: Limits
    public var logs: Logs
}

/// An app's effective config with the source of every value, as `hostctl show` prints it.
public struct ResolvedApp: Sendable {
    /// The typed config.
    public var config: AppConfig
    /// Every leaf (`route.path`, `env.NODE_ENV`) with its value and where it came from.
    public var values: [String: (value: ConfigValue, source: ConfigSource)]

    /// Merges the layers, lowest precedence first; every layer must have decoded cleanly.
    ///
    /// Throws when a required key (name, directory, command) is set by no layer.
    public static func resolve(
        name: String, globalDefaults: ConfigLayer, handler: ConfigLayer, handlerFile: String, override: ConfigLayer?
    ) -> Result<ResolvedApp, ConfigDiagnostic> {
        var merged: [String: (value: ConfigValue, source: ConfigSource)] = [:]
        for (path, leaf) in ConfigDecoder.builtInLayer(appName: name).values { merged[path] = (leaf.value, .builtIn) }
        for (path, leaf) in globalDefaults.values { merged[path] = (leaf.value, .globalDefaults(leaf.location)) }
        for (path, leaf) in handler.values { merged[path] = (leaf.value, .handler(leaf.location)) }
        for (path, leaf) in override?.values ?? [:] { merged[path] = (leaf.value, .override(leaf.location)) }
        for required in ["name", "directory", "command"] where merged[required] == nil {
            return .failure(
                ConfigDiagnostic(.init(file: handlerFile, line: 1, column: 1), "missing key '\(required)'"))
        }
        return .success(ResolvedApp(config: AppConfig(leaves: merged.mapValues(\.value)), values: merged))
    }

    /// The leaves in schema order (env entries sorted by name), for display.
    public var orderedPaths: [String] {
        ConfigSchema.appKeys.flatMap { key -> [String] in
            if case .environment = key.kind {
                return values.keys.filter { $0.hasPrefix("env.") }.sorted()
            }
            return values[key.path] == nil ? [] : [key.path]
        }
    }
}

extension AppConfig {
    /// Builds the typed config from merged leaves that the decoder already checked.
    init(leaves: [String: ConfigValue]) {
        func string(_ path: String) -> String {
            guard case .string(let text)? = leaves[path] else { preconditionFailure("internal inconsistency: \(path)") }
            return text
        }
        func int(_ path: String) -> Int {
            guard case .int(let number)? = leaves[path] else { preconditionFailure("internal inconsistency: \(path)") }
            return number
        }
        func strings(_ path: String) -> [String] {
            guard case .strings(let list)? = leaves[path] else {
                preconditionFailure("internal inconsistency: \(path)")
            }
            return list
        }
        func duration(_ path: String) -> Duration {
            guard case .duration(let value)? = leaves[path] else {
                preconditionFailure("internal inconsistency: \(path)")
            }
            return value
        }
        func bytes(_ path: String) -> ByteCount {
            guard case .bytes(let value)? = leaves[path] else { preconditionFailure("internal inconsistency: \(path)") }
            return value
        }
        func word<T: RawRepresentable<String>>(_ path: String) -> T {
            guard let value = T(rawValue: string(path)) else { preconditionFailure("internal inconsistency: \(path)") }
            return value
        }
        guard case .bool(let strip)? = leaves["route.strip_prefix"],
            case .backoff(let backoff)? = leaves["restart.backoff"]
        else { preconditionFailure("internal inconsistency: route.strip_prefix or restart.backoff") }
        var env: [String: String] = [:]
        for (path, value) in leaves where path.hasPrefix("env.") {
            if case .string(let text) = value { env[String(path.dropFirst(4))] = text }
        }
        self.init(
            name: string("name"), directory: string("directory"), command: strings("command"), workers: int("workers"),
            handoff: word("handoff"),
            route: Route(path: string("route.path"), hosts: strings("route.hosts"), stripPrefix: strip),
            env: env, user: leaves["user"]?.stringValue,
            ready: Ready(mode: word("ready.mode"), timeout: duration("ready.timeout")),
            watchdog: duration("watchdog"),
            restart: Restart(
                policy: word("restart.policy"), backoff: backoff, burst: int("restart.burst"),
                interval: duration("restart.interval")),
            stop: Stop(signal: string("stop.signal"), timeout: duration("stop.timeout")),
            watch: strings("watch"),
            limits: Limits(
                maxMemory: bytes("limits.max_memory"), maxRequests: int("limits.max_requests"),
                maxConcurrentRequests: int("limits.max_concurrent_requests")),
            logs: Logs(maxSize: bytes("logs.max_size"), maxFiles: int("logs.max_files"), target: word("logs.target")))
    }
}
