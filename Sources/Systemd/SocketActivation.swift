import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// Listening sockets passed by systemd (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`).
public enum SocketActivation {
    /// A passed socket: its descriptor and its `FileDescriptorName=` (systemd says `unknown` when unnamed).
    public struct Listener: Sendable, Equatable {
        /// The descriptor (3 and up).
        public var fd: Int32
        /// The name.
        public var name: String
    }

    /// The sockets passed to this process, once.
    ///
    /// The `LISTEN_*` variables are removed so that no
    /// child sees them. Empty when none were passed.
    public static func take() -> [Listener] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return [] }
        defer { free(names) }
        return (0..<Int(count)).map { index in
            let name = names?[index].map { pointer -> String in
                defer { free(pointer) }
                return String(cString: pointer)
            }
            return Listener(fd: SD_LISTEN_FDS_START + Int32(index), name: name ?? "unknown")
        }
    }
}
