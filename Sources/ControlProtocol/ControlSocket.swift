import Foundation
public import HostSupport

/// Line-framed JSON over a Unix stream socket: the wire format of the control protocol.
enum ControlWire {
    /// Requests and responses above this are refused (a malformed client never makes the daemon grow).
    static let maximumMessage = 1 << 20

    /// Reads one line (without the newline); nil on EOF, error, timeout or oversize.
    static func readLine(_ fd: Int32, limit: Int = maximumMessage) -> [UInt8]? {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            if let newline = data.firstIndex(of: 10) { return Array(data[..<newline]) }
            if data.count > limit { return nil }
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return data.isEmpty ? nil : data }
            data += buffer[0..<count]
        }
    }

    /// Writes all of `bytes`; false when the peer went away.
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }
}

/// The daemon's end: accepts connections on `<run>/control.sock` (0660), checks each peer's
/// credentials, reads one request, and answers it through `handler`.
///
/// Connections are accepted on one thread and each is read on its own short-lived thread, so a
/// slow or silent client delays nobody; the handler itself runs as a task.
public final class ControlServer: @unchecked Sendable {
    /// Answers a request from an allowed peer.
    public typealias Handler = @Sendable (ControlRequest) async -> ControlResponse

    private let listener: Int32
    private let handler: Handler
    private let daemonUID = getuid()

    /// Binds `path` (removing a stale socket file first: the caller holds the home's daemon lock).
    public init(path: String, handler: @escaping Handler) throws(SystemError) {
        guard path.utf8.count <= 107 else {
            throw SystemError(
                errno: ENAMETOOLONG, action: "cannot create the control socket \(path)", hint: "use a shorter --home")
        }
        unlink(path)
        let fd = try UnixSocket.listen(at: path, backlog: 64)
        // 0660 in a 0750 directory: the daemon's user and group `hostctl`.
        chmod(path, 0o660)
        if let group = FileSystem.groupID(named: "hostctl") { _ = chown(path, uid_t.max, group) }
        listener = fd
        self.handler = handler
    }

    /// Starts accepting on a thread of its own.
    public func start() {
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "hostctl-control"
        thread.start()
    }

    /// Stops accepting (the socket file is the caller's to remove).
    public func close() {
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        while true {
            // accept4 is missing from Swift's Glibc; the keeper closes every inherited descriptor anyway.
            let client = accept(listener, nil, nil)
            if client >= 0 { _ = fcntl(client, F_SETFD, FD_CLOEXEC) }
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                // Out of descriptors: the connection stays queued and accept fails again at once, so
                // wait a little for one to be freed rather than spin.
                if errno == EMFILE || errno == ENFILE {
                    usleep(100_000)
                    continue
                }
                return
            }
            Thread.detachNewThread { [self] in serve(client) }
        }
    }

    private func serve(_ client: Int32) {
        guard let peer = PeerCredentials.of(socket: client), peer.isAllowed(daemonUID: daemonUID) else {
            reply(
                client,
                ControlResponse(
                    failure: ControlFailure(
                        code: "not_allowed", message: "not allowed to control this daemon",
                        hint: "run as the daemon's user or root, or join group hostctl")))
            // Take the request before closing (for a second at most): closing with it unread would
            // reset the connection, and the refusal with it.
            shutdown(client, Int32(SHUT_WR))
            var linger = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &linger, socklen_t(MemoryLayout<timeval>.size))
            var sink = [UInt8](repeating: 0, count: 4096)
            while read(client, &sink, sink.count) > 0 {}
            Glibc.close(client)
            return
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let line = ControlWire.readLine(client) else {
            reply(
                client,
                ControlResponse(failure: ControlFailure(code: "bad_request", message: "no request, or one over 1 MiB")))
            Glibc.close(client)
            return
        }
        let request: ControlRequest
        do {
            request = try JSONDecoder().decode(ControlRequest.self, from: Data(line))
        } catch {
            reply(
                client,
                ControlResponse(failure: ControlFailure(code: "bad_request", message: "malformed request: \(error)")))
            Glibc.close(client)
            return
        }
        guard request.version == controlProtocolVersion else {
            reply(
                client,
                ControlResponse(
                    failure: ControlFailure(
                        code: "unsupported_version",
                        message:
                            "the daemon speaks control protocol \(controlProtocolVersion), the client \(request.version)",
                        hint: "restart the daemon with this hostctl: `hostctl shutdown`, then `hostctl start`")))
            Glibc.close(client)
            return
        }
        let handler = self.handler
        Task {
            let response = await handler(request)
            self.reply(client, response)
            Glibc.close(client)
        }
    }

    private func reply(_ client: Int32, _ response: ControlResponse) {
        guard let data = try? JSONEncoder().encode(response) else { return }
        ControlWire.writeAll(client, Array(data) + [10])
    }
}
