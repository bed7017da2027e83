import CHostSupport

#if canImport(Glibc)
    import Glibc
#endif

/// UTC times with milliseconds in the log format, `2026-11-25T07:00:01.123Z` (24 bytes).
///
/// The date and time up to the second are formatted once a second and reused: stamping a line costs
/// a `clock_gettime` and three digits. Not thread-safe: one per thread.
public struct LogTimestamp {
    private var second = Int.min
    private var prefix: [UInt8] = []

    /// Creates a stamper.
    public init() {}

    /// Appends the current time to `buffer`.
    public mutating func append(to buffer: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        if now.tv_sec != second {
            second = now.tv_sec
            prefix = Array(Self.format(seconds: now.tv_sec, milliseconds: nil).utf8)
        }
        buffer.append(contentsOf: prefix)
        let milliseconds = Int(now.tv_nsec / 1_000_000)
        buffer.append(UInt8(48 + milliseconds / 100))
        buffer.append(UInt8(48 + milliseconds / 10 % 10))
        buffer.append(UInt8(48 + milliseconds % 10))
        buffer.append(UInt8(ascii: "Z"))
    }

    /// The current time as a string.
    public mutating func now() -> String {
        var bytes: [UInt8] = []
        append(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `seconds` since the epoch as `2026-11-25T07:00:01.` (milliseconds nil) or the whole stamp.
    public static func format(seconds: Int, milliseconds: Int?) -> String {
        var time = seconds
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let head =
            "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
        guard let milliseconds else { return head }
        return head + pad(Int32(milliseconds), 3) + "Z"
    }
}
