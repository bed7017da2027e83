#if canImport(Glibc)
    public import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes a file so that a crash at any moment leaves either the old content or the new, never
/// half of either: a temporary file in the same directory, `fsync`, `rename` over the target, then
/// `fsync` of the directory so the rename itself is durable.
public enum AtomicFile {
    /// Replaces the file at `path` with `contents`, created with exactly `mode`.
    public static func write(_ contents: String, to path: String, mode: mode_t = 0o644) throws(SystemError) {
        let directory = FileSystem.parentDirectory(of: path)
        let temporary = "\(directory)/.\(FileSystem.baseName(of: path)).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError(errno: errno, action: "cannot write \(path)") }
        var failure: SystemError?
        // The umask narrowed the mode given to open; set the one we promised.
        if fchmod(fd, mode) != 0 { failure = SystemError(errno: errno, action: "cannot write \(path)") }
        let bytes = Array(contents.utf8)
        var offset = 0
        while failure == nil && offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return Glibc.write(fd, base + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                failure = SystemError(errno: errno, action: "cannot write \(path)")
            } else {
                offset += written
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = SystemError(errno: errno, action: "cannot write \(path)") }
        if close(fd) != 0 && failure == nil { failure = SystemError(errno: errno, action: "cannot write \(path)") }
        if failure == nil && rename(temporary, path) != 0 {
            failure = SystemError(errno: errno, action: "cannot write \(path)")
        }
        if let failure {
            unlink(temporary)
            throw failure
        }
        syncDirectory(directory)
    }

    /// Removes `path` and makes the removal durable.
    ///
    /// Throws when it cannot be removed.
    public static func remove(_ path: String) throws(SystemError) {
        guard unlink(path) == 0 else { throw SystemError(errno: errno, action: "cannot remove \(path)") }
        syncDirectory(FileSystem.parentDirectory(of: path))
    }

    /// `fsync` of a directory, so that renames and unlinks in it survive a crash.
    public static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
