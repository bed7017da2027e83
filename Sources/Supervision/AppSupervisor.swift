import Foundation
public import HostConfig
import HostSupport
public import LogStore
public import Systemd

/// What every app supervisor shares: the spawning thread, the reaper, the output reader, the home.
public struct SupervisionContext: Sendable {
    /// Spawns workers from one long-lived thread.
    public var spawner: Spawner
    /// Learns of keeper exits.
    public var monitor: ProcessMonitor
    /// Reads worker output.
    public var output: LogCapture
    /// `<home>/run`, where pipe and fd sockets live.
    public var runDirectory: String
    /// The daemon's environment, from which the workers' is made.
    public var environment: [String: String]
    /// Receives sd_notify messages from `ready: notify` workers.
    public var notify: NotifyListener
    /// Requests the front proxy has in flight to an endpoint (`Endpoint.description`): a draining
    /// worker gets its stop signal once they were answered.
    public var requestsInFlight: @Sendable (String) -> Int = { _ in 0 }
    /// The priorities a replacement worker starts at and gets back, or nil: it starts at the daemon's.
    public var startPriority: StartPriority?

    /// Creates a context.
    public init(
        spawner: Spawner, monitor: ProcessMonitor, output: LogCapture, runDirectory: String,
        environment: [String: String], notify: NotifyListener = NotifyListener(),
        startPriority: StartPriority? = StartPriority.detect()
    ) {
        self.notify = notify
        self.startPriority = startPriority
        self.spawner = spawner
        self.monitor = monitor
        self.output = output
        self.runDirectory = runDirectory
        self.environment = environment
    }
}

/// Supervises one app's workers: starts them, knows when they are ready, restarts them by the
/// restart policy, and stops them gracefully.
///
/// Every change of state happens in `run()`, one event at a time: commands from the daemon, exits
/// from the reaper, readiness and timers from child tasks of `run()`'s task group. So there is no
/// reentrancy to reason about, and nothing outlives `run()`.
public final class AppSupervisor: Sendable {
    enum Event: Sendable {
        case start(CheckedContinuation<StartResult, Never>)
        case stop(CheckedContinuation<Void, Never>)
        case snapshot(CheckedContinuation<AppSnapshot, Never>)
        case update(AppConfig, CheckedContinuation<Void, Never>)
        case finish
        case ready(slot: Int, generation: Int)
        case notReady(slot: Int, generation: Int)
        case exited(slot: Int, generation: Int, WorkerExit)
        case restartDue(slot: Int, generation: Int)
        case stopDeadline(slot: Int, generation: Int)
        case groupDeadline(processGroup: Int32)
        case notify(slot: Int, generation: Int, NotifyMessage)
        case readyDeadline(slot: Int, generation: Int)
        case watchdogDue(slot: Int, generation: Int)
        case reload(AppConfig, CheckedContinuation<ReloadResult, Never>)
        case retiredDeadline(slot: Int, generation: Int)
        case drainSignal(slot: Int, generation: Int)
        case recycle(slot: Int, generation: Int, reason: String)
        case memoryCheck(slot: Int, generation: Int)
        case priorityWindowEnds(slot: Int, generation: Int)
    }

    /// The app's name.
    public let name: String
    private let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let initial: AppConfig
    private let context: SupervisionContext
    private let observer: (@Sendable (AppSnapshot) -> Void)?

    /// A supervisor for `config`.
    ///
    /// Nothing starts until `start()`. `observer` is called (on the
    /// supervisor's task) with the app's state after every change, without memory figures; the
    /// daemon publishes it to the front proxy.
    public init(config: AppConfig, context: SupervisionContext, observer: (@Sendable (AppSnapshot) -> Void)? = nil) {
        name = config.name
        initial = config
        self.context = context
        self.observer = observer
        (events, continuation) = AsyncStream.makeStream(of: Event.self)
    }

    /// Starts (or restarts failed) workers and returns once all are ready, or as soon as one fails
    /// before it is ready.
    public func start() async -> StartResult {
        await withCheckedContinuation { continuation.yield(.start($0)) }
    }

    /// Stops every worker gracefully (stop signal to each process group, SIGKILL after `stop.timeout`).
    public func stop() async {
        await withCheckedContinuation { continuation.yield(.stop($0)) }
    }

    /// Rolls the app onto `config`.
    ///
    /// Each slot in turn gets a replacement, and its old worker drains
    /// once the replacement is ready. Returns when every slot is done, or the first replacement that
    /// is not ready stops the reload (the old workers go on serving, the old config stays).
    public func reload(_ config: AppConfig) async -> ReloadResult {
        await withCheckedContinuation { continuation.yield(.reload(config, $0)) }
    }

    /// Replaces one worker gracefully (a replacement first, then the old one drains), for `reason`.
    ///
    /// recycling by `limits.max_requests`. Ignored when that worker is gone or a reload runs.
    public func recycle(slot: Int, generation: Int, reason: String) {
        continuation.yield(.recycle(slot: slot, generation: generation, reason: reason))
    }

    /// Writes a hostctl line about the whole app into its log.
    public func note(_ text: String) {
        context.output.note(text, app: name)
    }

    /// Replaces the config; takes effect for generations started from now on.
    public func update(_ config: AppConfig) async {
        await withCheckedContinuation { continuation.yield(.update(config, $0)) }
    }

    /// The app as `status` shows it.
    public func snapshot() async -> AppSnapshot {
        await withCheckedContinuation { continuation.yield(.snapshot($0)) }
    }

    /// Ends `run()` once it has processed what came before (stop first).
    public func finish() {
        continuation.yield(.finish)
    }

    /// Processes events until `finish()`.
    public func run() async {
        var core = SupervisorCore(config: initial, context: context, events: continuation)
        await withDiscardingTaskGroup { group in
            for await event in events {
                if case .finish = event { break }
                await core.handle(event, group: &group)
                if case .snapshot = event { continue }
                observer?(core.snapshot(measuringMemory: false))
            }
            group.cancelAll()
        }
        core.abandon()
    }
}
