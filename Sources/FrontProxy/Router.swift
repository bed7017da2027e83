/// One app's place in the routing table.
public struct RouteEntry: Sendable, Equatable {
    /// The app's name.
    public var app: String
    /// The path prefix, normalised (`/dante`, or `/`).
    public var path: String
    /// Host names, lower-cased, exact or `*.example.com`; empty matches any host.
    public var hosts: [String]
    /// Whether the prefix is removed before forwarding.
    public var stripPrefix: Bool

    /// Creates an entry.
    public init(app: String, path: String, hosts: [String], stripPrefix: Bool) {
        self.app = app
        self.path = path
        self.hosts = hosts
        self.stripPrefix = stripPrefix
    }
}

/// Where a request goes.
public enum RouteDecision: Sendable, Equatable {
    /// To `app`, with the path the worker sees and the prefix to send as `X-Forwarded-Prefix` ("" for none).
    case forward(app: String, target: String, prefix: String)
    /// A 301 to this location (`/dante` → `/dante/`, query kept).
    case redirect(String)
    /// No app claims it.
    case notFound
}

/// Routes by Host, then by the longest path prefix on a segment boundary (DESIGN.md, Front proxy).
///
/// Host tiers, best first: an exact host name, then the longest matching `*.` wildcard, then apps
/// with no hosts. Within the best tier that has a matching prefix, the longest prefix wins.
public struct Router: Sendable {
    /// The entries, as given.
    public let entries: [RouteEntry]
    private let byHost: [String: [RouteEntry]]
    private let wildcards: [(suffix: String, entry: RouteEntry)]
    private let anyHost: [RouteEntry]

    /// A router over `entries`; the host tiers are indexed once here, not per request.
    public init(_ entries: [RouteEntry]) {
        self.entries = entries
        var byHost: [String: [RouteEntry]] = [:]
        var wildcards: [(suffix: String, entry: RouteEntry)] = []
        for entry in entries {
            for host in entry.hosts {
                if host.hasPrefix("*.") {
                    wildcards.append((String(host.dropFirst(1)), entry))
                } else {
                    byHost[host, default: []].append(entry)
                }
            }
        }
        self.byHost = byHost
        self.wildcards = wildcards.sorted { $0.suffix.count > $1.suffix.count }
        anyHost = entries.filter { $0.hosts.isEmpty }
    }

    /// Decides where `path` + `query` on `host` (lower-cased, no port) goes.
    public func route(host: String, path: Substring, query: Substring) -> RouteDecision {
        for tier in tiers(for: host) {
            var best: RouteEntry?
            for entry in tier where Self.matches(prefix: entry.path, path: path) {
                if best == nil || entry.path.count > (best?.path.count ?? 0) { best = entry }
            }
            guard let entry = best else { continue }
            guard entry.stripPrefix, entry.path != "/" else {
                return .forward(app: entry.app, target: String(path) + query, prefix: "")
            }
            if path.count == entry.path.count {
                // `/dante` → `/dante/`, so relative links and WebSocket URLs resolve under the prefix.
                return .redirect(entry.path + "/" + query)
            }
            return .forward(
                app: entry.app, target: String(path.dropFirst(entry.path.count)) + query, prefix: entry.path)
        }
        return .notFound
    }

    /// `/dante` matches `/dante` and `/dante/x`, not `/dantex`; `/` matches everything.
    static func matches(prefix: String, path: Substring) -> Bool {
        if prefix == "/" { return true }
        guard path.hasPrefix(prefix) else { return false }
        return path.count == prefix.count || path[path.index(path.startIndex, offsetBy: prefix.count)] == "/"
    }

    private func tiers(for host: String) -> [[RouteEntry]] {
        if byHost.isEmpty && wildcards.isEmpty { return [anyHost] }
        let exact = byHost[host] ?? []
        var wildcardTier: [RouteEntry] = []
        if let longest = wildcards.first(where: { host.hasSuffix($0.suffix) && host.count > $0.suffix.count })?.suffix
            .count
        {
            wildcardTier = wildcards.filter { $0.suffix.count == longest && host.hasSuffix($0.suffix) }.map(\.entry)
        }
        return [exact, wildcardTier, anyHost]
    }
}
