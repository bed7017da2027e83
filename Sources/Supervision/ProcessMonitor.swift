import CHostSupport
import Foundation

/// Learns of keeper exits without polling and without races.
///
/// One thread blocks in `epoll_wait` on the keepers' pidfds, reaps each with `waitid(P_PIDFD)` when
/// it becomes readable, and reports the status. Nothing else in the daemon may call `wait`/`waitpid`
/// for these children.
public final class ProcessMonitor: @unchecked Sendable {
    // Invariant: `handlers` is only touched with `lock` held.
    private let lock = NSLock()
    private var handlers: [Int32: @Sendable (WorkerExit) -> Void] = [:]
    private let epoll: Int32

    /// Starts the monitor thread.
    public init() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "internal inconsistency: epoll_create1 failed (errno \(errno))")
        // The thread keeps its object alive: it runs for the life of the process.
        let thread = Thread { [self] in self.loop() }
        thread.name = "hostctl-reaper"
        thread.start()
    }

    /// Calls `onExit` once, on the monitor thread, when the process behind `pidfd` exits; the
    /// monitor then closes `pidfd`, which it owns from now on.
    public func watch(pidfd: Int32, onExit: @escaping @Sendable (WorkerExit) -> Void) {
        lock.lock()
        handlers[pidfd] = onExit
        lock.unlock()
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = pidfd
        if epoll_ctl(epoll, EPOLL_CTL_ADD, pidfd, &event) != 0 {
            // Not watchable (should not happen for a pidfd): reap now, blocking until it exits.
            deliver(pidfd, blocking: true)
        }
    }

    private func loop() {
        var events = [epoll_event](repeating: epoll_event(), count: 32)
        while true {
            let count = epoll_wait(epoll, &events, Int32(events.count), -1)
            if count < 0 { continue }
            for index in 0..<Int(count) { deliver(events[index].data.fd, blocking: false) }
        }
    }

    private func deliver(_ pidfd: Int32, blocking: Bool) {
        var raw: Int32 = 0
        var state = hc_pidfd_reap(pidfd, &raw)
        while blocking && state == 0 {
            usleep(1000)
            state = hc_pidfd_reap(pidfd, &raw)
        }
        guard state != 0 else { return }
        epoll_ctl(epoll, EPOLL_CTL_DEL, pidfd, nil)
        lock.lock()
        let handler = handlers.removeValue(forKey: pidfd)
        lock.unlock()
        close(pidfd)
        let status: WorkerExit = hc_wifsignaled(raw) != 0 ? .signaled(hc_wtermsig(raw)) : .exited(hc_wexitstatus(raw))
        handler?(status)
    }
}
