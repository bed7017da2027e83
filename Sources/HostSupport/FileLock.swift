#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An exclusive advisory lock on a file (the corresponding C function is `flock`), held until
/// `unlock()` or until the process exits, whichever comes first.
///
/// The kernel drops the lock when the descriptor closes, so a process killed while holding it
/// never blocks the next one.
public final class FileLock {
    private var descriptor: Int32

    /// Opens (creating 0644 when missing) and locks `path`, waiting while another process holds it.
    public init(path: String) throws(SystemError) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError(errno: errno, action: "cannot open the lock file \(path)") }
        while flock(fd, LOCK_EX) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            throw SystemError(errno: code, action: "cannot lock \(path)")
        }
        descriptor = fd
    }

    /// Releases the lock.
    ///
    /// Safe to call twice.
    public func unlock() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { unlock() }
}
