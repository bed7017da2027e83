/// How a key's value is written and checked.
public enum ValueKind: Sendable {
    /// An app name: `[a-z0-9][a-z0-9-]{0,62}`.
    case appName
    /// An absolute path.
    case absolutePath
    /// A command: a list of arguments, or one string split with shell-like quoting (never run by a shell).
    case command
    /// A whole number in a range.
    case int(ClosedRange<Int>)
    /// One of a fixed set of words.
    case enumeration([String])
    /// A URL path prefix such as `/dante`.
    case routePath
    /// Host names, exact or `*.example.com`.
    case hostList
    /// `true` or `false`.
    case bool
    /// A map of environment variable names to string values; merged key by key across layers.
    case environment
    /// A user name that exists on this machine, or null.
    case user
    /// A duration such as `30s`; `allowZero` when 0 means "off".
    case duration(allowZero: Bool)
    /// `MIN..MAX`, two durations.
    case backoff
    /// A signal name: `TERM`, `SIGINT`, …
    case signal
    /// Glob patterns relative to the app directory.
    case patterns
    /// A size such as `10MiB`; `allowZero` when 0 means "no limit".
    case bytes(allowZero: Bool)
    /// `ADDR:PORT` addresses, one or a list.
    case listen
    /// IP addresses or CIDR ranges.
    case addresses
}

/// One key of a config file: its dotted path, kind, built-in default and meaning.
public struct ConfigKey: Sendable {
    /// The dotted path, for example `route.path`; `env` stands for every `env.NAME`.
    public let path: String
    /// How the value is written and checked.
    public let kind: ValueKind
    /// The built-in default as config text (`/<name>` for the route), or nil when the key is required.
    public let defaultText: String?
    /// One sentence: what the key does.
    public let summary: String

    init(_ path: String, _ kind: ValueKind, _ defaultText: String?, _ summary: String) {
        self.path = path
        self.kind = kind
        self.defaultText = defaultText
        self.summary = summary
    }

    /// The last component of the path.
    public var name: String { String(path.split(separator: ".").last ?? "") }
}

/// Every key hostctl reads, in the order files are written and documented.
///
/// This table is the one
/// source for decoding, for the files `hostctl add` writes, for `show` and for the documentation test.
public enum ConfigSchema {
    /// The keys of an app handler config (`<home>/apps/<name>.yml`) and of an app override
    /// (`hostctl.yml` in the app's directory, which may not set `name` or `directory`).
    public static let appKeys: [ConfigKey] = [
        ConfigKey("name", .appName, nil, "The app's name; must match the file name."),
        ConfigKey("directory", .absolutePath, nil, "The app's directory (absolute); workers start in it."),
        ConfigKey(
            "command", .command, nil,
            "The worker's argument list, never run through a shell; may use ${PORT}, ${HOSTCTL_APP} and ${HOSTCTL_WORKER}."
        ),
        ConfigKey("workers", .int(0...256), "1", "How many workers to run; 0 means one per CPU."),
        ConfigKey(
            "handoff", .enumeration(["pipe", "port", "fd"]), "pipe",
            "How a worker learns where to listen: pipe (PORT is a Unix socket path), port (a TCP port on 127.0.0.1), fd (a socket passed as fd 3)."
        ),
        ConfigKey("route.path", .routePath, "/<name>", "The URL path prefix routed to this app."),
        ConfigKey(
            "route.hosts", .hostList, "[]",
            "Host names routed to this app (exact or *.example.com); empty matches any host."),
        ConfigKey(
            "route.strip_prefix", .bool, "true",
            "Remove the path prefix before forwarding and send it as X-Forwarded-Prefix."),
        ConfigKey("env", .environment, "{}", "Extra environment variables for the workers; maps merge key by key."),
        ConfigKey("user", .user, "null", "Run the workers as this user (the daemon must run as root)."),
        ConfigKey(
            "ready.mode", .enumeration(["listen", "notify"]), "listen",
            "When a worker is ready: listen (its endpoint accepts) or notify (it sent READY=1)."),
        ConfigKey(
            "ready.timeout", .duration(allowZero: false), "30s",
            "How long a worker may take to become ready before it is killed."),
        ConfigKey(
            "watchdog", .duration(allowZero: true), "0s",
            "With ready.mode notify, how often a worker must send WATCHDOG=1; 0 turns it off."),
        ConfigKey(
            "restart.policy", .enumeration(["on-failure", "always", "never"]), "on-failure",
            "When an exited worker is restarted."),
        ConfigKey(
            "restart.backoff", .backoff, "100ms..30s",
            "The delay before a restart after repeated crashes, doubling from MIN to MAX."),
        ConfigKey("restart.burst", .int(1...10_000), "5", "Crashes within restart.interval that mark the app failed."),
        ConfigKey(
            "restart.interval", .duration(allowZero: false), "60s",
            "The window in which restart.burst crashes are counted."),
        ConfigKey("stop.signal", .signal, "TERM", "The signal sent to a worker's process group to stop it."),
        ConfigKey(
            "stop.timeout", .duration(allowZero: true), "30s", "How long a stopping worker may take before SIGKILL."),
        ConfigKey(
            "watch", .patterns, "[]", "Glob patterns relative to the app directory; a change triggers a rolling reload."
        ),
        ConfigKey(
            "limits.max_memory", .bytes(allowZero: true), "0",
            "A worker above this resident memory is replaced; 0 means no limit."),
        ConfigKey(
            "limits.max_requests", .int(0...Int(Int32.max)), "0",
            "A worker is replaced after this many requests; 0 means no limit."),
        ConfigKey(
            "limits.max_concurrent_requests", .int(1...1_000_000), "1024", "Requests one worker is given at once."),
        ConfigKey(
            "logs.max_size", .bytes(allowZero: false), "10MiB", "A log file is rotated when it reaches this size."),
        ConfigKey(
            "logs.max_files", .int(1...1000), "5", "How many log files to keep per app, the current one included."),
        ConfigKey(
            "logs.target", .enumeration(["file", "journal", "both"]), "file",
            "Where worker output goes: files, the systemd journal, or both."),
    ]

