/// Follows the framing of a chunked body byte by byte, so the proxy can relay the bytes exactly as
/// they came and still know where the body ends, refusing malformed or overflowing chunk sizes,
/// a missing CRLF after chunk data, and oversized trailers.
///
/// Requests are framed strictly (every line ends in CRLF). A worker's response may end its lines in a
/// lone LF (`lenientLineEnds`), as RFC 9112 2.2 lets a recipient accept and nginx does: the framing
/// stays unambiguous, since a lone LF is taken as a line end wherever it is one.
public struct ChunkedFramer: Sendable {
    enum State: Sendable, Equatable {
        case sizeStart
        case size
        case chunkExtension
        case sizeLineFeed
        case data
        case dataCarriageReturn
        case dataLineFeed
        case trailerLineStart
        case trailerLine
        case trailerLineFeed
        case finalLineFeed
        case done
    }

    /// What `consume` found.
    public enum Result: Sendable, Equatable {
        /// All the bytes given belong to the body, which goes on.
        case needMore
        /// The body ends after this many of the bytes given; the rest is the next message.
        case done(consumed: Int)
        /// The framing is broken.
        case invalid(String)
    }

    var state = State.sizeStart
    var size: Int64 = 0
    var digits = 0
    var remaining: Int64 = 0
    var trailerBytes = 0
    /// The most trailer bytes accepted.
    public var maxTrailerSize = 32768
    /// Whether a lone LF ends a line as CRLF does.
    let lenientLineEnds: Bool

    /// A framer at the start of a chunked body; `lenientLineEnds` for a response's body.
    public init(lenientLineEnds: Bool = false) {
        self.lenientLineEnds = lenientLineEnds
    }

    /// Whether the last chunk and its trailers have been seen.
    public var isDone: Bool { state == .done }

    /// Consumes the next bytes of the body.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer) -> Result {
        var index = 0
        while index < bytes.count {
            if state == .data {
                let take = Int(min(remaining, Int64(bytes.count - index)))
                remaining -= Int64(take)
                index += take
                if remaining == 0 { state = .dataCarriageReturn }
                continue
            }
            let byte = bytes[index]
            index += 1
            switch state {
            case .sizeStart, .size:
                if let value = Self.hexValue(byte) {
                    digits += 1
                    // 15 hex digits keep the size below Int64.max; anything longer is an overflow attempt.
                    guard digits <= 15 else { return .invalid("chunk size too large") }
                    size = size * 16 + Int64(value)
                    state = .size
                } else if state == .size && byte == UInt8(ascii: ";") {
                    state = .chunkExtension
                } else if state == .size && byte == 13 {
                    state = .sizeLineFeed
                } else if state == .size && byte == 10 && lenientLineEnds {
                    endSizeLine()
                } else {
                    return .invalid("malformed chunk size")
                }
            case .chunkExtension:
                if byte == 13 {
                    state = .sizeLineFeed
                } else if byte == 10 && lenientLineEnds {
                    endSizeLine()
                } else if byte == 10 || (byte < 32 && byte != 9) || byte == 127 {
                    return .invalid("malformed chunk extension")
                }
            case .sizeLineFeed:
                guard byte == 10 else { return .invalid("chunk size line without CRLF") }
                endSizeLine()
            case .dataCarriageReturn:
                if byte == 10 && lenientLineEnds {
                    state = .sizeStart
                    continue
                }
                guard byte == 13 else { return .invalid("chunk data not followed by CRLF") }
                state = .dataLineFeed
            case .dataLineFeed:
                guard byte == 10 else { return .invalid("chunk data not followed by CRLF") }
                state = .sizeStart
            case .trailerLineStart, .trailerLine:
                trailerBytes += 1
                guard trailerBytes <= maxTrailerSize else { return .invalid("trailers too large") }
                if byte == 13 {
                    state = state == .trailerLineStart ? .finalLineFeed : .trailerLineFeed
                } else if byte == 10 && lenientLineEnds {
                    if state == .trailerLineStart {
                        state = .done
                        return .done(consumed: index)
                    }
                    state = .trailerLineStart
                } else if byte == 10 || (byte < 32 && byte != 9) || byte == 127 {
                    return .invalid("malformed trailer")
                } else {
                    state = .trailerLine
                }
            case .trailerLineFeed:
                guard byte == 10 else { return .invalid("trailer line without CRLF") }
                state = .trailerLineStart
            case .finalLineFeed:
                guard byte == 10 else { return .invalid("chunked body not ended with CRLF") }
                state = .done
                return .done(consumed: index)
            case .data, .done:
                return .done(consumed: index - 1)
            }
        }
        return .needMore
    }

    /// The chunk-size line ended: the chunk's data follows, or the trailers after the last chunk.
    private mutating func endSizeLine() {
        if size == 0 {
            state = .trailerLineStart
        } else {
            remaining = size
            state = .data
        }
        size = 0
        digits = 0
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
