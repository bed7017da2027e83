/// Appends an app's records to `<directory>/<app>.log` and rotates it by size and count, by rename
/// and reopen, never by copy and truncate.
///
/// `<app>.log` becomes `<app>.log.1`, `.1` becomes `.2`, …,
/// and the oldest beyond `maxFiles` is removed. A batch is cut between records, so a line is never
/// split across two files and nothing is written twice.
///
/// When writing fails (disk full, permission, the directory removed), the batch's lines are counted
/// as dropped and the file is cut back to where the batch began; the next batch tries again (reopening
/// a file that was removed), and the first one that succeeds begins with a `dropped N lines` record.
/// Not thread-safe: used by the log store's writer thread only.
public final class LogWriter {
    /// The app's name.
    public let app: String
    /// The directory of the app's log files.
    public let directory: String
    /// Rotation happens before a write would take the file over this size (bytes).
    public var maxSize: Int64
    /// How many files are kept, the current one included.
    public var maxFiles: Int
    /// Every line dropped so far.
    public private(set) var droppedLines = 0
    /// The last failure, for the daemon's log.
    public private(set) var lastError: LogSinkError?

    private let sink: any LogSink
    private var fd: Int32?
    private var size: Int64 = 0
    /// Where the blocks reserved ahead of the writes end (`reserveStep` at a time, never past
    /// `maxSize`, released when the file is rotated).
    private var reserved: Int64 = 0
    private static let reserveStep: Int64 = 1 << 20
    private var unreported = 0
    private var clock = LogTimestamp()

    /// Creates a writer; nothing is opened until the first write.
    public init(app: String, directory: String, maxSize: Int64, maxFiles: Int, sink: any LogSink = FileLogSink()) {
        self.app = app
        self.directory = directory
        self.maxSize = maxSize
        self.maxFiles = max(1, maxFiles)
        self.sink = sink
    }

    deinit {
        if let fd {
            if reserved > size { sink.truncate(fd, to: size) }
            sink.close(fd)
        }
    }

    /// The path of the current file.
    public var currentPath: String { directory + "/" + app + ".log" }

    /// Writes `batch`, whole records each ending in a newline.
    ///
    /// Returns the failure, if any (its lines
    /// are counted in `droppedLines`).
    @discardableResult
    public func write(_ batch: ArraySlice<UInt8>) -> LogSinkError? {
        var rest = batch
        var noticeInRest = false
        if unreported > 0 {
            var notice: [UInt8] = []
            clock.append(to: &notice)
            notice += LogRecord.middle(app: app, slot: nil, generation: nil, stream: .hostctl, continued: false)
            notice += Array("dropped \(unreported) lines: \(lastError.map { "\($0)" } ?? "write failed")\n".utf8)
            rest = (notice + rest)[...]
            noticeInRest = true
        }
        while !rest.isEmpty {
            guard let fd = openIfNeeded() else { return drop(rest, notice: noticeInRest) }
            var part = rest
            if size + Int64(rest.count) > maxSize {
                // Cut after the last whole record that still fits; when none fits, rotate first, or
                // in a fresh file write one record however long it is.
                let room = Int(max(0, maxSize - size))
                let fits = rest.prefix(room).lastIndex(of: 10)
                if fits == nil && size > 0 {
                    rotate()
                    continue
                }
                part = rest[...(fits ?? rest.firstIndex(of: 10) ?? rest.index(before: rest.endIndex))]
            }
            let end = size + Int64(part.count)
            if end > reserved {
                let until = min(max(end, size + Self.reserveStep), maxSize)
                let from = max(size, reserved)
                if until > from { sink.reserve(fd, from: from, length: until - from) }
                reserved = max(until, end)
            }
            if case .failure(let error) = sink.write(fd, part) {
                sink.truncate(fd, to: size)
                reserved = size
                lastError = error
                return drop(rest, notice: noticeInRest)
            }
            size += Int64(part.count)
            if noticeInRest {
                unreported = 0
                noticeInRest = false
            }
            rest = rest[part.endIndex...]
            if !rest.isEmpty { rotate() }
        }
        return nil
    }

    /// Counts the records of `rest` as dropped (but not a `dropped` notice at its start); returns the failure.
    private func drop(_ rest: ArraySlice<UInt8>, notice: Bool) -> LogSinkError? {
        var lines = 0
        for byte in rest where byte == 10 { lines += 1 }
        if notice {
            lines -= 1
            unreported += lines
        } else {
            unreported += lines
        }
        droppedLines += lines
        return lastError
    }

    private func openIfNeeded() -> Int32? {
        if let fd, sink.isRemoved(fd) {
            // Someone removed the file: start a new one rather than write into the void.
            sink.close(fd)
            self.fd = nil
        }
        if let fd { return fd }
        sink.makeDirectory(directory)
        switch sink.open(currentPath) {
        case .success(let opened):
            fd = opened.fd
            size = opened.size
            reserved = opened.size
            return opened.fd
        case .failure(let error):
            lastError = error
            return nil
        }
    }

    /// `<app>.log` → `.1` → `.2` …; the file beyond `maxFiles` is removed.
    private func rotate() {
        if let fd {
            // The blocks reserved past the last record go back: a rotated file holds its records only.
            if reserved > size { sink.truncate(fd, to: size) }
            sink.close(fd)
        }
        fd = nil
        let base = currentPath
        if maxFiles == 1 {
            sink.remove(base)
        } else {
            sink.remove("\(base).\(maxFiles - 1)")
            for index in stride(from: maxFiles - 2, through: 1, by: -1) {
                sink.rename("\(base).\(index)", to: "\(base).\(index + 1)")
            }
            sink.rename(base, to: "\(base).1")
        }
        size = 0
    }
}
