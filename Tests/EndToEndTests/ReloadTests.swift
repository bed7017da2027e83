import Foundation
import Testing

/// Requests sent through the proxy by a few threads until stopped: how many were answered 200, and
/// what went wrong with the others.
final class LoadGenerator: @unchecked Sendable {
    private let lock = NSLock()
    private var running = true
    private(set) var answered = 0
    private(set) var failures: [String] = []
    private let done = DispatchGroup()

    init(_ address: String, path: String, threads: Int = 4) {
        for _ in 0..<threads {
            done.enter()
            Thread.detachNewThread { [self] in
                while lock.withLock({ running }) {
                    let response = httpGet(address, path)
                    lock.withLock {
                        if response.hasPrefix("HTTP/1.1 200 ") {
                            answered += 1
                        } else {
                            failures.append(String(response.prefix(200)))
                        }
                    }
                }
                done.leave()
            }
        }
    }

    /// Stops the threads and waits for them.
    func finish() -> (answered: Int, failures: [String]) {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { (answered, failures) }
    }
}

@Suite("rolling reloads", .serialized)
struct ReloadTests {
    @Test func reload_underLoad_dropsNoRequest_andReplacesEveryWorker() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--graceful"], flags: ["--workers", "2"])
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        let before = try t.workers("fx").compactMap { $0["pid"] as? Int }
        let load = LoadGenerator(listen, path: "/fx/")
        #expect(waitUntil(5) { load.answered > 20 })
        for _ in 1...3 {
            let r = try t.hostctl(["reload", "fx"])
            #expect(r.status == 0 && r.stdout == "fx reloaded\n", "\(r)")
        }
        let answered = load.answered
        #expect(waitUntil(5) { load.answered > answered + 20 }, "requests go on after the reloads")
        let result = load.finish()
        #expect(
            result.failures.isEmpty,
            "\(result.failures.count) failed of \(result.answered + result.failures.count): \(result.failures.prefix(3))"
        )
        let workers = try t.workers("fx")
        #expect(workers.map { $0["generation"] as? Int } == [4, 4], "\(workers)")
        #expect(workers.allSatisfy { $0["state"] as? String == "ready" })
        #expect(before.allSatisfy { processGone(Int32($0)) }, "the old workers are gone")
        let logs = try t.hostctl(["logs", "fx", "--stream", "hostctl"]).stdout
        #expect(logs.contains("fx/1.1 hostctl | draining: SIGTERM (replaced by generation 2)"), "\(logs)")
    }

    @Test func reload_signalsTheOldWorkerOnceItsRequestsInFlightAreAnswered_soOneThatDiesOnSIGTERMLosesNone()
        throws
    {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        // Without --graceful the fixture dies at once on SIGTERM, as a node app without a handler does.
        try t.addFixture("fx", ["--echo"], yaml: "stop:\n  timeout: 20s\n")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        let oldPID = try #require(try t.workers("fx").first?["pid"] as? Int)
        // A request whose body is still on its way is in flight on the old worker when the reload comes.
        let fd = try #require(Wire.connect(listen))
        defer { close(fd) }
        Wire.send(fd, "POST /fx/ HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345")
        #expect(try waitUntil(5) { try t.workers("fx").first?["in_flight"] as? Int == 1 })
        #expect(try t.hostctl(["reload", "fx"]).status == 0)
        let draining = try #require(try t.workers("fx").first { $0["state"] as? String == "draining" })
        #expect(draining["pid"] as? Int == oldPID && draining["in_flight"] as? Int == 1, "\(draining)")
        // The rest of the body: the old worker answers, then gets its SIGTERM and goes.
        Wire.send(fd, "67890")
        let response = Wire.read(fd) { $0.contains("\r\n\r\n") && $0.contains("body 10") }
        #expect(response.hasPrefix("HTTP/1.1 200 ") && response.contains("\(oldPID)"), "\(response)")
        #expect(waitUntil(5) { processGone(Int32(oldPID)) }, "the old worker is signalled once it answered")
        let logs = try t.hostctl(["logs", "fx", "--stream", "hostctl"]).stdout
        #expect(logs.contains("fx/1.1 hostctl | SIGTERM once its requests in flight were answered ("), "\(logs)")
        #expect(logs.contains("fx/1.1 hostctl | stopped: killed by signal 15 (TERM)"), "\(logs)")
    }

    /// A worker that never answers, with one request in flight on it (on `fd`, which the caller
    /// closes) when a reload replaces it; the old worker's pid.
    private func reloadWithARequestThatNeverEnds(_ t: TempHome, stopTimeout: String) throws -> (fd: Int32, old: Int) {
        try t.addFixture("fx", ["--silent"], yaml: "stop:\n  timeout: \(stopTimeout)\n")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        let oldPID = try #require(try t.workers("fx").first?["pid"] as? Int)
        let fd = try #require(Wire.connect(listen))
        Wire.send(fd, "GET /fx/ HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try waitUntil(5) { try t.workers("fx").first?["in_flight"] as? Int == 1 })
        #expect(try t.hostctl(["reload", "fx"]).status == 0)
        return (fd, oldPID)
    }

    @Test func reload_signalsTheOldWorkerAfterTheStopTimeout_whenARequestInFlightNeverEnds() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        let (fd, oldPID) = try reloadWithARequestThatNeverEnds(t, stopTimeout: "1s")
        defer { close(fd) }
        #expect(waitUntil(10) { processGone(Int32(oldPID)) }, "signalled once stop.timeout passed")
        let logs = try t.hostctl(["logs", "fx", "--stream", "hostctl"]).stdout
        #expect(logs.contains("fx/1.1 hostctl | SIGTERM with 1 request still in flight after 1s"), "\(logs)")
    }

    @Test func stopDuringADrain_signalsTheOldWorkerAtOnce_ratherThanWaitingForItsRequests() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        let (fd, oldPID) = try reloadWithARequestThatNeverEnds(t, stopTimeout: "20s")
        defer { close(fd) }
        // The old worker waits for its request (up to 20 s); a stop does not.
        #expect(try t.hostctl(["stop", "fx"]).status == 0)
        #expect(processGone(Int32(oldPID)), "stop returned with the old worker gone")
        let logs = try t.hostctl(["logs", "fx", "--stream", "hostctl"]).stdout
        #expect(
            logs.contains("fx/1.1 hostctl | SIGTERM with 1 request still in flight (the app is stopping)"), "\(logs)")
    }

    @Test func reload_keepsAnOpenUpgradedConnectionOnItsDrainingWorker_untilItCloses() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("ws", ["--graceful"], yaml: "stop:\n  timeout: 20s\n")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        let oldPID = try #require(try t.workers("ws").first?["pid"] as? Int)
        let fd = try #require(Wire.connect(listen))
        var open = true
        defer { if open { close(fd) } }
        Wire.send(fd, "GET /ws/ HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        #expect(Wire.read(fd) { $0.contains("\r\n\r\n") }.hasPrefix("HTTP/1.1 101 "))
        #expect(try t.hostctl(["reload", "ws"]).status == 0)
        // The old worker drains with its connection; the new one takes everything new.
        let workers = try t.workers("ws")
        let draining = try #require(workers.first { $0["state"] as? String == "draining" }, "\(workers)")
        #expect(draining["pid"] as? Int == oldPID && draining["open_connections"] as? Int == 1, "\(draining)")
        #expect(workers.contains { $0["state"] as? String == "ready" && $0["generation"] as? Int == 2 })
        Wire.send(fd, "still here?")
        #expect(Wire.read(fd) { $0.contains("still here?") } == "still here?", "the held connection still works")
        #expect(httpGet(listen, "/ws/").hasPrefix("HTTP/1.1 200 "))
        close(fd)
        open = false
        #expect(waitUntil(5) { processGone(Int32(oldPID)) }, "the old worker ends once its last connection closed")
        #expect(try waitUntil(5) { try t.workers("ws").count == 1 })
    }

    @Test func reload_whoseReplacementIsNotReady_stops_andTheOldWorkersGoOn() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--graceful"], flags: ["--workers", "2"])
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        let before = try t.workers("fx").compactMap { $0["pid"] as? Int }
        // The new config's command dies before it is ready.
        let path = t.home + "/apps/fx.yml"
        try (try t.read(path)).replacingOccurrences(of: "--graceful", with: "--exit-now").write(
            toFile: path, atomically: true, encoding: .utf8)
        let r = try t.hostctl(["reload", "fx"])
        #expect(r.status == 1, "\(r)")
        #expect(r.stderr.contains("before ready") && r.stderr.contains("Cannot find module"), "\(r)")
        #expect(r.stderr.contains("hint: the workers that were ready go on serving, on the old config"), "\(r)")
        let workers = try t.workers("fx")
        #expect(workers.compactMap { $0["pid"] as? Int } == before, "\(workers)")
        #expect(workers.allSatisfy { $0["state"] as? String == "ready" })
        #expect(httpGet(listen, "/fx/").hasPrefix("HTTP/1.1 200 "))
    }

    @Test func reload_startsTheReplacementIdleForASecond_thenNiced_untilReadyOrHalfItsReadyTimeout() throws {
        errno = 0
        let own = Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(__RLIMIT_NICE.rawValue), &limit)
        guard geteuid() == 0 || limit.rlim_cur >= rlim_t(20 - own), own < 10 else {
            print(
                "skipped: this user could not raise a worker's priority again (not root, RLIMIT_NICE \(limit.rlim_cur)), or runs at nice \(own) (10 or more)"
            )
            return
        }
        let normal = 0  // SCHED_OTHER
        let idle = 5  // SCHED_IDLE
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--graceful"])
        #expect(try t.hostctl(["start"]).status == 0)
        // A first start is at the daemon's priority: the app has no worker yet.
        let first = try #require(try t.workers("fx").first?["pid"] as? Int)
        #expect(policies(of: Int32(first)) == [normal])
        #expect(niceValues(of: Int32(first)) == [own])
        // A replacement that is ready at once gets the daemon's priority back when ready.
        #expect(try t.hostctl(["reload", "fx"]).status == 0)
        let second = try #require(try t.workers("fx").first { $0["state"] as? String == "ready" }?["pid"] as? Int)
        #expect(policies(of: Int32(second)) == [normal])
        #expect(niceValues(of: Int32(second)) == [own])
        var logs = try t.hostctl(["logs", "fx", "--stream", "hostctl"]).stdout
        #expect(logs.contains("fx/1.1 hostctl | started pid \(first): "), "\(logs)")
        #expect(logs.contains("fx/1.2 hostctl | started pid \(second) (idle priority until ready): "), "\(logs)")
        // A replacement still starting after a second goes on at nice +10, and gets the daemon's
        // priority back once ready.
        let path = t.home + "/apps/fx.yml"
        try (try t.read(path)).replacingOccurrences(
            of: "\"--graceful\"", with: "\"--graceful\", \"--start-delay\", \"2000\""
        ).write(
            toFile: path, atomically: true, encoding: .utf8)
        #expect(try t.hostctl(["reload", "fx", "--no-wait"]).status == 0)
        func starting(_ generation: Int) throws -> Int {
            let pid = try waitUntilValue(5) { () -> Int? in
                try t.workers("fx").first {
                    $0["generation"] as? Int == generation && $0["state"] as? String == "starting"
                }?["pid"] as? Int
            }
            return try #require(pid)
        }
        func logged(_ line: String) -> Bool {
            waitUntil(5) { ((try? t.hostctl(["logs", "fx", "--stream", "hostctl"]).stdout) ?? "").contains(line) }
        }
        func readyAlone() -> Bool {
            waitUntil(10) {
                (try? t.workers("fx"))?.count == 1 && (try? t.workers("fx"))?.first?["state"] as? String == "ready"
            }
        }
        let third = try starting(3)
        #expect(policies(of: Int32(third)) == [idle], "starting while its predecessor serves")
        #expect(logged("fx/1.3 hostctl | still starting after 1s: nice \(own + 10) now"))
        #expect(policies(of: Int32(third)) == [normal], "every thread")
        #expect(niceValues(of: Int32(third)) == [own + 10])
        #expect(readyAlone())
        #expect(policies(of: Int32(third)) == [normal])
        #expect(niceValues(of: Int32(third)) == [own], "given back when ready")
        // With a ready timeout of 3 s: idle for 1 s, nice +10 until 1.5 s, then the daemon's
        // priority while still starting.
        try (try t.read(path) + "ready:\n  timeout: 3s\n").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try t.hostctl(["reload", "fx", "--no-wait"]).status == 0)
        let fourth = try starting(4)
        #expect(logged("fx/1.4 hostctl | still starting after 1s: nice \(own + 10) now"))
        #expect(logged("fx/1.4 hostctl | still starting after 1500ms: normal priority now"))
        #expect(policies(of: Int32(fourth)) == [normal])
        #expect(niceValues(of: Int32(fourth)) == [own])
        #expect(readyAlone())
        logs = try t.hostctl(["logs", "fx", "--stream", "hostctl"]).stdout
        #expect(!logs.contains("cannot give back"), "\(logs)")
    }

    @Test func reload_replacesAWorkerStillStartingOnTheOldConfig_andWaitsForItsReplacement() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--start-delay", "1500", "--print-env", "VERSION"], flags: ["--env", "VERSION=1"])
        #expect(try t.hostctl(["start"]).status == 0)
        let first = try #require(try t.workers("fx").first?["pid"] as? Int)
        // The worker crashes; its restart (with VERSION=1) is still starting when the reload comes.
        kill(Int32(first), SIGKILL)
        let restarting = try waitUntilValue(5) { () -> Int? in
            let worker = try t.workers("fx").first
            guard worker?["state"] as? String == "starting", let pid = worker?["pid"] as? Int, pid != first else {
                return nil
            }
            return pid
        }
        let oldConfig = try #require(restarting)
        let path = t.home + "/apps/fx.yml"
        try (try t.read(path)).replacingOccurrences(of: "VERSION: \"1\"", with: "VERSION: \"2\"").write(
            toFile: path, atomically: true, encoding: .utf8)
        #expect(try t.read(path).contains("VERSION: \"2\""))
        let r = try t.hostctl(["reload", "fx"])
        #expect(r.status == 0 && r.stdout == "fx reloaded\n", "\(r)")
        // When the reload returns, the slot's worker is ready and runs the new config.
        let worker = try #require(try t.workers("fx").first)
        #expect(worker["state"] as? String == "ready", "\(worker)")
        #expect(worker["pid"] as? Int != oldConfig, "the worker started on the old config was replaced")
        let generation = try #require(worker["generation"] as? Int)
        let logs = try t.hostctl(["logs", "fx", "--stream", "out"]).stdout
        #expect(logs.contains("fx/1.\(generation) out | env VERSION=2"), "\(logs)")
        #expect(processGone(Int32(oldConfig)), "the worker started on the old config is gone")
    }

    @Test func reload_ofAnAppThatKeepsCrashing_triesTheNewConfigAtOnce_andSaysWhetherItCameUp() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--exit-now"])
        #expect(try t.hostctl(["start"]).status == 1)
        // Still broken: the reload says so, quoting the worker.
        let broken = try t.hostctl(["reload", "fx"])
        #expect(broken.status == 1 && broken.stderr.contains("before ready"), "\(broken)")
        // No old worker serves, and the hint does not pretend one does.
        #expect(
            broken.stderr.contains("hint: fx has no ready worker; `hostctl logs fx` shows why"), "\(broken)")
        // Fixed: the reload starts the new config at once (not at the next restart after a backoff)
        // and returns once it is ready.
        let path = t.home + "/apps/fx.yml"
        try (try t.read(path)).replacingOccurrences(of: "--exit-now", with: "--graceful").write(
            toFile: path, atomically: true, encoding: .utf8)
        let fixed = try t.hostctl(["reload", "fx"])
        #expect(fixed.status == 0 && fixed.stdout == "fx reloaded\n", "\(fixed)")
        let workers = try t.workers("fx")
        #expect(workers.map { $0["state"] as? String } == ["ready"], "\(workers)")
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        #expect(httpGet(listen, "/fx/").hasPrefix("HTTP/1.1 200 "))
    }

    @Test func reload_whileAnotherRuns_isRefused_withWhatToDo() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--start-delay", "1000"])
        #expect(try t.hostctl(["start"]).status == 0)
        #expect(try t.hostctl(["reload", "fx", "--no-wait"]).status == 0)
        let second = try t.hostctl(["reload", "fx"])
        #expect(second.status == 1, "\(second)")
        #expect(
            second.stderr == "hostctl: error: fx: a reload is already running\n"
                + "hint: wait until `hostctl status` no longer shows it reloading, then reload again\n",
            "\(second)")
        // The first one goes on and ends with the worker replaced.
        #expect(
            try waitUntil(10) {
                let workers = try t.workers("fx")
                return workers.first?["generation"] as? Int == 2 && workers.first?["state"] as? String == "ready"
            })
    }

    @Test func reload_withABrokenGlobalConfig_quotesItsProblems_andChangesNothing() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx")
        #expect(try t.hostctl(["start"]).status == 0)
        let before = try t.workers("fx").compactMap { $0["pid"] as? Int }
        try "proxy:\n  threads: many\n".write(toFile: t.home + "/hostctl.yml", atomically: true, encoding: .utf8)
        let r = try t.hostctl(["reload", "fx"])
        #expect(r.status == 1, "\(r)")
        #expect(r.stderr.contains("/hostctl.yml:2:"), "the problem is quoted with its file and line: \(r)")
        #expect(r.stderr.contains("config problems; nothing was reloaded"), "\(r)")
        #expect(try t.workers("fx").compactMap { $0["pid"] as? Int } == before)
    }

    @Test func reload_ofAStoppedApp_orWithoutNames_saysWhatToDo() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx")
        try t.addFixture("fy")
        #expect(try t.hostctl(["start"]).status == 0)
        #expect(try t.hostctl(["stop", "fy"]).status == 0)
        let stopped = try t.hostctl(["reload", "fy"])
        #expect(stopped.status == 1 && stopped.stderr.contains("fy is not running"), "\(stopped)")
        let none = try t.hostctl(["reload"])
        #expect(none.status == 1 && none.stderr.contains("name the apps to reload, or pass --all"), "\(none)")
        let all = try t.hostctl(["reload", "--all"])
        #expect(all.status == 0 && all.stdout == "fx reloaded\n", "\(all)")
    }
}

/// The nice values of every thread of `pid`.
func niceValues(of pid: Int32) -> Set<Int> {
    threadStatFields(of: pid, 16)
}

/// The scheduling policies of every thread of `pid` (SCHED_OTHER 0, SCHED_IDLE 5).
func policies(of pid: Int32) -> Set<Int> {
    threadStatFields(of: pid, 38)
}

/// Field `index` (counted from the state, after the command's closing parenthesis) of the stat
/// file of every thread of `pid`: 16 is the nice value, 38 the scheduling policy.
func threadStatFields(of pid: Int32, _ index: Int) -> Set<Int> {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    return Set(
        tasks.compactMap { task in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > index ? Int(fields[index]) : nil
        })
}
