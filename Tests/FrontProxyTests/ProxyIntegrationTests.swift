import Foundation
import FrontProxy
import NIOCore
import Testing

let fixtureWorker: String = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("hostctl-fixture-worker").path
}()

/// Fixture workers on Unix sockets and a proxy in front of them, on 127.0.0.1:<picked port>.
final class ProxyHarness: @unchecked Sendable {
    let root: String
    var workers: [Process] = []
    var endpoints: [String] = []
    let proxy: ProxyServer
    var port = 0

    /// `argumentsOf`, when given, chooses each worker's arguments by its index (from 1) instead.
    init(
        workers count: Int, settings: ProxySettings = ProxySettings(), arguments: [String] = ["--echo"],
        argumentsOf: ((Int) -> [String])? = nil
    ) async throws {
        var template = Array("/tmp/hcp-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        root = String(cString: made)
        for index in 1...count {
            let path = "\(root)/\(index).sock"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: fixtureWorker)
            process.arguments = argumentsOf?(index) ?? arguments
            process.environment = ["PORT": path, "HOSTCTL_APP": "dante", "HOSTCTL_WORKER": String(index)]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            workers.append(process)
            endpoints.append(path)
        }
        for path in endpoints {
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline && !canConnect(path) { usleep(2000) }
        }
        proxy = ProxyServer(settings: settings, threads: 1)
        let bound = try await proxy.bind("127.0.0.1:0")
        port = Int(bound.split(separator: ":").last ?? "") ?? 0
        publish()
    }

    /// Publishes the table.
    ///
    /// `dante` at /dante with the workers, `gone` stopped, `root` with none yet.
    /// `only`: these workers (by index, from 1), the others not ready.
    func publish(
        extra: [EndpointTable.App] = [], readyTimeout: Duration = .seconds(1), only: [Int]? = nil,
        maxConcurrent: Int = 1024
    ) {
        let workers = (only ?? Array(1...endpoints.count)).map {
            EndpointTable.Worker(endpoint: endpoints[$0 - 1], slot: $0, generation: 1, maxConcurrent: maxConcurrent)
        }
        proxy.update(
            EndpointTable(
                apps: [
                    EndpointTable.App(
                        route: RouteEntry(app: "dante", path: "/dante", hosts: [], stripPrefix: true),
                        availability: .running,
                        workers: workers, readyTimeout: readyTimeout),
                    EndpointTable.App(
                        route: RouteEntry(app: "gone", path: "/gone", hosts: [], stripPrefix: true),
                        availability: .unavailable,
                        workers: [], readyTimeout: readyTimeout),
                ] + extra))
    }

