import Foundation

/// Waits until a worker is ready to take traffic (`ready.mode: listen`).
///
/// For pipe and port a connection to the endpoint must succeed. For fd, the kernel accepts into the
/// backlog before the worker runs, so a probe `OPTIONS * HTTP/1.1` must get any response byte.
/// Attempts back off exponentially from 1 ms to 50 ms: short enough to notice readiness within a few
/// milliseconds, without a fixed sleep.
enum Readiness {
    /// True once ready; false when `timeout` passed or the task was cancelled.
    static func wait(for endpoint: Endpoint, probeHTTP: Bool, timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var delay = Duration.milliseconds(1)
        while clock.now < deadline && !Task.isCancelled {
            if let fd = Sockets.connect(endpoint) {
                defer { close(fd) }
                if !probeHTTP { return true }
                if await answers(fd, until: deadline, clock: clock) { return true }
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(50))
        }
        return false
    }

    /// Sends `OPTIONS *` and waits for any byte back, polling in 20 ms slices so that the task stays
    /// cancellable and no cooperative thread blocks for long.
    private static func answers(_ fd: Int32, until deadline: ContinuousClock.Instant, clock: ContinuousClock) async
        -> Bool
    {
        let probe = "OPTIONS * HTTP/1.1\r\nHost: hostctl\r\nConnection: close\r\n\r\n"
        let sent = probe.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        guard sent > 0 else { return false }
        while clock.now < deadline && !Task.isCancelled {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 20) > 0 {
                var byte: UInt8 = 0
                return recv(fd, &byte, 1, 0) > 0
            }
            await Task.yield()
        }
        return false
    }
}
