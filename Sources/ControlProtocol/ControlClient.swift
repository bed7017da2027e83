import Foundation
import HostSupport

/// Why the CLI could not talk to the daemon: three different things, three different messages
/// (STYLE.md 2.4).
public enum ControlUnavailable: Error, Sendable, Equatable {
    /// No socket, or a stale one nobody listens on.
    case notRunning
    /// The socket exists but this user may not connect.
    case notAllowed
    /// Connected, but no answer in time.
    case notAnswering
}

/// The CLI's end of the control protocol.
public struct ControlClient: Sendable {
    /// `<run>/control.sock`.
    public var path: String

    /// A client for the socket at `path`.
    public init(path: String) { self.path = path }

    /// Sends `request` and waits up to `timeout` (nil: no limit) for the answer.
    public func send(_ request: ControlRequest, timeout: Duration? = .seconds(30)) throws(ControlUnavailable)
        -> ControlResponse
    {
        let fd = try connect()
        defer { close(fd) }
        if let timeout {
            var value = timeval(
                tv_sec: Int(timeout.components.seconds),
                tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        }
        guard let data = try? JSONEncoder().encode(request) else { throw .notAnswering }
        // A daemon that refuses this peer answers and closes before reading the request, so a failed
        // write is no reason to stop: its answer may be waiting.
        _ = ControlWire.writeAll(fd, Array(data) + [10])
        guard let line = ControlWire.readLine(fd),
            let response = try? JSONDecoder().decode(ControlResponse.self, from: Data(line))
        else { throw .notAnswering }
        return response
    }

    /// Whether a daemon accepts connections now.
    public func isRunning() -> Bool {
        guard let fd = try? connect() else { return false }
        close(fd)
        return true
    }

    private func connect() throws(ControlUnavailable) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .notRunning }
        var address = SocketAddress.unix(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected == 0 { return fd }
        let code = errno
        close(fd)
        switch code {
        case EACCES, EPERM: throw .notAllowed
        default: throw .notRunning
        }
    }
}
