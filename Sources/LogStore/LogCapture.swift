import CHostSupport
import Foundation
import HostSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Captures every worker's stdout and stderr.
///
/// One thread reads the pipes (epoll, non-blocking) and
/// turns them into stamped records in a per-app buffer; another writes the buffers to the app's log
/// files through a `LogWriter` (rotation, dropped-line counting). A record reaches the file as soon as
/// the writer thread is free: writes are batched only by what arrived while the last one ran, and by
/// the reading thread's pause of `gatherMicroseconds` after a round of reads that emptied the pipes.
///
/// Memory is bounded: when an app's buffer reaches `bufferCap` because the disk is slower than its
/// workers, its pipes are no longer read until the writer took the buffer, so the workers block on
/// their full pipes as they would writing to a slow file. An app holds at most two buffers: the one
/// being written and the one filling, each `bufferCap` plus the records of one 64 KiB read per pipe.
/// The cap also sets how often the reading thread waits for the writing one when the disk keeps up:
/// with 512 KiB, one round of 64 KiB reads from 8 full pipes reached it, and each hand-over waited
/// for a CPU (both threads are SCHED_BATCH) while the workers sat blocked on their pipes.
/// Events about workers (started, ready, exited)
/// are written in the same stream, after whatever the worker wrote before them.
public final class LogCapture: @unchecked Sendable {
    /// One worker generation's output identity.
    public struct Source: Sendable, Hashable {
        /// The app's name.
        public var app: String
        /// The slot.
        public var slot: Int
        /// The generation.
        public var generation: Int

        /// Creates a source.
        public init(app: String, slot: Int, generation: Int) {
            self.app = app
            self.slot = slot
            self.generation = generation
        }
    }

    /// One app's buffer and writer.
    ///
    /// Fields are guarded by the capture's `condition`, except `writer`,
    /// which only the writer thread uses.
    private final class AppLog {
        let writer: LogWriter
        /// The app's own epoll instance, holding its pipes; the capture's epoll holds it while the app
        /// is not paused, so a pause or a resume is one `epoll_ctl` however many pipes the app has.
        let epoll: Int32
        var pending: [UInt8] = []
        /// The buffer last written, emptied, kept while the app writes: the next batch fills it, with
        /// no new allocation (and no fresh pages to fault in) for each batch.
        var spare: [UInt8] = []
        var maxSize: Int64
        var maxFiles: Int
        var fds: Set<Int32> = []
        var paused = false
        var dropped = 0
        /// `logs.target`: lines also (or only) go to the forwarder; `toFiles` false means only.
        var forwarder: (any LogForwarder)?
        var toFiles = true
        /// The app was removed: once its pipes are closed and its lines written, its file is closed
        /// and this goes.
        var forgotten = false

        init(writer: LogWriter) {
            self.writer = writer
            epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
            precondition(epoll >= 0, "internal inconsistency: epoll_create1 failed (errno \(errno))")
            maxSize = writer.maxSize
            maxFiles = writer.maxFiles
        }

        deinit { close(epoll) }
    }

    /// One open pipe.
    ///
    /// Guarded by `condition`.
    private final class Pipe {
        let source: Source
        let stream: LogStream
        let app: AppLog
        var splitter = LineSplitter()
        let middle: [UInt8]
        let middleContinued: [UInt8]
        /// The pipe's size (F_GETPIPE_SZ), once enlarged or not.
        var capacity = 64 * 1024

        init(source: Source, stream: LogStream, app: AppLog) {
            self.source = source
            self.stream = stream
            self.app = app
            middle = LogRecord.middle(
                app: source.app, slot: source.slot, generation: source.generation, stream: stream, continued: false)
            middleContinued = LogRecord.middle(
                app: source.app, slot: source.slot, generation: source.generation, stream: stream, continued: true)
        }
    }

    /// The last stderr lines of a worker generation, for `start`'s failure message.
    // Invariant: a Tail's fields are only touched with the capture's `condition` locked.
    private final class Tail: @unchecked Sendable {
        /// The last bytes of stderr as read (at most `tailBytes` after trimming).
        var bytes: [UInt8] = []
        var trimmed = false
        var openStreams = 2
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private struct Note {
        var app: String
        var source: Source?
        var text: String
    }