    func tearDown() async {
        await proxy.shutdown()
        for worker in workers {
            // SIGKILL: a child of Foundation's Process may start with SIGTERM blocked.
            kill(worker.processIdentifier, SIGKILL)
            worker.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Sends `request` on a new connection and returns everything until the server closes (or `until` is true).
    func send(_ request: String, until: ((String) -> Bool)? = nil) -> String {
        send(Array(request.utf8), until: until)
    }

    func send(_ bytes: [UInt8], until: ((String) -> Bool)? = nil) -> String {
        let fd = connectTCP(port)
        defer { close(fd) }
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        return readAll(fd, until: until)
    }
}

func canConnect(_ path: String) -> Bool {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    guard let address = try? SocketAddress(unixDomainSocketPath: path) else { return false }
    return connect(fd, to: address) == 0
}

/// Connects a raw socket through NIO's `SocketAddress`, so this target names no C socket
/// structure: NIOEmbedded makes CNIOLinux visible here, and under MemberImportVisibility the
/// compiler may attribute `sockaddr_in`'s members to it rather than to Glibc.
private func connect(_ fd: Int32, to address: SocketAddress) -> Int32 {
    address.withSockAddr { pointer, length in Glibc.connect(fd, pointer, socklen_t(length)) }
}

func connectTCP(_ port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    if let address = try? SocketAddress(ipAddress: "127.0.0.1", port: port) { _ = connect(fd, to: address) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    return fd
}

func readAll(_ fd: Int32, until: ((String) -> Bool)? = nil) -> String {
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        if let until, until(String(decoding: data, as: UTF8.self)) { break }
        let count = read(fd, &buffer, buffer.count)
        if count <= 0 { break }
        data += buffer[0..<count]
    }
    return String(decoding: data, as: UTF8.self)
}

/// True once `text` holds `count` whole responses with Content-Length bodies.
func hasResponses(_ count: Int) -> (String) -> Bool {
    { text in
        var bytes = Array(text.utf8)[...]
        let separator = Array("\r\n\r\n".utf8)
        for _ in 0..<count {
            guard let end = bytes.firstRange(of: separator) else { return false }
            let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).lowercased()
            let length =
                head.range(of: "content-length: ").flatMap { Int(head[$0.upperBound...].prefix { $0.isNumber }) } ?? 0
            guard bytes.endIndex - end.upperBound >= length else { return false }
            bytes = bytes[(end.upperBound + length)...]
        }
        return true
    }
}

@Suite("front proxy with real workers", .serialized)
struct ProxyIntegrationTests {
    @Test func routesStripsThePrefix_andSetsForwardedHeaders() async throws {
        let h = try await ProxyHarness(workers: 1)
        let response = h.send(
            "GET /dante/x?y=1 HTTP/1.1\r\nHost: Example.com:8080\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n"
        )
        #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(response)")
        #expect(response.contains("\nGET /x?y=1 HTTP/1.1\n"), "\(response)")
        #expect(response.contains("\nX-Forwarded-Prefix: /dante\n"))
        #expect(response.contains("\nX-Forwarded-For: 10.0.0.9, 127.0.0.1\n"))
        #expect(response.contains("\nX-Forwarded-Proto: http\n"), "a client's X-Forwarded-Proto is replaced")
        #expect(response.contains("\nX-Forwarded-Host: Example.com:8080\n"))
        #expect(!response.contains("X-Forwarded-Proto: https"))
        await h.tearDown()
    }

    @Test func hopByHopHeaders_areStripped() async throws {
        let h = try await ProxyHarness(workers: 1)
        let response = h.send(
            "GET /dante/ HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: x\r\nUpgrade: h2c\r\nX-Kept: yes\r\n\r\n"
        )
        #expect(response.contains("X-Kept: yes"), "\(response)")
        for stripped in ["X-Secret", "Keep-Alive", "TE:", "Proxy-Authorization", "Upgrade"] {
            #expect(!response.contains(stripped), "\(stripped) reached the worker: \(response)")
        }
        await h.tearDown()
    }

