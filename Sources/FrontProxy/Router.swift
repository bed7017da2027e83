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
    /// Indices into `entries`, per exact host name.
    private let byHost: [String: [Int]]
    /// `.example.com` suffixes with the entry index, longest first.
    private let wildcards: [(suffix: String, index: Int)]
    /// Entries with no hosts.
    private let anyHost: [Int]

    /// A router over `entries`; the host tiers are indexed once here, not per request.
    public init(_ entries: [RouteEntry]) {
        self.entries = entries
        var byHost: [String: [Int]] = [:]
        var wildcards: [(suffix: String, index: Int)] = []
        for (index, entry) in entries.enumerated() {
            for host in entry.hosts {
                if host.hasPrefix("*.") {
                    wildcards.append((String(host.dropFirst(1)), index))
                } else {
                    byHost[host, default: []].append(index)
                }
            }
        }
        self.byHost = byHost
        self.wildcards = wildcards.sorted { $0.suffix.utf8.count > $1.suffix.utf8.count }
        anyHost = entries.indices.filter { entries[$0].hosts.isEmpty }
    }

    /// Where a request goes, by index (what the proxy uses per request; no string is built).
    enum Match: Equatable {
        /// To `entries[index]`, with the first `strip` bytes of the path removed (0: none).
        case forward(index: Int, strip: Int)
        /// The path is the prefix itself: 301 to it with a slash.
        case redirect(index: Int)
        case notFound
    }

    /// Decides where `path` + `query` on `host` (lower-cased, no port) goes.
    public func route(host: String, path: Substring, query: Substring) -> RouteDecision {
        switch match(host: host, path: path) {
        case .notFound:
            return .notFound
        case .redirect(let index):
            return .redirect(location(redirecting: index, query: query))
        case .forward(let index, let strip):
            let entry = entries[index]
            return .forward(
                app: entry.app, target: String(Substring(path.utf8.dropFirst(strip))) + query,
                prefix: strip > 0 ? entry.path : "")
        }
    }

    /// Where a `.redirect(index)` points: the prefix with a slash, the query kept.
    func location(redirecting index: Int, query: Substring) -> String {
        entries[index].path + "/" + query
    }

    /// Host tiers, best first: an exact name, the longest matching wildcard, then apps with no hosts;
    /// within the first tier with a matching prefix, the longest prefix wins.
    func match(host: String, path: Substring) -> Match {
        if !byHost.isEmpty || !wildcards.isEmpty {
            if let exact = byHost[host], let found = best(exact, path) { return decide(found, path) }
            let hostLength = host.utf8.count
            if let longest = wildcards.first(where: { host.hasSuffix($0.suffix) && hostLength > $0.suffix.utf8.count })
            {
                let length = longest.suffix.utf8.count
                let tier = wildcards.filter { $0.suffix.utf8.count == length && host.hasSuffix($0.suffix) }.map(\.index)
                if let found = best(tier, path) { return decide(found, path) }
            }
        }
        if let found = best(anyHost, path) { return decide(found, path) }
        return .notFound
    }

    private func best(_ tier: [Int], _ path: Substring) -> Int? {
        var best: Int?
        var bestLength = -1
        for index in tier {
            let prefix = entries[index].path
            let length = prefix.utf8.count
            if length > bestLength && Self.matches(prefix: prefix, path: path) {
                best = index
                bestLength = length
            }
        }
        return best
    }

    private func decide(_ index: Int, _ path: Substring) -> Match {
        let entry = entries[index]
        guard entry.stripPrefix, entry.path != "/" else { return .forward(index: index, strip: 0) }
        let length = entry.path.utf8.count
        if path.utf8.count == length { return .redirect(index: index) }
        return .forward(index: index, strip: length)
    }

    /// `/dante` matches `/dante` and `/dante/x`, not `/dantex`; `/` matches everything.
    static func matches(prefix: String, path: Substring) -> Bool {
        let prefixBytes = prefix.utf8
        if prefixBytes.count == 1 && prefixBytes.first == UInt8(ascii: "/") { return true }
        let pathBytes = path.utf8
        guard pathBytes.count >= prefixBytes.count, pathBytes.starts(with: prefixBytes) else { return false }
        return pathBytes.count == prefixBytes.count
            || pathBytes[pathBytes.index(pathBytes.startIndex, offsetBy: prefixBytes.count)] == UInt8(ascii: "/")
    }
}
