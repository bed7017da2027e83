import FrontProxy
import Testing

@Suite("response heads")
struct ResponseHeadParserTests {
    func parse(_ text: String, method: String = "GET") -> ResponseHeadParser.Result {
        Array(text.utf8).withUnsafeBytes { ResponseHeadParser.parse($0, requestMethod: method) }
    }

    @Test func framing() {
        #expect(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                == .head(.init(status: 200, framing: .length(5), keepAlive: true, length: 38)))
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
        #expect(
            parse(chunked) == .head(.init(status: 200, framing: .chunked, keepAlive: true, length: chunked.utf8.count)))
        #expect(
            parse("HTTP/1.1 200 OK\r\n\r\n")
                == .head(.init(status: 200, framing: .untilClose, keepAlive: false, length: 19)))
        let noContent = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
        #expect(
            parse(noContent) == .head(.init(status: 204, framing: .none, keepAlive: true, length: noContent.utf8.count))
        )
        #expect(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", method: "HEAD")
                == .head(.init(status: 200, framing: .none, keepAlive: true, length: 38)))
        let switching = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        #expect(
            parse(switching) == .head(.init(status: 101, framing: .none, keepAlive: true, length: switching.utf8.count))
        )
        #expect(
            parse("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n")
                == .head(.init(status: 200, framing: .length(1), keepAlive: false, length: 38)))
        #expect(
            parse("HTTP/1.1 200 OK\r\nconnection: Keep-Alive, CLOSE\r\nContent-Length: 1\r\n\r\n")
                == .head(.init(status: 200, framing: .length(1), keepAlive: false, length: 69)))
    }

    @Test func bareLineFeeds_endLinesToo() {
        // RFC 9112 2.2 lets a recipient take a lone LF for a line end, and nginx does for its
        // upstreams: a hand-written worker's head is not left waiting for a CR that never comes.
        let bare = "HTTP/1.1 200 OK\nContent-Length: 2\n\nok"
        #expect(parse(bare) == .head(.init(status: 200, framing: .length(2), keepAlive: true, length: 35)))
        let mixed = "HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok"
        #expect(parse(mixed) == .head(.init(status: 200, framing: .length(2), keepAlive: true, length: 37)))
        #expect(parse("HTTP/1.1 200 OK\nContent-Length: 2\n") == .incomplete)
    }

    @Test func incompleteAndInvalid() {
        #expect(parse("HTTP/1.1 200 OK\r\nContent-Le") == .incomplete)
        #expect(parse("HTTP/1.1") == .incomplete)
        guard case .invalid = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") else {
            Issue.record("CL+TE")
            return
        }
        guard case .invalid = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n") else {
            Issue.record("CL conflict")
            return
        }
        guard case .invalid = parse("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n") else {
            Issue.record("negative")
            return
        }
        guard case .invalid = parse("HTTX/1.1 200 OK\r\n\r\n") else {
            Issue.record("protocol")
            return
        }
    }
}
