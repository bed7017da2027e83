import Foundation
import Testing

@Suite("front proxy in the daemon", .serialized)
struct ProxyEndToEndTests {
    @Test func requestsThroughTheListener_reachReadyWorkers_andStoppedAppsAnswer503() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--echo"], flags: ["--workers", "2"])
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        #expect(listen.hasPrefix("127.0.0.1:") && !listen.hasSuffix(":0"), "\(listen)")
        let ok = httpGet(listen, "/fx/hello?q=1")
        #expect(ok.hasPrefix("HTTP/1.1 200 OK"), "\(ok)")
        #expect(ok.contains("GET /hello?q=1 HTTP/1.1"))
        #expect(ok.contains("X-Forwarded-Prefix: /fx"))
        #expect(httpGet(listen, "/fx").hasPrefix("HTTP/1.1 301 "))
        #expect(httpGet(listen, "/nothing").hasPrefix("HTTP/1.1 404 "))
        // Only ready workers get traffic: kill one, and every request still succeeds.
        let pid = try #require(try t.workers("fx").first?["pid"] as? Int)
        kill(Int32(pid), SIGKILL)
        for _ in 0..<10 { #expect(httpGet(listen, "/fx/").hasPrefix("HTTP/1.1 200 OK")) }
        #expect(try t.hostctl(["stop", "fx"]).status == 0)
        #expect(httpGet(listen, "/fx/").hasPrefix("HTTP/1.1 503 "))
    }

    @Test func listenAddress_fromTheFlag_theEnvironment_andTheConfig_withIPv6() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx")
        try t.file("h/hostctl.yml", "listen: \"[::1]:0\"\n")
        // The tests' HOSTCTL_LISTEN would win over the config: clear it.
        #expect(try t.hostctl(["start"], environment: ["HOSTCTL_LISTEN": ""]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        #expect(listen.hasPrefix("[::1]:"), "\(listen)")
        #expect(httpGet(listen, "/fx/").hasPrefix("HTTP/1.1 200 OK"))
    }

    @Test func startWithAnotherHOSTCTL_LISTEN_whileRunning_warnsThatTheListenerStays() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        let elsewhere = try t.hostctl(["start"], environment: ["HOSTCTL_LISTEN": "127.0.0.1:1"])
        #expect(elsewhere.status == 0, "\(elsewhere)")
        #expect(
            elsewhere.stderr
                == "hostctl: warning: hostctl was already running and listens on \(listen), not on 127.0.0.1:1 "
                + "(HOSTCTL_LISTEN); to move it: `hostctl shutdown`, then `hostctl start`\n", "\(elsewhere)")
        // The same address, or port 0 (any), is no reason to warn.
        for same in [listen, "127.0.0.1:0"] {
            let r = try t.hostctl(["start"], environment: ["HOSTCTL_LISTEN": same])
            #expect(r.status == 0 && r.stderr.isEmpty, "\(r)")
        }
    }

    @Test func busyPort_failsTheStartClearly() throws {
        let t = try TempHome()
        let blocker = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(blocker) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(blocker, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        listen(blocker, 1)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(blocker, $0, &length) }
        }
        let port = UInt16(bigEndian: sa.sin_port)
        let r = try t.hostctl(["start"], environment: ["HOSTCTL_LISTEN": "127.0.0.1:\(port)"])
        #expect(r.status == 1)
        // One error line (the daemon's reason, not its own `hostctl: error:` again) and the daemon's hint.
        #expect(
            r.stderr.contains(
                "hostctl: error: the daemon exited at start: cannot listen on 127.0.0.1:\(port): address already in use\n"
            ),
            "\(r)")
        #expect(r.stderr.contains("hint: another program listens there"), "\(r)")
        let serve = try t.hostctl(["serve", "--listen", "127.0.0.1:\(port)"])
        #expect(serve.status == 1)
        #expect(serve.stderr.contains("address already in use"), "\(serve)")
        #expect(serve.stderr.contains("hint:"), "\(serve)")
        let bad = try t.hostctl(["serve", "--listen", "nowhere"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("invalid listen address 'nowhere'"), "\(bad)")
    }

    @Test func heldUpgradedConnection_showsInStatus_asAnOpenConnection() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("ws")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        let fd = try #require(Wire.connect(listen))
        Wire.send(fd, "GET /ws/ HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        #expect(Wire.read(fd) { $0.contains("\r\n\r\n") }.hasPrefix("HTTP/1.1 101 "))
        let open = try t.workers("ws").first?["open_connections"] as? Int
        #expect(open == 1, "\(String(describing: open))")
        #expect(
            try t.workers("ws").first?["in_flight"] as? Int == 0,
            "a held upgraded connection is not a request in flight")
        close(fd)
        #expect(try waitUntil(5) { try t.workers("ws").first?["open_connections"] as? Int == 0 })
    }

    @Test func proxyLimitsFromTheGlobalConfig_takeEffect() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.file(
            "h/hostctl.yml",
            "proxy:\n  max_body: 100\n  max_request_line: 1KiB\n  max_header_size: 2KiB\n  header_timeout: 300ms\n"
                + "  body_timeout: 300ms\n  send_timeout: 5s\n")
        try t.addFixture("fx")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        func raw(_ text: String) -> String { Wire.exchange(listen, text) }
        #expect(raw("POST /fx/ HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n").hasPrefix("HTTP/1.1 413 "))
        #expect(
            raw("GET /fx/" + String(repeating: "a", count: 1100) + " HTTP/1.1\r\nHost: a\r\n\r\n").hasPrefix(
                "HTTP/1.1 414 "))
        #expect(
            raw("GET /fx/ HTTP/1.1\r\nHost: a\r\nX-Big: " + String(repeating: "b", count: 2100) + "\r\n\r\n").hasPrefix(
                "HTTP/1.1 431 "))
        #expect(raw("GET /fx/ HTTP/1.1\r\nHost: a\r\n").hasPrefix("HTTP/1.1 408 "))
        let stalled = raw("POST /fx/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhe")
        #expect(stalled.hasPrefix("HTTP/1.1 408 ") && stalled.contains("body"), "\(stalled)")
        #expect(
            raw("POST /fx/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello").hasPrefix(
                "HTTP/1.1 200 OK"))
    }

    @Test func routesByHost() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("blog", flags: ["--host", "blog.example.com"])
        let dir = try t.directory("apps/site")
        #expect(try t.hostctl(["add", "site", dir, "--command", fixtureWorker, "--route", "/blog"]).status == 0)
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        #expect(httpGet(listen, "/blog/", host: "blog.example.com").contains("\r\n\r\nblog 1 "))
        #expect(httpGet(listen, "/blog/", host: "other.example.com").contains("\r\n\r\nsite 1 "))
    }

    @Test func webSocketEchoAndClose_throughTheProxy_withAnIndependentClientAndServer() throws {
        // Both ends are Python's `websockets` library (scripts/test installs it): nothing shared with the proxy.
        let fixtures = packageRoot + "/Tests/Fixtures/websocket"
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        let r = try t.hostctl(["add", "wsecho", fixtures, "--command", "python3 echo_server.py", "--route", "/wsecho"])
        #expect(r.status == 0, "\(r)")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = ["python3", fixtures + "/client.py", "ws://\(listen)/wsecho/"]
        let output = Pipe()
        client.standardOutput = output
        try client.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        client.waitUntilExit()
        #expect(client.terminationStatus == 0, "\(text)")
        #expect(text == "ok text\nok binary\nok ping\nok close\n", "\(text)")
        #expect(try waitUntil(5) { try t.workers("wsecho").first?["open_connections"] as? Int == 0 })
    }
}

