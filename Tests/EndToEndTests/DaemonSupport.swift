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

/// Polls `value` every 10 ms for up to `seconds` until it is not nil.
func waitUntilValue<T>(_ seconds: Double, _ value: () throws -> T?) rethrows -> T? {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let found = try value() { return found }
        usleep(10_000)
    }
    return try value()
}
