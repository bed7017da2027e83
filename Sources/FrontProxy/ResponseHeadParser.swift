/// The parts of a worker's response head the proxy needs.
///
/// The status and how the body is framed.
/// Everything else passes through as the worker wrote it.
public struct ResponseHead: Sendable, Equatable {
    /// The status code.
    public var status: Int
    /// How the body is delimited (given the request method).
    public var framing: BodyFraming
    /// Whether the worker keeps the connection open after this response.
    public var keepAlive: Bool
    /// How many bytes the head took.
    public var length: Int
}

/// Parses worker response heads: status line and framing headers only.
public enum ResponseHeadParser {
    /// What `parse` found.
    public enum Result: Sendable, Equatable {
        case incomplete
        case head(ResponseHead)
        case invalid(String)
    }

    /// Parses the head at the start of `bytes`, for a request made with `method` over `version`.
    public static func parse(_ bytes: UnsafeRawBufferPointer, requestMethod method: String, limit: Int = 65536)
        -> Result
    {
        var end: Int?
        var index = 3
        while index < min(bytes.count, limit) {
            if bytes[index] == 10 && bytes[index - 1] == 13 && bytes[index - 2] == 10 && bytes[index - 3] == 13 {
                end = index + 1
                break
            }
            index += 1
        }
        guard let end else { return bytes.count >= limit ? .invalid("response head too large") : .incomplete }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).makeIterator()
        guard let statusLine = lines.next() else { return .invalid("empty response") }
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0] == "HTTP/1.1" || parts[0] == "HTTP/1.0", parts[1].count == 3,
            let status = Int(parts[1]), status >= 100
        else { return .invalid("malformed status line") }
        var lengths: [Substring] = []
        var chunked = false
        var hasTransferEncoding = false
        var connection: [String] = []
        while let line = lines.next(), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return .invalid("header line without a colon") }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            switch name {
            case "content-length": lengths.append(Substring(String(value).trimmingCharacters(in: " \t")))
            case "transfer-encoding":
                hasTransferEncoding = true
                chunked =
                    value.lowercased().split(separator: ",").last.map { String($0).trimmingCharacters(in: " \t") }
                    == "chunked"
            case "connection":
                connection += value.lowercased().split(separator: ",").map { String($0).trimmingCharacters(in: " \t") }
            default: break
            }
        }
        let http10 = parts[0] == "HTTP/1.0"
        let keepAlive = !connection.contains("close") && (!http10 || connection.contains("keep-alive"))
        let framing: BodyFraming
        if method == "HEAD" || status < 200 || status == 204 || status == 304 {
            framing = .none
        } else if hasTransferEncoding {
            if !lengths.isEmpty { return .invalid("both Content-Length and Transfer-Encoding in a response") }
            framing = chunked ? .chunked : .untilClose
        } else if let first = lengths.first {
            guard Set(lengths).count == 1, !first.isEmpty, first.allSatisfy(\.isASCIIDigit), let length = Int64(first)
            else {
                return .invalid("invalid Content-Length in a response")
            }
            framing = length == 0 ? .none : .length(length)
        } else {
            framing = .untilClose
        }
        return .head(
            ResponseHead(
                status: status, framing: framing, keepAlive: keepAlive && framing != .untilClose, length: end))
    }
}
