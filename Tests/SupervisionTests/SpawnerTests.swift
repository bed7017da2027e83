import CHostSupport
import Foundation
import HostSupport
import Supervision
import Testing

/// The fixture worker built next to the test bundle.
let fixtureWorker: String = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("hostctl-fixture-worker").path
}()

/// A pipe whose read end the test keeps; `write` is handed to the child and closed here after spawn.
struct TestPipe {
    var read: Int32
    var write: Int32
    init() {
        var fds: [Int32] = [0, 0]
        _ = hc_pipe_cloexec(&fds, 0)
        read = fds[0]
        write = fds[1]
    }

    /// Reads until EOF or until `until` matches what was read so far.
    func readAll(until: ((String) -> Bool)? = nil) -> String {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = Glibc.read(read, &buffer, buffer.count)
            if count <= 0 { break }
            data += buffer[0..<count]
            if let until, until(String(decoding: data, as: UTF8.self)) { break }
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Waits for the keeper's exit through the monitor.
func exitStatus(of process: SpawnedProcess, monitor: ProcessMonitor) async -> WorkerExit {
    await withCheckedContinuation { continuation in
        monitor.watch(pidfd: process.keeperPIDFD) { continuation.resume(returning: $0) }
    }
}

/// Whether a process is gone (or a zombie waiting for init).
func isGone(_ pid: Int32) -> Bool {
    if kill(pid, 0) != 0 { return true }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
}

/// Waits up to `seconds` for `condition`, checking every 10 ms; a safety net, not a synchronisation.
func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

@Suite("spawning workers through the keeper", .serialized)
struct SpawnerTests {
    static let spawner = Spawner()
    static let monitor = ProcessMonitor()

    @Test func workerGetsItsEnvironmentDirectoryAndOwnListenPID() async throws {
        let out = TestPipe()
        let process = try await Self.spawner.spawn(
            SpawnRequest(
                executable: "/bin/sh",
                arguments: [
                    "sh", "-c", #"echo "$LISTEN_PID $$ $(pwd) $HELLO $(ps -o sid= -p $$) $(ps -o pgid= -p $$)""#,
                ],
                environment: ["HELLO=world", "PATH=/usr/bin:/bin"], setsListenPID: true, directory: "/tmp",
                stdout: out.write, stderr: 2))
        close(out.write)
        let line = out.readAll().split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(line.count == 6)
        #expect(line.first == String(process.workerPID))
        #expect(line.dropFirst().first == String(process.workerPID))
        #expect(line.dropFirst(2).first == "/tmp")
        #expect(line.dropFirst(3).first == "world")
        #expect(line.last == String(process.workerPID), "the worker leads its own process group")
        // In the caller's session: a session of its own would be a scheduling group of its own
        // (autogroup), which the kernel starved for up to 130 ms after the worker started.
        #expect(line.dropFirst(4).first == String(getsid(0)), "the worker stays in the caller's session")
        #expect(process.keeperPID != process.workerPID)
        #expect(await exitStatus(of: process, monitor: Self.monitor) == .exited(0))
        close(out.read)
    }

    @Test func idle_isTheWorkersPolicyBeforeExec() async throws {
        // Field 41 of /proc/PID/stat is the scheduling policy (SCHED_IDLE 5, SCHED_OTHER 0).
        let policy = "read -r stat </proc/$$/stat; set -- $stat; shift 40; echo $1"
        let own = sched_getscheduler(0)
        let out = TestPipe()
        let process = try await Self.spawner.spawn(
            SpawnRequest(
                executable: "/bin/sh", arguments: ["sh", "-c", policy], environment: ["PATH=/usr/bin:/bin"],
                directory: "/", stdout: out.write, stderr: 2, idle: true))
        close(out.write)
        #expect(out.readAll().trimmingCharacters(in: .whitespacesAndNewlines) == String(StartPriority.idlePolicy))
        #expect(await exitStatus(of: process, monitor: Self.monitor) == .exited(0))
        close(out.read)
        let plain = TestPipe()
        let inherits = try await Self.spawner.spawn(
            SpawnRequest(
                executable: "/bin/sh", arguments: ["sh", "-c", policy], environment: ["PATH=/usr/bin:/bin"],
                directory: "/", stdout: plain.write, stderr: 2))
        close(plain.write)
        #expect(
            plain.readAll().trimmingCharacters(in: .whitespacesAndNewlines) == String(own), "not idle: the caller's")
        #expect(await exitStatus(of: inherits, monitor: Self.monitor) == .exited(0))
        close(plain.read)
    }

    @Test func softenAndRestore_reachEveryThread_childrenIncluded_evenOutsideTheGroup() async throws {
        guard let priority = StartPriority.detect() else {
            print("skipped: this user could not give a worker its priority back (not root, RLIMIT_NICE too low)")
            return
        }
        // node starts its threads (libuv, V8) while idle, so they inherit SCHED_IDLE; one `sleep` is a
        // child in the worker's process group, the other left it for a session of its own.
        let process = try await Self.spawner.spawn(
            SpawnRequest(
                executable: "/bin/sh",
                arguments: ["sh", "-c", "sleep 60 & setsid sleep 61 & exec node -e 'setInterval(() => {}, 1000)'"],
                environment: ["PATH=/usr/local/bin:/usr/bin:/bin"], directory: "/", stdout: 1, stderr: 2, idle: true))
        let worker = process.workerPID
        func parent(_ pid: Int32) -> Int32? {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 ? Int32(fields[1]) : nil
        }
        func family() -> [Int32] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).filter {
                getpgid($0) == worker || parent($0) == worker
            }
        }
        let outsider = { family().first { getpgid($0) != worker } }
        defer { if let pid = outsider() { kill(pid, SIGKILL) } }
        func threads() -> [Int32: [Int32]] {
            var found: [Int32: [Int32]] = [:]
            for pid in family() {
                for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
                    errno = 0
                    if let tid = Int32(task) {
                        found[tid] = [
                            sched_getscheduler(tid), getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tid)),
                        ]
                    }
                }
            }
            return found
        }
        // node and its threads (at least 5) and both sleeps, all idle at the daemon's nice value.
        let normal = priority.normal
        let niced = try #require(priority.niced)
        #expect(
            eventually(10) {
                let all = threads()
                return all.count >= 7 && outsider() != nil && Set(all.values) == [[StartPriority.idlePolicy, normal]]
            })
        #expect(priority.soften(worker: worker) == nil)
        let softened = threads()
        #expect(softened.count >= 7 && Set(softened.values) == [[0, niced]], "SCHED_OTHER at nice +10: \(softened)")
        #expect(priority.restore(worker: worker) == nil)
        let restored = threads()
        #expect(restored.count >= 7 && Set(restored.values) == [[0, normal]], "at the daemon's nice: \(restored)")
        kill(process.keeperPID, SIGTERM)
        #expect(await exitStatus(of: process, monitor: Self.monitor) == .exited(137))
    }

    @Test func numericEntries_areTheDecimalNamesOnly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hcn-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for name in ["12", "007", "abc", "3x", "x3", "4294967296", "2147483647"] {
            FileManager.default.createFile(atPath: directory + "/" + name, contents: nil)
        }
        #expect(Set(try DirectoryListing.numbers(in: directory)) == [12, 7], "no Int32 overflow, no partial numbers")
        // In /proc: this process, among the others.
        #expect(try DirectoryListing.numbers(in: "/proc").contains(getpid()))
        #expect(try DirectoryListing.numbers(in: "/proc/self/task").contains(getpid()))
    }

    @Test func startPriority_isOfferedOnlyWhereItCanBeGivenBack() {
        // Root (CAP_SYS_NICE) may raise any priority again.
        #expect(StartPriority.decide(normal: 0, rlimitNice: 0, privileged: true) == StartPriority(normal: 0))
        #expect(StartPriority.decide(normal: 19, rlimitNice: 0, privileged: true) == StartPriority(normal: 19))
        // Unprivileged: RLIMIT_NICE must allow the normal nice value (20 - nice).
        #expect(StartPriority.decide(normal: 0, rlimitNice: 0, privileged: false) == nil)
        #expect(StartPriority.decide(normal: 0, rlimitNice: 19, privileged: false) == nil)
        #expect(StartPriority.decide(normal: 0, rlimitNice: 20, privileged: false) == StartPriority(normal: 0))
        #expect(StartPriority.decide(normal: 5, rlimitNice: 15, privileged: false) == StartPriority(normal: 5))
        #expect(StartPriority.decide(normal: 5, rlimitNice: 14, privileged: false) == nil)
        #expect(StartPriority.decide(normal: 0, rlimitNice: UInt64.max, privileged: false) != nil)
        // At the lower priority for a second, or half the ready timeout when that is shorter.
        #expect(StartPriority.window(readyTimeout: .seconds(30)) == .seconds(1))
        #expect(StartPriority.window(readyTimeout: .milliseconds(600)) == .milliseconds(300))
    }

    @Test func exitStatusAndSignal_areMirroredByTheKeeper() async throws {
        let exits = try await Self.spawner.spawn(
            SpawnRequest(
                executable: "/bin/sh", arguments: ["sh", "-c", "exit 7"], environment: [], directory: "/", stdout: 1,
                stderr: 2))
        #expect(await exitStatus(of: exits, monitor: Self.monitor) == .exited(7))
        let killed = try await Self.spawner.spawn(
            SpawnRequest(
                executable: "/bin/sh", arguments: ["sh", "-c", "kill -9 $$"], environment: [], directory: "/",
                stdout: 1, stderr: 2))
        #expect(await exitStatus(of: killed, monitor: Self.monitor) == .signaled(9))
    }

    @Test func execFailure_isReportedWithItsReason_notAsACrash() async throws {
        await #expect(throws: SpawnError.self) {
            try await Self.spawner.spawn(
                SpawnRequest(
                    executable: "/nonexistent/node", arguments: ["node"], environment: [], directory: "/", stdout: 1,
                    stderr: 2))
        }
        do {
            _ = try await Self.spawner.spawn(
                SpawnRequest(
                    executable: "/nonexistent/node", arguments: ["node"], environment: [], directory: "/", stdout: 1,
                    stderr: 2))
        } catch {
            #expect(error.description == "cannot execute /nonexistent/node: no such file or directory")
            #expect(error.step == Int32(HC_STEP_EXEC))
        }
        do {
            _ = try await Self.spawner.spawn(
                SpawnRequest(
                    executable: "/bin/true", arguments: ["true"], environment: [], directory: "/nonexistent", stdout: 1,
                    stderr: 2))
            Issue.record("chdir into a missing directory succeeded")
        } catch {
            #expect(error.description.hasPrefix("cannot change to the app directory"))
        }
    }

    @Test func batch_startsInOrder_andStopsAtTheFirstFailure() async throws {
        let first = TestPipe()
        let third = TestPipe()
        let results = await Self.spawner.spawn([
            SpawnRequest(
                executable: "/bin/sh", arguments: ["sh", "-c", "echo first"], environment: [], directory: "/",
                stdout: first.write, stderr: 2),
            SpawnRequest(
                executable: "/nonexistent/node", arguments: ["node"], environment: [], directory: "/", stdout: 1,
                stderr: 2),
            SpawnRequest(
                executable: "/bin/sh", arguments: ["sh", "-c", "echo third"], environment: [], directory: "/",
                stdout: third.write, stderr: 2),
        ])
        close(first.write)
        close(third.write)
        defer {
            close(first.read)
            close(third.read)
        }
        #expect(results.count == 2)
        let process = try #require(try? results.first?.get())
        #expect(first.readAll() == "first\n")
        #expect(await exitStatus(of: process, monitor: Self.monitor) == .exited(0))
        #expect(throws: SpawnError.self) { try results.last?.get() }
        // The third was never started: its pipe has no writer but this test's, closed above.
        #expect(third.readAll() == "")
        #expect(await Self.spawner.spawn([]).isEmpty)
    }

    @Test func handoffDescriptor_isFd3_andNothingElseLeaks() async throws {
        let handoff = TestPipe()
        let out = TestPipe()
        let leak = TestPipe()  // a descriptor of the "daemon" that the worker must not inherit
        let process = try await Self.spawner.spawn(
            SpawnRequest(
                executable: "/bin/sh", arguments: ["sh", "-c", "echo hi >&3; ls /proc/$$/fd"],
                environment: ["PATH=/usr/bin:/bin"],
                directory: "/", stdout: out.write, stderr: 2, handoff: handoff.write))
        close(handoff.write)
        close(out.write)
        #expect(handoff.readAll() == "hi\n")
        let fds = out.readAll().split(separator: "\n").compactMap { Int($0) }.sorted()
        // The shell's own descriptors: exactly 0, 1, 2 and the handoff on 3; the "daemon's" pipe is not there.
        #expect(fds == [0, 1, 2, 3], "\(fds)")
        #expect(await exitStatus(of: process, monitor: Self.monitor) == .exited(0))
        [handoff.read, out.read, leak.read, leak.write].forEach { close($0) }
    }

    @Test func stoppingTheKeeper_killsTheWholeGroup_grandchildrenIncluded() async throws {
        let out = TestPipe()
        let process = try await Self.spawner.spawn(
            SpawnRequest(
                executable: fixtureWorker, arguments: ["fixture", "--grandchild", "--never-listen"], environment: [],
                directory: "/", stdout: out.write, stderr: 2))
        close(out.write)
        let text = out.readAll { $0.contains("\n") }
        let grandchild = try #require(
            Int32(text.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        #expect(getpgid(grandchild) == process.workerPID)
        // What the keeper does when the daemon dies (its parent-death signal) it also does on SIGTERM.
        kill(process.keeperPID, SIGTERM)
        #expect(await exitStatus(of: process, monitor: Self.monitor) == .exited(137))
        #expect(eventually(1) { isGone(process.workerPID) && isGone(grandchild) })
        close(out.read)
    }

    @Test func keepersAreForkedByTheForker_soTheCallersMemoryIsNeverWriteProtected() async throws {
        // 32 MiB of small pages, written once so that every page is present.
        let size = 32 << 20
        let area = try #require(mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(area, size) }
        _ = madvise(area, size, MADV_NOHUGEPAGE)
        _ = faultsWhileWriting(area, size)
        let process = try await Self.spawner.spawn(
            SpawnRequest(
                executable: "/bin/sh", arguments: ["sh", "-c", "exit 0"], environment: [], directory: "/", stdout: 1,
                stderr: 2))
        // Had the caller forked the keeper, each of the 8192 pages would take a copy-on-write fault now.
        let faults = faultsWhileWriting(area, size)
        #expect(faults < 1000, "\(faults) page faults writing memory the caller had before the spawn")
        let forker = hc_forker_pid()
        #expect(forker > 0)
        #expect(parent(of: forker) == getpid())
        #expect(command(of: forker) == "hostctl-forker")
        #expect(parent(of: process.keeperPID) == getpid(), "the keeper is the caller's child")
        #expect(await exitStatus(of: process, monitor: Self.monitor) == .exited(0))
    }

    @Test func aLargeEnvironment_reachesTheWorkerWhole() async throws {
        // 800 KiB of environment: more than a socket buffer holds, so the forker reads it in pieces.
        let big = (0..<8).map {
            "BIG\($0)=" + String(repeating: Character(UnicodeScalar(UInt8(97 + $0))), count: 100 << 10)
        }
        let out = TestPipe()
        let process = try await Self.spawner.spawn(
            SpawnRequest(
                executable: "/bin/sh", arguments: ["sh", "-c", "echo ${#BIG0} ${#BIG7} $(printenv BIG7 | head -c 3)"],
                environment: big + ["PATH=/usr/bin:/bin"], directory: "/", stdout: out.write, stderr: 2))
        close(out.write)
        #expect(out.readAll() == "102400 102400 hhh\n")
        #expect(await exitStatus(of: process, monitor: Self.monitor) == .exited(0))
        close(out.read)
    }

    @Test func aKilledForker_isReplaced_andNoSpawnFails() async throws {
        _ = try await Self.spawner.spawn(
            SpawnRequest(
                executable: "/bin/true", arguments: ["true"], environment: [], directory: "/", stdout: 1, stderr: 2))
        let old = hc_forker_pid()
        #expect(old > 0)
        kill(old, SIGKILL)
        for round in 0..<2 {
            let process = try await Self.spawner.spawn(
                SpawnRequest(
                    executable: "/bin/sh", arguments: ["sh", "-c", "exit \(round + 3)"], environment: [],
                    directory: "/",
                    stdout: 1, stderr: 2))
            #expect(parent(of: process.keeperPID) == getpid())
            #expect(await exitStatus(of: process, monitor: Self.monitor) == .exited(Int32(round + 3)))
        }
        let new = hc_forker_pid()
        #expect(new > 0 && new != old)
        #expect(isGone(old))
    }
}

/// RUSAGE_THREAD, which Glibc does not export to Swift.
private let RUSAGE_THREAD_VALUE = __rusage_who_t(1)

/// Minor page faults of the calling thread while it writes one byte to every page of `area`.
private func faultsWhileWriting(_ area: UnsafeMutableRawPointer, _ size: Int) -> Int {
    var before = rusage()
    getrusage(RUSAGE_THREAD_VALUE, &before)
    for offset in stride(from: 0, to: size, by: 4096) {
        area.storeBytes(of: UInt8(offset & 0xff), toByteOffset: offset, as: UInt8.self)
    }
    var after = rusage()
    getrusage(RUSAGE_THREAD_VALUE, &after)
    return after.ru_minflt - before.ru_minflt
}

/// The parent pid of `pid` from /proc, or -1.
private func parent(of pid: Int32) -> Int32 {
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    return stat.split(separator: ")").last?.split(separator: " ").dropFirst().first.flatMap { Int32($0) } ?? -1
}

/// The command name of `pid` from /proc.
private func command(of pid: Int32) -> String {
    ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").trimmingCharacters(
        in: .whitespacesAndNewlines)
}
