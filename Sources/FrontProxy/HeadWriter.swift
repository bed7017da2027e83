import NIOCore

/// Writes the head sent to a worker: the request line with the routed target, the client's
/// headers minus hop-by-hop ones, and the forwarding headers hostctl owns.
enum HeadWriter {
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "te", "trailer", "proxy-connection", "proxy-authenticate",
        "proxy-authorization", "upgrade",
    ]

    static func forwarded(
        _ head: RequestHead, target: String, prefix: String, clientAddress: String, trusted: Bool,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeString(head.method)
        buffer.writeStaticString(" ")
        buffer.writeString(target)
        buffer.writeStaticString(head.version == .http11 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n")
        var named: Set<String> = []
        for (name, value) in head.headers where name.lowercased() == "connection" {
            for token in value.split(separator: ",") {
                named.insert(String(token).trimmingCharacters(in: " \t").lowercased())
            }
        }
        var forwardedFor: String?
        var kept: [String: String] = [:]
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if hopByHop.contains(lower) || named.contains(lower) { continue }
            switch lower {
            case "x-forwarded-for":
                forwardedFor = forwardedFor.map { $0 + ", " + value } ?? value
                continue
            case "x-forwarded-proto", "x-forwarded-host", "x-forwarded-prefix":
                // Set by hostctl, replacing what the client sent, unless the client is a trusted proxy.
                if trusted { kept[lower] = value }
                continue
            default: break
            }
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        if let upgrade = head.upgrade {
            buffer.writeString("Connection: upgrade\r\nUpgrade: \(upgrade)\r\n")
        } else if head.version == .http10 {
            buffer.writeStaticString("Connection: close\r\n")
        }
        buffer.writeString("X-Forwarded-For: \(forwardedFor.map { $0 + ", " } ?? "")\(clientAddress)\r\n")
        buffer.writeString("X-Forwarded-Proto: \(kept["x-forwarded-proto"] ?? "http")\r\n")
        buffer.writeString("X-Forwarded-Host: \(kept["x-forwarded-host"] ?? head.hostHeader)\r\n")
        if let value = kept["x-forwarded-prefix"] ?? (prefix.isEmpty ? nil : prefix) {
            buffer.writeString("X-Forwarded-Prefix: \(value)\r\n")
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
