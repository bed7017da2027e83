import Foundation
import HostConfig
import HostSupport

/// The apps `hostctl stop` stopped, kept in `<state>/stopped-apps` (one name a line, written
/// atomically) so that a stopped app stays stopped when the daemon restarts.
struct StoppedApps {
    let path: String
    private(set) var names: Set<String>

    init(path: String) {
        self.path = path
        let text = (try? FileSystem.readFile(path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        names = Set(text.split(separator: "\n").map(String.init).filter { ValueRules.checkAppName($0) == nil })
    }

    func contains(_ name: String) -> Bool { names.contains(name) }

    mutating func insert(_ more: [String]) {
        let before = names
        names.formUnion(more)
        if names != before { save() }
    }

    mutating func remove(_ some: [String]) {
        let before = names
        names.subtract(some)
        if names != before { save() }
    }

    private func save() {
        let text = names.sorted().map { $0 + "\n" }.joined()
        try? FileSystem.makeDirectories(FileSystem.parentDirectory(of: path), mode: 0o755)
        try? AtomicFile.write(text, to: path)
    }
}

/// One daemon per home: an exclusive `flock` on `<run>/hostctl.lock`, held for the daemon's life,
/// and the pid in `<run>/hostctl.pid`.
///
/// The kernel drops the lock when the daemon dies, however it
/// dies, so a stale pid file or socket never blocks the next start.
final class HomeLock {
    private var fd: Int32
    let pidPath: String

    init(layout: HomeLayout) throws(Daemon.StartupError) {
        let path = layout.runDirectory + "/hostctl.lock"
        pidPath = layout.runDirectory + "/hostctl.pid"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw Daemon.StartupError(
                summary: SystemError(errno: errno, action: "cannot open \(path)").summary, hint: nil)
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? FileSystem.readFile(pidPath)).map { String(decoding: $0, as: UTF8.self) }?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            throw Daemon.StartupError(
                summary: "a daemon already serves this home\(holder.map { " (pid \($0))" } ?? "")",
                hint: "`hostctl status` talks to it; `hostctl shutdown` stops it")
        }
        try? AtomicFile.write("\(getpid())\n", to: pidPath)
    }

    func release() {
        unlink(pidPath)
        close(fd)
        fd = -1
    }
}

/// The daemon's own log: one stamped line each, to stderr (which `hostctl start` points at
/// `<logs>/hostctl.log`, and systemd at the journal).
final class DaemonLog: Sendable {
    func write(_ message: String) {
        let line = "\(Timestamp.iso8601(Date(), milliseconds: true)) \(message)\n"
        _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
    }
}

/// Wall-clock stamps for display and logs.
enum Timestamp {
    /// `2026-11-25T07:00:01Z`, or with `.123` milliseconds.
    static func iso8601(_ date: Date, milliseconds: Bool = false) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int = 2) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        var text =
            "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec))"
        if milliseconds { text += "." + pad(Int32((interval - interval.rounded(.down)) * 1000), 3) }
        return text + "Z"
    }
}
