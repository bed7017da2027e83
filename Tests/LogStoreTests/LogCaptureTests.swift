import Foundation
import Testing

@testable import LogStore

let fixtureWorker: String = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("hostctl-fixture-worker").path
}()

/// A pipe whose read end goes to the capture; the test writes into `input`.
struct TestPipe {
    let output: Int32
    let input: Int32

    init() {
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        output = fds[0]
        input = fds[1]
    }

    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.write(input, $0.baseAddress, $0.count) }
            if count <= 0 { return }
            offset += count
        }
    }
}

/// A worker process writing `--lines` into pipes the capture reads.
func startWriter(_ capture: LogCapture, app: String, slot: Int, lines: Int) throws -> Process {
    let out = TestPipe()
    let err = TestPipe()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: fixtureWorker)
    process.arguments = ["--lines", String(lines)]
    process.environment = ["HOSTCTL_WORKER": String(slot), "PORT": "0"]
    process.standardOutput = FileHandle(fileDescriptor: out.input, closeOnDealloc: false)
    process.standardError = FileHandle(fileDescriptor: err.input, closeOnDealloc: false)
    try process.run()
    close(out.input)
    close(err.input)
    capture.collect(stdout: out.output, stderr: err.output, from: .init(app: app, slot: slot, generation: 1))
    return process
}

/// The descriptors an epoll instance of this process holds (its fdinfo's `tfd:` lines).
func epollTargets(_ epoll: Int32) -> [Int32] {
    let info = (try? String(contentsOfFile: "/proc/self/fdinfo/\(epoll)", encoding: .utf8)) ?? ""
    return info.split(separator: "\n").compactMap { line in
        line.hasPrefix("tfd:")
            ? line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int32($0) } : nil
    }
}

/// Every record of `app`, oldest first, across its rotated files.
func allRecords(_ directory: String, app: String) -> [LogRecord] {
    LogReader.last(nil, app: app, directory: directory + "/" + app, filter: LogFilter())
}

/// A sink whose writes wait until `open` is set: a disk slower than the workers.
final class GatedSink: ForwardingSink, @unchecked Sendable {
    let real = FileLogSink()
    let gate = NSCondition()
    var isOpen = false

    func release() {
        gate.withLock {
            isOpen = true
            gate.broadcast()
        }
    }

    func write(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Result<Void, LogSinkError> {
        gate.withLock { while !isOpen { gate.wait() } }
        return real.write(fd, bytes)
    }
}

/// A capture onto a disk that holds every write until released, and one worker writing `lines`
/// lines to each stream into it.
func gatedCapture(app: String, lines: Int, bufferCap: Int) throws -> (
    TempDirectory, GatedSink, LogCapture, Process
) {
    let dir = try TempDirectory()
    let sink = GatedSink()
    let capture = LogCapture(logsDirectory: dir.path, sink: sink, bufferCap: bufferCap)
    return (dir, sink, capture, try startWriter(capture, app: app, slot: 1, lines: lines))
}

@Suite("log capture from real pipes", .serialized)
struct LogCaptureTests {
    @Test func twoHundredThousandLinesFromFourWorkers_eachPresentOnce_inOrder_acrossRotation() throws {
        let dir = try TempDirectory()
        let capture = LogCapture(logsDirectory: dir.path)
        capture.configure(app: "spew", maxSize: 2 << 20, maxFiles: 100)
        let workers = try (1...4).map { try startWriter(capture, app: "spew", slot: $0, lines: 25_000) }
        for worker in workers { worker.waitUntilExit() }
        for slot in 1...4 { capture.note("exited", about: .init(app: "spew", slot: slot, generation: 1)) }
        capture.flush()
        let files = LogReader.files(app: "spew", directory: dir.path + "/spew")
        #expect(files.count > 5, "rotation happened under load: \(files.count) files")
        var seen: [String: [Int]] = [:]
        var notes = 0
        for record in allRecords(dir.path, app: "spew") {
            if record.stream == .hostctl {
                notes += 1
                continue
            }
            let words = String(decoding: record.text, as: UTF8.self).split(separator: " ")
            #expect(words.count == 4 && words[1] == "\(record.slot ?? 0)", "\(words.prefix(3))")
            seen["\(record.slot ?? 0) \(record.stream)", default: []].append(Int(words[2]) ?? 0)
        }
        #expect(notes == 4)
        #expect(seen.count == 8)
        for (key, numbers) in seen.sorted(by: { $0.key < $1.key }) {
            #expect(numbers == Array(1...25_000), "\(key): \(numbers.count) lines")
        }
        #expect(capture.droppedLines(app: "spew") == 0)
    }

