/// The control protocol's version; a request of another version gets `unsupported_version`.
public let controlProtocolVersion = 1

/// One request from the CLI to the daemon: one JSON object on one line.
public struct ControlRequest: Codable, Sendable {
    /// What to do.
    public enum Command: String, Codable, Sendable {
        case start, stop, restart, status, shutdown, forget, reload
    }

    /// The protocol version the client speaks.
    public var version: Int
    /// What to do.
    public var command: Command
    /// The apps it concerns; empty with `all` (or for status: every app).
    public var apps: [String]
    /// Every app.
    public var all: Bool
    /// For start and restart: answer only once every worker is ready (or one failed).
    public var wait: Bool
    /// For start: this command launched the daemon, which began starting the apps on its own; an app
    /// stopped since then stays stopped (the stop came after this start was typed).
    public var launchedDaemon: Bool?

    /// Creates a request.
    public init(
        command: Command, apps: [String] = [], all: Bool = false, wait: Bool = true, launchedDaemon: Bool? = nil
    ) {
        version = controlProtocolVersion
        self.command = command
        self.apps = apps
        self.all = all
        self.wait = wait
        self.launchedDaemon = launchedDaemon
    }
}

/// A failure, with a stable code that the CLI maps to its exit code in one table.
public struct ControlFailure: Codable, Sendable, Error {
    /// `app_not_found`, `invalid_config`, `not_ready`, `bad_request`, `unsupported_version`, `internal`.
    public var code: String
    /// One line.
    public var message: String
    /// What to do.
    public var hint: String?
    /// Lines to print before the message (config diagnostics).
    public var details: [String]

    /// Creates a failure.
    public init(code: String, message: String, hint: String? = nil, details: [String] = []) {
        self.code = code
        self.message = message
        self.hint = hint
        self.details = details
    }
}

/// The daemon's answer: one JSON object on one line.
public struct ControlResponse: Codable, Sendable {
    /// The failure, or nil on success.
    public var failure: ControlFailure?
    /// What was done, for people (`started dante`).
    public var messages: [String]
    /// The status document, for `status`.
    public var status: StatusDocument?

    /// A success.
    public init(messages: [String] = [], status: StatusDocument? = nil) {
        failure = nil
        self.messages = messages
        self.status = status
    }

    /// A failure.
    public init(failure: ControlFailure) {
        self.failure = failure
        messages = []
        status = nil
    }
}

/// `hostctl status --json`, exactly as DESIGN.md gives it; its shape is a contract.
public struct StatusDocument: Codable, Sendable {
    /// A worker's last exit.
    public struct LastExit: Codable, Sendable {
        public var code: Int?
        public var signal: String?
        public var at: String
        /// Creates a last exit.
        public init(code: Int?, signal: String?, at: String) {
            self.code = code
            self.signal = signal
            self.at = at
        }
    }

    /// One worker slot.
    public struct Worker: Codable, Sendable {
        public var slot: Int
        public var generation: Int
        public var pid: Int?
        public var state: String
        public var endpoint: String?
        public var startedAt: String?
        public var restarts: Int
        public var rssBytes: Int
        public var inFlight: Int
        public var openConnections: Int
        public var statusText: String?
        public var lastExit: LastExit?

        enum CodingKeys: String, CodingKey {
            case slot, generation, pid, state, endpoint
            case startedAt = "started_at"
            case restarts
            case rssBytes = "rss_bytes"
            case inFlight = "in_flight"
            case openConnections = "open_connections"
            case statusText = "status_text"
            case lastExit = "last_exit"
        }

        /// Creates a worker entry.
        public init(
            slot: Int, generation: Int, pid: Int?, state: String, endpoint: String?, startedAt: String?,
            restarts: Int, rssBytes: Int, lastExit: LastExit?
        ) {
            self.slot = slot
            self.generation = generation
            self.pid = pid
            self.state = state
            self.endpoint = endpoint
            self.startedAt = startedAt
            self.restarts = restarts
            self.rssBytes = rssBytes
            inFlight = 0
            openConnections = 0
            statusText = nil
            self.lastExit = lastExit
        }

        public func encode(to encoder: any Encoder) throws {
            // Explicit, so that null fields are written as null rather than left out (the schema lists them all).
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(slot, forKey: .slot)
            try container.encode(generation, forKey: .generation)
            try container.encode(pid, forKey: .pid)
            try container.encode(state, forKey: .state)
            try container.encode(endpoint, forKey: .endpoint)
            try container.encode(startedAt, forKey: .startedAt)
            try container.encode(restarts, forKey: .restarts)
            try container.encode(rssBytes, forKey: .rssBytes)
            try container.encode(inFlight, forKey: .inFlight)
            try container.encode(openConnections, forKey: .openConnections)
            try container.encode(statusText, forKey: .statusText)
            try container.encode(lastExit, forKey: .lastExit)
        }
    }

    /// One app.
    public struct App: Codable, Sendable {
        public var name: String
        public var state: String
        public var reason: String?
        public var route: String
        public var droppedLogLines: Int
        public var workers: [Worker]

        enum CodingKeys: String, CodingKey {
            case name, state, reason, route
            case droppedLogLines = "dropped_log_lines"
            case workers
        }

        /// Creates an app entry.
        public init(name: String, state: String, reason: String?, route: String, workers: [Worker]) {
            self.name = name
            self.state = state
            self.reason = reason
            self.route = route
            droppedLogLines = 0
            self.workers = workers
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(state, forKey: .state)
            try container.encode(reason, forKey: .reason)
            try container.encode(route, forKey: .route)
            try container.encode(droppedLogLines, forKey: .droppedLogLines)
            try container.encode(workers, forKey: .workers)
        }
    }

    /// The front listener's bound addresses (empty until the proxy exists).
    public var listen: [String]
    /// The daemon's pid.
    public var pid: Int
    /// When the daemon started.
    public var startedAt: String
    /// The apps.
    public var apps: [App]

    enum CodingKeys: String, CodingKey {
        case listen, pid
        case startedAt = "started_at"
        case apps
    }

    /// Creates a document.
    public init(listen: [String], pid: Int, startedAt: String, apps: [App]) {
        self.listen = listen
        self.pid = pid
        self.startedAt = startedAt
        self.apps = apps
    }
}
