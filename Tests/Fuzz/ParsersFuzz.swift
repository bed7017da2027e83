// libFuzzer target for the proxy's byte parsers: the request head parser, the chunked body framer
// and the response head parser. Built by `scripts/fuzz` with the parser sources themselves (they
// import nothing but the standard library), not by SwiftPM.
//
// Beyond "does not crash or trap", each input checks what the proxy relies on when TCP splits the
// bytes anywhere: a head is decided by its own bytes (the same with more bytes after it, and when
// given exactly), and the framer reaches the same end (or the same refusal) whether the body comes
// whole, byte by byte, or in two pieces.

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
func frame(_ bytes: [UInt8], cuts: [Int]) -> Int? {
    var framer = ChunkedFramer()
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
    let whole = frame(input, cuts: [])
    let bytewise = frame(input, cuts: Array(0..<input.count))
    check(whole == bytewise, "framer: whole \(String(describing: whole)), byte by byte \(String(describing: bytewise))")
    if !input.isEmpty {
        let cut = Int(input[0]) % (input.count + 1)
        let halves = frame(input, cuts: [cut])
        check(
            whole == halves, "framer: whole \(String(describing: whole)), cut at \(cut) \(String(describing: halves))")
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
