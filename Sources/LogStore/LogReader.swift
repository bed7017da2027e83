import CHostSupport

#if canImport(Glibc)
    import Glibc
#endif

/// What `hostctl logs` keeps of the records it reads.
public struct LogFilter: Sendable {
    /// Only this slot's lines (hostctl lines about the whole app are kept too).
    public var slot: Int?
    /// Only this stream.
    public var stream: LogStream?
    /// Only records at or after this time (a `LogRecord.time` string: times compare as strings).
    public var since: String?

    /// Creates a filter.
    public init(slot: Int? = nil, stream: LogStream? = nil, since: String? = nil) {
        self.slot = slot
        self.stream = stream
        self.since = since
    }

    /// True when `record` is kept.
    public func keeps(_ record: LogRecord) -> Bool {
        if let slot, record.slot != nil && record.slot != slot { return false }
        if let stream, record.stream != stream { return false }
        if let since, record.time < since { return false }
        return true
    }
}

/// Reads an app's log files without the daemon: the last records, newest file first, reading each
/// file backwards from its end in blocks, so `-n 100` costs the same on a gigabyte as on a kilobyte.
public enum LogReader {
    /// The app's files, oldest first: `<app>.log.N` … `<app>.log.1`, `<app>.log`, those that exist.
    public static func files(app: String, directory: String) -> [String] {
        let base = directory + "/" + app + ".log"
        var rotated: [(Int, String)] = []
        if let dir = opendir(directory) {
            defer { closedir(dir) }
            let prefix = app + ".log."
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name.hasPrefix(prefix), let index = Int(name.dropFirst(prefix.count)) {
                    rotated.append((index, directory + "/" + name))
                }
            }
        }
        var paths = rotated.sorted { $0.0 > $1.0 }.map(\.1)
        if access(base, F_OK) == 0 { paths.append(base) }
        return paths
    }

    /// The app directories under `logsDirectory` (every app that has logs), sorted.
    public static func apps(logsDirectory: String) -> [String] {
        guard let dir = opendir(logsDirectory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard !name.hasPrefix(".") else { continue }
            var info = stat()
            if stat(logsDirectory + "/" + name, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR { names.append(name) }
        }
        return names.sorted()
    }

    /// The last `count` records of `app` that `filter` keeps (all of them when `count` is nil), oldest
    /// first.
    ///
    /// `currentEnd` reads the current file only up to that offset (what `follow` starts after).
    public static func last(
        _ count: Int?, app: String, directory: String, filter: LogFilter, currentEnd: Int64? = nil
    ) -> [LogRecord] {
        if count == 0 { return [] }
        var found: [LogRecord] = []
        let paths = files(app: app, directory: directory)
        for (position, path) in paths.enumerated().reversed() {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var info = stat()
            fstat(fd, &info)
            let end = position == paths.count - 1 ? min(Int64(info.st_size), currentEnd ?? .max) : Int64(info.st_size)
            var olderThanSince = false
            backwards(fd, end: end) { line in
                guard let record = LogRecord(parsing: line) else { return true }
                if let since = filter.since, record.time < since {
                    olderThanSince = true
                    return false
                }
                if filter.keeps(record) { found.append(record) }
                return count.map { found.count < $0 } ?? true
            }
            if olderThanSince || count.map({ found.count >= $0 }) == true { break }
        }
        return found.reversed()
    }

    /// Calls `body` with each line of `fd` before `end`, last line first, until it returns false.
    static func backwards(_ fd: Int32, end: Int64, _ body: (ArraySlice<UInt8>) -> Bool) {
        let block = 64 * 1024
        var position = end
        var carry: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: block)
        while position > 0 {
            let size = Int(min(Int64(block), position))
            position -= Int64(size)
            let read = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, off_t(position)) }
            guard read == size else { return }
            var chunk = Array(buffer[0..<size]) + carry
            // Lines that end inside the chunk; the part before the first newline may continue
            // in the previous block.
            var lineEnd = chunk.endIndex
            if chunk.last == 10 { lineEnd -= 1 }
            while let newline = chunk[..<lineEnd].lastIndex(of: 10) {
                if !body(chunk[(newline + 1)..<lineEnd]) { return }
                lineEnd = newline
            }
            chunk.removeSubrange(lineEnd...)
            carry = chunk
            if carry.count > 16 << 20 { return }  // not a log file
        }
        if !carry.isEmpty { _ = body(carry[...]) }
    }
}
