import CHostSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Follows apps' current log files as they grow, across rotation (the old file is read to its end
/// before the new one is opened, so nothing is lost or repeated) and worker restarts, woken by
/// inotify on the apps' directories, not by polling.
public final class LogFollower {
    private struct Followed {
        var fd: Int32 = -1
        var inode: UInt = 0
        var offset: Int64 = 0
        var partial: [UInt8] = []
    }

    private let logsDirectory: String
    private let allApps: Bool
    private var followed: [String: Followed] = [:]
    private let inotify: Int32
    private var watches: [Int32: String] = [:]

    /// Follows `apps`, or every app (and those whose logs appear later) when nil.
    ///
    /// The current files
    /// are opened now; `startOffsets` says where following begins in each.
    public init(logsDirectory: String, apps: [String]?) {
        self.logsDirectory = logsDirectory
        allApps = apps == nil
        inotify = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        if allApps {
            inotify_add_watch(inotify, logsDirectory, UInt32(IN_CREATE | IN_MOVED_TO))
        }
        for app in apps ?? LogReader.apps(logsDirectory: logsDirectory) { add(app, fromStart: false) }
    }

    deinit {
        for item in followed.values where item.fd >= 0 { close(item.fd) }
        close(inotify)
    }

    /// Where following begins in each app's current file: its end when opened, cut back to the last
    /// whole line (what `LogReader.last(currentEnd:)` should stop at).
    public var startOffsets: [String: Int64] { followed.mapValues(\.offset) }

    /// Calls `output` with each batch of new records that `filter` keeps, until it returns false or
    /// `closeWatch` (standard output) is closed by its reader.
    public func run(filter: LogFilter, closeWatch: Int32?, output: ([LogRecord]) -> Bool) {
        var descriptors = [pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)]
        if let closeWatch { descriptors.append(pollfd(fd: closeWatch, events: 0, revents: 0)) }
        while true {
            var batch: [LogRecord] = []
            for app in followed.keys.sorted() { batch += readNew(app) }
            batch = batch.filter(filter.keeps)
            if !batch.isEmpty {
                if batch.count > 1 && followed.count > 1 {
                    batch = batch.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }
                        .map(\.element)
                }
                if !output(batch) { return }
            }
            // The timeout is a safety net for a missed event; inotify wakes us on every write.
            _ = poll(&descriptors, nfds_t(descriptors.count), 2000)
            if descriptors.count > 1 && descriptors[1].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { return }
            drainEvents()
        }
    }

    private func add(_ app: String, fromStart: Bool) {
        guard followed[app] == nil else { return }
        let directory = logsDirectory + "/" + app
        let watch = inotify_add_watch(
            inotify, directory, UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF))
        if watch >= 0 { watches[watch] = app }
        var item = Followed()
        open(app, &item)
        if !fromStart && item.fd >= 0 {
            var info = stat()
            fstat(item.fd, &info)
            item.offset = lastLineEnd(item.fd, size: Int64(info.st_size))
        }
        followed[app] = item
    }

    private func path(_ app: String) -> String { logsDirectory + "/" + app + "/" + app + ".log" }

    private func open(_ app: String, _ item: inout Followed) {
        let fd = Glibc.open(path(app), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        var info = stat()
        fstat(fd, &info)
        item = Followed(fd: fd, inode: UInt(info.st_ino), offset: 0, partial: [])
    }

    /// The offset just after the last newline before `size`.
    private func lastLineEnd(_ fd: Int32, size: Int64) -> Int64 {
        var end = size
        var buffer = [UInt8](repeating: 0, count: 4096)
        while end > 0 {
            let start = max(0, end - Int64(buffer.count))
            let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(end - start), off_t(start)) }
            guard count > 0 else { return 0 }
            if let newline = buffer[0..<count].lastIndex(of: 10) { return start + Int64(newline) + 1 }
            end = start
        }
        return 0
    }

    /// New whole records of `app`: the rest of its current file, then, if the file was rotated, the new one.
    private func readNew(_ app: String) -> [LogRecord] {
        guard var item = followed[app] else { return [] }
        var records: [LogRecord] = []
        if item.fd < 0 {
            open(app, &item)
        }
        for _ in 0..<2 {
            guard item.fd >= 0 else { break }
            records += readToEnd(&item)
            var info = stat()
            let current = stat(path(app), &info) == 0 ? UInt(info.st_ino) : 0
            guard current != item.inode else { break }
            // Rotated (or removed): the old file was read to its end above; go on in the new one.
            close(item.fd)
            item = Followed()
            open(app, &item)
        }
        followed[app] = item
        return records
    }

    private func readToEnd(_ item: inout Followed) -> [LogRecord] {
        var records: [LogRecord] = []
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(item.fd, $0.baseAddress, $0.count, off_t(item.offset)) }
            guard count > 0 else { break }
            item.offset += Int64(count)
            var chunk = item.partial + buffer[0..<count]
            var start = chunk.startIndex
            while let newline = chunk[start...].firstIndex(of: 10) {
                if let record = LogRecord(parsing: chunk[start..<newline]) { records.append(record) }
                start = newline + 1
            }
            chunk.removeSubrange(..<start)
            item.partial = chunk
        }
        return records
    }

    private func drainEvents() {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
            guard count > 0 else { return }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= count {
                let (wd, mask, length) = buffer.withUnsafeBytes { raw in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.wd, event.mask, Int(event.len))
                }
                let nameStart = offset + MemoryLayout<inotify_event>.size
                let name = String(decoding: buffer[nameStart..<(nameStart + length)].prefix { $0 != 0 }, as: UTF8.self)
                if allApps && watches[wd] == nil && mask & UInt32(IN_ISDIR) != 0 && !name.hasPrefix(".") {
                    add(name, fromStart: true)
                }
                offset = nameStart + length
            }
        }
    }
}
