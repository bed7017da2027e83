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