    @Test func longLinesBinaryAndAFinalLineWithoutNewline_areKept() throws {
        let dir = try TempDirectory()
        let capture = LogCapture(logsDirectory: dir.path)
        let out = TestPipe()
        let err = TestPipe()
        let source = LogCapture.Source(app: "b", slot: 2, generation: 5)
        capture.collect(stdout: out.output, stderr: err.output, from: source, announce: "started pid 1")
        out.write([UInt8](repeating: UInt8(ascii: "a"), count: 200_000) + [10])
        out.write([0x00, 0x1B, 0xFF, 0x41, 0x0D, 0x0A])
        err.write(Array("last words, no newline".utf8))
        close(out.input)
        close(err.input)
        capture.note("exited with status 1", about: source)
        capture.flush()
        let records = allRecords(dir.path, app: "b")
        #expect(records.first?.text == Array("started pid 1".utf8))
        let long = records.filter { $0.stream == .out && $0.text.first == UInt8(ascii: "a") }
        #expect(long.map(\.text.count) == [65_536, 65_536, 65_536, 3_392])
        #expect(long.map(\.continued) == [false, true, true, true])
        #expect(
            records.contains { $0.text == [0x00, 0x1B, 0xFF, 0x41] }, "bytes kept as written, CR before LF dropped")
        let lastWords = try #require(records.firstIndex { $0.text == Array("last words, no newline".utf8) })
        let exited = try #require(records.firstIndex { $0.text == Array("exited with status 1".utf8) })
        #expect(lastWords < exited, "the event comes after what the worker wrote before it")
        #expect(records[exited].slot == 2 && records[exited].generation == 5 && records[exited].stream == .hostctl)
    }

    @Test func manyLinesInOneRead_emptyLinesAndCRLF_andALineFinishedByTheNextRead() throws {
        let dir = try TempDirectory()
        let capture = LogCapture(logsDirectory: dir.path)
        let out = TestPipe()
        let err = TestPipe()
        let source = LogCapture.Source(app: "m", slot: 1, generation: 1)
        capture.collect(stdout: out.output, stderr: err.output, from: source)
        out.write(Array("a\r\n\nb\nhalf".utf8))
        capture.flush()
        out.write(Array(" and rest\nc\n".utf8))
        close(out.input)
        close(err.input)
        capture.flush()
        let texts = allRecords(dir.path, app: "m").map { String(decoding: $0.text, as: UTF8.self) }
        #expect(texts == ["a", "", "b", "half and rest", "c"])
    }

    @Test func aReadOfShortLines_whoseRecordsOutgrowTheRoomOfOneRound_keepsEveryLineInOrder() throws {
        let dir = try TempDirectory()
        let capture = LogCapture(logsDirectory: dir.path)
        let out = TestPipe()
        let err = TestPipe()
        capture.collect(stdout: out.output, stderr: err.output, from: .init(app: "s", slot: 1, generation: 1))
        // 2 to 4 bytes a line: each record is ten times its line, several rounds of room for one read.
        let lines = (0..<5000).map { String($0 % 1000) }
        out.write(Array((lines.joined(separator: "\n") + "\n").utf8))
        close(out.input)
        close(err.input)
        capture.flush()
        let texts = allRecords(dir.path, app: "s").map { String(decoding: $0.text, as: UTF8.self) }
        #expect(texts == lines)
    }

