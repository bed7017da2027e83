import Foundation

/// Raw socket access for the end-to-end tests: a client that does not share the proxy's code.
enum Wire {
    /// A connected stream socket to `address` — a Unix socket path, `127.0.0.1:PORT` or `[::1]:PORT` —
    /// with a 10 s receive timeout; nil when the connection is refused.
    static func connect(_ address: String) -> Int32? {
        let result: Int32
        let fd: Int32
        if address.hasPrefix("/") {
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var sa = sockaddr_un()
            sa.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &sa.sun_path) { raw in
                for (index, byte) in address.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
            }
            result = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        } else {
            let port = UInt16(address.split(separator: ":").last ?? "") ?? 0
            if address.hasPrefix("[") {
                fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
                var sa = sockaddr_in6()
                sa.sin6_family = sa_family_t(AF_INET6)
                sa.sin6_port = port.bigEndian
                sa.sin6_addr = in6addr_loopback
                result = withUnsafePointer(to: &sa) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                    }
                }
            } else {
                fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var sa = sockaddr_in()
                sa.sin_family = sa_family_t(AF_INET)
                sa.sin_port = port.bigEndian
                sa.sin_addr.s_addr = inet_addr("127.0.0.1")
                result = withUnsafePointer(to: &sa) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }
        guard result == 0 else {
            close(fd)
            return nil
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Writes all of `text` to `fd`.
    static func send(_ fd: Int32, _ text: String) {
        _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads until the peer closes, the timeout passes, or `until` says the text is complete.
    static func read(_ fd: Int32, until: ((String) -> Bool)? = nil) -> String {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let until, until(String(decoding: data, as: UTF8.self)) { break }
            let count = Glibc.read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            data += buffer[0..<count]
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Connects, sends `text`, reads the answer (to the close, or until `until`); "" when refused.
    static func exchange(_ address: String, _ text: String, until: ((String) -> Bool)? = nil) -> String {
        guard let fd = connect(address) else { return "" }
        defer { close(fd) }
        send(fd, text)
        return read(fd, until: until)
    }
}

/// Sends one request with Connection: close to the listener at `address` and returns the whole response.
func httpGet(_ address: String, _ path: String, host: String = "localhost") -> String {
    Wire.exchange(address, "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
}

/// Sends `GET path` to a worker endpoint (a Unix socket path or 127.0.0.1:PORT) and returns the body.
func fetch(_ endpoint: String, path: String = "/") -> String? {
    let response = Wire.exchange(endpoint, "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n") { text in
        guard let range = text.range(of: "\r\n\r\n") else { return false }
        return text[range.upperBound...].hasSuffix("\n")
    }
    guard let range = response.range(of: "\r\n\r\n"), response[range.upperBound...].hasSuffix("\n") else { return nil }
    return String(response[range.upperBound...])
}