    /// How many stderr lines a tail gives, and how many bytes it keeps to find them.
    private static let tailLines = 20
    private static let tailBytes = 8192
    /// Bytes read from a pipe at once, and the pipe size asked for (F_SETPIPE_SZ).
    private static let readSize = 64 * 1024
    private static let pipeSize = 256 * 1024
    /// The capacity an app's buffer starts with, and keeps at most while the app is quiet.
    private static let idleCapacity = 64 * 1024
    /// How long the reading thread lets the pipes fill after a round that emptied them (µs).
    ///
    /// A worker that writes a line at a time would otherwise wake the thread for nearly every line:
    /// a wake-up, an epoll_wait, a read and a hand-off to the writer per line. For 1,000,000 lines
    /// from node workers that cost the daemon 1 to 3 s of CPU; with the pause, 0.2 s. After the
    /// pause, one read takes whatever arrived; a line still reaches its file within a few
    /// milliseconds.
    private static let gatherMicroseconds: UInt32 = 1000
    /// A read this large ends the pauses until a round reads less: the pipe is fed in bulk.
    ///
    /// A worker that writes in blocks (a buffered logger, 4 workers writing flat out on 2 CPUs)
    /// fills a 256 KiB pipe in under a millisecond. Paused, the reading thread left it blocked on
    /// its full pipe while a CPU sat idle: traced, 27 such gaps (21 ms of a CPU) in a 270 ms run
    /// of `scripts/bench logs`. A line-at-a-time writer leaves a few KiB per pause.
    private static let bulkRead = 16 * 1024

    /// How many pipes may be enlarged to `pipeSize` at once.
    ///
    /// The kernel charges pipe buffers to the user who made the pipes (here the daemon's), and once
    /// an unprivileged user holds `fs.pipe-user-pages-soft` pages (16384 by default), every new pipe
    /// of that user, in any of its programs, gets 2 pages. So the enlarged pipes take at most half of
    /// that allowance; the rest keep the default size. A process with CAP_SYS_RESOURCE or
    /// CAP_SYS_ADMIN (`privileged`), and a soft limit of 0, are not limited.
    static func largePipeBudget(softPages: Int?, privileged: Bool) -> Int {
        guard !privileged, let softPages, softPages > 0 else { return Int.max }
        return softPages * 4096 / 2 / pipeSize
    }

    /// Whether this process is exempt from the pipe buffer allowance (CAP_SYS_ADMIN or
    /// CAP_SYS_RESOURCE in its effective capabilities).
    private static func exemptFromPipeLimits() -> Bool {
        Capabilities.effective(anyOf: Capabilities.sysAdmin, Capabilities.sysResource)
    }

    // Invariant: every field below is only touched with `condition` locked.
    private let condition = NSCondition()
    private var pipes: [Int32: Pipe] = [:]
    /// The pipes enlarged to `pipeSize`, at most `largePipes` of them.
    private var enlarged: Set<Int32> = []
    private var tails: [Source: Tail] = [:]
    private var apps: [String: AppLog] = [:]
    /// The apps by their epoll descriptor, as the capture's epoll reports them.
    private var appsByEpoll: [Int32: AppLog] = [:]
    private var notes: [Note] = []
    private var writing = 0
    /// `flush` barriers: asked for, and passed by the reading thread.
    private var barrier = 0
    private var passed = 0
    /// Whether the last barrier pass found anything still to read (or a paused app).
    private var passFoundMore = false
    /// The reading thread's current round: whether a read returned bytes, and whether one filled the
    /// read buffer or half its pipe, or took `bulkRead` bytes (the worker is ahead, and a pause could
    /// block it: no pause before the next round).
    private var roundRead = false
    private var roundFilled = false
    /// Reads that returned bytes, and pauses taken after a round, since the capture began (tests).
    private var reads = 0
    private var pauses = 0
    /// The reading and the writing thread (tests).
    private var threads: [Int32] = []

    private let epoll: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let logsDirectory: String
    private let sink: any LogSink
    private let bufferCap: Int
    private let largePipes: Int
    private let defaultMaxSize: Int64
    private let defaultMaxFiles: Int