    @Test func aForgottenApp_closesItsFile_onceItsLinesAreWritten_andComesBackWhenItWritesAgain() throws {
        // `hostctl remove`: the daemon forgets the app. Its open log file would otherwise stay open
        // for the daemon's life, one descriptor per app ever removed, and a deleted file's space with it.
        let dir = try TempDirectory()
        let capture = LogCapture(logsDirectory: dir.path)
        func openFiles() -> [String] {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            return fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
                .filter { $0.hasPrefix(dir.path + "/pr/") }
        }
        let out = TestPipe()
        let err = TestPipe()
        capture.collect(stdout: out.output, stderr: err.output, from: .init(app: "pr", slot: 1, generation: 1))
        out.write(Array("last words\n".utf8))
        capture.flush()
        #expect(openFiles().count == 1)
        // Forgotten while its pipes are open: nothing is let go yet.
        capture.forget(app: "pr")
        capture.flush()
        #expect(capture.holds(app: "pr"))
        close(out.input)
        close(err.input)
        capture.flush()
        #expect(waitFor { !capture.holds(app: "pr") && openFiles().isEmpty }, "\(openFiles())")
        #expect(allRecords(dir.path, app: "pr").map { String(decoding: $0.text, as: UTF8.self) } == ["last words"])
        // The same name again: its file opens again and gets the new lines after the old ones.
        capture.note("added again", app: "pr")
        capture.flush()
        #expect(capture.holds(app: "pr"))
        #expect(
            allRecords(dir.path, app: "pr").map { String(decoding: $0.text, as: UTF8.self) } == [
                "last words", "added again",
            ])
    }

    @Test func aWorkerWritingALineAtATime_isReadInBatches_notOnceALine() throws {
        let dir = try TempDirectory()
        let capture = LogCapture(logsDirectory: dir.path)
        let out = TestPipe()
        let err = TestPipe()
        capture.collect(stdout: out.output, stderr: err.output, from: .init(app: "drip", slot: 1, generation: 1))
        // A line every 100 µs or more, each its own write, as node's console.log does: without a
        // pause after each round of reads, the reading thread wakes and reads once per line.
        let lines = 3000
        let started = ContinuousClock.now
        for index in 1...lines {
            out.write(Array("line \(index)\n".utf8))
            usleep(100)
        }
        let writing = ContinuousClock.now - started
        close(out.input)
        close(err.input)
        capture.flush()
        #expect(allRecords(dir.path, app: "drip").map(\.text) == (1...lines).map { Array("line \($0)".utf8) })
        // At most a read per millisecond of writing (with room for a slow machine), far fewer than
        // the lines; without the pause it is one per line.
        let reads = capture.pipeReads().reads
        let milliseconds = Int(writing / .milliseconds(1))
        #expect(
            reads < max(lines / 3, milliseconds * 3 / 2),
            "\(reads) reads for \(lines) lines written one at a time in \(milliseconds) ms")
    }

    @Test func aWorkerFillingASmallPipe_isReadWithoutPauses() throws {
        let dir = try TempDirectory()
        // No enlarged pipes, and an 8 KiB one: what a user past its pipe allowance gets.
        let capture = LogCapture(logsDirectory: dir.path, largePipes: 0)
        let out = TestPipe()
        let err = TestPipe()
        #expect(fcntl(out.input, 1031, Int32(8192)) == 8192)
        capture.collect(stdout: out.output, stderr: err.output, from: .init(app: "blast", slot: 1, generation: 1))
        // 4 MiB in 4 KiB writes: the pipe is full whenever the reading thread looks. A pause after a
        // round would leave the worker blocked for a millisecond per 8 KiB.
        let line = Array(repeating: UInt8(ascii: "x"), count: 99) + [10]
        let block = Array((0..<41).map { _ in line }.joined())
        for _ in 0..<1024 { out.write(block) }
        close(out.input)
        close(err.input)
        capture.flush()
        #expect(allRecords(dir.path, app: "blast").count == 1024 * 41)
        let (reads, pauses) = capture.pipeReads()
        #expect(pauses < reads / 2, "\(pauses) pauses in \(reads) reads of a full pipe")
    }

    @Test func aWorkerWritingInBlocks_isReadWithoutPauses() throws {
        let dir = try TempDirectory()
        let capture = LogCapture(logsDirectory: dir.path)
        let out = TestPipe()
        let err = TestPipe()
        capture.collect(stdout: out.output, stderr: err.output, from: .init(app: "blocks", slot: 1, generation: 1))
        // Blocks of 20 KiB, as a buffered logger writes them, each once the last was read: every read
        // takes a whole block, far less than the enlarged pipe holds. A pause after such a read
        // would leave a worker writing flat out blocked on its full pipe.
        let line = Array(repeating: UInt8(ascii: "x"), count: 99) + [10]
        let block = Array((0..<205).map { _ in line }.joined())
        let blocks = 200
        for _ in 0..<blocks {
            let before = capture.pipeReads().reads
            out.write(block)
            let deadline = Date().addingTimeInterval(5)
            while capture.pipeReads().reads == before && Date() < deadline { usleep(50) }
        }
        close(out.input)
        close(err.input)
        capture.flush()
        #expect(allRecords(dir.path, app: "blocks").count == blocks * 205)
        let (reads, pauses) = capture.pipeReads()
        #expect(pauses < reads / 2, "\(pauses) pauses in \(reads) reads of 20 KiB blocks")
    }

    @Test func slowDisk_stopsReadingTheWorker_atTheBufferCap_thenEverythingArrives() throws {
        let cap = 128 * 1024
        let (dir, sink, capture, worker) = try gatedCapture(app: "slow", lines: 50_000, bufferCap: cap)
        // The worker has 10 MB to write; with the disk stuck, it must end up blocked on its full pipe.
        let deadline = Date().addingTimeInterval(10)
        var blocked = false
        var wchan = ""
        while Date() < deadline && worker.isRunning && !blocked {
            wchan = (try? String(contentsOfFile: "/proc/\(worker.processIdentifier)/wchan", encoding: .utf8)) ?? ""
            blocked = wchan.hasSuffix("pipe_write") && capture.buffered(app: "slow") >= cap
            if !blocked { usleep(2000) }
        }
        #expect(
            blocked,
            "the worker is held back by its full pipe once the buffer is full (wchan \(wchan), buffered \(capture.buffered(app: "slow")), running \(worker.isRunning))"
        )
        let buffered = capture.buffered(app: "slow")
        // At most one 64 KiB read per pipe past the cap, each at most doubled by the record prefixes.
        #expect(buffered <= cap + 2 * 2 * 64 * 1024, "the buffer stays bounded (\(buffered) bytes)")
        // Paused: the app's epoll, which holds its two pipes, is out of the capture's epoll, so the
        // readable pipes wake nobody (proc(5): each `tfd:` line of an epoll's fdinfo is a descriptor it holds).
        let (main, app) = try #require(capture.epollDescriptors(app: "slow"))
        #expect(!epollTargets(main).contains(app), "the capture's epoll holds \(epollTargets(main)), app \(app)")
        #expect(epollTargets(app).count == 2)
        sink.release()
        worker.waitUntilExit()
        capture.flush()
        let records = allRecords(dir.path, app: "slow")
        #expect(records.count == 100_000)
        #expect(epollTargets(main).contains(app), "resumed: the capture's epoll holds the app's again")
    }

    @Test func aQuietApp_keepsNoLargeBuffer() throws {
        let cap = 256 * 1024
        let (dir, sink, capture, worker) = try gatedCapture(app: "burst", lines: 20_000, bufferCap: cap)
        // The disk holds the first write until a full buffer waits behind it: the batches written
        // after are large, and their buffers are kept for the next ones while the worker writes.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && capture.buffered(app: "burst") < cap { usleep(2000) }
        sink.release()
        worker.waitUntilExit()
        capture.flush()
        #expect(allRecords(dir.path, app: "burst").count == 40_000)
        // A second after its last line, the app holds at most a small buffer.
        let quiet = Date().addingTimeInterval(5)
        while Date() < quiet && capture.heldCapacity(app: "burst") > 64 * 1024 { usleep(20_000) }
        let held = capture.heldCapacity(app: "burst")
        #expect(held <= 64 * 1024, "a quiet app's buffers are released (\(held) bytes held)")
    }

    @Test func pipesAreEnlarged_onlyWithinTheirBudget_whichComesBackWhenAWorkerEnds() throws {
        let dir = try TempDirectory()
        let capture = LogCapture(logsDirectory: dir.path, largePipes: 2)
        func collect(_ slot: Int) -> [TestPipe] {
            let pipes = [TestPipe(), TestPipe()]
            capture.collect(
                stdout: pipes[0].output, stderr: pipes[1].output, from: .init(app: "p", slot: slot, generation: 1))
            return pipes
        }
        // F_GETPIPE_SZ, on the worker's end of each pipe.
        func sizes(_ pipes: [TestPipe]) -> [Int32] { pipes.map { fcntl($0.input, 1032) } }
        let probe = TestPipe()
        let standard = fcntl(probe.input, 1032)
        close(probe.input)
        close(probe.output)
        let first = collect(1)
        let second = collect(2)
        #expect(sizes(first) == [256 * 1024, 256 * 1024])
        #expect(sizes(second) == [standard, standard], "past the budget, pipes keep the standard size")
        // The first worker ends: the capture closes its pipes, and their place comes back.
        for pipe in first { close(pipe.input) }
        capture.flush()
        let third = collect(3)
        #expect(sizes(third) == [256 * 1024, 256 * 1024])
        for pipe in second + third { close(pipe.input) }
        capture.flush()
    }

    @Test func theReadingAndWritingThreads_runInTheBatchPolicy() throws {
        let dir = try TempDirectory()
        let capture = LogCapture(logsDirectory: dir.path)
        let threads = capture.threadIDs()
        #expect(threads.count == 2)
        for thread in threads {
            let stat = try String(contentsOfFile: "/proc/self/task/\(thread)/stat", encoding: .utf8)
            // proc(5): after the command in parentheses come the fields from 3 (state) on; 41 is the policy.
            let fields = stat[stat.range(of: ")", options: .backwards)!.upperBound...].split(separator: " ")
            #expect(fields[41 - 3] == "3", "thread \(thread): policy \(fields[41 - 3]), SCHED_BATCH is 3")
        }
    }

    @Test func largePipeBudget_keepsAnUnprivilegedUserInsideHalfItsAllowance() {
        // 16384 pages of 4 KiB, half of it in pipes of 256 KiB.
        #expect(LogCapture.largePipeBudget(softPages: 16384, privileged: false) == 128)
        #expect(LogCapture.largePipeBudget(softPages: 16384, privileged: true) == Int.max)
        #expect(LogCapture.largePipeBudget(softPages: 0, privileged: false) == Int.max)
        #expect(LogCapture.largePipeBudget(softPages: nil, privileged: false) == Int.max)
    }

    @Test func failingDisk_countsDroppedLines_andReportsThemWhenWritingWorksAgain() throws {
        let dir = try TempDirectory()
        let sink = FailingSink()
        let capture = LogCapture(logsDirectory: dir.path, sink: sink)
        let out = TestPipe()
        let err = TestPipe()
        let source = LogCapture.Source(app: "f", slot: 1, generation: 1)
        capture.collect(stdout: out.output, stderr: err.output, from: source)
        out.write(Array("kept 1\n".utf8))
        capture.flush()
        sink.failing = true
        out.write(Array("lost 1\nlost 2\nlost 3\n".utf8))
        capture.flush()
        #expect(capture.droppedLines(app: "f") == 3)
        sink.failing = false
        out.write(Array("kept 2\n".utf8))
        capture.flush()
        let texts = allRecords(dir.path, app: "f").map { String(decoding: $0.text, as: UTF8.self) }
        #expect(texts.count == 3, "\(texts)")
        #expect(texts.first == "kept 1")
        #expect(texts.dropFirst().first?.hasPrefix("dropped 3 lines: ") == true, "\(texts)")
        #expect(texts.last == "kept 2")
        close(out.input)
        close(err.input)
    }
}

/// Polls `condition` until it holds (true) or 10 s pass (false).
func waitFor(_ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}
