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
