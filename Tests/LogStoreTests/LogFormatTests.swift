import Testing

@testable import LogStore

@Suite("log records and line splitting")
struct LogFormatTests {
    @Test func recordLine_roundTripsThroughTheParser() throws {
        let record = LogRecord(
            time: "2026-11-25T07:00:01.123Z", app: "dante", slot: 1, generation: 3, stream: .err,
            text: Array("boom | with a bar".utf8))
        let line = record.line
        #expect(String(decoding: line, as: UTF8.self) == "2026-11-25T07:00:01.123Z dante/1.3 err | boom | with a bar\n")
        #expect(LogRecord(parsing: line.dropLast()) == record)
        let app = LogRecord(
            time: "2026-11-25T07:00:01.123Z", app: "my-app", slot: nil, generation: nil, stream: .hostctl,
            continued: true, text: [])
        #expect(String(decoding: app.line, as: UTF8.self) == "2026-11-25T07:00:01.123Z my-app/- hostctl + \n")
        #expect(LogRecord(parsing: app.line.dropLast()) == app)
        #expect(LogRecord(parsing: Array("not a log line".utf8)) == nil)
        #expect(LogRecord(parsing: Array("2026-11-25T07:00:01.123Z dante/1.3 bad | x".utf8)) == nil)
    }

    @Test func escapedText_keepsUTF8AndTabs_andEscapesControlsAndInvalidBytes() {
        #expect(LogRecord.escape(Array("plain\ttext".utf8)) == "plain\ttext")
        #expect(LogRecord.escape(Array("Nel mezzo — «cammin»".utf8)) == "Nel mezzo — «cammin»")
        #expect(LogRecord.escape([0x1B, 0x5B, 0x33, 0x31, 0x6D, 0x72, 0x65, 0x64]) == "\\x1b[31mred")
        #expect(LogRecord.escape([0x61, 0xFF, 0xC3, 0x62, 0x00, 0x0D, 0x7F]) == "a\\xff\\xc3b\\x00\\x0d\\x7f")
        #expect(LogRecord.escape([0xC2, 0x9B]) == "\\xc2\\x9b", "a C1 control (CSI) is escaped too")
    }

    @Test func escape_agreesWithTheStandardLibrarysUTF8Decoder_onRandomBytes() {
        // The reference: the standard library's UTF-8 parser, scalar by scalar (what escape used
        // before it was written as one pass over the bytes).
        func reference(_ bytes: [UInt8]) -> String {
            var result = ""
            var parser = Unicode.UTF8.ForwardParser()
            var iterator = bytes.makeIterator()
            var offset = 0
            func hex(_ byte: UInt8) { result += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16) }
            while true {
                switch parser.parseScalar(from: &iterator) {
                case .valid(let encoded):
                    let value = Unicode.UTF8.decode(encoded).value
                    if (value < 0x20 && value != 9) || (value >= 0x7F && value < 0xA0) {
                        for byte in encoded { hex(byte) }
                    } else {
                        result.unicodeScalars.append(Unicode.Scalar(value)!)
                    }
                    offset += encoded.count
                case .error(let length):
                    for byte in bytes[offset..<(offset + length)] { hex(byte) }
                    offset += length
                case .emptyInput:
                    return result
                }
            }
        }
        // Bytes near every boundary of UTF-8's rules: ASCII controls, continuation bytes, the leads
        // with restricted second bytes (E0, ED, F0, F4), overlong leads, and bytes never valid.
        let interesting: [UInt8] = [
            0x00, 0x09, 0x0A, 0x1B, 0x20, 0x41, 0x7E, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
            0xC3, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
        ]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var mismatches: [[UInt8]] = []
        for _ in 0..<20_000 {
            let input = (0..<(next() % 12)).map { _ in interesting[next() % interesting.count] }
            if LogRecord.escape(input) != reference(input) { mismatches.append(input) }
        }
        let first = Array(mismatches.prefix(3))
        #expect(mismatches.count == 0, "first differences: \(first)")
    }

    @Test func splitter_handlesChunksCRLFLongLinesAndAFinalPartialLine() {
        var splitter = LineSplitter(maxLine: 8)
        var lines: [(String, Bool)] = []
        func emit(_ text: ArraySlice<UInt8>, _ continued: Bool) {
            lines.append((String(decoding: text, as: UTF8.self), continued))
        }
        for chunk in ["he", "llo\r\nwor", "ld\n\n", "0123456789abcdefXYZ", "\nlast"] {
            splitter.feed(Array(chunk.utf8)[...], emit: emit)
        }
        splitter.finish(emit: emit)
        let expected: [(String, Bool)] = [
            ("hello", false), ("world", false), ("", false), ("01234567", false), ("89abcdef", true), ("XYZ", true),
            ("last", false),
        ]
        #expect(lines.map(\.0) == expected.map(\.0))
        #expect(lines.map(\.1) == expected.map(\.1))
    }

    /// The pipe reads may cut a worker's output anywhere.
    ///
    /// The lines must not depend on where. Found by
    /// scripts/fuzz: a line of exactly `maxLine` bytes, fed in pieces, gave an extra empty continuation
    /// record, and a CR that ended a piece was kept.
    @Test(arguments: ["abcdefgh\n", "abcdefgh\r\n", "abcdefg\r\n", "abcdefghij\r\n", "0123456789abcdef\nx"])
    func splitter_givesTheSameLines_howeverTheReadsCutTheBytes(text: String) {
        func lines(_ chunks: [ArraySlice<UInt8>]) -> [String] {
            var splitter = LineSplitter(maxLine: 8)
            var lines: [String] = []
            let emit = { (text: ArraySlice<UInt8>, continued: Bool) in
                lines.append((continued ? "+" : "") + String(decoding: text, as: UTF8.self))
            }
            for chunk in chunks { splitter.feed(chunk, emit: emit) }
            splitter.finish(emit: emit)
            return lines
        }
        let bytes = Array(text.utf8)
        let whole = lines([bytes[...]])
        #expect(lines(bytes.indices.map { bytes[$0...$0] }) == whole, "byte by byte")
        for cut in 1..<bytes.count {
            #expect(lines([bytes[..<cut], bytes[cut...]]) == whole, "cut at \(cut)")
        }
        #expect(whole.allSatisfy { !$0.contains("\r") } && !whole.contains("+"), "\(whole)")
    }

    @Test func timestamp_isUTCWithMilliseconds() {
        var clock = LogTimestamp()
        let now = clock.now()
        #expect(now.count == 24)
        #expect(now.hasSuffix("Z") && now.dropFirst(10).first == "T", "\(now)")
        #expect(LogTimestamp.format(seconds: 0, milliseconds: 7) == "1970-01-01T00:00:00.007Z")
        #expect(LogTimestamp.format(seconds: 1_795_590_001, milliseconds: 123) == "2026-11-25T07:00:01.123Z")
    }
}
