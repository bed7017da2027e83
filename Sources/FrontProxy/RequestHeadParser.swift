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
    ///
    /// The common request costs three allocations: the head's bytes, the field list and (for a
    /// target longer than 15 bytes) the target; values are kept as ranges until one is needed as text.
    private func parseWhole(_ head: UnsafeRawBufferPointer, requestLineEnd: Int, skipped: Int) -> Result {
        // Request line: method SP target SP version, single spaces, no control characters.
        let line = UnsafeRawBufferPointer(rebasing: head[0..<requestLineEnd])
        var firstSpace = -1
        var secondSpace = -1
        for index in 0..<line.count {
            let byte = line[index]
            if byte == 32 {
                if firstSpace < 0 {
                    firstSpace = index
                } else if secondSpace < 0 {
                    secondSpace = index
                } else {
                    return .rejected(RequestRejection(400, "malformed request line"))
                }
            } else if byte < 32 || byte == 127 {
                return .rejected(RequestRejection(400, "control character in the request line"))
            }
        }
        guard firstSpace > 0, secondSpace > firstSpace + 1, secondSpace < line.count - 1 else {
            return .rejected(RequestRejection(400, "malformed request line"))
        }
        for index in 0..<firstSpace where !Self.isTokenByte(line[index]) {
            return .rejected(RequestRejection(400, "invalid method"))
        }
        let method = Self.string(line, 0, firstSpace)
        if method == "CONNECT" { return .rejected(RequestRejection(400, "CONNECT is not supported")) }
        let version: HTTPVersion
        if line.count - secondSpace - 1 == 8 && ResponseHeadParser.equalsExactly(line, secondSpace + 1, "HTTP/1.1") {
            version = .http11
        } else if line.count - secondSpace - 1 == 8
            && ResponseHeadParser.equalsExactly(line, secondSpace + 1, "HTTP/1.0")
        {
            version = .http10
        } else {
            return .rejected(RequestRejection(400, "unsupported or malformed HTTP version"))
        }
        for index in (firstSpace + 1)..<secondSpace {
            let byte = line[index]
            guard byte > 32 && byte < 127 && byte != UInt8(ascii: "#") else {
                return .rejected(RequestRejection(400, "invalid characters in the request target"))
            }
        }
        let rawTarget = Self.string(line, firstSpace + 1, secondSpace)
        var target = rawTarget
        var targetAuthority: String?
        if line[firstSpace + 1] != UInt8(ascii: "/") {
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
        fields.reserveCapacity(16)
        var hostCount = 0
        var hostValue = 0..<0
        var lengthCount = 0
        var lengthValue = 0..<0
        var encodingCount = 0
        var encodingValue = 0..<0
        var connectionTokens: [String] = []
        var upgrade: String?
        var expectsContinue = false
        var cursor = requestLineEnd + 2
        while cursor < head.count - 2 {
            guard let end = Self.find(crlfIn: head, from: cursor, limit: head.count) else { break }
            let fieldStart = cursor
            cursor = end + 2
            let first = head[fieldStart]
            if first == 32 || first == 9 {
                return .rejected(RequestRejection(400, "obsolete line folding"))
            }
            var colon = fieldStart
            while colon < end && head[colon] != UInt8(ascii: ":") { colon += 1 }
            guard colon < end else {
                return .rejected(RequestRejection(400, "header line without a colon"))
            }
            guard colon > fieldStart else { return .rejected(RequestRejection(400, "empty header name")) }
            for index in fieldStart..<colon where !Self.isTokenByte(head[index]) {
                return .rejected(
                    RequestRejection(
                        400,
                        head[index] == 32 || head[index] == 9
                            ? "whitespace before the colon of a header" : "invalid character in a header name"))
            }
            var valueStart = colon + 1
            var valueEnd = end
            while valueStart < valueEnd && (head[valueStart] == 32 || head[valueStart] == 9) { valueStart += 1 }
            while valueEnd > valueStart && (head[valueEnd - 1] == 32 || head[valueEnd - 1] == 9) { valueEnd -= 1 }
            for index in valueStart..<valueEnd {
                let byte = head[index]
                if (byte < 32 && byte != 9) || byte == 127 {
                    return .rejected(RequestRejection(400, "control character in a header value"))
                }
            }
            let name = UnsafeRawBufferPointer(rebasing: head[fieldStart..<colon])
            let kind = Self.kind(name, nameLength: colon - fieldStart)
            fields.append(HeaderField(kind: kind, name: fieldStart..<colon, value: valueStart..<valueEnd))
            switch kind {
            case .host:
                hostCount += 1
                hostValue = valueStart..<valueEnd
            case .contentLength:
                lengthCount += 1
                lengthValue = valueStart..<valueEnd
            case .transferEncoding:
                encodingCount += 1
                encodingValue = valueStart..<valueEnd
            case .connection: connectionTokens += Self.tokens(Self.string(head, valueStart, valueEnd))
            case .upgrade: upgrade = Self.string(head, valueStart, valueEnd)
            case .expect:
                expectsContinue =
                    valueEnd - valueStart == 12 && ResponseHeadParser.equalsLowercased(head, valueStart, "100-continue")
            default: break
            }
        }

        // Host: exactly one on HTTP/1.1 (RFC 9112 3.2), valid, unless the target carried the authority.
        if hostCount > 1 { return .rejected(RequestRejection(400, "more than one Host header")) }
        if version == .http11 && hostCount == 0 { return .rejected(RequestRejection(400, "missing Host header")) }
        let hostText = hostCount == 1 ? Self.string(head, hostValue.lowerBound, hostValue.upperBound) : nil
        if let value = hostText, !value.isEmpty || version == .http11, !Self.isValidHost(value) {
            return .rejected(RequestRejection(400, "invalid Host header"))
        }
        let hostHeader = targetAuthority ?? hostText ?? ""
        let host = Self.hostWithoutPort(hostHeader)

        // Framing: Content-Length xor a final chunked Transfer-Encoding.
        var framing = BodyFraming.none
        if encodingCount > 0 {
            if lengthCount > 0 {
                return .rejected(RequestRejection(400, "both Content-Length and Transfer-Encoding"))
            }
            if version == .http10 {
                return .rejected(RequestRejection(400, "Transfer-Encoding in an HTTP/1.0 request"))
            }
            if encodingCount > 1 {
                return .rejected(RequestRejection(400, "repeated Transfer-Encoding header"))
            }
            let codings = Self.tokens(Self.string(head, encodingValue.lowerBound, encodingValue.upperBound))
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
        } else if lengthCount > 0 {
            guard lengthCount == 1 else {
                return .rejected(RequestRejection(400, "more than one Content-Length"))
            }
            guard !lengthValue.isEmpty, lengthValue.count <= 18 else {
                return .rejected(RequestRejection(400, "invalid Content-Length"))
            }
            var length: Int64 = 0
            for index in lengthValue {
                let byte = head[index]
                guard byte >= 48 && byte <= 57 else {
                    return .rejected(RequestRejection(400, "invalid Content-Length"))
                }
                length = length * 10 + Int64(byte - 48)
            }
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
        tokenBytes[Int(byte)]
    }

    /// `isTokenByte` as a table: looked up for every byte of every header name.
    private static let tokenBytes: [Bool] = (0..<256).map { value in
        let byte = UInt8(value)
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
        var text = value
        return text.withUTF8 { isValidHost(bytes: $0) }
    }

    private static func isValidHost(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !bytes.isEmpty, bytes.count <= 255 else { return false }
        func isDigits(_ range: Range<Int>) -> Bool { range.allSatisfy { bytes[$0] >= 48 && bytes[$0] <= 57 } }
        if bytes[0] == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let inside = 1..<close
            guard !inside.isEmpty,
                inside.allSatisfy({
                    let byte = bytes[$0]
                    return (byte >= 48 && byte <= 57) || (byte | 0x20 >= 97 && byte | 0x20 <= 102)
                        || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".")
                })
            else { return false }
            let rest = (close + 1)..<bytes.count
            if rest.isEmpty { return true }
            return bytes[close + 1] == UInt8(ascii: ":") && rest.count <= 6 && isDigits((close + 2)..<bytes.count)
        }
        var hostEnd = bytes.count
        if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
            guard bytes.count - colon - 1 <= 5, isDigits((colon + 1)..<bytes.count) else { return false }
            hostEnd = colon
        }
        return hostEnd > 0
            && bytes[0..<hostEnd].allSatisfy { byte in
                Self.isTokenByte(byte) && byte != UInt8(ascii: "`") && byte != UInt8(ascii: "|")
                    || byte == UInt8(ascii: ".")
            }
    }

    static func hostWithoutPort(_ value: String) -> String {
        let bytes = value.utf8
        if bytes.first == UInt8(ascii: "["), let close = bytes.firstIndex(of: UInt8(ascii: "]")) {
            return Self.lowercased(bytes[...close])
        }
        var name = bytes[...]
        if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) { name = bytes[..<colon] }
        // A fully qualified name's trailing dot names the same host (as nginx reads it).
        if name.count > 1 && name.last == UInt8(ascii: ".") { name = name.dropLast() }
        return Self.lowercased(name)
    }

    /// ASCII lower-casing (a host name is ASCII once validated), without a copy when already lower-case.
    static func lowercased(_ bytes: Substring.UTF8View) -> String {
        if !bytes.contains(where: { $0 >= 65 && $0 <= 90 }) { return String(Substring(bytes)) }
        return String(decoding: bytes.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
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