    /// The keys of the global config (`<home>/hostctl.yml`), apart from `defaults`, which takes
    /// any app key except `name` and `directory`.
    public static let globalKeys: [ConfigKey] = [
        ConfigKey(
            "listen", .listen, "127.0.0.1:8080",
            "The front listener's address(es), ADDR:PORT; port 0 picks a free port."),
        ConfigKey(
            "proxy.max_request_line", .bytes(allowZero: false), "8KiB", "The longest request line accepted (414 above)."
        ),
        ConfigKey(
            "proxy.max_header_size", .bytes(allowZero: false), "32KiB",
            "The largest request header block accepted (431 above)."),
        ConfigKey(
            "proxy.max_body", .bytes(allowZero: true), "100MiB",
            "The largest request body accepted (413 above); 0 means no limit."),
        ConfigKey(
            "proxy.header_timeout", .duration(allowZero: false), "10s",
            "How long a client may take to send the request head (408 after)."),
        ConfigKey(
            "proxy.body_timeout", .duration(allowZero: false), "60s",
            "How long a client may pause while sending a request body (408 after)."),
        ConfigKey(
            "proxy.send_timeout", .duration(allowZero: false), "60s",
            "How long a client may take none of the response bytes sent to it before it is closed."),
        ConfigKey(
            "proxy.response_timeout", .duration(allowZero: false), "60s",
            "How long a worker may take to send the first response byte (504 after)."),
        ConfigKey(
            "proxy.idle_timeout", .duration(allowZero: false), "75s",
            "How long an idle keep-alive client connection is kept open."),
        ConfigKey("proxy.max_connections", .int(1...10_000_000), "10000", "The most client connections held at once."),
        ConfigKey(
            "proxy.slow_start", .duration(allowZero: true), "1s",
            "How long a worker that just became ready takes to reach its full share of requests; 0 turns it off."),
        ConfigKey("proxy.threads", .int(0...1024), "0", "Proxy event-loop threads; 0 means one per CPU."),
        ConfigKey(
            "proxy.trusted_proxies", .addresses, "[]", "Addresses or CIDR ranges whose X-Forwarded-* headers are kept."),
    ]

    /// App keys that only the handler config may set.
    public static let handlerOnlyKeys: Set<String> = ["name", "directory"]

    /// The sections (nested mappings) and what they hold, for comments and documentation.
    public static let sectionSummaries: [String: String] = [
        "route": "Which requests reach this app.",
        "ready": "When a new worker starts receiving traffic.",
        "restart": "What happens when a worker exits.",
        "stop": "How a worker is stopped.",
        "limits": "Per-worker limits; a worker past one is replaced gracefully.",
        "logs": "Where worker output goes and how much is kept.",
        "proxy": "Front proxy limits and timeouts.",
        "defaults": "Any app key except name and directory, applied below every handler config.",
    ]

    /// The app key at `path`, if any (`env.X` maps to `env`).
    public static func appKey(_ path: String) -> ConfigKey? {
        let lookup = path.hasPrefix("env.") ? "env" : path
        return appKeys.first { $0.path == lookup }
    }

    /// Every dotted path of both files, for the documentation test.
    public static var documentedPaths: [String] {
        appKeys.map(\.path) + globalKeys.map(\.path) + ["defaults"]
    }
}
