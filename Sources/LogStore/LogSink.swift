import CHostSupport

#if canImport(Glibc)
    import Glibc
#endif

/// The few file operations a `LogWriter` needs, so that a failing disk can be put in their place in
/// tests (a full disk cannot be provoked everywhere).
///
/// Errors are `errno` values.
public protocol LogSink: Sendable {
    /// Opens `path` for appending, creating it with mode 0644; returns the descriptor and the size.
    func open(_ path: String) -> Result<(fd: Int32, size: Int64), LogSinkError>
    /// Writes all of `bytes` to `fd`, or fails; on failure some bytes may have been written.
    func write(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Result<Void, LogSinkError>
    /// True when the file behind `fd` was removed from its directory (its link count is 0).
    func isRemoved(_ fd: Int32) -> Bool
    /// Cuts the file behind `fd` back to `size` bytes (after a failed write: no half lines); blocks
    /// reserved past it are released too.
    func truncate(_ fd: Int32, to size: Int64)
    /// Allocates the blocks of the file behind `fd` from `offset` for `length` bytes ahead of the
    /// writes that fill them, without changing its size; a failure is harmless.
    func reserve(_ fd: Int32, from offset: Int64, length: Int64)
    /// Renames `from` to `to`, replacing it; false when `from` does not exist or the rename failed.
    @discardableResult func rename(_ from: String, to: String) -> Bool
    /// Removes `path` if it exists.
    func remove(_ path: String)
    /// Closes `fd`.
    func close(_ fd: Int32)
    /// Creates `path` and its parents (mode 0755) when missing.
    func makeDirectory(_ path: String)
}

extension LogSink {
    /// Reserves nothing: writes allocate as they go.
    public func reserve(_ fd: Int32, from offset: Int64, length: Int64) {}
}

/// A failed file operation: the `errno` value and what was being done.
public struct LogSinkError: Error, Sendable, CustomStringConvertible {
    /// The errno value.
    public var code: Int32
    /// `cannot write /…/dante.log`.
    public var action: String

    /// Creates an error.
    public init(code: Int32, action: String) {
        self.code = code
        self.action = action
    }

    /// `cannot write /…/dante.log: No space left on device`.
    public var description: String { "\(action): \(String(cString: strerror(code)))" }
}

/// The real files.
public struct FileLogSink: LogSink {
    /// Creates the sink.
    public init() {}

    /// See `LogSink`.
    public func open(_ path: String) -> Result<(fd: Int32, size: Int64), LogSinkError> {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return .failure(LogSinkError(code: errno, action: "cannot open \(path)")) }
        var info = stat()
        fstat(fd, &info)
        return .success((fd, Int64(info.st_size)))
    }

    /// See `LogSink`.
    public func write(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Result<Void, LogSinkError> {
        var rest = bytes
        while !rest.isEmpty {
            let written = rest.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return .failure(LogSinkError(code: errno, action: "cannot write"))
            }
            rest = rest.dropFirst(written)
        }
        return .success(())
    }

    /// See `LogSink`.
    public func isRemoved(_ fd: Int32) -> Bool {
        var info = stat()
        return fstat(fd, &info) == 0 && info.st_nlink == 0
    }

    /// See `LogSink`.
    public func truncate(_ fd: Int32, to size: Int64) { _ = ftruncate(fd, off_t(size)) }

    /// See `LogSink`.
    ///
    /// Allocating a run of blocks at once costs the filesystem less than allocating them write by
    /// write (ext4 here: a fifth less system time for the writes).
    public func reserve(_ fd: Int32, from offset: Int64, length: Int64) { _ = hc_reserve(fd, offset, length) }

    /// See `LogSink`.
    public func rename(_ from: String, to: String) -> Bool { Glibc.rename(from, to) == 0 }

    /// See `LogSink`.
    public func remove(_ path: String) { unlink(path) }

    /// See `LogSink`.
    public func close(_ fd: Int32) { _ = Glibc.close(fd) }

    /// See `LogSink`.
    public func makeDirectory(_ path: String) {
        var prefix = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            prefix += prefix.isEmpty && part.isEmpty ? "/" : (prefix.hasSuffix("/") ? "" : "/") + part
            if !part.isEmpty { mkdir(prefix, 0o755) }
        }
    }
}
