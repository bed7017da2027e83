/// What the proxy knows of the apps.
///
/// An immutable snapshot the daemon replaces whenever an app or a
/// worker changes state. The proxy reads it per request without any hop to the supervisor.
public struct EndpointTable: Sendable {
    /// Whether an app takes requests.
    public enum Availability: Sendable, Equatable {
        /// Ready workers take requests.
        case running
        /// No ready worker yet, but some will be: requests wait up to `readyTimeout`.
        case starting
        /// Stopped or failed: 503 at once.
        case unavailable
    }

    /// One worker that takes requests.
    public struct Worker: Sendable, Hashable {
        /// A Unix socket path, or `127.0.0.1:PORT`.
        public var endpoint: String
        /// The slot, for logs.
        public var slot: Int
        /// The generation, so that a replacement never inherits its predecessor's pooled connections.
        public var generation: Int
        /// Requests it is given at once.
        public var maxConcurrent: Int
        /// After this many requests the proxy reports it (`limits.max_requests`, recycling); 0: never.
        public var maxRequests: Int

        /// Creates a worker entry.
        public init(endpoint: String, slot: Int, generation: Int, maxConcurrent: Int, maxRequests: Int = 0) {
            self.endpoint = endpoint
            self.slot = slot
            self.generation = generation
            self.maxConcurrent = maxConcurrent
            self.maxRequests = maxRequests
        }
    }

    /// One app.
    public struct App: Sendable {
        /// Its route.
        public var route: RouteEntry
        /// Whether it takes requests.
        public var availability: Availability
        /// Its ready workers (draining ones are left out).
        public var workers: [Worker]
        /// How long a request may wait for a first ready worker.
        public var readyTimeout: Duration

        /// Creates an app entry.
        public init(route: RouteEntry, availability: Availability, workers: [Worker], readyTimeout: Duration) {
            self.route = route
            self.availability = availability
            self.workers = workers
            self.readyTimeout = readyTimeout
        }
    }

    /// The apps by name.
    public let apps: [String: App]
    /// The router over their routes.
    public let router: Router

    /// A table of `apps`.
    public init(apps: [App]) {
        var byName: [String: App] = [:]
        for app in apps { byName[app.route.app] = app }
        self.apps = byName
        router = Router(apps.map(\.route))
    }

    /// No apps.
    public static let empty = EndpointTable(apps: [])
}