    @Test func redirectNotFoundAndUnavailable_areHostctlsOwnAnswers() async throws {
        let h = try await ProxyHarness(workers: 1)
        let redirect = h.send("GET /dante?q=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(redirect.hasPrefix("HTTP/1.1 301 Moved Permanently\r\n"), "\(redirect)")
        #expect(redirect.contains("\r\nLocation: /dante/?q=1\r\n"))
        let missing = h.send("GET /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(missing.hasPrefix("HTTP/1.1 404 Not Found\r\n"), "\(missing)")
        let gone = h.send("GET /gone/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(gone.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(gone)")
        await h.tearDown()
    }

    @Test func bodies_withContentLengthAndChunked_reachTheWorker() async throws {
        let h = try await ProxyHarness(workers: 1)
        let plain = h.send(
            "POST /dante/up HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world")
        #expect(plain.contains("body 11 hello world"), "\(plain)")
        let chunked = h.send(
            "POST /dante/up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        #expect(chunked.contains("body 11 hello world"), "\(chunked)")
        let big = String(repeating: "x", count: 1 << 20)
        let large = h.send(
            "POST /dante/up HTTP/1.1\r\nHost: a\r\nContent-Length: \(big.utf8.count)\r\nConnection: close\r\n\r\n" + big
        )
        #expect(large.contains("body \(1 << 20) "), "\(large.prefix(300))")
        await h.tearDown()
    }

    @Test func largeDownload_toASlowClient_thenTheNextRequest_onThePooledWorkerConnection() async throws {
        let h = try await ProxyHarness(workers: 1)
        let size = 64 << 20
        let fd = connectTCP(h.port)
        defer { close(fd) }
        // A small receive buffer and small reads: the proxy's writes to this client block while the
        // worker writes on, so reading the worker connection is paused and resumed for backpressure.
        var small: Int32 = 65536
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        let request = "GET /dante/bytes/\(size) HTTP/1.1\r\nHost: a\r\n\r\n"
        _ = request.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var total = 0
        var headEnd: Int?
        var head = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while headEnd == nil || total - (headEnd ?? 0) < size {
            let count = read(fd, &buffer, buffer.count)
            guard count > 0 else { break }
            if headEnd == nil {
                head += buffer[0..<count]
                if let end = head.firstRange(of: Array("\r\n\r\n".utf8)) { headEnd = end.upperBound }
            }
            total += count
        }
        guard headEnd != nil && total - (headEnd ?? 0) == size else {
            Issue.record("the download stalled after \(total) bytes")
            await h.tearDown()
            return
        }
        // The same client and a new one: both are served over the pooled connection, promptly
        // (a connection left paused would time out here).
        _ = "GET /dante/after HTTP/1.1\r\nHost: a\r\n\r\n".withCString {
            Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL))
        }
        let again = readAll(fd, until: hasResponses(1))
        #expect(again.contains("GET /after HTTP/1.1"), "\(again.prefix(200))")
        let other = h.send("GET /dante/other HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(other.contains("GET /other HTTP/1.1"), "\(other.prefix(200))")
        await h.tearDown()
    }

    @Test func keepAliveAndPipelining_answerInOrderOnOneConnection() async throws {
        let h = try await ProxyHarness(workers: 1)
        let two = h.send(
            "GET /dante/one HTTP/1.1\r\nHost: a\r\n\r\nGET /dante/two HTTP/1.1\r\nHost: a\r\n\r\n",
            until: hasResponses(2))
        let first = two.range(of: "GET /one HTTP/1.1")
        let second = two.range(of: "GET /two HTTP/1.1")
        #expect(first != nil && second != nil, "\(two)")
        if let first, let second { #expect(first.lowerBound < second.lowerBound) }
        await h.tearDown()
    }

    @Test func http10KeepAlive_keepsTheConnection_andAResponseThatSaysClose_closesIt() async throws {
        let h = try await ProxyHarness(workers: 1)
        // HTTP/1.0 asking for keep-alive (as ab -k does): the worker is asked the same and says so,
        // and both pipelined requests are answered on the one connection.
        let ask = "HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        let two = h.send("GET /dante/one \(ask)GET /dante/two \(ask)", until: hasResponses(2))
        #expect(two.contains("GET /one HTTP/1.0") && two.contains("GET /two HTTP/1.0"), "\(two)")
        #expect(two.components(separatedBy: "\r\nConnection: keep-alive\r\n").count == 3, "\(two)")
        // HTTP/1.0 without it: closed after the response.
        let plain = h.send("GET /dante/plain HTTP/1.0\r\n\r\n")
        #expect(plain.contains("GET /plain HTTP/1.0") && plain.contains("\r\nConnection: close\r\n"), "\(plain)")
        // A response that says close ends the client's connection too, though another request was pipelined.
        let closing = h.send("GET /dante/close HTTP/1.1\r\nHost: a\r\n\r\nGET /dante/after HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(closing.contains("GET /close HTTP/1.1") && !closing.contains("GET /after"), "\(closing)")
        await h.tearDown()
    }

    @Test func clientThatGoesAwayMidRequest_freesTheWorkersPlaceAtOnce() async throws {
        let h = try await ProxyHarness(workers: 1, arguments: ["--silent"])
        h.publish(readyTimeout: .seconds(10), maxConcurrent: 1)
        // A client that closes its side while the worker has not answered yet (a browser tab closed
        // during a long poll) has gone: as nginx does, the worker's connection is closed at once, so
        // the app sees the abort and the request no longer counts against the worker's limit or
        // holds up its drain. A half-close (`shutdown(SHUT_WR)`, `nc -N`) looks the same and is
        // taken the same way.
        for halfClose in [true, false] {
            let fd = connectTCP(h.port)
            _ = "GET /dante/poll HTTP/1.1\r\nHost: a\r\n\r\n".withCString {
                Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL))
            }
            let deadline = Date().addingTimeInterval(10)
            while h.proxy.inFlight(h.endpoints[0]) != 1 && Date() < deadline { usleep(1000) }
            #expect(h.proxy.inFlight(h.endpoints[0]) == 1, "the silent worker holds the request")
            _ = halfClose ? shutdown(fd, Int32(SHUT_WR)) : close(fd)
            while h.proxy.inFlight(h.endpoints[0]) != 0 && Date() < deadline { usleep(1000) }
            #expect(h.proxy.inFlight(h.endpoints[0]) == 0, "the client left: the worker's place is free")
            if halfClose { close(fd) }
        }
        await h.tearDown()
    }

    @Test func upgrade_gluesBothConnections() async throws {
        let h = try await ProxyHarness(workers: 1)
        let fd = connectTCP(h.port)
        defer { close(fd) }
        let request = "GET /dante/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        let head = readAll(fd) { $0.contains("\r\n\r\n") }
        #expect(head.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"), "\(head)")
        let payload = "ping \u{0}\u{1}\u{2} binary-safe\n"
        _ = Array(payload.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        let echoed = readAll(fd) { $0.utf8.count >= payload.utf8.count }
        #expect(echoed == payload)
        // A half-close ends the upgraded stream both ways, as nginx ends it.
        shutdown(fd, Int32(SHUT_WR))
        var byte: UInt8 = 0
        #expect(read(fd, &byte, 1) == 0)
        await h.tearDown()
    }

    @Test func leastInFlight_spreadsRequestsOverWorkers() async throws {
        let h = try await ProxyHarness(workers: 2)
        var pids: Set<Substring> = []
        for _ in 0..<10 {
            let response = h.send("GET /dante/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            if let body = response.components(separatedBy: "\r\n\r\n").dropFirst().first {
                pids.insert(body.split(separator: "\n").first?.split(separator: " ").last ?? "")
            }
        }
        #expect(pids.count == 2, "\(pids)")
        await h.tearDown()
    }

    @Test func hostileRequests_areRefused_andNeverReachTheWorker() async throws {
        let h = try await ProxyHarness(workers: 1)
        func count() -> Int {
            let response = h.send("GET /dante/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            return Int(response.split(separator: "\n").first { $0.hasPrefix("count ") }?.dropFirst(6) ?? "") ?? -1
        }
        var before = count()
        for hostile in HostileRequest.all {
            // Route the hostile request at the app, so that only strictness keeps it from the worker.
            let text = hostile.request.replacingOccurrences(of: " / HTTP", with: " /dante/ HTTP")
            let response = h.send(text)
            #expect(response.hasPrefix("HTTP/1.1 \(hostile.status) "), "\(hostile.name): \(response.prefix(80))")
            let after = count()
            let leaked = hostile.request.hasPrefix("POST") && hostile.name.hasPrefix("chunk") ? 1 : 0
            #expect(after - before - 1 <= leaked, "\(hostile.name) reached the worker")
            before = after
        }
        await h.tearDown()
    }

    @Test func limitsAndTimeouts() async throws {
        var settings = ProxySettings()
        settings.maxBody = 100
        settings.headerTimeout = .milliseconds(200)
        let h = try await ProxyHarness(workers: 1, settings: settings)
        let tooLarge = h.send("POST /dante/ HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n")
        #expect(tooLarge.hasPrefix("HTTP/1.1 413 "), "\(tooLarge)")
        let slow = h.send("GET /dante/ HTTP/1.1\r\nHost: a\r\n")
        #expect(slow.hasPrefix("HTTP/1.1 408 "), "\(slow)")
        await h.tearDown()
    }

    @Test func silentWorker_gives504_afterTheResponseTimeout() async throws {
        var settings = ProxySettings()
        settings.responseTimeout = .milliseconds(300)
        let h = try await ProxyHarness(workers: 1, settings: settings, arguments: ["--silent"])
        let started = Date()
        let response = h.send("GET /dante/ HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 504 "), "\(response)")
        #expect(Date().timeIntervalSince(started) >= 0.3)
        await h.tearDown()
    }

    @Test func stalledRequestBody_gives408_afterTheBodyTimeout_andTheWorkerTakesTheNextRequest() async throws {
        var settings = ProxySettings()
        settings.bodyTimeout = .milliseconds(300)
        let h = try await ProxyHarness(workers: 1, settings: settings)
        let started = Date()
        // 3 of the 10 body bytes, then nothing: the worker's place is not held for ever.
        let stalled = h.send("POST /dante/ HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        #expect(stalled.hasPrefix("HTTP/1.1 408 "), "\(stalled)")
        #expect(stalled.contains("the request body did not arrive in time"), "\(stalled)")
        #expect(Date().timeIntervalSince(started) >= 0.3)
        // A body that keeps coming, each pause shorter than the timeout, is not cut off.
        let fd = connectTCP(h.port)
        defer { close(fd) }
        let head = Array("POST /dante/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nConnection: close\r\n\r\n".utf8)
        _ = head.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        for byte in Array("body".utf8) {
            usleep(150_000)  // the pauses are the point of this case: each under the 300 ms timeout
            var one = byte
            _ = Glibc.send(fd, &one, 1, Int32(MSG_NOSIGNAL))
        }
        let slow = readAll(fd, until: nil)
        #expect(slow.hasPrefix("HTTP/1.1 200 "), "\(slow)")
        #expect(
            h.send("GET /dante/ HTTP/1.1\r\nHost: a\r\n\r\n", until: { $0.hasSuffix("\n") }).hasPrefix("HTTP/1.1 200 "))
        await h.tearDown()
    }

    @Test func clientThatStopsReading_isClosedAfterTheSendTimeout_andTheWorkersPlaceIsFreed() async throws {
        var settings = ProxySettings()
        settings.sendTimeout = .milliseconds(300)
        let h = try await ProxyHarness(workers: 1, settings: settings)
        // One place on the one worker: whoever holds it keeps every other request waiting.
        h.publish(readyTimeout: .seconds(10), maxConcurrent: 1)
        let size = 64 << 20
        let fd = connectTCP(h.port)
        defer { close(fd) }
        var small: Int32 = 65536
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        _ = "GET /dante/bytes/\(size) HTTP/1.1\r\nHost: a\r\n\r\n".withCString {
            Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL))
        }
        // The download began (so it holds the place), and this client reads none of it.
        var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&ready, 1, 10_000) == 1)
        // Another request gets the place once the stalled client was closed, long before its 10 s wait ends.
        let other = h.send("GET /dante/after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(other.contains("GET /after HTTP/1.1"), "\(other.prefix(200))")
        // The stalled client got what was buffered for it, then the end: not the whole download.
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            guard count > 0 else { break }
            total += count
        }
        #expect(total < size)
        await h.tearDown()
    }

