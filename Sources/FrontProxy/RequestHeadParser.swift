/// Parses request heads strictly (RFC 9112), refusing everything a smuggling attack or a confused
/// intermediary could read two ways: both Content-Length and Transfer-Encoding, several or signed
/// or hex Content-Lengths, any transfer coding but a final `chunked`, whitespace before a colon,
/// obs-fold, bare CR or LF, control characters, a missing or repeated Host, `CONNECT`.
///
/// Works on bytes; nothing is copied until the head is known to be whole and valid.
public struct RequestHeadParser: Sendable {
    /// The longest request line accepted (414 above).
    public var maxRequestLine: Int
    /// The largest head accepted, request line included (431 above).
    public var maxHeadSize: Int

    /// A parser with these limits (DESIGN.md defaults: 8 KiB and 32 KiB).
    public init(maxRequestLine: Int = 8192, maxHeadSize: Int = 32768) {
        self.maxRequestLine = maxRequestLine
        self.maxHeadSize = maxHeadSize
    }

    /// What `parse` found.
    public enum Result: Sendable, Equatable {
        /// The head is not complete yet: read more.
        case incomplete
        /// A whole, valid head.
        case head(RequestHead)
        /// A head that must be refused with this status.
        case rejected(RequestRejection)
    }

    /// Parses the head at the start of `bytes` (up to two empty lines before it are skipped, as
    /// RFC 9112 2.2 asks).
    public func parse(_ bytes: UnsafeRawBufferPointer) -> Result {
        var start = 0
        while start < 4 && start + 1 < bytes.count && bytes[start] == 13 && bytes[start + 1] == 10 { start += 2 }
        // One pass: every line must end with CR LF; the head ends at the first empty line.
        var index = start
        var lineStart = start
        var requestLineEnd: Int?
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 10 {
                guard index > start, bytes[index - 1] == 13 else {
                    return .rejected(RequestRejection(400, "bare LF in the request head"))
                }
                let lineEnd = index - 1
                if requestLineEnd == nil {
                    requestLineEnd = lineEnd
                } else if lineEnd == lineStart {
                    let head = UnsafeRawBufferPointer(rebasing: bytes[start...index])
                    guard let requestLineEnd else { break }
                    return parseWhole(head, requestLineEnd: requestLineEnd - start, skipped: start)
                }
                lineStart = index + 1
            } else if index > start && bytes[index - 1] == 13 {
                return .rejected(RequestRejection(400, "bare CR in the request head"))
            }
            if requestLineEnd == nil && index - start >= maxRequestLine + 1 {
                return .rejected(RequestRejection(414, "request line longer than \(maxRequestLine) bytes"))
            }
            if index - start >= maxHeadSize + 1 {
                return .rejected(RequestRejection(431, "request head larger than \(maxHeadSize) bytes"))
            }
            index += 1
        }
        return .incomplete
    }

    /// Parses a head known to end with CRLF CRLF.
    private func parseWhole(_ head: UnsafeRawBufferPointer, requestLineEnd: Int, skipped: Int) -> Result {
        // Request line: method SP target SP version, single spaces, no control characters.
        let line = UnsafeRawBufferPointer(rebasing: head[0..<requestLineEnd])
        var spaces: [Int] = []
        for index in 0..<line.count {
            let byte = line[index]
            if byte == 32 {
                spaces.append(index)
            } else if byte < 32 || byte == 127 {
                return .rejected(RequestRejection(400, "control character in the request line"))
            }
        }
        guard spaces.count == 2, spaces[0] > 0, spaces[1] > spaces[0] + 1, spaces[1] < line.count - 1 else {
            return .rejected(RequestRejection(400, "malformed request line"))
        }
        let method = Self.string(line, 0, spaces[0])
        guard method.utf8.allSatisfy(Self.isTokenByte) else {
            return .rejected(RequestRejection(400, "invalid method"))
        }
        if method == "CONNECT" { return .rejected(RequestRejection(400, "CONNECT is not supported")) }
        let rawTarget = Self.string(line, spaces[0] + 1, spaces[1])
        let versionText = Self.string(line, spaces[1] + 1, line.count)
        let version: HTTPVersion
        switch versionText {
        case "HTTP/1.1": version = .http11
        case "HTTP/1.0": version = .http10
        default: return .rejected(RequestRejection(400, "unsupported or malformed HTTP version"))
        }
        guard rawTarget.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "#") }) else {
            return .rejected(RequestRejection(400, "invalid characters in the request target"))
        }
        var target = rawTarget
        var targetAuthority: String?
        if !rawTarget.hasPrefix("/") {
            // absolute-form: http://authority/path?query (RFC 9112 3.2.2); the authority wins over Host.
            let lower = rawTarget.lowercased()
            guard let schemeEnd = lower.hasPrefix("http://") ? 7 : (lower.hasPrefix("https://") ? 8 : nil) else {
                return .rejected(RequestRejection(400, "the request target must be a path"))
            }
            let rest = rawTarget.dropFirst(schemeEnd)
            let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            targetAuthority = String(rest[..<slash])
            let remainder = rest[slash...]
            target = remainder.isEmpty ? "/" : (remainder.hasPrefix("?") ? "/" + remainder : String(remainder))
            guard let authority = targetAuthority, !authority.isEmpty, Self.isValidHost(authority) else {
                return .rejected(RequestRejection(400, "invalid authority in the request target"))
            }
        }

        // Header fields: classified on bytes; strings only for the few values the proxy reads.
        var fields: [HeaderField] = []
        var hostValues: [String] = []
        var contentLengths: [String] = []
        var transferEncodings: [String] = []
        var connectionTokens: [String] = []
        var upgrade: String?
        var expectsContinue = false
        var cursor = requestLineEnd + 2
        while cursor < head.count - 2 {
            guard let end = Self.find(crlfIn: head, from: cursor, limit: head.count) else { break }
            let field = UnsafeRawBufferPointer(rebasing: head[cursor..<end])
            let fieldStart = cursor
            cursor = end + 2
            if let first = field.first, first == 32 || first == 9 {
                return .rejected(RequestRejection(400, "obsolete line folding"))
            }
            guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else {
                return .rejected(RequestRejection(400, "header line without a colon"))
            }
            guard colon > 0 else { return .rejected(RequestRejection(400, "empty header name")) }
            for index in 0..<colon where !Self.isTokenByte(field[index]) {
                return .rejected(
                    RequestRejection(
                        400,
                        field[index] == 32 || field[index] == 9
                            ? "whitespace before the colon of a header" : "invalid character in a header name"))
            }
            var valueStart = colon + 1
            var valueEnd = field.count
            while valueStart < valueEnd && (field[valueStart] == 32 || field[valueStart] == 9) { valueStart += 1 }
            while valueEnd > valueStart && (field[valueEnd - 1] == 32 || field[valueEnd - 1] == 9) { valueEnd -= 1 }
            for index in valueStart..<valueEnd {
                let byte = field[index]
                if (byte < 32 && byte != 9) || byte == 127 {
                    return .rejected(RequestRejection(400, "control character in a header value"))
                }
            }
            let kind = Self.kind(field, nameLength: colon)
            fields.append(
                HeaderField(
                    kind: kind, name: fieldStart..<(fieldStart + colon),
                    value: (fieldStart + valueStart)..<(fieldStart + valueEnd)))
            switch kind {
            case .host: hostValues.append(Self.string(field, valueStart, valueEnd))
            case .contentLength: contentLengths.append(Self.string(field, valueStart, valueEnd))
            case .transferEncoding: transferEncodings.append(Self.string(field, valueStart, valueEnd))
            case .connection: connectionTokens += Self.tokens(Self.string(field, valueStart, valueEnd))
            case .upgrade: upgrade = Self.string(field, valueStart, valueEnd)
            case .expect: expectsContinue = Self.string(field, valueStart, valueEnd).lowercased() == "100-continue"
            default: break
            }
        }

        // Host: exactly one on HTTP/1.1 (RFC 9112 3.2), valid, unless the target carried the authority.
        if hostValues.count > 1 { return .rejected(RequestRejection(400, "more than one Host header")) }
        if version == .http11 && hostValues.isEmpty { return .rejected(RequestRejection(400, "missing Host header")) }
        if let value = hostValues.first, !value.isEmpty || version == .http11, !Self.isValidHost(value) {
            return .rejected(RequestRejection(400, "invalid Host header"))
        }
        let hostHeader = targetAuthority ?? hostValues.first ?? ""
        let host = Self.hostWithoutPort(hostHeader)

        // Framing: Content-Length xor a final chunked Transfer-Encoding.
        var framing = BodyFraming.none
        if !transferEncodings.isEmpty {
            if !contentLengths.isEmpty {
                return .rejected(RequestRejection(400, "both Content-Length and Transfer-Encoding"))
            }
            if version == .http10 {
                return .rejected(RequestRejection(400, "Transfer-Encoding in an HTTP/1.0 request"))
            }
            if transferEncodings.count > 1 {
                return .rejected(RequestRejection(400, "repeated Transfer-Encoding header"))
            }
            let codings = transferEncodings.flatMap(Self.tokens)
            guard let last = codings.last, last == "chunked" else {
                return .rejected(RequestRejection(400, "Transfer-Encoding does not end with chunked"))
            }
            if codings.dropLast().contains("chunked") {
                return .rejected(RequestRejection(400, "chunked applied twice"))
            }
            if codings.count > 1 {
                return .rejected(
                    RequestRejection(
                        501, "transfer coding \(codings.dropLast().joined(separator: ", ")) is not supported"))
            }
            framing = .chunked
        } else if !contentLengths.isEmpty {
            guard contentLengths.count == 1 else {
                return .rejected(RequestRejection(400, "more than one Content-Length"))
            }
            let text = contentLengths[0]
            guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                let length = Int64(text)
            else { return .rejected(RequestRejection(400, "invalid Content-Length")) }
            framing = length > 0 ? .length(length) : .none
        }

        let keepAlive: Bool
        if connectionTokens.contains("close") {
            keepAlive = false
        } else {
            keepAlive = version == .http11 || connectionTokens.contains("keep-alive")
        }
        let upgradeProtocol = connectionTokens.contains("upgrade") ? upgrade : nil
        return .head(
            RequestHead(
                method: method, target: target, version: version, bytes: Array(head), fields: fields,
                connectionOptions: connectionTokens, host: host, hostHeader: hostHeader,
                framing: framing, keepAlive: keepAlive, upgrade: upgradeProtocol, expectsContinue: expectsContinue,
                length: skipped + head.count))
    }

    // MARK: Bytes

    /// The index of the first CR LF at or after `from`, looking at most `limit` bytes; nil when absent.
    static func find(crlfIn bytes: UnsafeRawBufferPointer, from: Int, limit: Int) -> Int? {
        let end = min(bytes.count, from + max(limit, 0))
        var index = from
        while index < end - 1 {
            if bytes[index] == 13 && bytes[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }

    /// What a header is to the proxy, from its name's bytes (case-insensitive).
    static func kind(_ field: UnsafeRawBufferPointer, nameLength: Int) -> HeaderField.Kind {
        func named(_ name: StaticString) -> Bool { ResponseHeadParser.equalsLowercased(field, 0, name) }
        switch nameLength {
        case 2: return named("te") ? .hopByHop : .other
        case 4: return named("host") ? .host : .other
        case 6: return named("expect") ? .expect : .other
        case 7: return named("upgrade") ? .upgrade : (named("trailer") ? .hopByHop : .other)
        case 10: return named("connection") ? .connection : (named("keep-alive") ? .hopByHop : .other)
        case 14: return named("content-length") ? .contentLength : .other
        case 15: return named("x-forwarded-for") ? .forwardedFor : .other
        case 16: return named("x-forwarded-host") ? .forwardedHost : (named("proxy-connection") ? .hopByHop : .other)
        case 17:
            return named("transfer-encoding")
                ? .transferEncoding : (named("x-forwarded-proto") ? .forwardedProto : .other)
        case 18:
            return named("x-forwarded-prefix") ? .forwardedPrefix : (named("proxy-authenticate") ? .hopByHop : .other)
        case 19: return named("proxy-authorization") ? .hopByHop : .other
        default: return .other
        }
    }

    /// RFC 9110 tchar.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    static func string(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    /// Comma-separated tokens, lower-cased and trimmed.
    static func tokens(_ value: String) -> [String] {
        value.split(separator: ",").map { String($0).trimmingCharacters(in: " \t").lowercased() }.filter { !$0.isEmpty }
    }

    /// A Host value: reg-name, IPv4 or `[IPv6]`, with an optional port.
    static func isValidHost(_ value: String) -> Bool {
        guard !value.isEmpty, value.utf8.count <= 255 else { return false }
        var hostPart = Substring(value)
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]") else { return false }
            let inside = value[value.index(after: value.startIndex)..<close]
            guard !inside.isEmpty, inside.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
            hostPart = value[value.index(after: close)...]
            guard hostPart.isEmpty || hostPart.hasPrefix(":") else { return false }
            return hostPart.isEmpty || hostPart.dropFirst().allSatisfy(\.isASCIIDigit) && hostPart.count <= 6
        }
        if let colon = value.lastIndex(of: ":") {
            let port = value[value.index(after: colon)...]
            guard port.count <= 5, port.allSatisfy(\.isASCIIDigit) else { return false }
            hostPart = value[..<colon]
        }
        return !hostPart.isEmpty
            && hostPart.utf8.allSatisfy { byte in
                Self.isTokenByte(byte) && byte != UInt8(ascii: "`") && byte != UInt8(ascii: "|")
                    || byte == UInt8(ascii: ".")
            }
    }

    static func hostWithoutPort(_ value: String) -> String {
        if value.hasPrefix("["), let close = value.firstIndex(of: "]") {
            return String(value[...close]).lowercased()
        }
        if let colon = value.lastIndex(of: ":") { return String(value[..<colon]).lowercased() }
        return value.lowercased()
    }
}

extension Character {
    /// 0–9 only; cheaper than `isNumber`, which consults the Unicode tables.
    var isASCIIDigit: Bool {
        guard let value = asciiValue else { return false }
        return value >= 48 && value <= 57
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var view = Substring(self)
        while let first = view.first, set.contains(first) { view = view.dropFirst() }
        while let last = view.last, set.contains(last) { view = view.dropLast() }
        return String(view)
    }
}
