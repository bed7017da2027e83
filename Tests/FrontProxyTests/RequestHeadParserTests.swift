import Foundation
import FrontProxy
import Testing

/// The hostile-request corpus shared with the end-to-end proxy test.
struct HostileRequest: Decodable, Sendable, CustomStringConvertible {
    var name: String
    var request: String
    var status: Int
    var description: String { name }

    static let all: [HostileRequest] = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Corpus/hostile-requests.json").path
        guard let data = FileManager.default.contents(atPath: path),
            let cases = try? JSONDecoder().decode([HostileRequest].self, from: data)
        else { return [] }
        return cases
    }()
}

func parse(_ text: String, parser: RequestHeadParser = RequestHeadParser()) -> RequestHeadParser.Result {
    Array(text.utf8).withUnsafeBytes { parser.parse($0) }
}

/// The status a request gets from head parsing, then (for chunked bodies) from the framer.
func verdict(_ text: String) -> Int {
    let bytes = Array(text.utf8)
    switch parse(text) {
    case .incomplete: return 0
    case .rejected(let rejection): return rejection.status
    case .head(let head):
        guard head.framing == .chunked else { return 200 }
        var framer = ChunkedFramer()
        let body = Array(bytes[head.length...])
        switch body.withUnsafeBytes({ framer.consume($0) }) {
        case .invalid: return 400
        case .done, .needMore: return 200
        }
    }
}

@Suite("strict request parsing")
struct RequestHeadParserTests {
    @Test func corpusHasAtLeastFortyHostileRequests() {
        #expect(HostileRequest.all.count >= 40)
    }

    @Test(arguments: HostileRequest.all)
    func hostileRequest_isRefusedWithItsStatus(_ request: HostileRequest) {
        #expect(verdict(request.request) == request.status, "\(request.name)")
    }

    @Test func validRequest_isParsed() throws {
        let text =
            "POST /dante/x?y=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nContent-Length: 5\r\nConnection: keep-alive\r\nX-A:  spaced value \r\n\r\nhello"
        guard case .head(let head) = parse(text) else {
            Issue.record("not parsed: \(parse(text))")
            return
        }
        #expect(head.method == "POST")
        #expect(head.target == "/dante/x?y=1")
        #expect(head.path == "/dante/x")
        #expect(head.query == "?y=1")
        #expect(head.version == .http11)
        #expect(head.host == "example.com")
        #expect(head.hostHeader == "Example.COM:8080")
        #expect(head.framing == .length(5))
        #expect(head.keepAlive)
        #expect(head.headers.last?.value == "spaced value")
        #expect(head.length == text.utf8.count - 5)
    }

    @Test func incompleteHeads_askForMore() {
        for text in [
            "", "GET", "GET / HTTP/1.1", "GET / HTTP/1.1\r", "GET / HTTP/1.1\r\nHost: a\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n\r",
        ] {
            #expect(parse(text) == .incomplete, "\(text.debugDescription)")
        }
    }

    @Test func keepAliveAndUpgradeSemantics() throws {
        guard case .head(let h10) = parse("GET / HTTP/1.0\r\n\r\n") else {
            Issue.record("1.0 without Host")
            return
        }
        #expect(!h10.keepAlive)
        guard case .head(let h10ka) = parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") else {
            Issue.record("")
            return
        }
        #expect(h10ka.keepAlive)
        guard case .head(let close) = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") else {
            Issue.record("")
            return
        }
        #expect(!close.keepAlive)
        guard
            case .head(let ws) = parse(
                "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n")
        else {
            Issue.record("")
            return
        }
        #expect(ws.upgrade == "websocket")
        guard case .head(let noConnection) = parse("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n") else {
            Issue.record("")
            return
        }
        #expect(noConnection.upgrade == nil, "Upgrade without Connection: upgrade is not an upgrade")
        guard
            case .head(let expect) = parse(
                "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        else {
            Issue.record("")
            return
        }
        #expect(expect.expectsContinue)
    }

    @Test func absoluteFormTarget_isReducedToOriginForm_andItsAuthorityWins() throws {
        guard case .head(let head) = parse("GET http://App.example.com:81/x?q HTTP/1.1\r\nHost: other\r\n\r\n") else {
            Issue.record("absolute form refused")
            return
        }
        #expect(head.target == "/x?q")
        #expect(head.host == "app.example.com")
    }

    @Test func hostWithATrailingDot_routesAsTheNameWithout() throws {
        // "example.com." names the same host (a fully qualified name); nginx drops the dot too.
        for (value, host) in [("Example.COM.:8080", "example.com"), ("a.", "a"), ("[::1]:80", "[::1]"), ("x", "x")] {
            guard case .head(let head) = parse("GET / HTTP/1.1\r\nHost: \(value)\r\n\r\n") else {
                Issue.record("refused: \(value)")
                continue
            }
            #expect(head.host == host, "\(value)")
            #expect(head.hostHeader == value, "forwarded as sent: \(value)")
        }
    }

    @Test func leadingEmptyLines_areSkipped() throws {
        guard case .head(let head) = parse("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") else {
            Issue.record("")
            return
        }
        #expect(head.length == 2 + "GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8.count)
    }

    @Test func limits_areConfigurable() {
        let small = RequestHeadParser(maxRequestLine: 16, maxHeadSize: 64)
        #expect(
            parse("GET /0123456789abcdef HTTP/1.1\r\n", parser: small)
                == .rejected(RequestRejection(414, "request line longer than 16 bytes")))
        let big = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "b", count: 60) + "\r\n\r\n"
        guard case .rejected(let rejection) = parse(big, parser: small) else {
            Issue.record("not rejected")
            return
        }
        #expect(rejection.status == 431)
    }
}

