import Foundation
import Testing

/// The fixture worker built next to hostctl.
let fixtureWorker = URL(fileURLWithPath: hostctlBinary).deletingLastPathComponent()
    .appendingPathComponent("hostctl-fixture-worker").path

extension TempHome {
    /// Adds an app running the fixture worker with `arguments`, plus `yaml` appended to its handler config.
    func addFixture(_ name: String, _ arguments: [String] = [], flags: [String] = [], yaml: String = "") throws {
        let dir = try directory("apps/\(name)")
        let command = ([fixtureWorker] + arguments).joined(separator: " ")
        let r = try hostctl(["add", name, dir, "--command", command, "--route", "/\(name)"] + flags)
        #expect(r.status == 0, "\(r)")
        if !yaml.isEmpty {
            let path = home + "/apps/\(name).yml"
            try (try read(path) + yaml).write(toFile: path, atomically: true, encoding: .utf8)
        }
    }

    /// `status --json` as a dictionary, or nil when the daemon does not answer.
    func status(_ app: String? = nil) throws -> [String: Any]? {
        let r = try hostctl(["status"] + (app.map { [$0] } ?? []) + ["--json"])
        guard r.status == 0 else { return nil }
        return try jsonObject(r)
    }

    /// The workers of `app` from `status --json`.
    func workers(_ app: String) throws -> [[String: Any]] {
        let apps = (try status(app)?["apps"] as? [[String: Any]]) ?? []
        return (apps.first?["workers"] as? [[String: Any]]) ?? []
    }

    /// The daemon's pid from its pid file.
    var daemonPID: Int32? {
        (try? read(home + "/run/hostctl.pid")).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Stops the daemon (shutdown, then SIGKILL if it lingers) and checks no fixture of this home survives.
    func stopDaemon() throws {
        if let pid = daemonPID {
            _ = try? hostctl(["shutdown"])
            if !waitUntil(5, { processGone(pid) }) { kill(pid, SIGKILL) }
        }
        #expect(
            waitUntil(2) { fixturePIDs(under: root).isEmpty }, "fixture workers survived: \(fixturePIDs(under: root))")
    }
}

/// Polls `condition` every 10 ms for up to `seconds`: a safety net around events we cannot subscribe to.
func waitUntil(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}

/// Whether `pid` is gone or a zombie.
func processGone(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return true }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
}

/// Live (non-zombie) processes whose command line mentions `marker`.
func fixturePIDs(under marker: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard !processGone(pid), let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else {
            return false
        }
        return String(decoding: data, as: UTF8.self).contains("HOSTCTL_APP=")
            && String(decoding: data, as: UTF8.self).contains(marker)
    }
}

/// Sends `GET /` to a worker endpoint (a Unix socket path or 127.0.0.1:PORT) and returns the body.
func fetch(_ endpoint: String) -> String? {
    let unix = endpoint.hasPrefix("/")
    let fd = socket(unix ? AF_UNIX : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var connected: Int32 = -1
    if unix {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in endpoint.utf8.enumerated() { raw[index] = byte }
        }
        connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    } else {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(endpoint.split(separator: ":").last ?? "") ?? 0).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }
    guard connected == 0 else { return nil }
    _ = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".withCString { write(fd, $0, strlen($0)) }
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let text = String(decoding: data, as: UTF8.self)
        if let range = text.range(of: "\r\n\r\n"), text[range.upperBound...].hasSuffix("\n") {
            return String(text[range.upperBound...])
        }
        let count = read(fd, &buffer, buffer.count)
        if count <= 0 { return nil }
        data += buffer[0..<count]
    }
}
