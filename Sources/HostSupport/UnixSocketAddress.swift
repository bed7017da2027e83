public import Glibc

/// Socket addresses for the system calls (`bind`, `connect`).
public enum SocketAddress {
    /// A `sockaddr_un` for `path`, truncated to the 107 bytes `sun_path` holds (callers check the length first).
    public static func unix(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        return address
    }
}

/// Unix stream sockets.
public enum UnixSocket {
    /// A listening socket bound at `path`, close-on-exec (the corresponding calls are `socket`,
    /// `bind` and `listen`).
    ///
    /// The caller owns (and closes) the descriptor.
    public static func listen(at path: String, backlog: Int32) throws(SystemError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError(errno: errno, action: "cannot create a socket for \(path)") }
        var address = SocketAddress.unix(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, Glibc.listen(fd, backlog) == 0 else {
            let code = errno
            close(fd)
            throw SystemError(errno: code, action: "cannot listen on \(path)")
        }
        return fd
    }
}
