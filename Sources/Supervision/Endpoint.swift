import Foundation
import HostConfig
import HostSupport

/// Where a worker listens: a Unix socket path or a TCP port on 127.0.0.1.
public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// A Unix stream socket at this path (the `pipe` and `fd` handoffs).
    case unix(String)
    /// A TCP port on 127.0.0.1 (the `port` handoff).
    case tcp(port: Int)

    /// The path, or `127.0.0.1:PORT`.
    public var description: String {
        switch self {
        case .unix(let path): return path
        case .tcp(let port): return "127.0.0.1:\(port)"
        }
    }
}

/// What a worker generation is handed: its endpoint, the environment that names it, and for the
/// `fd` handoff the listening socket the daemon bound.
struct PreparedHandoff {
    var endpoint: Endpoint
    /// `PORT` for pipe and port; `LISTEN_FDS`/`LISTEN_FDNAMES` for fd.
    var environment: [String: String]
    /// The listening socket that becomes the worker's fd 3, or -1; the daemon closes its copy after spawn.
    var descriptor: Int32 = -1
    /// The socket file to remove once the worker exits.
    var socketPath: String?

    /// Prepares generation `generation` of `slot` of `app` under `runDirectory`.
    static func prepare(
        _ handoff: AppConfig.Handoff, app: String, slot: Int, generation: Int, runDirectory: String,
        owner: (uid: UInt32, gid: UInt32)? = nil
    ) throws(SystemError) -> PreparedHandoff {
        switch handoff {
        case .pipe, .fd:
            let directory = "\(runDirectory)/apps/\(app)"
            try FileSystem.makeDirectories(directory, mode: 0o750)
            if let owner {
                // A worker running as another user binds its own socket: the app's directory is
                // its, and the directories above it become traversable (never listable) by others.
                // The control socket stays 0660, so traversing gains nothing else.
                chown(directory, owner.uid, owner.gid)
                chmod(runDirectory + "/apps", 0o711)
                chmod(runDirectory, 0o751)
            }
            let path = "\(directory)/\(slot).\(generation).sock"
            guard path.utf8.count <= 107 else {
                throw SystemError(
                    errno: ENAMETOOLONG, action: "cannot create the socket \(path)",
                    hint: "Unix socket paths stop at 107 bytes: use a shorter --home or app name, or handoff: port")
            }
            unlink(path)
            if handoff == .pipe {
                return PreparedHandoff(endpoint: .unix(path), environment: ["PORT": path], socketPath: path)
            }
            let fd = try UnixSocket.listen(at: path, backlog: 511)
            return PreparedHandoff(
                endpoint: .unix(path), environment: ["LISTEN_FDS": "1", "LISTEN_FDNAMES": app], descriptor: fd,
                socketPath: path)
        case .port:
            let port = try Sockets.freeTCPPort()
            return PreparedHandoff(endpoint: .tcp(port: port), environment: ["PORT": String(port)])
        }
    }
}

/// Small socket helpers over the system calls.
enum Sockets {
    /// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it).
    static func freeTCPPort() throws(SystemError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError(errno: errno, action: "cannot create a socket") }
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw SystemError(errno: errno, action: "cannot find a free TCP port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Opens a connection to `endpoint`; nil when it is refused or missing.
    static func connect(_ endpoint: Endpoint) -> Int32? {
        switch endpoint {
        case .unix(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return nil }
            var address = SocketAddress.unix(path)
            let ok = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
                }
            }
            if !ok { close(fd) }
            return ok ? fd : nil
        case .tcp(let port):
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return nil }
            var address = loopback(port: port)
            let ok = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            if !ok { close(fd) }
            return ok ? fd : nil
        }
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}
