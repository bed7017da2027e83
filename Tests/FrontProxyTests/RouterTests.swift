import FrontProxy
import Testing

@Suite("routing")
struct RouterTests {
    let router = Router([
        RouteEntry(app: "dante", path: "/dante", hosts: [], stripPrefix: true),
        RouteEntry(app: "api", path: "/dante/api", hosts: [], stripPrefix: true),
        RouteEntry(app: "raw", path: "/raw", hosts: [], stripPrefix: false),
        RouteEntry(app: "root", path: "/", hosts: [], stripPrefix: true),
        RouteEntry(app: "blog", path: "/", hosts: ["blog.example.com"], stripPrefix: true),
        RouteEntry(app: "wild", path: "/", hosts: ["*.example.com"], stripPrefix: true),
        RouteEntry(app: "deep", path: "/", hosts: ["*.eu.example.com"], stripPrefix: true),
    ])

    func route(_ host: String, _ target: String) -> RouteDecision {
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        return router.route(host: host, path: path[0], query: path.count > 1 ? "?" + path[1] : "")
    }

    @Test func longestPrefixOnASegmentBoundary_withTheprefixStripped() {
        #expect(route("localhost", "/dante/x?y=1") == .forward(app: "dante", target: "/x?y=1", prefix: "/dante"))
        #expect(route("localhost", "/dante/") == .forward(app: "dante", target: "/", prefix: "/dante"))
        #expect(route("localhost", "/dante/api/v1") == .forward(app: "api", target: "/v1", prefix: "/dante/api"))
        #expect(route("localhost", "/dantex") == .forward(app: "root", target: "/dantex", prefix: ""))
        #expect(route("localhost", "/raw/x") == .forward(app: "raw", target: "/raw/x", prefix: ""))
    }

    @Test func barePrefix_redirectsToTheSlashedOne_keepingTheQuery() {
        #expect(route("localhost", "/dante") == .redirect("/dante/"))
        #expect(route("localhost", "/dante?q=1") == .redirect("/dante/?q=1"))
        #expect(route("localhost", "/raw") == .forward(app: "raw", target: "/raw", prefix: ""))
    }

    @Test func hostsComeFirst_exactThenLongestWildcardThenAny() {
        #expect(route("blog.example.com", "/x") == .forward(app: "blog", target: "/x", prefix: ""))
        #expect(route("shop.example.com", "/x") == .forward(app: "wild", target: "/x", prefix: ""))
        #expect(route("a.eu.example.com", "/x") == .forward(app: "deep", target: "/x", prefix: ""))
        #expect(route("example.com", "/x") == .forward(app: "root", target: "/x", prefix: ""))
    }

    @Test func noMatch_isNotFound() {
        let narrow = Router([RouteEntry(app: "a", path: "/a", hosts: [], stripPrefix: true)])
        #expect(narrow.route(host: "h", path: "/b", query: "") == .notFound)
        #expect(narrow.route(host: "h", path: "/ab", query: "") == .notFound)
    }
}