@Suite("the listener at the open-file limit")
struct OpenFileLimitTests {
    @Test func outOfDescriptors_acceptingPausesInsteadOfSpinning_andResumes() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx")
        // A daemon whose hard limit is 64 descriptors (it cannot raise it), about half of them in use.
        let limited = ["/bin/sh", "-c", "ulimit -n 64 && exec \"$0\" \"$@\""]
        #expect(try runHostctl(["start", "--home", t.home], prefix: limited).status == 0)
        let status = try #require(try t.status())
        let listen = try #require((status["listen"] as? [String])?.first)
        let pid = try #require(status["pid"] as? Int)
        // More clients than it has descriptors left: the kernel completes their handshakes into the
        // listen backlog, and accept fails with EMFILE while the listener stays readable.
        let clients = (0..<80).compactMap { _ in Wire.connect(listen) }
        #expect(clients.count == 80)
        let log = t.home + "/logs/hostctl.log"
        #expect(
            waitUntil(10) { ((try? t.read(log)) ?? "").contains("cannot accept connections: Too many open files") },
            "\((try? t.read(log)) ?? "")")
        // A control client waits too (`hostctl status` of a script), without a spinning accept.
        let control = try #require(Wire.connect(t.home + "/run/control.sock"))
        defer { close(control) }
        // Accepting pauses (100 ms at a time) rather than retrying at once: the daemon's CPU time over
        // a second stays small (spinning on the readable listener took the whole second).
        let before = cpuSeconds(Int32(pid))
        let window = Date().addingTimeInterval(1)
        while Date() < window { usleep(50_000) }
        let used = cpuSeconds(Int32(pid)) - before
        #expect(used < 0.3, "CPU seconds in one second at the limit: \(used)")
        for fd in clients { close(fd) }
        // With descriptors free again, new connections are served, and so are control requests.
        #expect(waitUntil(10) { httpGet(listen, "/fx/").hasPrefix("HTTP/1.1 200 OK") })
        #expect(try t.hostctl(["status"]).status == 0)
    }
}

/// User plus system CPU time of `pid` so far, in seconds.
private func cpuSeconds(_ pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let fields = stat.split(separator: ")").last?.split(separator: " "), fields.count > 13,
        let user = Double(fields[11]), let system = Double(fields[12])
    else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
