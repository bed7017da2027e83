import HostSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Writing to the terminal.
///
/// Nothing outside the executable prints.
enum Output {
    /// Writes text to standard output, unbuffered.
    static func standardOutput(_ text: String) { write(text, to: 1) }
    /// Writes text to standard error, unbuffered.
    static func standardError(_ text: String) { write(text, to: 2) }

    /// One line to standard output.
    static func line(_ text: String = "") { standardOutput(text + "\n") }
    /// `hostctl: warning: …` to standard error.
    static func warning(_ text: String) { standardError("hostctl: warning: \(text)\n") }
    /// A note for people (what was detected, what was written) to standard error, so that
    /// standard output stays clean for scripts.
    static func note(_ text: String) { standardError(text + "\n") }

    private static func write(_ text: String, to fd: Int32) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.write(fd, base, raw.count)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(written)
        }
    }

    /// Left-aligned columns separated by two spaces; the last column is not padded.
    static func table(_ rows: [[String]]) -> String {
        guard let width = rows.map(\.count).max() else { return "" }
        var widths = Array(repeating: 0, count: width)
        for row in rows {
            for (index, cell) in row.enumerated() where index < width - 1 {
                widths[index] = max(widths[index], cell.count)
            }
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}

/// The process environment as a dictionary.
enum Environment {
    static var variables: [String: String] {
        var out: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                out[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return out
    }
}
