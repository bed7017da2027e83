import Foundation
import HostConfig
import HostSupport

/// Turning an app's config into what one worker generation is started with.
enum WorkerLaunch {
    /// Variables that belong to the daemon's own supervisor and must not reach workers (DESIGN.md, Processes).
    static let supervisorVariables: Set<String> = [
        "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
        "INVOCATION_ID", "JOURNAL_STREAM",
    ]

    /// The daemon's environment minus its supervisor's variables, plus the app's `env`, plus the
    /// handoff's variables, `HOSTCTL_APP` and `HOSTCTL_WORKER`.
    static func environment(
        daemon: [String: String], app: AppConfig, slot: Int, handoff: [String: String]
    ) -> [String: String] {
        var environment = daemon.filter { !supervisorVariables.contains($0.key) && $0.key != "PORT" }
        for (key, value) in app.env { environment[key] = value }
        for (key, value) in handoff { environment[key] = value }
        environment["HOSTCTL_APP"] = app.name
        environment["HOSTCTL_WORKER"] = String(slot)
        return environment
    }

    /// The command with `${PORT}`, `${HOSTCTL_APP}` and `${HOSTCTL_WORKER}` expanded.
    static func expand(_ command: [String], port: String, app: String, slot: Int) -> [String] {
        command.map {
            $0.replacing("${PORT}", with: port).replacing("${HOSTCTL_APP}", with: app)
                .replacing("${HOSTCTL_WORKER}", with: String(slot))
        }
    }

    /// The executable for `program`: a path with a slash relative to the app directory, else the
    /// first match on the worker's PATH.
    static func resolve(_ program: String, directory: String, path: String?) -> Result<String, RuleViolation> {
        if program.contains("/") {
            let full = program.hasPrefix("/") ? program : directory + "/" + program
            return .success(FileSystem.absolutePath(full))
        }
        guard let found = FileSystem.findExecutable(program, path: path) else {
            return .failure(RuleViolation("cannot execute \(program): not found on PATH (\(path ?? "unset"))"))
        }
        return .success(found)
    }

    /// uid, gid and supplementary groups of `user` (the corresponding C functions are `getpwnam_r`
    /// and `getgrouplist`).
    static func identity(of user: String) -> (uid: UInt32, gid: UInt32, groups: [UInt32])? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwnam_r(user, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(user, entry.pw_gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(user, entry.pw_gid, &groups, &count)
        }
        return (entry.pw_uid, entry.pw_gid, Array(groups.prefix(Int(max(count, 0)))))
    }

    /// Resident memory of every process in process group `group`, in bytes (a worker and its children).
    static func groupResidentBytes(of group: Int32) -> Int {
        groupMembers(group).reduce(0) { $0 + residentBytes(of: $1) }
    }

    /// The processes of a worker: its process group (the worker leads it, its children inherit it)
    /// and the worker's descendants that left it (a child that made a session of its own), found
    /// through /proc/PID/task/TID/children.
    static func family(of worker: Int32) -> [Int32] {
        var found = Set(groupMembers(worker))
        var queue = [worker]
        var visited: Set<Int32> = [worker]
        while let pid = queue.popLast() {
            found.insert(pid)
            for tid in (try? DirectoryListing.numbers(in: "/proc/\(pid)/task")) ?? [] {
                let listed = (try? FileSystem.readFile("/proc/\(pid)/task/\(tid)/children")) ?? []
                for child in listed.split(separator: UInt8(ascii: " ")).compactMap({
                    Int32(String(decoding: $0, as: UTF8.self))
                })
                where visited.insert(child).inserted {
                    queue.append(child)
                }
            }
        }
        return Array(found)
    }

    /// The processes of process group `group` (a worker and its children): the processes in /proc
    /// whose getpgid is `group`, one system call each and no file read.
    static func groupMembers(_ group: Int32) -> [Int32] {
        ((try? DirectoryListing.numbers(in: "/proc")) ?? []).filter { getpgid($0) == group }
    }

    /// Resident memory of `pid` in bytes, from /proc/PID/statm; 0 when it is gone.
    static func residentBytes(of pid: Int32) -> Int {
        guard let bytes = try? FileSystem.readFile("/proc/\(pid)/statm") else { return 0 }
        let fields = String(decoding: bytes, as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
