import CHostSupport
import Foundation

/// One sd_notify message from a worker: its `KEY=VALUE` lines, and who sent it.
public struct NotifyMessage: Sendable, Equatable {
    /// The assignments, in order (`READY` → `1`, `STATUS` → `…`).
    public var fields: [(key: String, value: String)]
    /// The sender's pid and uid, from the kernel (SCM_CREDENTIALS).
    public var pid: Int32
    /// The sender's uid.
    public var uid: UInt32

    /// The value of `key`, the last one when it came twice.
    public subscript(_ key: String) -> String? { fields.last { $0.key == key }?.value }

    /// Parses a datagram's text.
    public init(text: String, pid: Int32, uid: UInt32) {
        fields = text.split(separator: "\n").compactMap { line in
            guard let equals = line.firstIndex(of: "=") else { return nil }
            return (String(line[..<equals]), String(line[line.index(after: equals)...]))
        }
        self.pid = pid
        self.uid = uid
    }

    public static func == (lhs: NotifyMessage, rhs: NotifyMessage) -> Bool {
        lhs.fields.map(\.key) == rhs.fields.map(\.key) && lhs.fields.map(\.value) == rhs.fields.map(\.value)
            && lhs.pid == rhs.pid && lhs.uid == rhs.uid
    }
}

/// Receives sd_notify messages from workers: one datagram socket per worker (so that a message's
/// sender is never ambiguous, whatever process of the worker's group sends it), all read by one
/// thread blocked in `epoll_wait`.
public final class NotifyListener: @unchecked Sendable {
    /// Why a notify socket could not be made.
    public struct OpenError: Error, Sendable, CustomStringConvertible {
        /// `cannot create the notify socket /run/…: reason`.
        public var description: String
    }

    // Invariant: `handlers` is only touched with `lock` held.
    private let lock = NSLock()
    private var handlers: [Int32: @Sendable (NotifyMessage) -> Void] = [:]
    private let epoll: Int32

    /// Starts the reading thread (for the life of the process).
    public init() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "internal inconsistency: epoll_create1 failed (errno \(errno))")
        let thread = Thread { [self] in self.loop() }
        thread.name = "hostctl-notify"
        thread.start()
    }

    /// Binds a socket at `path` and calls `handler` on the reading thread with each message; returns
    /// the socket, to pass to `close`.
    public func open(path: String, handler: @escaping @Sendable (NotifyMessage) -> Void) throws(OpenError) -> Int32 {
        let fd = hc_notify_socket(path)
        guard fd >= 0 else {
            throw OpenError(description: "cannot create the notify socket \(path): \(String(cString: strerror(errno)))")
        }
        lock.withLock { handlers[fd] = handler }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = fd
        epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event)
        return fd
    }

    /// Stops listening on `fd` and removes its socket file at `path`.
    public func close(_ fd: Int32, path: String) {
        epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
        lock.withLock { _ = handlers.removeValue(forKey: fd) }
        Glibc.close(fd)
        unlink(path)
    }

    private func loop() {
        var events = [epoll_event](repeating: epoll_event(), count: 32)
        var buffer = [CChar](repeating: 0, count: 4096)
        while true {
            let count = epoll_wait(epoll, &events, Int32(events.count), -1)
            if count < 0 { continue }
            for index in 0..<Int(count) {
                let fd = events[index].data.fd
                while true {
                    var pid: Int32 = 0
                    var uid: UInt32 = 0
                    let length = hc_notify_receive(fd, &buffer, buffer.count, &pid, &uid)
                    guard length >= 0 else { break }
                    let text = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    let handler = lock.withLock { handlers[fd] }
                    handler?(NotifyMessage(text: text, pid: pid, uid: uid))
                }
            }
        }
    }
}
