import CSystemd

/// The service watchdog systemd asks for (`WatchdogSec=`, passed as `WATCHDOG_USEC`).
public enum Watchdog {
    /// How often to send `WATCHDOG=1`: half the watchdog timeout, or nil when there is no watchdog
    /// for this process.
    public static func pingInterval() -> Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds / 2))
    }
}
