// libFuzzer target for the byte parsers that take what others write: the proxy's request head
// parser, chunked body framer and response head parser, and the log capture's line splitter and
// record parser. Built by `scripts/fuzz` with those sources themselves (they import nothing but the
// standard library), not by SwiftPM.
//
// Beyond "does not crash or trap", each input checks what the proxy relies on when TCP splits the
// bytes anywhere: a head is decided by its own bytes (the same with more bytes after it, and when
// given exactly), and the framer reaches the same end (or the same refusal) whether the body comes
// whole, byte by byte, or in two pieces. Likewise a worker's output makes the same log lines however
// the pipe reads cut it; a record read back from a file writes the same line again; and the text
// shown on a terminal holds no control character.

#if canImport(Glibc)
    import Glibc
#endif

/// Stops with `message` on standard error (in an -O build `precondition` drops its message).
func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    guard !condition else { return }
    fputs("fuzz check failed: \(message())\n", stderr)
    abort()
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    checkRequestHead(input)
    checkFramer(input)
    checkResponseHead(input, method: size % 2 == 0 ? "GET" : "HEAD")
    checkLineSplitter(input)
    checkLogRecord(input)
    return 0
}

func parseRequest(_ bytes: ArraySlice<UInt8>) -> RequestHeadParser.Result {
    bytes.withUnsafeBytes { RequestHeadParser(maxRequestLine: 512, maxHeadSize: 2048).parse($0) }
}

func checkRequestHead(_ input: [UInt8]) {
    let result = parseRequest(input[...])
    guard case .head(let head) = result else { return }
    check(head.length > 0 && head.length <= input.count, "request head length \(head.length) of \(input.count)")
    check(parseRequest(input[..<head.length]) == result, "request head differs when given exactly")
    check(parseRequest((input + Array("GARBAGE\r\n\0".utf8))[...]) == result, "request head differs with more bytes")
    if head.framing == .chunked { checkFramer(Array(input[head.length...])) }
}

/// How a framer ends on `bytes` fed as the pieces cut at `cuts`: the absolute offset where the body
/// ended, nil while it goes on, or -1 when refused.
func frame(_ bytes: [UInt8], cuts: [Int], lenient: Bool = false) -> Int? {
    var framer = ChunkedFramer(lenientLineEnds: lenient)
    framer.maxTrailerSize = 64
    var start = 0
    for end in cuts + [bytes.count] where end >= start {
        let result = bytes[start..<end].withUnsafeBytes { framer.consume($0) }
        switch result {
        case .needMore: start = end
        case .done(let consumed):
            check(consumed >= 0 && consumed <= end - start, "framer consumed \(consumed) of \(end - start)")
            return start + consumed
        case .invalid: return -1
        }
    }
    return nil
}

func checkFramer(_ input: [UInt8]) {
    for lenient in [false, true] {
        let whole = frame(input, cuts: [], lenient: lenient)
        let bytewise = frame(input, cuts: Array(0..<input.count), lenient: lenient)
        check(
            whole == bytewise,
            "framer (lenient \(lenient)): whole \(String(describing: whole)), byte by byte \(String(describing: bytewise))"
        )
        if !input.isEmpty {
            let cut = Int(input[0]) % (input.count + 1)
            let halves = frame(input, cuts: [cut], lenient: lenient)
            check(
                whole == halves,
                "framer (lenient \(lenient)): whole \(String(describing: whole)), cut at \(cut) \(String(describing: halves))"
            )
        }
    }
    // What a strict framer accepts, a lenient one frames alike.
    if let strict = frame(input, cuts: []), strict >= 0 {
        check(frame(input, cuts: [], lenient: true) == strict, "framer: lenient differs on a strict body")
    }
}

func checkResponseHead(_ input: [UInt8], method: String) {
    let parse = { (bytes: ArraySlice<UInt8>) in
        bytes.withUnsafeBytes { ResponseHeadParser.parse($0, requestMethod: method, limit: 2048) }
    }
    let result = parse(input[...])
    guard case .head(let head) = result else { return }
    check(head.length > 0 && head.length <= input.count, "response head length \(head.length) of \(input.count)")
    check(parse(input[..<head.length]) == result, "response head differs when given exactly")
    check(parse((input + Array("GARBAGE\r\n\0".utf8))[...]) == result, "response head differs with more bytes")
}

/// The pieces a splitter hands out for `bytes` fed as the pieces cut at `cuts`, then finished.
func split(_ bytes: [UInt8], maxLine: Int, cuts: [Int]) -> [([UInt8], Bool)] {
    var splitter = LineSplitter(maxLine: maxLine)
    var pieces: [([UInt8], Bool)] = []
    var start = 0
    for end in cuts + [bytes.count] where end >= start {
        splitter.feed(bytes[start..<end]) { pieces.append((Array($0), $1)) }
        start = end
    }
    splitter.finish { pieces.append((Array($0), $1)) }
    return pieces
}

func checkLineSplitter(_ input: [UInt8]) {
    guard let first = input.first else { return }
    let maxLine = Int(first % 16) + 1
    let whole = split(input, maxLine: maxLine, cuts: [])
    let describe = { (pieces: [([UInt8], Bool)]) in pieces.map { "\($0.0)\($0.1 ? "+" : "")" }.joined(separator: " ") }
    // Byte by byte on short inputs; on longer ones (where that costs most of the run) every 7th byte.
    let stride = input.count <= 256 ? 1 : 7
    let bytewise = split(input, maxLine: maxLine, cuts: Array(Swift.stride(from: 0, to: input.count, by: stride)))
    check(
        whole.elementsEqual(bytewise, by: ==),
        "lines (max \(maxLine)): whole \(describe(whole)), in pieces of \(stride) \(describe(bytewise))")
    let cut = input.count > 1 ? Int(input[1]) % input.count : 0
    let halves = split(input, maxLine: maxLine, cuts: [cut])
    check(
        whole.elementsEqual(halves, by: ==),
        "lines (max \(maxLine)): whole \(describe(whole)), cut at \(cut) \(describe(halves))")
    for (piece, _) in whole { check(piece.count <= maxLine && !piece.contains(10), "a piece of \(piece.count) bytes") }
}

func checkLogRecord(_ input: [UInt8]) {
    _ = LogRecord(parsing: input)
    // A record as hostctl writes it (an app name of its alphabet, any text but a newline) reads back the same.
    if input.count >= 3 {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789-".utf8)
        let name =
            "a"
            + String(
                decoding: input.prefix(Int(input[0] % 8)).map { alphabet[Int($0) % alphabet.count] }, as: UTF8.self)
        let worker = input[1] % 3 == 0 ? nil : Int(input[1])
        let record = LogRecord(
            time: "2026-11-25T07:00:01.123Z", app: name, slot: worker, generation: worker.map { _ in Int(input[2]) },
            stream: LogStream.allCases[Int(input[2]) % 3], continued: input[1] & 1 == 1,
            text: input.dropFirst(3).filter { $0 != 10 })
        check(LogRecord(parsing: record.line.dropLast()) == record, "a record does not read back from its own line")
    }
    for scalar in LogRecord.escape(input).unicodeScalars {
        let value = scalar.value
        check(
            value == 9 || (value >= 0x20 && value != 0x7F && !(0x80..<0xA0).contains(value)),
            "escaped text holds U+\(String(value, radix: 16))")
    }
}
