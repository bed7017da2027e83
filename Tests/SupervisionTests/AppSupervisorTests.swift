import Foundation
import HostConfig
import LogStore
import Supervision
import Testing

/// One app under supervision with the fixture worker, in its own short temporary run directory.
final class SupervisedApp: @unchecked Sendable {
    static let context: (Spawner, ProcessMonitor) = (Spawner(), ProcessMonitor())
    let root: String
    let supervisor: AppSupervisor
    let runner: Task<Void, Never>
    let output: LogCapture

    init(_ extra: String = "", arguments: [String] = [], name: String = "fx") throws {
        var template = Array("/tmp/hcs-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        root = String(cString: made)
        let command = ([fixtureWorker] + arguments).map { "\"\($0)\"" }.joined(separator: ", ")
        let yaml = "name: \(name)\ndirectory: \(root)\ncommand: [\(command)]\n" + extra
        let (layer, problems) = ConfigDecoder.decode(yaml, file: "test.yml", kind: .handler)
        precondition(problems.isEmpty, "\(problems)")
        let config = try ResolvedApp.resolve(
            name: name, globalDefaults: ConfigLayer(), handler: layer, handlerFile: "test.yml", override: nil
        ).get().config
        output = LogCapture(logsDirectory: root + "/logs")
        let context = SupervisionContext(
            spawner: Self.context.0, monitor: Self.context.1, output: output,
            runDirectory: root + "/run", environment: ProcessInfo.processInfo.environment)
        supervisor = AppSupervisor(config: config, context: context)
        let supervisor = self.supervisor
        runner = Task { await supervisor.run() }
    }

    /// Stops everything and checks that no worker is left.
    func tearDown() async {
        let pids = await supervisor.snapshot().workers.compactMap(\.pid)
        await supervisor.stop()
        supervisor.finish()
        await runner.value
        for pid in pids { #expect(eventually(2) { isGone(pid) }, "worker \(pid) outlived its app") }
        // The last lines first: written after the removal, they would make the directory again.
        output.flush()
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Waits (up to `seconds`, a safety net) until the snapshot satisfies `condition`.
    func waitFor(_ seconds: Double = 30, _ condition: (AppSnapshot) -> Bool) async -> AppSnapshot {
        let deadline = Date().addingTimeInterval(seconds)
        var snapshot = await supervisor.snapshot()
        while !condition(snapshot) && Date() < deadline {
            try? await Task.sleep(for: .milliseconds(5))
            snapshot = await supervisor.snapshot()
        }
        return snapshot
    }
}

/// Sends `GET /` to a worker endpoint and returns the body.
func request(_ endpoint: String) -> String? {
    let fd: Int32
    if endpoint.hasPrefix("/") {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in endpoint.utf8.enumerated() { raw[index] = byte }
        }
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard ok == 0 else { return nil }
    } else {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(endpoint.split(separator: ":").last ?? "") ?? 0).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard ok == 0 else { return nil }
    }
    defer { close(fd) }
    let text = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    _ = text.withCString { write(fd, $0, strlen($0)) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    var data = [UInt8]()
    while !String(decoding: data, as: UTF8.self).hasSuffix("\n")
        || !String(decoding: data, as: UTF8.self).contains("\r\n\r\n")
    {
        let count = read(fd, &buffer, buffer.count)
        if count <= 0 { break }
        data += buffer[0..<count]
    }
    let response = String(decoding: data, as: UTF8.self)
    return response.components(separatedBy: "\r\n\r\n").last
}

@Suite("app supervision with real workers")
struct AppSupervisorTests {
    @Test(arguments: ["pipe", "port", "fd"])
    func eachHandoff_servesARequestOnceReady(handoff: String) async throws {
        let app = try SupervisedApp("handoff: \(handoff)\nworkers: 2\n")
        #expect(await app.supervisor.start() == .ready)
        let snapshot = await app.supervisor.snapshot()
        #expect(snapshot.state == .running)
        #expect(snapshot.workers.count == 2)
        for worker in snapshot.workers {
            let endpoint = try #require(worker.endpoint)
            let pid = try #require(worker.pid)
            #expect(request(endpoint) == "fx \(worker.slot) \(pid)\n", "\(handoff) \(endpoint)")
            if handoff == "pipe" { #expect(endpoint.hasSuffix("/run/apps/fx/\(worker.slot).1.sock")) }
        }
        await app.tearDown()
    }

    @Test func killedWorker_isReplacedByANewPidThatBecomesReady() async throws {
        let app = try SupervisedApp()
        #expect(await app.supervisor.start() == .ready)
        let first = try #require(await app.supervisor.snapshot().workers.first?.pid)
        kill(first, SIGKILL)
        let after = await app.waitFor { $0.workers.first?.state == .ready && $0.workers.first?.pid != first }
        let worker = try #require(after.workers.first)
        #expect(worker.pid != first)
        #expect(worker.generation == 2)
        #expect(worker.restarts == 1)
        #expect(worker.lastExit?.exit == .signaled(9))
        #expect(request(try #require(worker.endpoint)) != nil)
        await app.tearDown()
    }

    @Test func workerDyingBeforeReady_failsStart_quotingItsStderr() async throws {
        let app = try SupervisedApp(arguments: ["--exit-now", "--exit-code", "3"])
        let result = await app.supervisor.start()
        guard case .failed(let reason) = result else {
            Issue.record("expected a failure, got \(result)")
            return
        }
        #expect(reason.contains("fx: worker 1 exited with status 3 before ready"), "\(reason)")
        #expect(reason.contains("Error: Cannot find module 'faye-websocket'"), "\(reason)")
        await app.tearDown()
    }

    @Test func commandThatCannotBeExecuted_failsTheAppAtOnce() async throws {
        let app = try SupervisedApp(name: "nx")
        await app.supervisor.update(
            try appConfig(name: "nx", directory: app.root, command: "no-such-program-hostctl --x"))
        let result = await app.supervisor.start()
        guard case .cannotRun(let reason) = result else {
            Issue.record("expected a failure without retry, got \(result)")
            return
        }
        #expect(reason.contains("cannot execute no-such-program-hostctl: not found on PATH"), "\(reason)")
        let snapshot = await app.supervisor.snapshot()
        #expect(snapshot.state == .failed)
        #expect(snapshot.workers.allSatisfy { $0.pid == nil })
        await app.tearDown()
    }

    @Test func termIgnoringWorker_isKilledAfterTheStopTimeout() async throws {
        let app = try SupervisedApp("stop: {timeout: 200ms}\n", arguments: ["--ignore-term"])
        #expect(await app.supervisor.start() == .ready)
        let pid = try #require(await app.supervisor.snapshot().workers.first?.pid)
        let started = ContinuousClock.now
        await app.supervisor.stop()
        let elapsed = ContinuousClock.now - started
        #expect(isGone(pid) || eventually(1) { isGone(pid) })
        #expect(elapsed >= .milliseconds(200))
        let snapshot = await app.supervisor.snapshot()
        #expect(snapshot.state == .stopped)
        #expect(snapshot.workers.first?.lastExit?.exit == .signaled(9))
        await app.tearDown()
    }

    @Test func workerWhoseMainProcessDies_leavesNoGroupMemberBehind() async throws {
        let app = try SupervisedApp(
            "stop: {timeout: 300ms}\nrestart: {policy: never}\n", arguments: ["--grandchild"])
        #expect(await app.supervisor.start() == .ready)
        let pid = try #require(await app.supervisor.snapshot().workers.first?.pid)
        let log = app.root + "/logs/fx/fx.log"
        let grandchildLine = try #require(
            eventuallyValue(5) {
                (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").first {
                    $0.contains("| grandchild ")
                }
            })
        let grandchild = try #require(Int32(grandchildLine.split(separator: " ").last ?? ""))
        #expect(getpgid(grandchild) == pid)
        // The worker's main process dies; the grandchild it left in its group must go too.
        kill(pid, SIGKILL)
        _ = await app.waitFor { $0.workers.first?.pid == nil }
        #expect(eventually(2) { isGone(grandchild) }, "grandchild \(grandchild) outlived its worker's exit")
        await app.tearDown()
    }

    @Test func crashLoop_marksTheAppFailedWithAReason_andKeepsRetrying() async throws {
        let app = try SupervisedApp(
            "restart: {burst: 3, interval: 60s, backoff: 10ms..50ms}\n", arguments: ["--crash-after", "20"])
        _ = await app.supervisor.start()
        let failed = await app.waitFor { $0.state == .failed }
        #expect(failed.state == .failed)
        #expect(failed.reason?.contains("3 crashes within 60s") == true, "\(failed.reason ?? "nil")")
        let generation = failed.workers[0].generation
        let retried = await app.waitFor { $0.workers[0].generation > generation }
        #expect(retried.workers[0].generation > generation, "a failed app is still retried at the maximum backoff")
        await app.tearDown()
    }
}

/// A config with a free-form command line.
func appConfig(name: String, directory: String, command: String) throws -> AppConfig {
    let yaml = "name: \(name)\ndirectory: \(directory)\ncommand: \(YAMLText.scalar(command))\n"
    let (layer, problems) = ConfigDecoder.decode(yaml, file: "t.yml", kind: .handler)
    precondition(problems.isEmpty, "\(problems)")
    return try ResolvedApp.resolve(
        name: name, globalDefaults: ConfigLayer(), handler: layer, handlerFile: "t.yml", override: nil
    )
    .get().config
}

/// Polls `value` every 10 ms until it is non-nil or `seconds` passed.
func eventuallyValue<T>(_ seconds: Double, _ value: () -> T?) -> T? {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let found = value() { return found }
        usleep(10_000)
    }
    return value()
}
