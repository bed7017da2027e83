/// Durations as written in configs: `100ms`, `30s`, `2m`, `1h`, `1m30s`, or `0`.
public enum ConfigDuration {
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// Parses a duration; nil when the text is not one (a number without a unit other than 0,
    /// an unknown unit, a negative value, or an overflow).
    public static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingSpaces
        if trimmed == "0" { return .zero }
        var rest = Substring(trimmed)
        var total: Int64 = 0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let value = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let letters = rest.prefix { $0.isASCII && $0.isLetter }
            guard let unit = units.first(where: { $0.suffix == letters }) else { return nil }
            rest = rest.dropFirst(letters.count)
            let (part, overflow1) = value.multipliedReportingOverflow(by: unit.milliseconds)
            let (sum, overflow2) = total.addingReportingOverflow(part)
            guard !overflow1, !overflow2, sum < Int64.max / 1_000_000 else { return nil }
            total = sum
        }
        return .milliseconds(total)
    }

    /// The shortest exact form in the units above: `100ms`, `30s`, `2m`, `1h`, `0s`.
    public static func format(_ duration: Duration) -> String {
        let ms = milliseconds(duration)
        if ms == 0 { return "0s" }
        // Minutes and hours only from 2 minutes up, so that "60s" and "90s" read as written.
        for (suffix, factor) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        where ms % factor == 0 && (factor == 1000 || ms >= 120_000) {
            return "\(ms / factor)\(suffix)"
        }
        return "\(ms)ms"
    }

    /// The duration in whole milliseconds (rounded down).
    public static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
