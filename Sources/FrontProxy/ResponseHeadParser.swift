/// The parts of a worker's response head the proxy needs.
///
/// The status and how the body is framed; everything else passes through as the worker wrote it.
public struct ResponseHead: Sendable, Equatable {
    /// The status code.
    public var status: Int
    /// How the body is delimited (given the request method).
    public var framing: BodyFraming
    /// Whether the worker keeps the connection open after this response.
    public var keepAlive: Bool
    /// Whether its Connection header says `keep-alive` (what an HTTP/1.0 client needs to keep its
    /// connection); `keepAlive` follows the response's own version.
    public var saysKeepAlive: Bool
    /// How many bytes the head took.
    public var length: Int

    /// Creates a head.
    public init(status: Int, framing: BodyFraming, keepAlive: Bool, saysKeepAlive: Bool = false, length: Int) {
        self.status = status
        self.framing = framing
        self.keepAlive = keepAlive
        self.saysKeepAlive = saysKeepAlive
        self.length = length
    }
}

/// Parses worker response heads on bytes: the status line and the three framing headers only
/// (Content-Length, Transfer-Encoding, Connection), with no copy of the rest.
public enum ResponseHeadParser {
    /// What `parse` found.
    public enum Result: Sendable, Equatable {
        case incomplete
        case head(ResponseHead)
        case invalid(String)
    }

    /// Parses the head at the start of `bytes`, for a request made with `method`.
    public static func parse(_ bytes: UnsafeRawBufferPointer, requestMethod method: String, limit: Int = 65536)
        -> Result
    {
        // Status line: "HTTP/1.x NNN ...".
        guard bytes.count >= 12 else { return bytes.count >= limit ? .invalid("response head too large") : .incomplete }
        guard bytes[0] == 72, bytes[1] == 84, bytes[2] == 84, bytes[3] == 80, bytes[4] == 47, bytes[5] == 49,
            bytes[6] == 46,
            bytes[7] == 48 || bytes[7] == 49, bytes[8] == 32,
            let d1 = digit(bytes[9]), let d2 = digit(bytes[10]), let d3 = digit(bytes[11])
        else { return .invalid("malformed status line") }
        let http10 = bytes[7] == 48
        let status = d1 * 100 + d2 * 10 + d3
        guard status >= 100 else { return .invalid("malformed status line") }
        var index = 12
        var contentLength: Int64?
        var lengthConflict = false
        var hasTransferEncoding = false
        var chunked = false
        var close = false
        var keepAliveToken = false
        // Skip the rest of the status line.
        guard let first = lineEnd(bytes, from: index, limit: limit) else {
            return bytes.count >= limit ? .invalid("response head too large") : .incomplete
        }
        index = first.next
        while true {
            guard let line = lineEnd(bytes, from: index, limit: limit) else {
                return bytes.count >= limit ? .invalid("response head too large") : .incomplete
            }
            let end = line.end
            if end == index {
                index = line.next
                break
            }
            var colon = index
            while colon < end && bytes[colon] != 58 { colon += 1 }
            guard colon < end else { return .invalid("header line without a colon") }
            var valueStart = colon + 1
            while valueStart < end && (bytes[valueStart] == 32 || bytes[valueStart] == 9) { valueStart += 1 }
            var valueEnd = end
            while valueEnd > valueStart && (bytes[valueEnd - 1] == 32 || bytes[valueEnd - 1] == 9) { valueEnd -= 1 }
            switch colon - index {
            case 14 where equalsLowercased(bytes, index, "content-length"):
                var value: Int64 = 0
                var digits = 0
                for position in valueStart..<valueEnd {
                    guard let digit = digit(bytes[position]), digits < 18 else {
                        return .invalid("invalid Content-Length in a response")
                    }
                    value = value * 10 + Int64(digit)
                    digits += 1
                }
                guard digits > 0 else { return .invalid("invalid Content-Length in a response") }
                if let previous = contentLength, previous != value { lengthConflict = true }
                contentLength = value
            case 17 where equalsLowercased(bytes, index, "transfer-encoding"):
                hasTransferEncoding = true
                // chunked when the last coding is chunked.
                var start = valueEnd
                while start > valueStart && bytes[start - 1] != 44 { start -= 1 }
                while start < valueEnd && (bytes[start] == 32 || bytes[start] == 9) { start += 1 }
                chunked = valueEnd - start == 7 && equalsLowercased(bytes, start, "chunked")
            case 10 where equalsLowercased(bytes, index, "connection"):
                var start = valueStart
                while start < valueEnd {
                    var stop = start
                    while stop < valueEnd && bytes[stop] != 44 { stop += 1 }
                    var tokenEnd = stop
                    while tokenEnd > start && (bytes[tokenEnd - 1] == 32 || bytes[tokenEnd - 1] == 9) { tokenEnd -= 1 }
                    if tokenEnd - start == 5 && equalsLowercased(bytes, start, "close") { close = true }
                    if tokenEnd - start == 10 && equalsLowercased(bytes, start, "keep-alive") { keepAliveToken = true }
                    start = stop + 1
                    while start < valueEnd && (bytes[start] == 32 || bytes[start] == 9) { start += 1 }
                }
            default:
                break
            }
            index = line.next
        }
        if lengthConflict { return .invalid("conflicting Content-Length in a response") }
        let keepAlive = !close && (!http10 || keepAliveToken)
        let framing: BodyFraming
        if method == "HEAD" || status < 200 || status == 204 || status == 304 {
            framing = .none
        } else if hasTransferEncoding {
            if contentLength != nil { return .invalid("both Content-Length and Transfer-Encoding in a response") }
            framing = chunked ? .chunked : .untilClose
        } else if let length = contentLength {
            framing = length == 0 ? .none : .length(length)
        } else {
            framing = .untilClose
        }
        return .head(
            ResponseHead(
                status: status, framing: framing, keepAlive: keepAlive && framing != .untilClose,
                saysKeepAlive: keepAliveToken && !close, length: index))
    }

    /// Where the line at `from` ends (its CR LF, or a lone LF, as RFC 9112 2.2 allows a recipient
    /// to read it) and where the next begins, or nil when no line end comes before `limit`.
    static func lineEnd(_ bytes: UnsafeRawBufferPointer, from: Int, limit: Int) -> (end: Int, next: Int)? {
        var index = from
        let end = min(bytes.count, limit)
        while index < end {
            if bytes[index] == 10 { return (index > from && bytes[index - 1] == 13 ? index - 1 : index, index + 1) }
            index += 1
        }
        return nil
    }

    static func digit(_ byte: UInt8) -> Int? {
        byte >= 48 && byte <= 57 ? Int(byte - 48) : nil
    }

    /// Whether the bytes at `start` equal `text` exactly.
    static func equalsExactly(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard start + count <= bytes.count else { return false }
        let pattern = text.utf8Start
        for offset in 0..<count where bytes[start + offset] != pattern[offset] { return false }
        return true
    }

    /// Whether the bytes at `start` equal `lower` (ASCII), ignoring case.
    static func equalsLowercased(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ lower: StaticString) -> Bool {
        let count = lower.utf8CodeUnitCount
        guard start + count <= bytes.count else { return false }
        let pattern = lower.utf8Start
        for offset in 0..<count {
            var byte = bytes[start + offset]
            if byte >= 65 && byte <= 90 { byte += 32 }
            if byte != pattern[offset] { return false }
        }
        return true
    }
}
