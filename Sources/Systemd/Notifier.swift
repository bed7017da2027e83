import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// Sends service state to systemd (`sd_notify`): `READY=1`, `STATUS=…`, `WATCHDOG=1`, `STOPPING=1`.
///
/// Exists only when the service manager gave a `NOTIFY_SOCKET`; without one, nothing is sent and
/// nothing costs.
public struct Notifier: Sendable {
    /// A notifier when `environment` has `NOTIFY_SOCKET`, else nil.
    public init?(environment: [String: String]) {
        guard let socket = environment["NOTIFY_SOCKET"], !socket.isEmpty else { return nil }
    }

    /// Sends newline-separated `KEY=VALUE` assignments.
    public func send(_ assignments: String) {
        _ = sd_notify(0, assignments)
    }

    /// `READY=1` with a status line.
    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    /// A new status line.
    public func status(_ text: String) { send("STATUS=\(text)") }

    /// `STOPPING=1`.
    public func stopping() { send("STOPPING=1\nSTATUS=stopping") }

    /// `RELOADING=1` with the `CLOCK_MONOTONIC` time in microseconds, as systemd 253+ expects.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        send("RELOADING=1\nMONOTONIC_USEC=\(microseconds)")
    }

    /// `WATCHDOG=1`.
    public func watchdog() { send("WATCHDOG=1") }
}
