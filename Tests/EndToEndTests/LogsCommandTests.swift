import Foundation
import Testing

/// `hostctl logs -f` running in the background, its standard output collected as it comes.
final class Follower: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var collected = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ t: TempHome, _ args: [String]) throws {
        process.executableURL = URL(fileURLWithPath: hostctlBinary)
        process.arguments = ["logs"] + args + ["--home", t.home]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HOSTCTL_") }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? out.fileHandleForWriting.close()
        let handle = out.fileHandleForReading
        Thread.detachNewThread { [self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                lock.withLock { collected += data }
            }
            done.signal()
        }
    }

    /// What it printed so far.
    var text: String { lock.withLock { String(decoding: collected, as: UTF8.self) } }

    /// Waits until the output satisfies `condition`.
    func waitFor(_ seconds: Double = 5, _ condition: (String) -> Bool) -> Bool {
        waitUntil(seconds) { condition(text) }
    }

    /// Interrupts it (Ctrl-C) and waits for it to exit; its exit status.
    func interrupt() -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGINT) }
        if !waitUntil(5, { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        // The reader thread is done with the output; leave the semaphore signalled for a second call.
        if done.wait(timeout: .now() + 5) == .success { done.signal() }
        return process.terminationStatus
    }
}

/// The lines of `hostctl logs` output.
func logLines(_ text: String) -> [Substring] { text.split(separator: "\n") }

/// Whether `line` has the documented shape.
func isLogLine(_ line: Substring, app: String) -> Bool {
    let pattern = #"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \#(app)/(\d+\.\d+|-) (out|err|hostctl) [|+] .*"#
    guard let shape = try? Regex(pattern) else { return false }
    return line.wholeMatch(of: shape) != nil
}

