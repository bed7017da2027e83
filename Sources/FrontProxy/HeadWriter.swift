import NIOCore

/// Writes the head sent to a worker: the request line with the routed target, the client's
/// headers minus hop-by-hop ones, and the forwarding headers hostctl owns.
enum HeadWriter {
    /// Connection options that are not header names.
    static let connectionKeywords: Set<String> = ["close", "keep-alive", "upgrade"]

    static func forwarded(
        _ head: RequestHead, strip: Int, prefix: String, clientAddress: String, trusted: Bool,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeString(head.method)
        buffer.writeStaticString(" ")
        let target = head.target
        buffer.writeSubstring(target[target.utf8.index(target.startIndex, offsetBy: strip)...])
        buffer.writeStaticString(head.version == .http11 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n")
        // Headers named in Connection are hop-by-hop too (RFC 9110 7.6.1); rare, so checked only then.
        let named =
            head.connectionOptions.isEmpty ? [] : Set(head.connectionOptions).subtracting(connectionKeywords)
        var forwardedFor: String?
        var keptProto: String?
        var keptHost: String?
        var keptPrefix: String?
        for field in head.fields {
            switch field.kind {
            case .connection, .hopByHop, .upgrade:
                continue
            case .forwardedFor:
                let value = String(decoding: head.bytes[field.value], as: UTF8.self)
                forwardedFor = forwardedFor.map { $0 + ", " + value } ?? value
                continue
            case .forwardedProto, .forwardedHost, .forwardedPrefix:
                // Set by hostctl, replacing what the client sent, unless the client is a trusted proxy.
                guard trusted else { continue }
                let value = String(decoding: head.bytes[field.value], as: UTF8.self)
                switch field.kind {
                case .forwardedProto: keptProto = value
                case .forwardedHost: keptHost = value
                default: keptPrefix = value
                }
                continue
            case .other where !named.isEmpty:
                if named.contains(String(decoding: head.bytes[field.name], as: UTF8.self).lowercased()) { continue }
            default:
                break
            }
            // The line as the client wrote it (name, colon, value), without its surrounding whitespace.
            buffer.writeBytes(head.bytes[field.name.lowerBound..<field.value.upperBound])
            buffer.writeStaticString("\r\n")
        }
        if let upgrade = head.upgrade {
            buffer.writeString("Connection: upgrade\r\nUpgrade: \(upgrade)\r\n")
        } else if head.version == .http10 {
            // An HTTP/1.0 request is not persistent unless it says so: pass on what the client asked
            // (ab -k, for one, speaks HTTP/1.0 with keep-alive).
            buffer.writeStaticString(head.keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n")
        }
        buffer.writeStaticString("X-Forwarded-For: ")
        if let forwardedFor {
            buffer.writeString(forwardedFor)
            buffer.writeStaticString(", ")
        }
        buffer.writeString(clientAddress)
        buffer.writeStaticString("\r\nX-Forwarded-Proto: ")
        buffer.writeString(keptProto ?? "http")
        buffer.writeStaticString("\r\nX-Forwarded-Host: ")
        buffer.writeString(keptHost ?? head.hostHeader)
        buffer.writeStaticString("\r\n")
        if let value = keptPrefix ?? (prefix.isEmpty ? nil : prefix) {
            buffer.writeStaticString("X-Forwarded-Prefix: ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    /// hostctl's own short plain-text responses.
    static func plain(_ status: Int, _ body: String, close: Bool, extra: [(String, String)] = []) -> String {
        var text = "HTTP/1.1 \(status) \(reason(status))\r\nContent-Type: text/plain; charset=utf-8\r\n"
        text += "Content-Length: \(body.utf8.count + 1)\r\n"
        for (name, value) in extra { text += "\(name): \(value)\r\n" }
        if close { text += "Connection: close\r\n" }
        return text + "\r\n" + body + "\n"
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 301: return "Moved Permanently"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 408: return "Request Timeout"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 431: return "Request Header Fields Too Large"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Error"
        }
    }
}
