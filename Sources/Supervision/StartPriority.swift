import Foundation
import Glibc
import HostSupport

/// The CPU priority of a worker that starts while the worker it replaces still serves.
///
/// A reload's or recycle's replacement starts beside the app's workers at whatever load they have,
/// and a start-up is CPU-heavy (node: about 100 ms of parsing and compiling before it listens). At
/// the daemon's priority it takes that CPU from the workers that serve, and requests wait: p99
/// through back-to-back reloads of 4 dante workers under wrk was 8.9-11.9 ms against 2.0-2.3 ms
/// steady. So the replacement starts under SCHED_IDLE, where it runs on CPU time no other task
/// wants, for `window` (1 s, or half its ready timeout when that is shorter); still starting then,
/// it goes on at nice `niced` until half its ready timeout, and then at the daemon's priority, so
/// that a start under heavy load still ends within its ready timeout. Once it is ready, every
/// thread of its processes (its process group, and children that left the group) gets the daemon's
/// priority back. A first start or a restart after a crash, when the app is short of workers,
/// starts at the daemon's priority.
///
/// SCHED_IDLE rather than a nice value first: the kernel lets any normal task that wakes preempt
/// an idle one at once, while a niced task that has the CPU keeps it for its time slice (EEVDF
/// protects it), and a proxy thread woken by a request waits out that slice. With the fixture
/// worker under a closed-loop load (a throw-away C client, 16 connections), requests slower than
/// 5 ms through 10 back-to-back reloads were about half as many under SCHED_IDLE as at nice 10
/// (156/900/268 against 352/2047/482 in three interleaved pairs), and a reload of 4 such workers
/// under load took 59-134 ms against 523-533 ms.
///
/// Leaving SCHED_IDLE needs what raising a nice value needs: CAP_SYS_NICE or an RLIMIT_NICE that
/// allows the daemon's nice value (for nice 0: `ulimit -e 20`, systemd's `LimitNICE=+0`); without
/// either the daemon could lower a worker's priority but never restore it, so replacements start
/// at the daemon's priority.
public struct StartPriority: Sendable, Equatable {
    /// The daemon's nice value, which the worker keeps and runs at once it leaves SCHED_IDLE.
    public var normal: Int32

    /// Creates a priority for a daemon at nice `normal`.
    public init(normal: Int32) {
        self.normal = normal
    }

    /// How long a replacement may start under SCHED_IDLE.
    public static let limit: Duration = .seconds(1)

    /// How long a replacement with `readyTimeout` starts under SCHED_IDLE: `limit`, or half its
    /// ready timeout when that is shorter, so that it has at least the rest at a normal policy.
    public static func window(readyTimeout: Duration) -> Duration {
        min(limit, readyTimeout / 2)
    }

    /// The priority for a daemon at nice `normal`, or nil when it could not give a worker its
    /// priority back: without `privileged` (CAP_SYS_NICE), RLIMIT_NICE `rlimitNice` must allow
    /// nice `normal` (20 - normal at most), as the kernel's `can_nice` asks of a task leaving
    /// SCHED_IDLE.
    public static func decide(normal: Int32, rlimitNice: UInt64, privileged: Bool) -> StartPriority? {
        guard privileged || UInt64(20 - normal) <= rlimitNice else { return nil }
        return StartPriority(normal: normal)
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

    /// The stages of a start at a lower priority.
    public enum Stage: Sendable, Equatable {
        /// SCHED_IDLE, for the first `window`.
        case idle
        /// SCHED_OTHER at `niced`, until half the ready timeout.
        case niced
    }

    /// The nice value a replacement still starting after its `window` goes on at, until half its
    /// ready timeout: 10 above the daemon's (the `nice` command's step), nil for a daemon at 19.
    ///
    /// Under a load that leaves no CPU time idle, a start under SCHED_IDLE gets none at all; at
    /// the daemon's priority after the window it would take its full share at once (through 5
    /// back-to-back reloads of 4 node workers under a closed-loop load, requests over 5 ms came
    /// 5 to 10 times as often then as while it was idle). At nice 10 it gets about a tenth of a
    /// serving worker's share and still ends long before its ready timeout.
    public var niced: Int32? {
        normal < 19 ? min(normal + 10, 19) : nil
    }

    /// Moves every thread of `worker` and its processes (WorkerLaunch.family) from SCHED_IDLE to
    /// SCHED_OTHER at `niced`.
    ///
    /// Nil, or why not.
    public func soften(worker: Int32) -> String? {
        set(worker: worker, nice: niced ?? normal)
    }

    /// Gives every thread of `worker` and its processes (WorkerLaunch.family: its process group and
    /// the children that left it) the normal priority back: SCHED_OTHER at the daemon's nice value.
    ///
    /// Nil, or why not.
    public func restore(worker: Int32) -> String? {
        set(worker: worker, nice: normal)
    }

    /// Gives every thread of `worker` and its processes nice value `nice` (a per-thread value on
    /// Linux) and, where it is idle, SCHED_OTHER.
    ///
    /// A thread that one not yet changed creates while this runs inherits the old values, so the
    /// threads are scanned again while a scan still changed something.
    private func set(worker: Int32, nice: Int32) -> String? {
        var problem: Int32 = 0
        for _ in 0..<3 {
            var changed = false
            for pid in WorkerLaunch.family(of: worker) {
                for tid in (try? DirectoryListing.numbers(in: "/proc/\(pid)/task")) ?? [] {
                    errno = 0
                    let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tid))
                    guard errno == 0 else { continue }  // gone
                    if current != nice {
                        if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tid), nice) == 0 {
                            changed = true
                        } else if errno != ESRCH {
                            problem = errno
                        }
                    }
                    guard sched_getscheduler(tid) == Self.idlePolicy else { continue }
                    var parameters = sched_param()
                    if sched_setscheduler(tid, SCHED_OTHER, &parameters) == 0 {
                        changed = true
                    } else if errno != ESRCH {
                        problem = errno
                    }
                }
            }
            if !changed || problem != 0 { break }
        }
        return problem == 0 ? nil : SystemError.describe(problem)
    }

    /// SCHED_IDLE (linux/sched.h), which Glibc's module leaves out.
    public static let idlePolicy: Int32 = 5
}