@Suite("hostctl logs", .serialized)
struct LogsCommandTests {
    @Test func logs_showWorkerLinesAndEvents_filtered_asJSON_andWithoutTheDaemon() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--spew", "3"], flags: ["--workers", "2"])
        try t.addFixture("fy", ["--spew", "1"])
        #expect(try t.hostctl(["start"]).status == 0)
        #expect(
            try waitUntil(5) {
                // Everything the workers write at start, and both readiness lines: nothing more comes.
                let text = try t.hostctl(["logs", "fx"]).stdout
                return [
                    "fx/1.1 err | err 3", "fx/2.1 err | err 3", "fx/1.1 out | out 3", "fx/2.1 out | out 3",
                    "fx/1.1 out | listening ", "fx/2.1 out | listening ", "fx/1.1 hostctl | ready after ",
                    "fx/2.1 hostctl | ready after ",
                ].allSatisfy { text.contains($0) }
            })
        let all = try t.hostctl(["logs", "fx"])
        #expect(all.status == 0)
        let lines = logLines(all.stdout)
        #expect(lines.allSatisfy { isLogLine($0, app: "fx") }, "\(all)")
        #expect(lines.contains { $0.contains("fx/1.1 hostctl | started pid ") }, "\(all)")
        #expect(lines.contains { $0.contains("fx/2.1 hostctl | ready after ") }, "\(all)")

        let lastTwo = try t.hostctl(["logs", "fx", "-n", "2"])
        #expect(logLines(lastTwo.stdout) == Array(lines.suffix(2)), "\(lastTwo)")

        let second = logLines(try t.hostctl(["logs", "fx", "--worker", "2"]).stdout)
        #expect(!second.isEmpty && second.allSatisfy { $0.contains(" fx/2.1 ") })

        let errors = logLines(try t.hostctl(["logs", "fx", "--stream", "err"]).stdout)
        #expect(errors.count == 6, "\(errors)")
        #expect(errors.allSatisfy { $0.contains(" err | err ") })

        let json = try t.hostctl(["logs", "fx", "--worker", "1", "--stream", "out", "--json"])
        let objects = try logLines(json.stdout).map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(objects.prefix(3).map { $0["text"] as? String } == ["out 1", "out 2", "out 3"], "\(json)")
        let first = try #require(objects.first)
        #expect(Set(first.keys) == ["time", "app", "worker", "generation", "stream", "text", "continued"])
        #expect(first["app"] as? String == "fx" && first["worker"] as? Int == 1 && first["stream"] as? String == "out")
        #expect(first["generation"] as? Int == 1 && first["continued"] as? Bool == false)

        // Every app, interleaved by time.
        let both = logLines(try t.hostctl(["logs", "-n", "1000"]).stdout)
        #expect(
            both.contains { $0.contains(" fy/1.1 out | out 1") } && both.contains { $0.contains(" fx/1.1 out | out 1") }
        )
        let times = both.map { $0.prefix(24) }
        #expect(times == times.sorted(), "interleaved by time")

        #expect(logLines(try t.hostctl(["logs", "fx", "--since", "1h"]).stdout) == lines)
        let future = try t.hostctl(["logs", "fx", "--since", "2099-01-01T00:00:00Z"])
        #expect(future.status == 0 && future.stdout.isEmpty, "\(future)")

        let unknown = try t.hostctl(["logs", "nope"])
        #expect(unknown.status == 1 && unknown.stderr.contains("no app named 'nope'"), "\(unknown)")
        let badSince = try t.hostctl(["logs", "fx", "--since", "yesterday"])
        #expect(badSince.status == 1 && badSince.stderr.contains("--since takes"), "\(badSince)")
        let badStream = try t.hostctl(["logs", "fx", "--stream", "stdout"])
        #expect(
            badStream.status == 1 && badStream.stderr.contains("--stream takes out, err or hostctl"), "\(badStream)")

        // The files are read directly: the logs outlive the daemon, with the stop events in them.
        try t.stopDaemon()
        let after = try t.hostctl(["logs", "fx", "--stream", "hostctl", "--worker", "1"])
        #expect(after.status == 0)
        #expect(after.stdout.contains("hostctl | stopping: SIGTERM"), "\(after)")
        #expect(after.stdout.contains("hostctl | stopped: "), "\(after)")
    }

    @Test func controlBytes_areEscapedForTheTerminal_andKeptInJSON() throws {
        let t = try TempHome()
        // A record as the capture writes it: BEL, ESC, é, an invalid byte, a literal backslash-x.
        var record = Array("2026-11-25T07:00:01.123Z raw/1.1 out | ".utf8)
        record += [0x61, 0x07, 0x62, 0x1B, 0x5B, 0x6D, 0xC3, 0xA9, 0x20, 0xFF, 0x20] + Array("\\x07\n".utf8)
        let path = try t.file("h/logs/raw/raw.log", "")
        try Data(record).write(to: URL(fileURLWithPath: path))
        let text = try t.hostctl(["logs", "raw", "-n", "1"])
        #expect(text.stdout == "2026-11-25T07:00:01.123Z raw/1.1 out | a\\x07b\\x1b[mé \\xff \\x07\n", "\(text)")
        let json = try t.hostctl(["logs", "raw", "-n", "1", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["text"] as? String == "a\u{07}b\u{1B}[mé \u{FFFD} \\x07", "\(json)")
    }

    @Test func follow_printsEveryNewLineOnce_acrossRotationsAndARestart() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--log-requests"], yaml: "logs:\n  max_size: 1KiB\n  max_files: 3\n")
        #expect(try t.hostctl(["start", "fx"]).status == 0)
        let follower = try Follower(t, ["fx", "-f"])
        defer { _ = follower.interrupt() }
        // Once the last lines are printed, following has begun.
        #expect(follower.waitFor { $0.contains("hostctl | ready after") }, "\(follower.text)")
        var endpoint = try #require(try t.workers("fx").first?["endpoint"] as? String)
        for index in 1...30 { #expect(fetch(endpoint, path: "/r\(index)") != nil) }
        #expect(follower.waitFor { $0.contains("request /r30\n") }, "\(follower.text)")
        let pid = try #require(try t.workers("fx").first?["pid"] as? Int)
        kill(Int32(pid), SIGKILL)
        #expect(
            try waitUntil(5) {
                let worker = try t.workers("fx").first
                return worker?["state"] as? String == "ready" && worker?["pid"] as? Int != pid
            })
        endpoint = try #require(try t.workers("fx").first?["endpoint"] as? String)
        for index in 31...60 { #expect(fetch(endpoint, path: "/r\(index)") != nil) }
        #expect(follower.waitFor { $0.contains("request /r60\n") }, "\(follower.text)")

        let text = follower.text
        let requests = logLines(text).compactMap { line -> Int? in
            guard let range = line.range(of: "out | request /r") else { return nil }
            return Int(line[range.upperBound...])
        }
        #expect(requests == Array(1...60), "each request line once, in order")
        #expect(text.contains("fx/1.1 hostctl | killed by "), "\(text)")
        #expect(text.contains("fx/1.2 hostctl | started pid "), "\(text)")
        #expect(FileManager.default.fileExists(atPath: t.home + "/logs/fx/fx.log.2"), "the log rotated under -f")
        #expect(logLines(text).allSatisfy { isLogLine($0, app: "fx") })
        #expect(follower.interrupt() == 0 || follower.process.terminationReason == .uncaughtSignal)
    }

    @Test func follow_exitsWhenItsReaderCloses() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--spew", "5"])
        #expect(try t.hostctl(["start", "fx"]).status == 0)
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "'\(hostctlBinary)' logs fx -f --home '\(t.home)' | head -n 2"]
        let out = Pipe()
        shell.standardOutput = out
        try shell.run()
        // The app writes nothing more: `hostctl logs -f` must notice that `head` is gone by itself.
        let finished = waitUntil(5) { !shell.isRunning }
        if !finished { kill(shell.processIdentifier, SIGKILL) }
        #expect(finished, "`hostctl logs -f | head` did not end")
        shell.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(logLines(text).count == 2, "\(text)")
        #expect(shell.terminationStatus == 0)
    }

    @Test func fullDisk_dropsLines_countsThemInStatus_andSaysSoWhenWritingWorksAgain() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        let logs = try t.directory("h/logs/fx")
        guard runningAsRoot else {
            print("skipped the full-disk test: mounting a small tmpfs needs root")
            return
        }
        let mount = try runCommand(["/bin/mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", logs])
        guard mount.status == 0 else {
            print("skipped the full-disk test: cannot mount a tmpfs here (\(mount.stderr))")
            return
        }
        defer { _ = try? runCommand(["/bin/umount", "-l", logs]) }
        try t.addFixture("fx", ["--log-requests"])
        #expect(try t.hostctl(["start", "fx"]).status == 0)
        let endpoint = try #require(try t.workers("fx").first?["endpoint"] as? String)
        let long = String(repeating: "p", count: 1000)
        var sent = 0
        // 16 KiB fills after a dozen 1 KiB lines; the rest is dropped and counted.
        let dropped = try waitUntil(10) {
            sent += 1
            _ = fetch(endpoint, path: "/\(sent)-" + long)
            let app = (try t.status("fx")?["apps"] as? [[String: Any]])?.first
            return (app?["dropped_log_lines"] as? Int ?? 0) >= 5
        }
        #expect(dropped, "no dropped lines counted after \(sent) requests")
        let count = try #require((try t.status("fx")?["apps"] as? [[String: Any]])?.first?["dropped_log_lines"] as? Int)
        // Space again: the writer starts a new file and says what it lost before the next line.
        try FileManager.default.removeItem(atPath: logs + "/fx.log")
        #expect(fetch(endpoint, path: "/after") != nil)
        #expect(try waitUntil(5) { try t.hostctl(["logs", "fx"]).stdout.contains("out | request /after") })
        let text = try t.hostctl(["logs", "fx"]).stdout
        let notice = try #require(logLines(text).first { $0.contains("fx/- hostctl | dropped ") }, "\(text)")
        let reported = Int(notice.split(separator: " ")[5]) ?? 0
        #expect(reported >= count, "\(notice) reports what status counted (\(count))")
        #expect(notice.contains("No space left on device"), "\(notice)")
        #expect(t.daemonPID.map { !processGone($0) } == true, "the daemon keeps running")
    }
}

/// Runs a command and waits for it.
func runCommand(_ arguments: [String]) throws -> RunResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    return try collect(process)
}
