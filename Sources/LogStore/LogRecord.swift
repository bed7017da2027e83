/// Which stream a log record came from: the worker's stdout or stderr, or hostctl itself
/// (worker start, readiness, exit, restart, dropped lines).
public enum LogStream: String, Sendable, Hashable, CaseIterable {
    case out
    case err
    case hostctl
}

/// One line of an app's log file, as written and as read back.
///
/// The line format, greppable and fixed-width up to the worker:
/// `2026-11-25T07:00:01.123Z dante/1.3 out | text` — UTC time with milliseconds, `app/slot.generation`
/// (`app/-` for lines about the whole app), the stream, then `|` and the text as the worker wrote it
/// (control bytes and invalid UTF-8 kept as they are). A line longer than 64 KiB is stored as several
/// records; each one after the first has `+` in place of `|`.
public struct LogRecord: Sendable, Equatable {
    /// `2026-11-25T07:00:01.123Z`: fixed width, so that times compare as strings.
    public var time: String
    /// The app's name.
    public var app: String
    /// The worker's slot, or nil for a line about the whole app.
    public var slot: Int?
    /// The worker's generation, or nil for a line about the whole app.
    public var generation: Int?
    /// The stream.
    public var stream: LogStream
    /// True when this record continues the previous record's line (a line split at 64 KiB).
    public var continued: Bool
    /// The text, without the newline, as the worker wrote it.
    public var text: [UInt8]

    /// Creates a record.
    public init(
        time: String, app: String, slot: Int?, generation: Int?, stream: LogStream, continued: Bool = false,
        text: [UInt8]
    ) {
        self.time = time
        self.app = app
        self.slot = slot
        self.generation = generation
        self.stream = stream
        self.continued = continued
        self.text = text
    }

    /// The bytes between the time and the text: ` dante/1.3 out | ` (or `+ ` for a continuation).
    static func middle(app: String, slot: Int?, generation: Int?, stream: LogStream, continued: Bool) -> [UInt8] {
        let worker = slot.map { "\($0).\(generation ?? 0)" } ?? "-"
        return Array(" \(app)/\(worker) \(stream.rawValue) \(continued ? "+" : "|") ".utf8)
    }

    /// The record as one line of a log file, newline included.
    public var line: [UInt8] {
        Array(time.utf8)
            + Self.middle(app: app, slot: slot, generation: generation, stream: stream, continued: continued)
            + text + [10]
    }

    /// Parses one line of a log file (without its newline); nil when it is not in the format.
    public init?(parsing line: some Collection<UInt8>) {
        let bytes = Array(line)
        let timeWidth = 24
        guard bytes.count >= timeWidth + 1, bytes[timeWidth] == 32, bytes[timeWidth - 1] == UInt8(ascii: "Z") else {
            return nil
        }
        var index = timeWidth + 1
        func word() -> ArraySlice<UInt8>? {
            guard let end = bytes[index...].firstIndex(of: 32) else { return nil }
            defer { index = end + 1 }
            return bytes[index..<end]
        }
        guard let worker = word(), let slash = worker.lastIndex(of: UInt8(ascii: "/")), let streamWord = word(),
            let stream = LogStream(rawValue: String(decoding: streamWord, as: UTF8.self)), index < bytes.count
        else { return nil }
        let marker = bytes[index]
        guard marker == UInt8(ascii: "|") || marker == UInt8(ascii: "+") else { return nil }
        let workerText = String(decoding: worker[(slash + 1)...], as: UTF8.self)
        if workerText == "-" {
            slot = nil
            generation = nil
        } else {
            let parts = workerText.split(separator: ".")
            guard parts.count == 2, let slot = Int(parts[0]), let generation = Int(parts[1]) else { return nil }
            self.slot = slot
            self.generation = generation
        }
        time = String(decoding: bytes[..<timeWidth], as: UTF8.self)
        app = String(decoding: worker[..<slash], as: UTF8.self)
        self.stream = stream
        continued = marker == UInt8(ascii: "+")
        // `| ` then the text; an empty line may have lost nothing but the space.
        text = index + 2 <= bytes.count ? Array(bytes[(index + 2)...]) : []
    }

    /// The text for a terminal: valid UTF-8 as is, tab kept, while control characters (C0, DEL, C1) and
    /// invalid bytes are written as `\xNN`, so that a worker's output can never drive the terminal.
    public var escapedText: String { Self.escape(text) }

    /// See `escapedText`.
    public static func escape(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { input in
            if input.allSatisfy({ ($0 >= 0x20 && $0 < 0x7F) || $0 == 9 }) {
                return String(decoding: input, as: UTF8.self)
            }
            // One pass over the bytes into a buffer of the worst case (every byte as `\xNN`), then
            // one String: no per-scalar allocation or reference counting.
            return String(unsafeUninitializedCapacity: input.count * 4) { output in
                var written = 0
                func hex(_ byte: UInt8) {
                    let digits: StaticString = "0123456789abcdef"
                    output[written] = UInt8(ascii: "\\")
                    output[written + 1] = UInt8(ascii: "x")
                    output[written + 2] = digits.utf8Start[Int(byte >> 4)]
                    output[written + 3] = digits.utf8Start[Int(byte & 15)]
                    written += 4
                }
                var index = 0
                while index < input.count {
                    let lead = input[index]
                    if lead < 0x80 {
                        if (lead < 0x20 && lead != 9) || lead == 0x7F {
                            hex(lead)
                        } else {
                            output[written] = lead
                            written += 1
                        }
                        index += 1
                        continue
                    }
                    let length = validSequenceLength(input, at: index)
                    if length == 0 {
                        // Not UTF-8: this byte is escaped, and the next one looked at on its own.
                        hex(lead)
                        index += 1
                    } else if lead == 0xC2 && input[index + 1] < 0xA0 {
                        // A C1 control (U+0080 to U+009F).
                        hex(lead)
                        hex(input[index + 1])
                        index += 2
                    } else {
                        for offset in 0..<length { output[written + offset] = input[index + offset] }
                        written += length
                        index += length
                    }
                }
                return written
            }
        }
    }

    /// The length of the well-formed UTF-8 sequence of 2 to 4 bytes starting at `index`, or 0 (RFC
    /// 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
    static func validSequenceLength(_ input: UnsafeBufferPointer<UInt8>, at index: Int) -> Int {
        let lead = input[index]
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: (length, low) = (3, 0xA0)
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: (length, high) = (3, 0x9F)
        case 0xF0: (length, low) = (4, 0x90)
        case 0xF1...0xF3: length = 4
        case 0xF4: (length, high) = (4, 0x8F)
        default: return 0
        }
        guard index + length <= input.count, (low...high).contains(input[index + 1]) else { return 0 }
        for offset in 2..<length where !(0x80...0xBF).contains(input[index + offset]) { return 0 }
        return length
    }
}
