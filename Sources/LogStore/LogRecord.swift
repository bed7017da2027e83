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
        if bytes.allSatisfy({ ($0 >= 0x20 && $0 < 0x7F) || $0 == 9 }) { return String(decoding: bytes, as: UTF8.self) }
        // Built as UTF-8 bytes, then decoded once: linear in the text (appending to a String's
        // scalar view copies the string on every append, quadratic on a line of binary output).
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count + bytes.count / 2)
        let digits = Array("0123456789abcdef".utf8)
        func hex(_ byte: UInt8) {
            result.append(UInt8(ascii: "\\"))
            result.append(UInt8(ascii: "x"))
            result.append(digits[Int(byte >> 4)])
            result.append(digits[Int(byte & 15)])
        }
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        loop: while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                let value = Unicode.UTF8.decode(encoded).value
                if (value < 0x20 && value != 9) || (value >= 0x7F && value < 0xA0) {
                    for byte in encoded { hex(byte) }
                } else {
                    result += encoded
                }
                offset += encoded.count
            case .error(let length):
                for byte in bytes[offset..<(offset + length)] { hex(byte) }
                offset += length
            case .emptyInput:
                break loop
            }
        }
        return String(decoding: result, as: UTF8.self)
    }
}
