import Foundation
import Testing

@Suite("daemon: environment, readiness, signals, control socket", .serialized)
struct DaemonContractTests {
    @Test func workerEnvironment_dropsTheDaemonsSupervisorVariables_andAddsItsOwn() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        let names =
            "NOTIFY_SOCKET,INVOCATION_ID,WATCHDOG_USEC,JOURNAL_STREAM,LISTEN_FDS,FOO,PORT,HOSTCTL_APP,HOSTCTL_WORKER,KEEP"
        try t.addFixture(
            "envy", ["--print-env", names, "--port-arg", "${PORT}", "--app-arg", "${HOSTCTL_APP}/${HOSTCTL_WORKER}"],
            flags: ["--env", "FOO=bar"])
        let r = try t.hostctl(
            ["start", "envy"],
            environment: [
                "NOTIFY_SOCKET": "/run/x", "INVOCATION_ID": "abc", "WATCHDOG_USEC": "1", "JOURNAL_STREAM": "1:2",
                "LISTEN_FDS": "3", "KEEP": "kept",
            ])
        #expect(r.status == 0, "\(r)")
        let endpoint = try #require(try t.workers("envy").first?["endpoint"] as? String)
        let log = try t.read(t.home + "/logs/envy/envy.log")
        #expect(
            log.contains(
                "env NOTIFY_SOCKET=<unset> INVOCATION_ID=<unset> WATCHDOG_USEC=<unset> JOURNAL_STREAM=<unset> LISTEN_FDS=<unset> FOO=bar PORT=\(endpoint) HOSTCTL_APP=envy HOSTCTL_WORKER=1 KEEP=kept"
            ), "\(log)")
        #expect(log.contains("args --port-arg \(endpoint) --app-arg envy/1"), "\(log)")
    }

    @Test(.enabled(if: runningAsRoot, "needs root: workers drop to another user only under a root daemon"))
    func userKey_runsTheWorkerAsThatUser_withItsGroups() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        chmod(t.root, 0o755)
        try t.addFixture("drop", flags: ["--user", "nobody"])
        chmod(t.root + "/apps", 0o755)
        chmod(t.root + "/apps/drop", 0o755)
        let r = try t.hostctl(["start", "drop"])
        #expect(r.status == 0, "\(r)")
        let worker = try #require(try t.workers("drop").first)
        let pid = try #require(worker["pid"] as? Int)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(whereSeparator: {
            $0 == "\t" || $0 == " "
        })
        #expect(uid?.dropFirst().allSatisfy { $0 == "65534" } == true, "\(uid ?? [])")
        #expect(fetch(try #require(worker["endpoint"] as? String)) != nil)
    }

    @Test func scriptWithAMissingInterpreter_isReportedAsSuch() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.file("bi/run.sh", "#!/nonexistent/interpreter\n", mode: 0o755)
        #expect(try t.hostctl(["add", "bi", t.root + "/bi", "--entry", "run.sh"]).status == 0)
        let r = try t.hostctl(["start", "bi"])
        #expect(r.status == 1)
        #expect(
            r.stderr.contains("cannot execute \(t.root)/bi/run.sh: its interpreter (the #! line) was not found"), "\(r)"
        )
        #expect(r.stderr.contains("hint: fix the app's command"), "\(r)")
    }

    /// The workers of a start are spawned in one batch, which stops at the first that cannot be: the
    /// others' pipes and sockets are given back, and their generations are not used up.
    @Test func startOfSeveralWorkers_stoppedAtTheFirstExecFailure_leavesNothingBehind() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.file("bi/run.sh", "#!/nonexistent/interpreter\n", mode: 0o755)
        #expect(try t.hostctl(["add", "bi", t.root + "/bi", "--entry", "run.sh", "--workers", "3"]).status == 0)
        #expect(try t.hostctl(["start", "bi"]).status == 1)
        let pid = try #require(Int32(try t.read("h/run/hostctl.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        let descriptors = { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1 }
        let before = descriptors()
        for _ in 1...3 {
            let r = try t.hostctl(["start", "bi"])
            #expect(r.status == 1)
            #expect(r.stderr.contains("its interpreter (the #! line) was not found"), "\(r)")
        }
        // Each start made 2 pipes and a listening socket for each of 3 workers: none is kept.
        #expect(descriptors() - before < 3, "\(before) descriptors before, \(descriptors()) after")
        let sockets = try FileManager.default.contentsOfDirectory(atPath: t.home + "/run/apps/bi").filter {
            $0.hasSuffix(".sock")
        }
        #expect(sockets.isEmpty, "\(sockets)")
        // Only worker 1 fails, once per attempt (the daemon's own start of its apps is the first),
        // with consecutive generations: 2 and 3 were never spawned and used none up.
        let failures = try t.read("h/logs/bi/bi.log").split(separator: "\n").filter { $0.contains("cannot start") }
        #expect(failures.count >= 4, "\(failures)")
        #expect(
            failures.map { $0.split(separator: " ")[1] } == (1...failures.count).map { "bi/1.\($0)" }, "\(failures)")
        // Fixed, it starts: workers 2 and 3 at their first generation.
        try t.file("bi/run.sh", "#!/bin/sh\nexec \(fixtureWorker)\n", mode: 0o755)
        #expect(try t.hostctl(["start", "bi"]).status == 0)
        let started = try t.read("h/logs/bi/bi.log").split(separator: "\n").filter { $0.contains("started pid") }
        #expect(
            started.map { $0.split(separator: " ")[1] }.sorted() == ["bi/1.\(failures.count + 1)", "bi/2.1", "bi/3.1"])
    }

    @Test func workerNotReadyInTime_isKilled_andStartSaysSo() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("mute", ["--never-listen"], yaml: "ready:\n  timeout: 300ms\n")
        let r = try t.hostctl(["start", "mute"])
        #expect(r.status == 1)
        // It says what it waited for: a worker that ignores $PORT is the usual cause.
        #expect(
            r.stderr.contains(
                "mute: worker 1 was not ready within 300ms: nothing accepted connections on \(t.home)/run/apps/mute/1.1.sock, its $PORT; does the app listen on $PORT?"
            ), "\(r)")
    }

    @Test func sigtermToServe_stopsEveryAppAndExits0() throws {
        let t = try TempHome()
        try t.addFixture("fx", flags: ["--workers", "2"])
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: hostctlBinary)
        serve.arguments = ["serve", "--home", t.home, "--listen", "127.0.0.1:0"]
        serve.standardOutput = FileHandle.nullDevice
        serve.standardError = FileHandle.nullDevice
        try serve.run()
        #expect(
            try waitUntil(10) {
                try t.workers("fx").allSatisfy { $0["state"] as? String == "ready" } && (try t.workers("fx").count == 2)
            })
        let pids = try t.workers("fx").compactMap { ($0["pid"] as? Int).map(Int32.init) }
        kill(serve.processIdentifier, SIGTERM)
        serve.waitUntilExit()
        #expect(serve.terminationReason == .exit)
        #expect(serve.terminationStatus == 0)
        #expect(pids.count == 2 && pids.allSatisfy(processGone))
        #expect(!FileManager.default.fileExists(atPath: t.home + "/run/control.sock"))
    }

    @Test func daemonThatDoesNotAnswer_isReportedAsSuch() throws {
        let t = try TempHome()
        try t.directory("h/run")
        // A socket that accepts into its backlog but never answers.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = t.home + "/run/control.sock"
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        listen(fd, 8)
        let r = try t.hostctl(["status"], environment: ["HOSTCTL_CONTROL_TIMEOUT": "0.3"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("the daemon did not answer in time"), "\(r)")
    }

    @Test func malformedAndOversizedRequests_getAnErrorReply_andTheDaemonGoesOn() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        #expect(try t.hostctl(["start"]).status == 0)
        for payload in [
            Array("this is not json\n".utf8), Array("{\"version\": 99, \"command\": \"status\"}\n".utf8),
            [UInt8](repeating: 65, count: 2 << 20),
        ] {
            let reply = rawExchange(path: t.home + "/run/control.sock", payload)
            #expect(reply.contains("bad_request") || reply.contains("unsupported_version") || reply.isEmpty, "\(reply)")
        }
        #expect(try t.hostctl(["status"]).status == 0, "the daemon still answers")
    }

    @Test(
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
                || FileManager.default.isExecutableFile(atPath: "/usr/local/bin/python3")))
    func pythonAppUsingTheSystemdConvention_worksWithFdHandoff() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.file(
            "py/app.py",
            """
            import os, socket
            assert os.environ["LISTEN_PID"] == str(os.getpid()), "LISTEN_PID is not ours"
            assert os.environ["LISTEN_FDS"] == "1"
            server = socket.socket(fileno=3)
            while True:
                conn, _ = server.accept()
                conn.recv(65536)
                body = ("python " + os.environ["HOSTCTL_WORKER"] + "\\n").encode()
                conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: " + str(len(body)).encode() + b"\\r\\n\\r\\n" + body)
                conn.close()
            """)
        #expect(try t.hostctl(["add", "py", t.root + "/py", "--handoff", "fd"]).status == 0)
        let r = try t.hostctl(["start", "py"])
        #expect(r.status == 0, "\(r)")
        let endpoint = try #require(try t.workers("py").first?["endpoint"] as? String)
        #expect(fetch(endpoint) == "python 1\n")
    }

    @Test(arguments: ["pipe", "port"])
    func unmodifiedNodeApp_worksWithPipeAndPort(handoff: String) throws {
        guard let node = ["/usr/bin/node", "/usr/local/bin/node"].first(where: FileManager.default.isExecutableFile)
        else {
            print("skipped: node is not installed (apt-get install nodejs)")
            return
        }
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.file(
            "js/server.js",
            """
            require('http').createServer((req, res) => res.end('node ' + process.env.HOSTCTL_WORKER + '\\n')).listen(process.env.PORT)
            """)
        #expect(try t.hostctl(["add", "js", t.root + "/js", "--handoff", handoff, "--workers", "2"]).status == 0)
        let r = try t.hostctl(
            ["start", "js"], environment: ["PATH": (node as NSString).deletingLastPathComponent + ":/usr/bin:/bin"])
        #expect(r.status == 0, "\(r)")
        for worker in try t.workers("js") {
            let endpoint = try #require(worker["endpoint"] as? String)
            #expect(fetch(endpoint) == "node \(worker["slot"] as? Int ?? 0)\n", "\(endpoint)")
        }
    }
}

/// Writes `payload` to the Unix socket at `path` and reads the reply to the end.
func rawExchange(path: String, _ payload: [UInt8]) -> String {
    guard let fd = Wire.connect(path) else { return "" }
    defer { close(fd) }
    _ = payload.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    return Wire.read(fd)
}