@Suite("chunked framing")
struct ChunkedFramerTests {
    func run(_ text: String, in pieces: Int = 1, lenient: Bool = false) -> ChunkedFramer.Result {
        var framer = ChunkedFramer(lenientLineEnds: lenient)
        let bytes = Array(text.utf8)
        let size = max(1, (bytes.count + pieces - 1) / pieces)
        var offset = 0
        var result = ChunkedFramer.Result.needMore
        while offset < bytes.count {
            let piece = Array(bytes[offset..<min(bytes.count, offset + size)])
            result = piece.withUnsafeBytes { framer.consume($0) }
            if case .done(let consumed) = result { return .done(consumed: offset + consumed) }
            if case .invalid = result { return result }
            offset += piece.count
        }
        return result
    }

    @Test func wholeBody_endsAtItsLastChunk_evenWhenSplitAnywhere() {
        let body = "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n"
        for pieces in [1, 2, 3, 7, body.utf8.count] {
            #expect(run(body + "GET / HTTP/1.1", in: pieces) == .done(consumed: body.utf8.count), "\(pieces) pieces")
        }
    }

    @Test func partialBody_needsMore() {
        #expect(run("5\r\nhel") == .needMore)
        #expect(run("5\r\nhello\r\n0\r\n") == .needMore)
    }

    @Test(arguments: [
        "zz\r\n", "-5\r\n", " 5\r\n", "5 \r\n", "0x5\r\n", "ffffffffffffffffff\r\n", "5\nhello", "5\r\nhelloXX",
        "5\r\nhello\r\n0\r\nbad\ntrailer\r\n\r\n",
    ])
    func malformed_isInvalid(_ body: String) {
        guard case .invalid = run(body) else {
            Issue.record("accepted: \(body.debugDescription)")
            return
        }
    }

    /// A response's lines may end in a lone LF (RFC 9112 2.2, as nginx reads them); a request's may not.
    @Test func loneLineFeeds_endLinesOnlyWhenLenient() {
        let bodies = [
            "5\nhello\n0\n\n", "5;ext=1\nhello\r\n0\r\nTrailer: x\n\n", "5\r\nhello\n0\nA: 1\r\nB: 2\n\r\n",
        ]
        for body in bodies {
            for pieces in [1, 3, body.utf8.count] {
                #expect(
                    run(body + "HTTP/1.1 200 OK", in: pieces, lenient: true) == .done(consumed: body.utf8.count),
                    "\(body.debugDescription) in \(pieces) pieces")
            }
            guard case .invalid = run(body) else {
                Issue.record("a request body accepted: \(body.debugDescription)")
                continue
            }
        }
        // Lenient about line ends only: the data is still counted, and what follows it must end the line.
        for broken in ["5\nhelloX\n0\n\n", "5\n\nhello\n", "zz\n", "5\r\nhello\r\r\n"] {
            guard case .invalid = run(broken, lenient: true) else {
                Issue.record("accepted: \(broken.debugDescription)")
                continue
            }
        }
    }
}