    @Test func workerThatNeitherReadsTheBodyNorAnswers_gives504_afterTheResponseTimeout() async throws {
        var settings = ProxySettings()
        settings.responseTimeout = .milliseconds(300)
        let h = try await ProxyHarness(workers: 1, settings: settings, arguments: ["--deaf"])
        let fd = connectTCP(h.port)
        defer { close(fd) }
        let body = [UInt8](repeating: 120, count: 64 << 20)
        let head = Array("POST /dante/ HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
        _ = head.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        // As much of the body as the buffers on the way take, until the proxy stops reading.
        var offset = 0
        while offset < body.count {
            let sent = body[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, min($0.count, 65536), Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if sent <= 0 { break }
            offset += sent
        }
        #expect(offset < body.count, "the proxy kept reading a body the worker does not take")
        let response = readAll(fd, until: nil)
        #expect(response.hasPrefix("HTTP/1.1 504 "), "\(response)")
        await h.tearDown()
    }

    @Test func idleKeepAliveClient_isClosedAfterTheIdleTimeout() async throws {
        var settings = ProxySettings()
        settings.idleTimeout = .milliseconds(300)
        let h = try await ProxyHarness(workers: 1, settings: settings)
        let started = Date()
        // One keep-alive request, then silence: the proxy closes the connection, which ends the read.
        let response = h.send("GET /dante/ HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 200 OK"), "\(response)")
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed >= 0.3 && elapsed < 5, "\(elapsed)")
        await h.tearDown()
    }

