import Foundation

/// Waits until a worker is ready to take traffic (`ready.mode: listen`).
///
/// For pipe and port a connection to the endpoint must succeed. For fd, the kernel accepts into the
/// backlog before the worker runs, so a probe `OPTIONS * HTTP/1.1` must get any response byte.
/// Attempts follow `delay(after:)`: readiness is noticed soon after it happened, without a fixed sleep.
enum Readiness {
    /// True once ready; false when `timeout` passed or the task was cancelled.
    static func wait(for endpoint: Endpoint, probeHTTP: Bool, timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started.advanced(by: timeout)
        while clock.now < deadline && !Task.isCancelled {
            if let fd = Sockets.connect(endpoint) {
                defer { close(fd) }
                if !probeHTTP { return true }
                if await answers(fd, started: started, until: deadline, clock: clock) { return true }
            }
            try? await Task.sleep(for: delay(after: clock.now - started))
        }
        return false
    }

    /// The pause before the next attempt, `elapsed` after the first: an eighth of the time the worker
    /// has taken so far, 1 ms at least and 50 ms at most.
    ///
    /// So a worker is seen ready at most an eighth (plus 1 ms) later than it began to listen: 11 ms
    /// late at worst for a node worker ready after 80 ms, where doubling pauses could be 50 ms late.
    /// A start of 250 ms costs about 40 attempts (a refused `connect` each), one of 2 s about 75.
    static func delay(after elapsed: Duration) -> Duration {
        min(max(elapsed / 8, .milliseconds(1)), .milliseconds(50))
    }

    /// Sends `OPTIONS *` and waits for any byte back, looking again after `delay(after:)` (counted
    /// from `started`, the first attempt) and sleeping in between.
    ///
    /// It never blocks in `poll`: a blocked thread would be one of the few of the cooperative pool,
    /// and a few workers starting at once would stall every other task of the daemon.
    private static func answers(
        _ fd: Int32, started: ContinuousClock.Instant, until deadline: ContinuousClock.Instant, clock: ContinuousClock
    ) async -> Bool {
        let probe = "OPTIONS * HTTP/1.1\r\nHost: hostctl\r\nConnection: close\r\n\r\n"
        let sent = probe.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        guard sent > 0 else { return false }
        while clock.now < deadline && !Task.isCancelled {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 0) > 0 {
                var byte: UInt8 = 0
                return recv(fd, &byte, 1, 0) > 0
            }
            try? await Task.sleep(for: delay(after: clock.now - started))
        }
        return false
    }
}
