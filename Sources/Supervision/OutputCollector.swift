import CHostSupport
import Foundation
import HostSupport

/// Reads every worker's stdout and stderr pipes on one epoll thread, splits them into lines, appends
/// them to the app's log file, and keeps the last stderr lines of each worker so that a worker that
/// dies before it is ready can be quoted (`start` prints them).
///
/// Line format in `<logs>/<app>/<app>.log`: `2026-11-25T07:00:01.123Z dante/1.3 err | text`.
/// Rotation, follow and the full log store come with the logs step; this keeps the pipes drained
/// (a worker never blocks on a full pipe while the daemon runs) and nothing is lost.
public final class OutputCollector: @unchecked Sendable {
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

    private struct Stream {
        var source: Source
        var isError: Bool
        var partial: [UInt8] = []
    }

    // Invariant: a Tail's fields are only touched with the collector's `lock` held.
    private final class Tail: @unchecked Sendable {
        var lines: [String] = []
        var openStreams = 2
        var waiters: [CheckedContinuation<[String], Never>] = []
    }

    // Invariant: every field below is only touched with `lock` held.
    private let lock = NSLock()
    private var streams: [Int32: Stream] = [:]
    private var tails: [Source: Tail] = [:]
    private var files: [String: Int32] = [:]
    private let epoll: Int32
    private let logsDirectory: String
    private static let tailLines = 20

    /// Starts the reader thread; logs go below `logsDirectory`.
    public init(logsDirectory: String) {
        self.logsDirectory = logsDirectory
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "internal inconsistency: epoll_create1 failed (errno \(errno))")
        // The thread keeps its object alive: it runs for the life of the process.
        let thread = Thread { [self] in self.loop() }
        thread.name = "hostctl-output"
        thread.start()
    }

    /// Takes ownership of the read ends of a worker's stdout and stderr pipes.
    public func collect(stdout: Int32, stderr: Int32, from source: Source) {
        lock.lock()
        streams[stdout] = Stream(source: source, isError: false)
        streams[stderr] = Stream(source: source, isError: true)
        tails[source] = Tail()
        lock.unlock()
        for fd in [stdout, stderr] {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var event = epoll_event()
            event.events = EPOLLIN.rawValue | EPOLLHUP.rawValue
            event.data.fd = fd
            epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event)
        }
    }

    /// The last stderr lines of `source`, once both its pipes reached end of file or `wait` passed.
    public func lastErrorLines(of source: Source, wait: Duration = .milliseconds(300)) async -> [String] {
        let tail: Tail? = lock.withLock { tails[source] }
        guard let tail else { return [] }
        let done = lock.withLock { tail.openStreams == 0 }
        if !done {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    _ = await withCheckedContinuation { continuation in
                        self.lock.lock()
                        if tail.openStreams == 0 {
                            self.lock.unlock()
                            continuation.resume(returning: tail.lines)
                        } else {
                            tail.waiters.append(continuation)
                            self.lock.unlock()
                        }
                    }
                }
                group.addTask { try? await Task.sleep(for: wait) }
                await group.next()
                group.cancelAll()
                // The waiter, if still parked, is resumed at end of file; resume it now if we timed out.
                let (waiters, lines) = self.lock.withLock {
                    let waiters = tail.waiters
                    tail.waiters = []
                    return (waiters, tail.lines)
                }
                for waiter in waiters { waiter.resume(returning: lines) }
            }
        }
        return lock.withLock { tail.lines }
    }

    /// Forgets a worker generation's tail (after it was reported or replaced).
    public func forget(_ source: Source) {
        lock.withLock { _ = tails.removeValue(forKey: source) }
    }

    private func loop() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = epoll_wait(epoll, &events, Int32(events.count), -1)
            if count < 0 { continue }
            for index in 0..<Int(count) {
                let fd = events[index].data.fd
                drain(fd, buffer: &buffer)
            }
        }
    }

    private func drain(_ fd: Int32, buffer: inout [UInt8]) {
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count > 0 {
                append(fd, bytes: buffer[0..<count])
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
            // End of file (or an error): flush what is left, close, and wake anyone waiting for the tail.
            epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
            lock.lock()
            if var stream = streams.removeValue(forKey: fd) {
                if !stream.partial.isEmpty {
                    let line = String(decoding: stream.partial, as: UTF8.self)
                    stream.partial = []
                    write(line, stream: stream)
                }
                if let tail = tails[stream.source] {
                    tail.openStreams -= 1
                    if tail.openStreams == 0 {
                        let waiters = tail.waiters
                        tail.waiters = []
                        for waiter in waiters { waiter.resume(returning: tail.lines) }
                    }
                }
            }
            lock.unlock()
            close(fd)
            return
        }
    }

    private func append(_ fd: Int32, bytes: ArraySlice<UInt8>) {
        lock.lock()
        defer { lock.unlock() }
        guard var stream = streams[fd] else { return }
        stream.partial += bytes
        while let newline = stream.partial.firstIndex(of: 10) {
            let line = String(decoding: stream.partial[..<newline], as: UTF8.self)
            stream.partial.removeSubrange(...newline)
            write(line, stream: stream)
        }
        streams[fd] = stream
    }

    /// Appends one line to the app's log and the tail; called with `lock` held.
    private func write(_ line: String, stream: Stream) {
        let source = stream.source
        if stream.isError, let tail = tails[source] {
            tail.lines.append(line)
            if tail.lines.count > Self.tailLines { tail.lines.removeFirst() }
        }
        let text =
            "\(Self.timestamp()) \(source.app)/\(source.slot).\(source.generation) \(stream.isError ? "err" : "out") | \(line)\n"
        guard let file = logFile(source.app) else { return }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(file, $0.baseAddress, $0.count) }
            if written <= 0 { return }
            bytes = bytes.dropFirst(written)
        }
    }

    private func logFile(_ app: String) -> Int32? {
        if let fd = files[app] { return fd }
        let directory = logsDirectory + "/" + app
        try? FileSystem.makeDirectories(directory, mode: 0o755)
        let fd = open(directory + "/" + app + ".log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        files[app] = fd
        return fd
    }

    /// UTC with milliseconds: `2026-11-25T07:00:01.123Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}
