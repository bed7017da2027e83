public import Foundation

/// A worker's state, as `status` shows it (DESIGN.md status schema).
public enum WorkerState: String, Sendable {
    case starting, ready, draining, stopping, backoff, exited
}

/// An app's state, as `status` shows it.
public enum AppState: String, Sendable {
    case starting, running, reloading, stopping, stopped, failed
}

/// One worker slot at one moment.
public struct WorkerSnapshot: Sendable {
    /// The slot, 1…N.
    public var slot: Int
    /// The generation running (or last run) in the slot.
    public var generation: Int
    /// The worker's pid (its process group id), or nil when none runs.
    public var pid: Int32?
    /// Its state.
    public var state: WorkerState
    /// Where it listens, when one runs.
    public var endpoint: String?
    /// When the current generation started.
    public var startedAt: Date?
    /// How many times the slot was restarted after an exit.
    public var restarts: Int
    /// Resident memory of the worker's main process, in bytes.
    public var rssBytes: Int
    /// The last exit of a worker in this slot: its status and when.
    public var lastExit: (exit: WorkerExit, at: Date)?
    /// What the worker last said with sd_notify `STATUS=` (`ready: notify`), or nil.
    public var statusText: String? = nil
}

/// One app at one moment.
public struct AppSnapshot: Sendable {
    /// The app's name.
    public var name: String
    /// Its state.
    public var state: AppState
    /// Why, when the state needs a reason (`failed`, `backoff`).
    public var reason: String?
    /// Its route path.
    public var route: String
    /// Its slots.
    public var workers: [WorkerSnapshot]
}

/// What `start` waits for.
public enum StartResult: Sendable, Equatable {
    /// Every worker is ready.
    case ready
    /// A worker failed before it was ready; the reason quotes its exit and last stderr lines. The
    /// supervisor goes on restarting it.
    case failed(String)
    /// The app cannot run as configured (the command cannot be executed, an unknown user, a socket
    /// path that is too long); nothing is retried until the next start.
    case cannotRun(String)
    /// The app was stopped while starting.
    case stopped
}

/// What `reload` ends with.
public enum ReloadResult: Sendable, Equatable {
    /// Every slot runs the new config.
    case done
    /// A replacement was not ready: the reason; the old workers go on serving.
    case failed(String)
    /// Another reload (or a recycle) of the app was running: nothing was done.
    case busy
}
