import Foundation
import Glibc
import HostSupport

/// The CPU priority of a worker that starts while the worker it replaces still serves.
///
/// A reload's or recycle's replacement starts beside the app's workers at whatever load they have,
/// and a start-up is CPU-heavy (node: about 100 ms of parsing and compiling before it listens). At
/// the daemon's priority it takes that CPU from the workers that serve, and requests wait: p99
/// through back-to-back reloads of 4 dante workers under wrk was 8.9-11.9 ms against 2.0-2.3 ms
/// steady. So the replacement starts `nice` 10 above the daemon (the `nice` command's default step),
/// where the serving workers come first, and its process group gets the daemon's priority back
/// once it is ready, or once it has been starting for `limit` (half its ready timeout, when that is
/// shorter), so that a start under heavy load still ends well within its ready timeout. A first
/// start or a restart after a crash, when the app is short of workers, starts at the daemon's
/// priority.
///
/// Giving a priority back needs CAP_SYS_NICE or an RLIMIT_NICE that allows the daemon's nice value
/// (for nice 0: `ulimit -e 20`, systemd's `LimitNICE=+0`); without either the daemon could lower a
/// worker's priority but never restore it, so replacements start at the daemon's priority.
public struct StartPriority: Sendable, Equatable {
    /// The daemon's nice value, which a worker gets back.
    public var normal: Int32
    /// The nice value a replacement starts at.
    public var background: Int32

    /// Creates priorities.
    public init(normal: Int32, background: Int32) {
        self.normal = normal
        self.background = background
    }

    /// How long a replacement may start at the lower priority.
    public static let limit: Duration = .seconds(1)

    /// How long a replacement with `readyTimeout` starts at the lower priority: `limit`, or half its
    /// ready timeout when that is shorter, so that it has the rest at the normal priority.
    public static func window(readyTimeout: Duration) -> Duration {
        min(limit, readyTimeout / 2)
    }
    /// How far below the daemon's priority a replacement starts.
    static let step: Int32 = 10

    /// The priorities for a daemon at nice `normal`, or nil when it could not give a worker its
    /// priority back: without `privileged` (CAP_SYS_NICE), RLIMIT_NICE `rlimitNice` must allow
    /// nice `normal` (20 - normal at most), as the kernel's `can_nice` asks.
    public static func decide(normal: Int32, rlimitNice: UInt64, privileged: Bool) -> StartPriority? {
        let background = min(normal + step, 19)
        guard background > normal else { return nil }
        guard privileged || UInt64(20 - normal) <= rlimitNice else { return nil }
        return StartPriority(normal: normal, background: background)
    }

    /// This process's priorities, or nil (see `decide`).
    public static func detect() -> StartPriority? {
        errno = 0
        let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        guard errno == 0 else { return nil }
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(__RLIMIT_NICE.rawValue), &limit) == 0 else { return nil }
        return decide(
            normal: nice, rlimitNice: UInt64(limit.rlim_cur),
            privileged: Capabilities.effective(anyOf: Capabilities.sysNice))
    }

    /// Gives the process group `group` (a worker and its threads) the normal priority back.
    ///
    /// Nil, or why not.
    func restore(group: Int32) -> String? {
        guard setpriority(__priority_which_t(PRIO_PGRP.rawValue), id_t(group), normal) != 0 else { return nil }
        return SystemError.describe(errno)
    }

}
