import CHostSupport
import Foundation
import Glibc
import HostSupport

/// What to start: a resolved executable, its arguments and environment, and the descriptors it gets.
public struct SpawnRequest: Sendable {
    /// The executable's absolute path.
    public var executable: String
    /// The arguments, `argv[0]` included.
    public var arguments: [String]
    /// `NAME=value` entries; when `setsListenPID` is true a `LISTEN_PID` entry is added and filled
    /// in by the child with its own pid.
    public var environment: [String]
    /// Whether the child writes its own pid into `LISTEN_PID` (the fd handoff).
    public var setsListenPID: Bool
    /// The working directory.
    public var directory: String
    /// Becomes the child's stdout; the caller still owns (and closes) its copy.
    public var stdout: Int32
    /// Becomes the child's stderr; the caller still owns (and closes) its copy.
    public var stderr: Int32
    /// Becomes the child's fd 3, or -1.
    public var handoff: Int32
    /// uid, gid and supplementary groups to drop to, or nil.
    public var identity: (uid: UInt32, gid: UInt32, groups: [UInt32])?
    /// Whether the child starts under SCHED_IDLE (a lower priority than any other; see StartPriority)
    /// instead of the caller's policy.
    public var idle: Bool

    /// Creates a request.
    public init(
        executable: String, arguments: [String], environment: [String], setsListenPID: Bool = false,
        directory: String, stdout: Int32, stderr: Int32, handoff: Int32 = -1,
        identity: (uid: UInt32, gid: UInt32, groups: [UInt32])? = nil, idle: Bool = false
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.setsListenPID = setsListenPID
        self.directory = directory
        self.stdout = stdout
        self.stderr = stderr
        self.handoff = handoff
        self.identity = identity
        self.idle = idle
    }
}

/// A started worker: its keeper (which the daemon waits on) and the worker itself.
public struct SpawnedProcess: Sendable, Hashable {
    /// The keeper's pid; its exit mirrors the worker's.
    public var keeperPID: Int32
    /// The worker's pid, which is also its process group id.
    public var workerPID: Int32
    /// A pidfd of the keeper; owned by whoever reaps it (`ProcessMonitor`).
    public var keeperPIDFD: Int32
}

/// A failure to start a worker, with the step and errno.
public struct SpawnError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The `HC_STEP_*` value.
    public var step: Int32
    /// The errno.
    public var errno: Int32
    /// The executable that was to run.
    public var executable: String

    /// `cannot execute /usr/bin/node: no such file or directory`, `cannot change to directory …`.
    public var description: String {
        let reason = SystemError.describe(errno)
        switch Int(step) {
        case Int(HC_STEP_CHDIR): return "cannot change to the app directory: \(reason)"
        case Int(HC_STEP_SETGROUPS), Int(HC_STEP_SETGID), Int(HC_STEP_SETUID):
            return "cannot switch to the app's user: \(reason)"
        case Int(HC_STEP_EXEC):
            if errno == ENOENT, FileSystem.kind(of: executable) == .file {
                // execve says ENOENT for a missing #! interpreter too.
                return "cannot execute \(executable): its interpreter (the #! line) was not found"
            }
            return "cannot execute \(executable): \(reason)"
        case Int(HC_STEP_DUP): return "cannot set up the worker's descriptors: \(reason)"
        default: return "cannot start a process: \(reason)"
        }
    }
}

/// Runs every spawn on one long-lived thread.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked exits, not the process, so spawning from
/// the Swift concurrency pool would kill keepers whenever the pool retires a thread (SWIFT-NOTES.md).
public final class Spawner: @unchecked Sendable {
    // Invariant: `queue` is only touched with `condition` locked.
    private let condition = NSCondition()
    private var queue: [Batch] = []
    private var thread: Thread?

    /// Starts the spawning thread.
    public init() {
        // The thread keeps its object alive: it runs for the life of the process.
        let thread = Thread { [self] in self.loop() }
        thread.name = "hostctl-spawner"
        self.thread = thread
        thread.start()
    }

    /// Requests to start in order, what to do after each start, and where the results go.
    private struct Batch {
        let requests: [SpawnRequest]
        let started: (@Sendable (Int, SpawnedProcess) -> Void)?
        let reply: @Sendable ([Result<SpawnedProcess, SpawnError>]) -> Void
    }