    @Test func connectionsBeyondTheLimit_areClosedAtOnce() async throws {
        var settings = ProxySettings()
        settings.maxConnections = 2
        let h = try await ProxyHarness(workers: 1, settings: settings)
        let first = connectTCP(h.port)
        let second = connectTCP(h.port)
        // Both admitted connections work...
        _ = "GET /dante/ HTTP/1.1\r\nHost: a\r\n\r\n".withCString { send(first, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        #expect(readAll(first, until: hasResponses(1)).hasPrefix("HTTP/1.1 200 OK"))
        // ...the third is closed without an answer.
        let third = h.send("GET /dante/ HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(third.isEmpty, "\(third)")
        close(first)
        close(second)
        await h.tearDown()
    }

    @Test func appStarting_holdsTheRequestUntilAWorkerIsReady_orAnswers503() async throws {
        let h = try await ProxyHarness(workers: 1)
        let waiting = EndpointTable.App(
            route: RouteEntry(app: "late", path: "/late", hosts: [], stripPrefix: true), availability: .starting,
            workers: [],
            readyTimeout: .milliseconds(300))
        h.publish(extra: [waiting])
        let timedOut = h.send("GET /late/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(timedOut.hasPrefix("HTTP/1.1 503 "), "\(timedOut)")
        #expect(timedOut.contains("\r\nRetry-After: "))
        let patient = EndpointTable.App(
            route: RouteEntry(app: "late", path: "/late", hosts: [], stripPrefix: true), availability: .starting,
            workers: [],
            readyTimeout: .seconds(10))
        h.publish(extra: [patient])
        let endpoint = h.endpoints[0]
        Task {
            try await Task.sleep(for: .milliseconds(100))
            let ready = EndpointTable.App(
                route: RouteEntry(app: "late", path: "/late", hosts: [], stripPrefix: true), availability: .running,
                workers: [EndpointTable.Worker(endpoint: endpoint, slot: 1, generation: 1, maxConcurrent: 8)],
                readyTimeout: .seconds(10))
            h.publish(extra: [ready])
        }
        let served = h.send("GET /late/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(served.hasPrefix("HTTP/1.1 200 OK"), "\(served)")
        await h.tearDown()
    }

    @Test func unreachableWorker_gives502() async throws {
        let h = try await ProxyHarness(workers: 1)
        let dead = EndpointTable.App(
            route: RouteEntry(app: "dead", path: "/dead", hosts: [], stripPrefix: true), availability: .running,
            workers: [
                EndpointTable.Worker(endpoint: h.root + "/nobody.sock", slot: 1, generation: 1, maxConcurrent: 8)
            ],
            readyTimeout: .seconds(1))
        h.publish(extra: [dead])
        let response = h.send("GET /dead/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 502 "), "\(response)")
        await h.tearDown()
    }

    @Test func refusedConnections_moveTheRequestOnToEveryOtherWorker_untilOneTakesIt() async throws {
        // Two of three workers died (their sockets refuse) and are still in the table, as between a
        // worker's death and the supervisor seeing it: no request may fail while one worker is up.
        let h = try await ProxyHarness(workers: 1)
        h.endpoints += [h.root + "/dead-2.sock", h.root + "/dead-3.sock"]
        h.publish()
        for index in 1...12 {
            let method = index.isMultiple(of: 2) ? "POST" : "GET"
            let response = h.send("\(method) /dante/\(index) HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            #expect(response.hasPrefix("HTTP/1.1 200 OK"), "request \(index): \(response)")
        }
        await h.tearDown()
    }

    @Test func whenEveryListedWorkerRefuses_theRequestWaitsForTheTableToChange() async throws {
        // The only worker the table lists died; its replacement is ready 100 ms later: the request
        // waits for it (up to the ready timeout) rather than getting 502 (iisnode's pipe retries).
        let h = try await ProxyHarness(workers: 1)
        let live = h.endpoints[0]
        h.endpoints = [h.root + "/died.sock"]
        h.publish(readyTimeout: .seconds(10))
        Task {
            try await Task.sleep(for: .milliseconds(100))
            h.endpoints = [live]
            h.publish(readyTimeout: .seconds(10))
        }
        let response = h.send("POST /dante/x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
        #expect(response.hasPrefix("HTTP/1.1 200 OK") && response.contains("body 2 hi"), "\(response)")
        await h.tearDown()
    }

    @Test func idempotentRequest_whoseOnlyWorkerDies_waitsForTheNextOne() async throws {
        // Worker 1 dies on the request and is the only one listed; worker 2 is ready 100 ms later (a
        // restart): the retry waits for it rather than answering 502.
        let h = try await ProxyHarness(workers: 2) { $0 == 1 ? ["--echo", "--die-on-request"] : ["--echo"] }
        h.publish(readyTimeout: .seconds(10), only: [1])
        Task {
            try await Task.sleep(for: .milliseconds(100))
            h.publish(readyTimeout: .seconds(10), only: [2])
        }
        let response = h.send("GET /dante/die HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 200 OK") && response.contains("dante 2 "), "\(response)")
        await h.tearDown()
    }

    @Test func workerWithAFullListenBacklog_isConnectedToAgainShortly_ratherThan502() async throws {
        let h = try await ProxyHarness(workers: 1)
        // A worker that is up but accepts nothing yet: its backlog (0, one queued connection) is full.
        let path = h.root + "/busy.sock"
        let address = try SocketAddress(unixDomainSocketPath: path)
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(address.withSockAddr { Glibc.bind(listener, $0, socklen_t($1)) } == 0)
        #expect(Glibc.listen(listener, 0) == 0)
        let filler = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(connect(filler, to: address) == 0)
        defer {
            close(filler)
            close(listener)
        }
        h.endpoints = [path]
        h.publish(readyTimeout: .seconds(10))
        // 100 ms later it accepts: the filler, then the proxy's connection, which it answers.
        Thread.detachNewThread {
            usleep(100_000)
            close(accept(listener, nil, nil))
            let client = accept(listener, nil, nil)
            var buffer = [UInt8](repeating: 0, count: 4096)
            _ = read(client, &buffer, buffer.count)
            let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            _ = answer.withCString { Glibc.send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            close(client)
        }
        let response = h.send("GET /dante/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 200 OK") && response.hasSuffix("\r\n\r\nok"), "\(response)")
        await h.tearDown()
    }

    @Test func requestOnAPooledConnectionTheWorkerClosed_isRetriedOnANewConnection() async throws {
        // The worker closes each connection, unanswered, when its second request arrives: every request
        // after the first is sent on a pooled connection that is dead, and must still succeed.
        let h = try await ProxyHarness(workers: 1, arguments: ["--echo", "--drop-reused"])
        for index in 1...6 {
            let method = index.isMultiple(of: 2) ? "POST" : "GET"
            let response = h.send("\(method) /dante/\(index) HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            #expect(response.hasPrefix("HTTP/1.1 200 OK"), "request \(index): \(response)")
            #expect(response.contains("count \(index)\n"), "each request reached the worker once: \(response)")
        }
        await h.tearDown()
    }

    @Test func idempotentRequest_whoseWorkerDies_isRetriedOnceOnAnotherWorker() async throws {
        let h = try await ProxyHarness(workers: 2, arguments: ["--die-on-request"])
        let response = h.send("GET /dante/die HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 502 "), "\(response)")
        let first = await exited(h.workers[0])
        let second = await exited(h.workers[1])
        #expect(first && second, "both workers saw the request")
        await h.tearDown()
    }

    @Test func idempotentRequest_whoseWorkerDiesOnAPooledConnection_isRetriedOnAnotherWorker() async throws {
        // Worker 1 dies on /die; worker 2 answers everything, and is kept busy with one request whose
        // body is not complete yet, so that worker 1, idle, is the least loaded.
        var settings = ProxySettings()
        settings.slowStart = .zero
        let h = try await ProxyHarness(
            workers: 2, settings: settings, argumentsOf: { $0 == 1 ? ["--die-on-request"] : ["--echo"] })
        h.publish(only: [2])
        let held = connectTCP(h.port)
        defer { close(held) }
        let post = "POST /dante/held HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345"
        _ = post.withCString { Glibc.send(held, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        let deadline = Date().addingTimeInterval(10)
        while h.proxy.inFlight(h.endpoints[1]) != 1 && Date() < deadline { usleep(1000) }
        #expect(h.proxy.inFlight(h.endpoints[1]) == 1, "worker 2 has the held request")
        h.publish(only: [2, 1])
        // A request to worker 1 leaves a pooled connection to it.
        #expect(h.send("GET /dante/warm HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").contains("dante 1 "))
        // Worker 1 dies on that connection, unanswered. A closed idle connection looks the same, but
        // the retry must go to another ready worker, not back to the one that died (the least loaded).
        let response = h.send("GET /dante/die HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 200 ") && response.contains("dante 2 "), "\(response)")
        #expect(await exited(h.workers[0]), "worker 1 saw the request")
        _ = "67890".withCString { Glibc.send(held, $0, 5, Int32(MSG_NOSIGNAL)) }
        #expect(readAll(held, until: { $0.contains("dante 2 ") }).hasPrefix("HTTP/1.1 200 "))
        await h.tearDown()
    }

    @Test func invalidResponseFromTheWorker_gives502_andIsNotRetried() async throws {
        let h = try await ProxyHarness(workers: 1)
        // A worker's answer that is not HTTP, or breaks its framing rules, reaches the client as
        // nginx answers it: 502 at once, with the reason (a retry, which another worker of the app
        // would most likely answer the same, would wait here for a second worker and answer otherwise).
        for broken in ["invalid-status", "invalid-lengths", "invalid-head"] {
            let response = h.send("GET /dante/\(broken) HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(response.hasPrefix("HTTP/1.1 502 "), "\(broken): \(response.prefix(200))")
            #expect(response.contains("invalid response from the worker"), "\(broken): \(response.prefix(200))")
        }
        // The worker serves on.
        let next = h.send("GET /dante/next HTTP/1.1\r\nHost: a\r\n\r\n", until: hasResponses(1))
        #expect(next.contains("GET /next HTTP/1.1"), "\(next)")
        await h.tearDown()
    }

    @Test func chunkedResponseWithLoneLineFeeds_isRelayed_andItsEndFound() async throws {
        let h = try await ProxyHarness(workers: 1)
        // Every line of the worker's response ends in a lone LF: the client gets it as it was sent,
        // and the next request on the same connection is answered (the body's end was found).
        let response = h.send(
            "GET /dante/lone-lf HTTP/1.1\r\nHost: a\r\n\r\nGET /dante/next HTTP/1.1\r\nHost: a\r\n\r\n",
            until: { $0.contains("GET /next HTTP/1.1") })
        #expect(
            response.hasPrefix(
                "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n6;x=1\n world\n0\nX-T: 1\n\nHTTP/1.1 200 "),
            "\(response)")
        #expect(response.contains("GET /next HTTP/1.1"), "\(response)")
        await h.tearDown()
    }

    @Test func postWhoseWorkerDies_gives502_andIsNotRetried() async throws {
        let h = try await ProxyHarness(workers: 2, arguments: ["--die-on-request"])
        let response = h.send("POST /dante/die HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 502 "), "\(response)")
        let first = await exited(h.workers[0])
        let second = await exited(h.workers[1], within: first ? .milliseconds(300) : .seconds(10))
        #expect(first != second, "exactly one worker saw the POST")
        await h.tearDown()
    }

    @Test func workerDyingAfterTheResponseBegan_closesTheClientConnection() async throws {
        let h = try await ProxyHarness(workers: 1, arguments: ["--die-on-request"])
        let response = h.send("GET /dante/half HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 200 OK"), "\(response)")
        #expect(response.hasSuffix("only part of it"), "the client sees the cut, not a made-up end: \(response)")
        await h.tearDown()
    }
}

/// True once `process` has exited, false if it still runs after `within`.
func exited(_ process: Process, within: Duration = .seconds(10)) async -> Bool {
    let deadline = ContinuousClock.now + within
    while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
    return !process.isRunning
}
