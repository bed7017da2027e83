/// A size in bytes, as written in configs: `10MiB`, `512KiB`, `1GiB`, `100MB`, `4096`.
public struct ByteCount: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The size in bytes.
    public var bytes: Int64

    /// Creates a size from a byte count.
    public init(bytes: Int64) { self.bytes = bytes }

    /// `n` KiB.
    public static func kibibytes(_ n: Int64) -> ByteCount { ByteCount(bytes: n * 1024) }
    /// `n` MiB.
    public static func mebibytes(_ n: Int64) -> ByteCount { ByteCount(bytes: n * 1024 * 1024) }

    /// Compares by size.
    public static func < (lhs: ByteCount, rhs: ByteCount) -> Bool { lhs.bytes < rhs.bytes }

    private static let units: [(suffix: String, factor: Int64)] = [
        ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
        ("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("kB", 1000),
        ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("k", 1 << 10), ("B", 1),
    ]

    /// Parses `10MiB`, `1.5GiB`, `100MB`, `64K` or a plain number of bytes.
    ///
    /// Returns nil when the text is
    /// not a size or overflows.
    public init?(parsing text: String) {
        let trimmed = text.trimmingSpaces
        var number = Substring(trimmed)
        var factor: Int64 = 1
        for unit in Self.units where trimmed.hasSuffix(unit.suffix) {
            number = trimmed.dropLast(unit.suffix.count)
            factor = unit.factor
            break
        }
        number = Substring(String(number).trimmingSpaces)
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
            number.filter({ $0 == "." }).count <= 1, number.first != ".", number.last != "."
        else { return nil }
        if let whole = Int64(number) {
            let (product, overflow) = whole.multipliedReportingOverflow(by: factor)
            guard !overflow else { return nil }
            bytes = product
        } else if let fraction = Double(number), factor > 1 {
            let product = fraction * Double(factor)
            guard product < 9.0e18 else { return nil }
            bytes = Int64(product.rounded())
        } else {
            return nil
        }
    }

    /// The shortest exact form: `10MiB`, `512KiB`, `1000B`, `0`.
    public var description: String {
        if bytes == 0 { return "0" }
        for (suffix, factor) in [("TiB", Int64(1) << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        where bytes % factor == 0 {
            return "\(bytes / factor)\(suffix)"
        }
        return "\(bytes)B"
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view = view.dropFirst() }
        while let last = view.last, last == " " || last == "\t" { view = view.dropLast() }
        return String(view)
    }
}