    /// Starts `request` on the spawning thread and returns when it ran (exec succeeded) or failed.
    ///
    /// `started`, when given, is called on the spawning thread as soon as the process runs, before
    /// this returns.
    public func spawn(
        _ request: SpawnRequest, started: (@Sendable (SpawnedProcess) -> Void)? = nil
    ) async throws(SpawnError) -> SpawnedProcess {
        var each: (@Sendable (Int, SpawnedProcess) -> Void)?
        if let started { each = { _, process in started(process) } }
        let results = await spawn([request], started: each)
        guard let result = results.first else {
            preconditionFailure("internal inconsistency: a spawn batch of one came back empty")
        }
        return try result.get()
    }

    /// Starts `requests` one after another on the spawning thread, without a hop back to the caller
    /// between them, and stops at the first that fails.
    ///
    /// Returns a result for each request tried, in order: all of them, or up to and including the
    /// failure (the caller still owns the rest's descriptors). `started`, when given, is called on the
    /// spawning thread with a request's position and process as soon as it runs, before the next
    /// request is started: what must follow a start at once (collecting the worker's output) does not
    /// wait for the whole batch and a hop back to the caller.
    public func spawn(
        _ requests: [SpawnRequest], started: (@Sendable (Int, SpawnedProcess) -> Void)? = nil
    ) async -> [Result<SpawnedProcess, SpawnError>] {
        guard !requests.isEmpty else { return [] }
        return await withCheckedContinuation {
            (continuation: CheckedContinuation<[Result<SpawnedProcess, SpawnError>], Never>) in
            condition.lock()
            queue.append(Batch(requests: requests, started: started, reply: { continuation.resume(returning: $0) }))
            condition.signal()
            condition.unlock()
        }
    }

    private func loop() {
        while true {
            condition.lock()
            // The thread never ends: its exit would fire every keeper's parent-death signal.
            while queue.isEmpty { condition.wait() }
            let batch = queue.removeFirst()
            condition.unlock()
            var results: [Result<SpawnedProcess, SpawnError>] = []
            for (position, request) in batch.requests.enumerated() {
                let result = Self.run(request)
                results.append(result)
                guard case .success(let process) = result else { break }
                batch.started?(position, process)
            }
            batch.reply(results)
        }
    }

    /// The blocking fork/exec through the C keeper.
    static func run(_ request: SpawnRequest) -> Result<SpawnedProcess, SpawnError> {
        var environment = request.environment.filter { !$0.hasPrefix("LISTEN_PID=") }
        var listenIndex: Int32 = -1
        if request.setsListenPID {
            listenIndex = Int32(environment.count)
            environment.append("LISTEN_PID=" + String(repeating: "0", count: 10))
        }
        return withCStrings(request.arguments) { argv in
            withCStrings(environment) { envp in
                request.executable.withCString { path in
                    request.directory.withCString { cwd in
                        let groups = request.identity?.groups ?? []
                        return groups.withUnsafeBufferPointer { groupPointer in
                            var spec = hc_spawn_request()
                            spec.path = path
                            spec.argv = UnsafePointer(argv)
                            spec.envp = UnsafePointer(envp)
                            spec.listen_pid_index = listenIndex
                            spec.cwd = cwd
                            spec.stdin_fd = -1
                            spec.stdout_fd = request.stdout
                            spec.stderr_fd = request.stderr
                            spec.handoff_fd = request.handoff
                            spec.idle_policy = request.idle ? 1 : 0
                            if let identity = request.identity {
                                spec.set_ids = 1
                                spec.uid = identity.uid
                                spec.gid = identity.gid
                                spec.groups = groupPointer.baseAddress
                                spec.ngroups = Int32(groups.count)
                            }
                            var result = hc_spawn_result()
                            if hc_spawn(&spec, &result) != 0 {
                                if result.keeper_pidfd >= 0 {
                                    // The keeper exits by itself once its worker failed; reap it.
                                    var status: Int32 = 0
                                    waitpid(result.keeper_pid, &status, 0)
                                    close(result.keeper_pidfd)
                                } else if result.keeper_pid > 0 {
                                    var status: Int32 = 0
                                    waitpid(result.keeper_pid, &status, 0)
                                }
                                return .failure(
                                    SpawnError(step: result.step, errno: result.error, executable: request.executable))
                            }
                            return .success(
                                SpawnedProcess(
                                    keeperPID: result.keeper_pid, workerPID: result.worker_pid,
                                    keeperPIDFD: result.keeper_pidfd))
                        }
                    }
                }
            }
        }
    }
}

/// Calls `body` with a NULL-terminated array of C strings that live for the call.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R)
    -> R
{
    let pointers = strings.map { strdup($0) } + [nil]
    defer { for pointer in pointers { free(pointer) } }
    var array = pointers
    return array.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress else {
            preconditionFailure("internal inconsistency: an argument vector without its NULL terminator")
        }
        return body(base)
    }
}