    /// Starts the reading and writing threads (for the life of the process).
    ///
    /// Logs go below
    /// `logsDirectory`, one directory per app. `bufferCap` bounds each app's buffer (bytes).
    /// `largePipes`: how many pipes may be enlarged at once (tests); by default as many as keep an
    /// unprivileged user well inside its pipe buffer allowance (`largePipeBudget`).
    public init(
        logsDirectory: String, sink: any LogSink = FileLogSink(), bufferCap: Int = 2 * 1024 * 1024,
        defaultMaxSize: Int64 = 10 << 20, defaultMaxFiles: Int = 5, largePipes: Int? = nil
    ) {
        self.largePipes =
            largePipes
            ?? Self.largePipeBudget(
                softPages: (try? String(contentsOfFile: "/proc/sys/fs/pipe-user-pages-soft", encoding: .utf8))
                    .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) },
                privileged: Self.exemptFromPipeLimits())
        self.logsDirectory = logsDirectory
        self.sink = sink
        self.bufferCap = bufferCap
        self.defaultMaxSize = defaultMaxSize
        self.defaultMaxFiles = defaultMaxFiles
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "internal inconsistency: epoll_create1 failed (errno \(errno))")
        var wake: [Int32] = [0, 0]
        precondition(hc_pipe_cloexec(&wake, O_NONBLOCK) == 0, "internal inconsistency: pipe2 failed")
        wakeRead = wake[0]
        wakeWrite = wake[1]
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeRead
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeRead, &event)
        // The threads keep their object alive: they run for the life of the process.
        let reader = Thread { [self] in self.readLoop() }
        reader.name = "hostctl-log-read"
        reader.start()
        let writer = Thread { [self] in self.writeLoop() }
        writer.name = "hostctl-log-write"
        writer.start()
    }

    /// Sets an app's rotation (`logs.max_size`, `logs.max_files`); applies from the next write.
    public func configure(
        app: String, maxSize: Int64, maxFiles: Int, forwarder: (any LogForwarder)? = nil, toFiles: Bool = true
    ) {
        condition.withLock {
            let log = appLog(app)
            log.maxSize = maxSize
            log.maxFiles = max(1, maxFiles)
            log.forwarder = forwarder
            log.toFiles = toFiles || forwarder == nil
        }
    }

    /// Takes ownership of the read ends of a worker's stdout and stderr pipes (closed at end of file);
    /// `announce`, when given, is written as a hostctl line before anything the worker writes.
    public func collect(stdout: Int32, stderr: Int32, from source: Source, announce: String? = nil) {
        condition.lock()
        let log = appLog(source.app)
        if let announce {
            var clock = LogTimestamp()
            append(announce, source: source, to: log, clock: &clock)
        }
        pipes[stdout] = Pipe(source: source, stream: .out, app: log)
        pipes[stderr] = Pipe(source: source, stream: .err, app: log)
        tails[source] = Tail()
        for fd in [stdout, stderr] {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            // F_SETPIPE_SZ (Linux): a larger pipe lets a chatty worker run ahead of one read.
            if enlarged.count < largePipes && fcntl(fd, 1031, Int32(Self.pipeSize)) >= 0 { enlarged.insert(fd) }
            // F_GETPIPE_SZ: 8 KiB for a user past its pipe allowance, which a worker fills quickly.
            let capacity = fcntl(fd, 1032)
            if capacity > 0 { pipes[fd]?.capacity = Int(capacity) }
            log.fds.insert(fd)
            watch(fd, in: log)
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Writes a hostctl line about a worker, after everything the worker wrote before this call.
    public func note(_ text: String, about source: Source) {
        condition.withLock { notes.append(Note(app: source.app, source: source, text: text)) }
        wake()
    }

    /// Writes a hostctl line about a whole app.
    public func note(_ text: String, app: String) {
        condition.withLock { notes.append(Note(app: app, source: nil, text: text)) }
        wake()
    }

    /// The last stderr lines of `source`, once both its pipes reached end of file or `wait` passed.
    public func lastErrorLines(of source: Source, wait: Duration = .milliseconds(300)) async -> [String] {
        let tail: Tail? = condition.withLock { tails[source] }
        guard let tail else { return [] }
        if condition.withLock({ tail.openStreams > 0 }) {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await withCheckedContinuation { continuation in
                        self.condition.lock()
                        if tail.openStreams == 0 {
                            self.condition.unlock()
                            continuation.resume()
                        } else {
                            tail.waiters.append(continuation)
                            self.condition.unlock()
                        }
                    }
                }
                group.addTask { try? await Task.sleep(for: wait) }
                await group.next()
                group.cancelAll()
                // A waiter still parked is resumed now; end of file will find none.
                let waiters = self.condition.withLock {
                    let waiters = tail.waiters
                    tail.waiters = []
                    return waiters
                }
                for waiter in waiters { waiter.resume() }
            }
        }
        return condition.withLock {
            var lines = tail.bytes.split(separator: 10, omittingEmptySubsequences: false)
            if tail.trimmed && !lines.isEmpty { lines.removeFirst() }  // cut mid-line
            if lines.last?.isEmpty == true { lines.removeLast() }
            return lines.suffix(Self.tailLines).map {
                LogRecord.escape($0.last == 13 ? Array($0.dropLast()) : Array($0))
            }
        }
    }

    /// Forgets a worker generation's stderr tail (after it was reported or replaced).
    public func forget(_ source: Source) {
        condition.withLock { _ = tails.removeValue(forKey: source) }
    }

    /// `app` was removed.
    ///
    /// Once its workers' pipes are closed and its lines written, its log file is
    /// closed (its space freed, when the file was deleted) and its buffers let go. Anything written
    /// for it later opens the file again.
    public func forget(app: String) {
        condition.withLock {
            apps[app]?.forgotten = true
            condition.broadcast()
        }
    }

    /// Whether `app`'s log is held (its file open or to be opened), for tests.
    func holds(app: String) -> Bool {
        condition.withLock { apps[app] != nil }
    }

    /// Lines of `app` dropped because they could not be written.
    public func droppedLines(app: String) -> Int {
        condition.withLock { apps[app]?.dropped ?? 0 }
    }

    /// Bytes read from `app`'s workers and not yet handed to the writer.
    func buffered(app: String) -> Int {
        condition.withLock { apps[app]?.pending.count ?? 0 }
    }

    /// Reads from the pipes that returned bytes, and the reading thread's pauses after a round of
    /// them, since the capture began, for tests.
    func pipeReads() -> (reads: Int, pauses: Int) {
        condition.withLock { (reads, pauses) }
    }

    /// Bytes of buffer memory `app` holds (the buffer filling and the spare one), for tests.
    func heldCapacity(app: String) -> Int {
        condition.withLock { apps[app].map { $0.pending.capacity + $0.spare.capacity } ?? 0 }
    }

    /// Waits until every line read so far is written (or `timeout` passed); for shutdown and tests.
    public func flush(timeout: Duration = .seconds(5)) {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds) + 0.5)
        condition.lock()
        defer { condition.unlock() }
        // Barrier passes until one finds the pipes empty, no app paused and nothing left to write.
        while true {
            barrier += 1
            let mine = barrier
            wake()
            while passed < mine || !notes.isEmpty || writing > 0
                || apps.values.contains(where: { !$0.pending.isEmpty || $0.paused })
            {
                if !condition.wait(until: deadline) { return }
            }
            if !passFoundMore { return }
        }
    }

    // MARK: Reading thread

    private func readLoop() {
        enterBatchPolicy()
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        var pipeEvents = [epoll_event](repeating: epoll_event(), count: 64)
        var buffer = [UInt8](repeating: 0, count: Self.readSize)
        var clock = LogTimestamp()
        while true {
            let count = epoll_wait(epoll, &events, Int32(events.count), -1)
            if count < 0 { continue }
            condition.lock()
            roundRead = false
            roundFilled = false
            let seenBarrier = barrier
            for index in 0..<Int(count) {
                let fd = events[index].data.fd
                if fd == wakeRead {
                    var sink = [UInt8](repeating: 0, count: 64)
                    while read(wakeRead, &sink, sink.count) > 0 {}
                    continue
                }
                // An app's epoll: one read from each of its pipes with bytes to read.
                guard let log = appsByEpoll[fd], !log.paused else { continue }
                let ready = epoll_wait(log.epoll, &pipeEvents, Int32(pipeEvents.count), 0)
                for pipeIndex in 0..<Int(max(ready, 0)) {
                    let pipeFD = pipeEvents[pipeIndex].data.fd
                    guard let pipe = pipes[pipeFD], !pipe.app.paused else { continue }
                    _ = readOnce(pipeFD, pipe: pipe, buffer: &buffer, clock: &clock)
                }
            }
            if seenBarrier > passed {
                // A flush: whatever is in the pipes now is read before it returns.
                passFoundMore = false
                for (fd, pipe) in pipes {
                    if pipe.app.paused {
                        passFoundMore = true
                        continue
                    }
                    while readOnce(fd, pipe: pipe, buffer: &buffer, clock: &clock) {
                        passFoundMore = true
                        if pipe.app.paused { break }
                    }
                }
            }
            let pending = notes
            notes = []
            for note in pending {
                let log = appLog(note.app)
                if let source = note.source {
                    // What the worker wrote before the event comes first.
                    for (fd, pipe) in pipes where pipe.source == source {
                        while readOnce(fd, pipe: pipe, buffer: &buffer, clock: &clock) {}
                    }
                }
                append(note.text, source: note.source, to: log, clock: &clock)
            }
            passed = seenBarrier
            let gather = roundRead && !roundFilled && barrier == passed && notes.isEmpty
            if gather { pauses += 1 }
            condition.broadcast()
            condition.unlock()
            if gather { usleep(Self.gatherMicroseconds) }
        }
    }

    /// Reads once from `fd` into its app's buffer.
    ///
    /// True when bytes were read (there may be more).
    /// Called with `condition` locked, which the read itself runs without: the writing thread can
    /// take a buffer meanwhile. Only this thread closes a pipe's descriptor and drops its `Pipe`, so
    /// both outlive the read.
    private func readOnce(_ fd: Int32, pipe: Pipe, buffer: inout [UInt8], clock: inout LogTimestamp) -> Bool {
        condition.unlock()
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        let failure = errno
        condition.lock()
        if count < 0 && (failure == EAGAIN || failure == EINTR) { return false }
        let log = pipe.app
        if count > 0 {
            reads += 1
            roundRead = true
            // A full read buffer (64 KiB) is past both marks.
            if count >= min(pipe.capacity / 2, Self.bulkRead) { roundFilled = true }
        }
        var head: [UInt8] = []
        head.reserveCapacity(24 + pipe.middle.count)
        clock.append(to: &head)
        let stampCount = head.count
        let forwarder = log.forwarder
        let toFiles = log.toFiles
        func emit(_ text: ArraySlice<UInt8>, _ continued: Bool) {
            forwarder?.forward(app: pipe.source.app, slot: pipe.source.slot, stream: pipe.stream, text: text)
            guard toFiles else { return }
            log.pending.append(contentsOf: head[..<stampCount])
            log.pending.append(contentsOf: continued ? pipe.middleContinued : pipe.middle)
            log.pending.append(contentsOf: text)
            log.pending.append(10)
        }
        if count > 0 {
            if pipe.stream == .err, let tail = tails[pipe.source] {
                tail.bytes += buffer[max(0, count - Self.tailBytes)..<count]
                if tail.bytes.count > 2 * Self.tailBytes {
                    tail.bytes.removeFirst(tail.bytes.count - Self.tailBytes)
                    tail.trimmed = true
                }
            }
            if forwarder != nil {
                // Line by line, for the forwarder.
                pipe.splitter.feed(buffer[0..<count], emit: emit)
                if log.pending.count >= bufferCap { pause(log) }
                return true
            }
            let continuedHead = head + pipe.middleContinued
            head += pipe.middle
            buffer.withUnsafeBytes { raw in
                let bytes = raw.bindMemory(to: UInt8.self)
                var start = 0
                if !pipe.splitter.isBetweenLines {
                    // A line begun in an earlier read: finish it through the splitter.
                    let end = bytes[0..<count].firstIndex(of: 10).map { $0 + 1 } ?? count
                    pipe.splitter.feed(buffer[0..<end], emit: emit)
                    start = end
                }
                // Whole lines, in one pass.
                if start < count, let last = bytes[start..<count].lastIndex(of: 10) {
                    appendRecords(
                        UnsafeBufferPointer(rebasing: bytes[start...last]), head: head, continuedHead: continuedHead,
                        to: log)
                    start = last + 1
                }
                if start < count { pipe.splitter.feed(buffer[start..<count], emit: emit) }
            }
            if log.pending.count >= bufferCap { pause(log) }
            return true
        }
        // End of file (or an error): the last line without a newline is kept, the pipe closed.
        pipe.splitter.finish(emit: emit)
        epoll_ctl(log.epoll, EPOLL_CTL_DEL, fd, nil)
        pipes[fd] = nil
        log.fds.remove(fd)
        enlarged.remove(fd)
        close(fd)
        if let tail = tails[pipe.source] {
            tail.openStreams -= 1
            if tail.openStreams == 0 {
                for waiter in tail.waiters { waiter.resume() }
                tail.waiters = []
            }
        }
        return false
    }

    /// Appends a record for each line of `lines` (whole lines, each ending in a newline; a CR before
    /// it is dropped), each after `head`, built in place at the end of the app's buffer.
    ///
    /// Called with `condition` locked, on the reading thread.
    private func appendRecords(
        _ lines: UnsafeBufferPointer<UInt8>, head: [UInt8], continuedHead: [UInt8], to log: AppLog
    ) {
        guard let base = lines.baseAddress else { return }
        let maxLine = LineSplitter.maxLine
        let record = max(head.count, continuedHead.count) + 1
        let end = base + lines.count
        var line = base
        head.withUnsafeBufferPointer { head in
            continuedHead.withUnsafeBufferPointer { continuedHead in
                while line < end {
                    // Room for the rest when its lines average 32 bytes or more; shorter lines take
                    // another round. The first line always fits: `maxLine` is more than 32.
                    let rest = end - line
                    let before = line
                    log.pending.append(addingCapacity: rest + (rest / 32 + 1) * record) { span in
                        span.withUnsafeMutableBufferPointer { room, written in
                            guard let out = room.baseAddress else { return }
                            // `lines` ends in a newline, so each search finds one: one pass over the bytes.
                            while line < end, let found = memchr(line, 10, end - line) {
                                let newline = UnsafePointer(found.assumingMemoryBound(to: UInt8.self))
                                var length = newline - line
                                if length > 0 && newline[-1] == 13 { length -= 1 }
                                // Lines longer than `maxLine` become several records: one more per `maxLine` bytes.
                                if written + length + (length / maxLine + 1) * record > room.count { return }
                                var piece = line
                                var prefix = head
                                repeat {
                                    let size = min(length - (piece - line), maxLine)
                                    if let start = prefix.baseAddress {
                                        (out + written).initialize(from: start, count: prefix.count)
                                    }
                                    written += prefix.count
                                    (out + written).initialize(from: piece, count: size)
                                    written += size
                                    (out + written).initialize(to: 10)
                                    written += 1
                                    piece += size
                                    prefix = continuedHead
                                } while piece - line < length
                                line = newline + 1
                            }
                        }
                    }
                    precondition(line > before, "internal inconsistency: no room for a record")
                }
            }
        }
    }

    /// Appends a hostctl record.
    ///
    /// Called with `condition` locked.
    private func append(_ text: String, source: Source?, to log: AppLog, clock: inout LogTimestamp) {
        if let forwarder = log.forwarder {
            forwarder.forward(app: log.writer.app, slot: source?.slot, stream: .hostctl, text: Array(text.utf8)[...])
            guard log.toFiles else { return }
        }
        clock.append(to: &log.pending)
        log.pending += LogRecord.middle(
            app: log.writer.app, slot: source?.slot, generation: source?.generation, stream: .hostctl, continued: false)
        log.pending += Array(text.utf8)
        log.pending.append(10)
    }

    // MARK: Writing thread

    private func writeLoop() {
        enterBatchPolicy()
        condition.lock()
        var holdsBuffers = false
        while true {
            // Removed apps go once nothing of theirs is left to read or write (their writer closes the file).
            for (app, log) in apps where log.forgotten && log.fds.isEmpty && log.pending.isEmpty {
                apps[app] = nil
                appsByEpoll[log.epoll] = nil
                if !log.paused { epoll_ctl(epoll, EPOLL_CTL_DEL, log.epoll, nil) }
            }
            let ready = apps.values.filter { !$0.pending.isEmpty }
            if ready.isEmpty {
                if !holdsBuffers {
                    condition.wait()
                } else if !condition.wait(until: Date(timeIntervalSinceNow: 1)) {
                    // A second with nothing to write: apps that stopped writing keep no large buffer.
                    for log in apps.values {
                        log.spare = []
                        if log.pending.isEmpty && log.pending.capacity > Self.idleCapacity { log.pending = [] }
                    }
                    holdsBuffers = false
                }
                continue
            }
            holdsBuffers = true
            for log in ready {
                var batch: [UInt8] = []
                swap(&batch, &log.pending)
                swap(&log.pending, &log.spare)
                if log.pending.capacity < Self.idleCapacity { log.pending.reserveCapacity(Self.idleCapacity) }
                log.writer.maxSize = log.maxSize
                log.writer.maxFiles = log.maxFiles
                // The buffer is free again: a paused app's pipes are read while this batch is written.
                if log.paused { resume(log) }
                writing += 1
                condition.unlock()
                log.writer.write(batch[...])
                batch.removeAll(keepingCapacity: true)
                condition.lock()
                writing -= 1
                log.spare = batch
                log.dropped = log.writer.droppedLines
            }
            condition.broadcast()
        }
    }

    /// Puts the calling thread (reading or writing) in SCHED_BATCH and records its id.
    ///
    /// The threads keep their share of the CPU, but a wake-up of theirs (a pipe that filled, a
    /// batch to write, the end of a gathering pause) no longer preempts the thread running on that
    /// CPU, most often a worker writing the very lines they capture: they run when its time slice
    /// ends or a CPU is idle. With 4 workers writing flat out on 2 CPUs, a capture took 3-4% less
    /// time in paired runs. A line still reaches its file within a time slice or two.
    private func enterBatchPolicy() {
        _ = hc_thread_batch()
        condition.withLock {
            threads.append(hc_thread_id())
            condition.broadcast()
        }
    }

    /// The capture's epoll descriptor and `app`'s, for tests.
    func epollDescriptors(app: String) -> (capture: Int32, app: Int32)? {
        condition.withLock { apps[app].map { (epoll, $0.epoll) } }
    }

    /// The ids of the reading and the writing thread once both started, for tests.
    func threadIDs() -> [Int32] {
        condition.withLock {
            while threads.count < 2 { condition.wait() }
            return threads
        }
    }

    // MARK: Helpers (with `condition` locked)

    private func appLog(_ app: String) -> AppLog {
        if let log = apps[app] {
            log.forgotten = false
            return log
        }
        let log = AppLog(
            writer: LogWriter(
                app: app, directory: logsDirectory + "/" + app, maxSize: defaultMaxSize, maxFiles: defaultMaxFiles,
                sink: sink))
        apps[app] = log
        appsByEpoll[log.epoll] = log
        watch(log.epoll, in: epoll)
        return log
    }

    /// Adds `fd` to `log`'s epoll (a pipe of its workers).
    private func watch(_ fd: Int32, in log: AppLog) { watch(fd, in: log.epoll) }

    private func watch(_ fd: Int32, in instance: Int32) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLHUP.rawValue
        event.data.fd = fd
        epoll_ctl(instance, EPOLL_CTL_ADD, fd, &event)
    }

    /// The app's buffer is full: its pipes are not read until the writer took it.
    private func pause(_ log: AppLog) {
        guard !log.paused else { return }
        log.paused = true
        epoll_ctl(epoll, EPOLL_CTL_DEL, log.epoll, nil)
    }

    private func resume(_ log: AppLog) {
        log.paused = false
        watch(log.epoll, in: epoll)
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }
}
