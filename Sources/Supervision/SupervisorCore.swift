import CHostSupport
import Foundation
import HostConfig
import HostSupport
import LogStore
import Systemd

/// The state of one app's supervision, changed only by `AppSupervisor.run()`.
struct SupervisorCore {
    struct Slot {
        var slot: Int
        var generation = 0
        var state = WorkerState.exited
        var process: SpawnedProcess?
        var endpoint: Endpoint?
        var socketPath: String?
        var startedAt: ContinuousClock.Instant?
        var startedWall: Date?
        var restarts = 0
        var lastExit: (exit: WorkerExit, at: Date)?
        var notReadyReason: String?
        /// `ready: notify`: the worker's notify socket, what it last said, when its ready timeout
        /// ends (EXTEND_TIMEOUT_USEC moves it), and its last WATCHDOG=1.
        var notify: (fd: Int32, path: String)?
        var statusText: String?
        var readyBy: ContinuousClock.Instant?
        var lastPing: ContinuousClock.Instant?
        /// `limits.max_memory`: checks in a row that found the worker above it.
        var overMemory = 0
        /// When it began draining, while its stop signal waits for its requests in flight (nil once sent).
        var drainingSince: ContinuousClock.Instant?
        /// The lower priority it started at, or went on to, and has not been given back (StartPriority).
        var lowered: StartPriority.Stage?
    }

    var config: AppConfig
    let context: SupervisionContext
    let events: AsyncStream<AppSupervisor.Event>.Continuation
    let clock = ContinuousClock()
    var slots: [Slot] = []
    var wantsRunning = false
    var failedReason: String?
    var restart: RestartStateMachine<ContinuousClock.Instant>
    var startWaiters: [CheckedContinuation<StartResult, Never>] = []
    /// Workers a reload took out of their slots.
    ///
    /// Serving (`ready`) until the replacement is ready,
    /// then `draining`. And the reload in progress.
    var retired: [Slot] = []
    var rolling: Rolling?
    /// A reload that came while a recycle ran: it starts when the recycle ends.
    var queuedReload: (config: AppConfig, reply: CheckedContinuation<ReloadResult, Never>)?
    var stopWaiters: [CheckedContinuation<Void, Never>] = []

    init(config: AppConfig, context: SupervisionContext, events: AsyncStream<AppSupervisor.Event>.Continuation) {
        self.config = config
        self.context = context
        self.events = events
        restart = Self.machine(for: config)
        slots = (1...Self.workerCount(config)).map { Slot(slot: $0) }
    }

    static func workerCount(_ config: AppConfig) -> Int {
        config.workers == 0 ? max(1, ProcessInfo.processInfo.activeProcessorCount) : config.workers
    }

    static func machine(for config: AppConfig) -> RestartStateMachine<ContinuousClock.Instant> {
        RestartStateMachine(
            policy: RestartPolicyKind(rawValue: config.restart.policy.rawValue) ?? .onFailure,
            backoff: config.restart.backoff, burst: config.restart.burst, interval: config.restart.interval)
    }

    var isAlive: Bool { slots.contains { $0.process != nil } || !retired.isEmpty }

    // MARK: Events

    mutating func handle(_ event: AppSupervisor.Event, group: inout DiscardingTaskGroup) async {
        await dispatch(event, group: &group)
        if rolling != nil { await pumpRolling(group: &group) }
        if rolling == nil, let queued = queuedReload {
            queuedReload = nil
            await reload(queued.config, reply: queued.reply, group: &group)
        }
    }

    private mutating func dispatch(_ event: AppSupervisor.Event, group: inout DiscardingTaskGroup) async {
        switch event {
        case .reload(let config, let reply):
            await reload(config, reply: reply, group: &group)
        case .recycle(let slot, let generation, let reason):
            await recycle(slot: slot, generation: generation, reason: reason, group: &group)
        case .memoryCheck(let slot, let generation):
            await checkMemory(slot: slot, generation: generation, group: &group)
        case .priorityWindowEnds(let slot, let generation):
            guard let index = current(slot, generation), slots[index].state == .starting else { return }
            stepPriority(index, group: &group)
        case .drainSignal(let slot, let generation):
            signalDraining(slot: slot, generation: generation, group: &group)
        case .retiredDeadline(let slot, let generation):
            guard let index = retired.firstIndex(where: { $0.slot == slot && $0.generation == generation }),
                let process = retired[index].process
            else { return }
            context.output.note(
                "still running \(ConfigDuration.format(config.stop.timeout)) after the stop signal: SIGKILL",
                about: source(slot, generation))
            kill(-process.workerPID, SIGKILL)
        case .start(let reply):
            await start(reply: reply, group: &group)
        case .stop(let reply):
            stop(reply: reply, group: &group)
        case .update(let config, let reply):
            update(config)
            reply.resume()
        case .snapshot(let reply):
            reply.resume(returning: snapshot())
        case .finish:
            break
        case .ready(let slot, let generation):
            markReady(slot, generation, group: &group)
        case .notReady(let slot, let generation):
            guard let index = current(slot, generation), slots[index].state == .starting,
                let process = slots[index].process
            else { return }
            // starting -> (killed): not ready in time counts as a failure; its exit event follows.
            let timeout = ConfigDuration.format(config.ready.timeout)
            let why = notReadyDetail(index)
            killHung(
                index, process, reason: "worker \(slot) was not ready within \(timeout): \(why)",
                note: "not ready within \(timeout) (\(why)): killing it (SIGKILL)")
        case .exited(let slot, let generation, let exit):
            await exited(slot: slot, generation: generation, exit: exit, group: &group)
        case .restartDue(let slot, let generation):
            guard let index = current(slot, generation), wantsRunning, slots[index].process == nil else { return }
            slots[index].restarts += 1
            await launch(index, group: &group)
        case .stopDeadline(let slot, let generation):
            guard let index = current(slot, generation), let process = slots[index].process else { return }
            // stopping -> killed: the stop timeout passed.
            context.output.note(
                "still running \(ConfigDuration.format(config.stop.timeout)) after the stop signal: SIGKILL",
                about: source(slot, generation))
            kill(-process.workerPID, SIGKILL)
        case .groupDeadline(let processGroup):
            // Whatever is left of an exited worker's process group gets SIGKILL (ESRCH when nothing is).
            kill(-processGroup, SIGKILL)
        case .notify(let slot, let generation, let message):
            notified(slot, generation, message, group: &group)
        case .readyDeadline(let slot, let generation):
            guard let index = current(slot, generation), slots[index].state == .starting else { return }
            if let until = slots[index].readyBy, until > clock.now {
                // EXTEND_TIMEOUT_USEC moved the deadline: wait for the new one.
                armReadyDeadline(index, group: &group)
            } else {
                await dispatch(.notReady(slot: slot, generation: generation), group: &group)
            }
        case .watchdogDue(let slot, let generation):
            guard let index = current(slot, generation), let process = slots[index].process else { return }
            guard slots[index].state == .ready, let last = slots[index].lastPing else {
                // Not ready yet (the ready timeout covers that): look again later.
                if slots[index].state == .starting { armWatchdog(index, after: config.watchdog, group: &group) }
                return
            }
            if clock.now - last > config.watchdog {
                let interval = ConfigDuration.format(config.watchdog)
                killHung(
                    index, process, reason: "worker \(slot) missed its watchdog (\(interval))",
                    note: "no WATCHDOG=1 within \(interval): killing it (SIGKILL)")
            } else {
                armWatchdog(index, after: last + config.watchdog - clock.now, group: &group)
            }
        }
    }

    mutating func closeNotify(_ index: Int) {
        guard let notify = slots[index].notify else { return }
        context.notify.close(notify.fd, path: notify.path)
        slots[index].notify = nil
    }

    /// starting -> ready: the worker takes traffic from now on.
    mutating func markReady(_ slot: Int, _ generation: Int, group: inout DiscardingTaskGroup) {
        guard let index = current(slot, generation), slots[index].state == .starting else { return }
        slots[index].state = .ready
        restorePriority(index, why: nil)
        // The watchdog counts from readiness.
        slots[index].lastPing = clock.now
        slots[index].overMemory = 0
        if config.limits.maxMemory.bytes > 0 {
            schedule(.memoryCheck(slot: slot, generation: generation), after: .seconds(1), group: &group)
        }
        let took = slots[index].startedAt.map { clock.now - $0 } ?? .zero
        context.output.note("ready after \(Self.milliseconds(took))", about: source(slot, generation))
        if slots.allSatisfy({ $0.state == .ready }) {
            failedReason = nil
            resolveStart(.ready)
        }
    }

    /// A replacement still starting at the end of its time at a lower priority goes on to the next:
    /// from SCHED_IDLE to the nice value above the daemon's until half its ready timeout, then the
    /// daemon's (StartPriority).
    mutating func stepPriority(_ index: Int, group: inout DiscardingTaskGroup) {
        guard let priority = context.startPriority, let process = slots[index].process else { return }
        let timeout = config.ready.timeout
        let window = StartPriority.window(readyTimeout: timeout)
        guard slots[index].lowered == .idle, let niced = priority.niced, window < timeout / 2 else {
            let after = slots[index].lowered == .idle ? window : timeout / 2
            restorePriority(index, why: "still starting after \(ConfigDuration.format(after))")
            return
        }
        slots[index].lowered = .niced
        let source = source(slots[index].slot, slots[index].generation)
        if let problem = priority.soften(worker: process.workerPID) {
            context.output.note("cannot leave the idle priority: \(problem)", about: source)
        } else {
            context.output.note(
                "still starting after \(ConfigDuration.format(window)): nice \(niced) now", about: source)
        }
        schedule(
            .priorityWindowEnds(slot: slots[index].slot, generation: slots[index].generation),
            after: timeout / 2 - window, group: &group)
    }

    /// A worker started at a lower priority gets the normal one back (its threads and processes).
    mutating func restorePriority(_ index: Int, why: String?) {
        guard slots[index].lowered != nil, let priority = context.startPriority, let process = slots[index].process
        else { return }
        slots[index].lowered = nil
        let source = source(slots[index].slot, slots[index].generation)
        if let problem = priority.restore(worker: process.workerPID) {
            context.output.note("cannot give back the normal priority: \(problem)", about: source)
        } else if let why {
            context.output.note("\(why): normal priority now", about: source)
        }
    }

    /// An sd_notify message from a `ready: notify` worker.
    mutating func notified(_ slot: Int, _ generation: Int, _ message: NotifyMessage, group: inout DiscardingTaskGroup) {
        guard let index = current(slot, generation), slots[index].process != nil else { return }
        let source = source(slot, generation)
        // Only the worker's own user (or root) may speak for it.
        let expected = config.user.flatMap { WorkerLaunch.identity(of: $0)?.uid } ?? getuid()
        guard message.uid == expected || message.uid == 0 else {
            context.output.note("notify message from uid \(message.uid) (pid \(message.pid)) ignored", about: source)
            return
        }
        if let status = message["STATUS"] { slots[index].statusText = status }
        if message["WATCHDOG"] == "1" { slots[index].lastPing = clock.now }
        if let extend = message["EXTEND_TIMEOUT_USEC"], let microseconds = Int64(extend),
            slots[index].state == .starting
        {
            let until = clock.now + .microseconds(microseconds)
            if until > (slots[index].readyBy ?? clock.now) { slots[index].readyBy = until }
        }
        if message["STOPPING"] == "1" {
            context.output.note("the worker says it is stopping (STOPPING=1)", about: source)
            if message["STATUS"] == nil { slots[index].statusText = "stopping" }
        }
        if message["RELOADING"] == "1" {
            context.output.note("the worker says it is reloading (RELOADING=1)", about: source)
        }
        if let mainPID = message["MAINPID"] {
            context.output.note(
                "warning: MAINPID=\(mainPID) ignored: hostctl watches the process it started", about: source)
        }
        if message["READY"] == "1" { markReady(slot, generation, group: &group) }
    }

    /// What readiness waited for and did not see, so that the message points at the likely mistake
    /// (an app listening on a fixed port instead of `$PORT`, a notify app that never sends READY=1).
    func notReadyDetail(_ index: Int) -> String {
        if config.ready.mode == .notify {
            let status = slots[index].statusText.map { "; its last STATUS: \($0)" } ?? ""
            return "it sent no READY=1 to $NOTIFY_SOCKET (ready.mode: notify)\(status)"
        }
        let endpoint = slots[index].endpoint.map(String.init(describing:)) ?? "its endpoint"
        if config.handoff == .fd {
            return "no HTTP answer on the socket passed as fd 3 (\(endpoint)); does the app serve LISTEN_FDS?"
        }
        return "nothing accepted connections on \(endpoint), its $PORT; does the app listen on $PORT?"
    }

    /// Sends `.readyDeadline` when the slot's ready timeout (maybe extended) ends.
    func armReadyDeadline(_ index: Int, group: inout DiscardingTaskGroup) {
        let (slot, generation) = (slots[index].slot, slots[index].generation)
        let wait = (slots[index].readyBy ?? clock.now) - clock.now
        let events = self.events
        group.addTask {
            try? await Task.sleep(for: wait)
            if Task.isCancelled { return }
            events.yield(.readyDeadline(slot: slot, generation: generation))
        }
    }

    /// Sends `.watchdogDue` after `wait`.
    func armWatchdog(_ index: Int, after wait: Duration, group: inout DiscardingTaskGroup) {
        let (slot, generation) = (slots[index].slot, slots[index].generation)
        let events = self.events
        group.addTask {
            try? await Task.sleep(for: wait)
            if Task.isCancelled { return }
            events.yield(.watchdogDue(slot: slot, generation: generation))
        }
    }

    func current(_ slot: Int, _ generation: Int) -> Int? {
        guard let index = slots.firstIndex(where: { $0.slot == slot }), slots[index].generation == generation else {
            return nil
        }
        return index
    }

    // MARK: Start and stop

    mutating func start(reply: CheckedContinuation<StartResult, Never>, group: inout DiscardingTaskGroup) async {
        wantsRunning = true
        if failedReason != nil {
            // `hostctl start NAME` on a failed app retries now, with a clean crash history.
            failedReason = nil
            restart.reset()
        }
        if slots.allSatisfy({ $0.state == .ready }) {
            reply.resume(returning: .ready)
            return
        }
        startWaiters.append(reply)
        await launchAll(group: &group)
    }

    mutating func stop(reply: CheckedContinuation<Void, Never>, group: inout DiscardingTaskGroup) {
        wantsRunning = false
        resolveStart(.stopped)
        if let current = rolling {
            rolling = nil
            current.reply?.resume(returning: .failed("\(config.name): stopped during the reload"))
        }
        if let queued = queuedReload {
            queuedReload = nil
            queued.reply.resume(returning: .failed("\(config.name): stopped before the reload began"))
        }
        for worker in retired where worker.state == .ready {
            drainRetired(slot: worker.slot, replacedBy: nil)
        }
        // A draining worker still waiting for its requests in flight gets the signal now.
        for worker in retired where worker.state == .draining && worker.drainingSince != nil {
            signalDraining(slot: worker.slot, generation: worker.generation, group: &group)
        }
        for index in slots.indices {
            guard let process = slots[index].process else {
                slots[index].state = .exited
                continue
            }
            guard slots[index].state != .stopping else { continue }
            // ready/starting -> stopping: stop signal to the whole group; SIGKILL at the deadline.
            slots[index].state = .stopping
            context.output.note(
                "stopping: SIG\(config.stop.signal)", about: source(slots[index].slot, slots[index].generation))
            kill(-process.workerPID, signalNumber(config.stop.signal))
            let event = AppSupervisor.Event.stopDeadline(slot: slots[index].slot, generation: slots[index].generation)
            schedule(event, after: config.stop.timeout, group: &group)
        }
        if isAlive {
            stopWaiters.append(reply)
        } else {
            reply.resume()
        }
    }

    mutating func update(_ new: AppConfig) {
        config = new
        restart = Self.machine(for: new)
        let count = Self.workerCount(new)
        if slots.count < count {
            slots += (slots.count + 1...count).map { Slot(slot: $0) }
        } else if slots.count > count {
            // Only stopped slots are dropped; the daemon stops an app before changing its size.
            slots = slots.filter { $0.slot <= count || $0.process != nil }
        }
    }

    // MARK: Launching

    /// A worker about to be spawned: what `prepareLaunch` made for it, which `completeLaunch` or
    /// `abandonLaunch` ends.
    struct PreparedLaunch {
        let index: Int
        let request: SpawnRequest
        /// The read ends of the worker's stdout and stderr pipes (the request holds the write ends):
        /// the log capture's once the worker runs (`collectOnStart`), closed by `release` otherwise.
        let outRead: Int32
        let errRead: Int32
        let handoff: PreparedHandoff
    }

    mutating func launch(_ index: Int, group: inout DiscardingTaskGroup) async {
        guard let prepared = prepareLaunch(index) else { return }
        let collect = collectOnStart([prepared])
        let result: Result<SpawnedProcess, SpawnError>
        do {
            result = .success(try await context.spawner.spawn(prepared.request) { collect(0, $0) })
        } catch {
            result = .failure(error)
        }
        completeLaunch(prepared, result, group: &group)
    }

    /// Launches every slot that has no worker, as `launch` does one, with their spawns in one batch.
    ///
    /// The spawning thread then starts them back to back: under load, a hop back to this task
    /// between two spawns took 10-20 ms, so the last of 4 workers started up to 40 ms after the
    /// first. As one at a time, nothing more is spawned after a slot that cannot be.
    mutating func launchAll(group: inout DiscardingTaskGroup) async {
        var batch: [PreparedLaunch] = []
        for index in slots.indices where slots[index].process == nil {
            guard let prepared = prepareLaunch(index) else { break }
            batch.append(prepared)
        }
        let results = await context.spawner.spawn(batch.map(\.request), started: collectOnStart(batch))
        for (position, prepared) in batch.enumerated() {
            if position < results.count {
                completeLaunch(prepared, results[position], group: &group)
            } else {
                abandonLaunch(prepared)
            }
        }
    }

    /// What the spawning thread does the moment the worker of `batch[position]` runs: its pipes go to
    /// the log capture, behind its `started pid` line.
    ///
    /// So a worker that writes at once does not wait on a full pipe while the rest of its batch is
    /// spawned and the results come back to this task (4 workers: 5-10 ms).
    func collectOnStart(_ batch: [PreparedLaunch]) -> @Sendable (Int, SpawnedProcess) -> Void {
        context.output.configure(
            app: config.name, maxSize: Int64(config.logs.maxSize.bytes), maxFiles: config.logs.maxFiles,
            forwarder: config.logs.target == .file ? nil : JournalForwarder(),
            toFiles: config.logs.target != .journal)
        let output = context.output
        let workers = batch.map { prepared in
            (
                out: prepared.outRead, err: prepared.errRead,
                source: source(slots[prepared.index].slot, slots[prepared.index].generation),
                priority: prepared.request.idle ? " (idle priority until ready)" : "",
                command: prepared.request.arguments.joined(separator: " ")
            )
        }
        return { position, process in
            let worker = workers[position]
            output.collect(
                stdout: worker.out, stderr: worker.err, from: worker.source,
                announce: "started pid \(process.workerPID)\(worker.priority): \(worker.command)")
        }
    }

    /// Readies slot `index`'s next worker: its generation, handoff, pipes and spawn request.
    ///
    /// Nil when it cannot be started (the app is failed with the reason).
    mutating func prepareLaunch(_ index: Int) -> PreparedLaunch? {
        slots[index].generation += 1
        let slot = slots[index].slot
        let generation = slots[index].generation
        slots[index].notReadyReason = nil
        slots[index].statusText = nil
        slots[index].lastPing = nil
        var identity: (uid: UInt32, gid: UInt32, groups: [UInt32])?
        if let user = config.user {
            guard getuid() == 0 else {
                fail(index, reason: "user: \(user) needs the daemon to run as root")
                return nil
            }
            guard let found = WorkerLaunch.identity(of: user) else {
                fail(index, reason: "user: unknown user \(user)")
                return nil
            }
            identity = found
        }
        let handoff: PreparedHandoff
        do {
            handoff = try PreparedHandoff.prepare(
                config.handoff, app: config.name, slot: slot, generation: generation,
                runDirectory: context.runDirectory, owner: identity.map { ($0.uid, $0.gid) })
        } catch {
            fail(index, reason: "worker \(slot): \(error.summary)" + (error.hint.map { " (\($0))" } ?? ""))
            return nil
        }
        var handoffEnvironment = handoff.environment
        if config.ready.mode == .notify {
            // Its own notify socket, so that whoever in the worker's group sends, the sender is known.
            let directory = "\(context.runDirectory)/apps/\(config.name)"
            let path = "\(directory)/\(slot).\(generation).notify"
            let events = self.events
            do {
                try FileSystem.makeDirectories(directory, mode: 0o750)
                let fd = try context.notify.open(path: path) { message in
                    events.yield(.notify(slot: slot, generation: generation, message))
                }
                slots[index].notify = (fd, path)
            } catch let error as NotifyListener.OpenError {
                closeHandoff(handoff)
                fail(index, reason: "worker \(slot): \(error.description)")
                return nil
            } catch {
                closeHandoff(handoff)
                fail(index, reason: "worker \(slot): \(error)")
                return nil
            }
            handoffEnvironment["NOTIFY_SOCKET"] = path
            if config.watchdog > .zero {
                let microseconds =
                    config.watchdog.components.seconds * 1_000_000
                    + config.watchdog.components.attoseconds / 1_000_000_000_000
                handoffEnvironment["WATCHDOG_USEC"] = String(microseconds)
            }
        }
        let portValue = handoff.environment["PORT"] ?? handoff.socketPath ?? ""
        let environment = WorkerLaunch.environment(
            daemon: context.environment, app: config, slot: slot, handoff: handoffEnvironment)
        let arguments = WorkerLaunch.expand(config.command, port: portValue, app: config.name, slot: slot)
        let executable: String
        switch WorkerLaunch.resolve(arguments[0], directory: config.directory, path: environment["PATH"]) {
        case .success(let path): executable = path
        case .failure(let problem):
            closeHandoff(handoff)
            fail(index, reason: "worker \(slot): \(problem.message)")
            return nil
        }
        var out: [Int32] = [0, 0]
        var err: [Int32] = [0, 0]
        guard hc_pipe_cloexec(&out, 0) == 0 else {
            closeHandoff(handoff)
            fail(index, reason: "worker \(slot): cannot create a pipe: \(SystemError.describe(errno))")
            return nil
        }
        guard hc_pipe_cloexec(&err, 0) == 0 else {
            close(out[0])
            close(out[1])
            closeHandoff(handoff)
            fail(index, reason: "worker \(slot): cannot create a pipe: \(SystemError.describe(errno))")
            return nil
        }
        // While the worker it replaces serves, a replacement starts at the lower priority (StartPriority).
        let background = context.startPriority != nil && retired.contains { $0.slot == slot && $0.state == .ready }
        let request = SpawnRequest(
            executable: executable, arguments: arguments,
            environment: environment.map { "\($0.key)=\($0.value)" }.sorted(),
            setsListenPID: config.handoff == .fd, directory: config.directory, stdout: out[1], stderr: err[1],
            handoff: handoff.descriptor, identity: identity, idle: background)
        return PreparedLaunch(index: index, request: request, outRead: out[0], errRead: err[0], handoff: handoff)
    }

    /// Gives back what `prepareLaunch` took for a worker that was not spawned after all.
    mutating func abandonLaunch(_ prepared: PreparedLaunch) {
        release(prepared)
        slots[prepared.index].generation -= 1
    }

    /// Closes a prepared worker's pipes, handoff (its socket file removed) and notify socket.
    mutating func release(_ prepared: PreparedLaunch) {
        for fd in [prepared.outRead, prepared.errRead, prepared.request.stdout, prepared.request.stderr] { close(fd) }
        closeHandoff(prepared.handoff)
        closeNotify(prepared.index)
    }

    /// Records the spawn of a prepared worker: a started worker is watched and its readiness awaited;
    /// a failed spawn fails the app.
    mutating func completeLaunch(
        _ prepared: PreparedLaunch, _ result: Result<SpawnedProcess, SpawnError>, group: inout DiscardingTaskGroup
    ) {
        let index = prepared.index
        let slot = slots[index].slot
        let generation = slots[index].generation
        let handoff = prepared.handoff
        let background = prepared.request.idle
        let source = source(slot, generation)
        switch result {
        case .failure(let error):
            release(prepared)
            // An exec failure is not a crash loop: the app is failed at once, with the reason.
            context.output.note("cannot start: \(error.description)", about: source)
            fail(index, reason: "worker \(slot): \(error.description)")
        case .success(let process):
            // The worker has its own copies now.
            close(prepared.request.stdout)
            close(prepared.request.stderr)
            // Its output is collected already (collectOnStart).
            closeHandoff(handoff, keepSocketFile: true)
            // exited/backoff -> starting: readiness is probed from now on.
            slots[index].state = .starting
            slots[index].process = process
            slots[index].endpoint = handoff.endpoint
            slots[index].socketPath = handoff.socketPath
            slots[index].startedAt = clock.now
            slots[index].startedWall = Date()
            slots[index].lowered = background ? .idle : nil
            if background {
                schedule(
                    .priorityWindowEnds(slot: slot, generation: generation),
                    after: StartPriority.window(readyTimeout: config.ready.timeout), group: &group)
            }
            let events = self.events
            context.monitor.watch(pidfd: process.keeperPIDFD) { exit in
                events.yield(.exited(slot: slot, generation: generation, exit))
            }
            if config.ready.mode == .notify {
                // Ready when it sends READY=1; not ready at the (maybe extended) timeout.
                slots[index].readyBy = clock.now + config.ready.timeout
                armReadyDeadline(index, group: &group)
                if config.watchdog > .zero { armWatchdog(index, after: config.watchdog, group: &group) }
                return
            }
            let endpoint = handoff.endpoint
            let probeHTTP = config.handoff == .fd
            let timeout = config.ready.timeout
            group.addTask {
                let ready = await Readiness.wait(for: endpoint, probeHTTP: probeHTTP, timeout: timeout)
                if Task.isCancelled { return }
                events.yield(
                    ready ? .ready(slot: slot, generation: generation) : .notReady(slot: slot, generation: generation))
            }
        }
    }

    func closeHandoff(_ handoff: PreparedHandoff, keepSocketFile: Bool = false) {
        if handoff.descriptor >= 0 { close(handoff.descriptor) }
        if !keepSocketFile, let path = handoff.socketPath { unlink(path) }
    }

    /// The app cannot run as configured: failed with `reason`, no retry until `start` or a new config.
    mutating func fail(_ index: Int, reason: String) {
        slots[index].state = .exited
        failedReason = reason
        resolveStart(.cannotRun("\(config.name): \(reason)"))
    }

    // MARK: Exits

    mutating func exited(slot: Int, generation: Int, exit: WorkerExit, group: inout DiscardingTaskGroup) async {
        if let old = retired.firstIndex(where: { $0.slot == slot && $0.generation == generation }) {
            retiredExited(old, exit: exit, group: &group)
            return
        }
        guard let index = current(slot, generation), let process = slots[index].process else { return }
        let previous = slots[index].state
        slots[index].process = nil
        slots[index].lastExit = (exit, Date())
        if let path = slots[index].socketPath { unlink(path) }
        slots[index].socketPath = nil
        closeNotify(index)
        slots[index].endpoint = nil
        // A worker is its process group: the rest of the group gets the stop signal now, SIGKILL later.
        kill(-process.workerPID, signalNumber(config.stop.signal))
        schedule(.groupDeadline(processGroup: process.workerPID), after: config.stop.timeout, group: &group)
        let source = source(slot, generation)
        let ran = Self.milliseconds(clock.now - (slots[index].startedAt ?? clock.now))

        if !wantsRunning || previous == .stopping {
            // stopping -> exited.
            context.output.note("stopped: \(Self.exitText(exit)) after \(ran)", about: source)
            slots[index].state = .exited
            context.output.forget(source)
            if !isAlive {
                let waiters = stopWaiters
                stopWaiters = []
                for waiter in waiters { waiter.resume() }
            }
            return
        }
        if let current = rolling, current.launched, current.index == index, previous == .starting {
            // A replacement that was not ready: the reload stops (pumpRolling puts the old worker back).
            let lines = await context.output.lastErrorLines(of: source)
            var reason = slots[index].notReadyReason ?? "worker \(slot) exited with \(exit) before ready"
            if !lines.isEmpty { reason += ": " + lines.suffix(5).joined(separator: " | ") }
            context.output.note("\(Self.exitText(exit)) after \(ran), before ready", about: source)
            context.output.forget(source)
            slots[index].state = .exited
            rolling?.failure = reason
            return
        }
        if previous == .starting && !startWaiters.isEmpty {
            let lines = await context.output.lastErrorLines(of: source)
            var reason = slots[index].notReadyReason ?? "worker \(slot) exited with \(exit) before ready"
            if !lines.isEmpty { reason += ": " + lines.suffix(5).joined(separator: " | ") }
            resolveStart(.failed("\(config.name): \(reason)"))
        }
        context.output.forget(source)
        let action = restart.workerExited(
            slot: slot, exit: exit, startedAt: slots[index].startedAt ?? clock.now, now: clock.now)
        switch action {
        case .stayStopped:
            // ready -> exited: the policy does not restart it.
            context.output.note(
                "\(Self.exitText(exit)) after \(ran); not restarted (restart: \(config.restart.policy.rawValue))",
                about: source)
            slots[index].state = .exited
        case .restart(let delay):
            context.output.note(
                "\(Self.exitText(exit)) after \(ran); restart \(slots[index].restarts + 1) "
                    + (delay == .zero ? "now" : "in \(Self.milliseconds(delay))"),
                about: source)
            if delay == .zero {
                slots[index].restarts += 1
                await launch(index, group: &group)
            } else {
                // exited -> backoff.
                slots[index].state = .backoff
                schedule(.restartDue(slot: slot, generation: generation), after: delay, group: &group)
            }
        case .markFailed(let reason, let retryAfter):
            // -> failed, still retried at the maximum backoff.
            context.output.note(
                "\(Self.exitText(exit)) after \(ran); app failed: \(reason); retrying in \(Self.milliseconds(retryAfter))",
                about: source)
            failedReason = reason
            slots[index].state = .backoff
            schedule(.restartDue(slot: slot, generation: generation), after: retryAfter, group: &group)
        }
    }

    // MARK: Helpers

    /// Kills a worker that stopped answering (not ready in time, a missed watchdog ping): the reason
    /// is kept for its exit event, which counts it as a failure, and the note goes to the app's log.
    private mutating func killHung(_ index: Int, _ process: SpawnedProcess, reason: String, note: String) {
        slots[index].notReadyReason = reason
        context.output.note(note, about: source(slots[index].slot, slots[index].generation))
        kill(-process.workerPID, SIGKILL)
    }

    func source(_ slot: Int, _ generation: Int) -> LogCapture.Source {
        LogCapture.Source(app: config.name, slot: slot, generation: generation)
    }

    /// `exited with status 1`, `killed by signal 9 (KILL)`.
    static func exitText(_ exit: WorkerExit) -> String {
        switch exit {
        case .exited: return "exited with \(exit)"
        case .signaled: return "killed by \(exit)"
        }
    }

    /// `120ms`, `2.5s`, `3m10s`: a duration for a log line.
    static func milliseconds(_ duration: Duration) -> String {
        let total =
            Int(duration.components.seconds) * 1000 + Int(duration.components.attoseconds / 1_000_000_000_000_000)
        if total < 1000 { return "\(total)ms" }
        if total < 60_000 {
            let tenths = total / 100
            return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s"
        }
        let seconds = total / 1000
        if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
        return "\(seconds / 3600)h\((seconds % 3600) / 60)m"
    }

    func schedule(_ event: AppSupervisor.Event, after delay: Duration, group: inout DiscardingTaskGroup) {
        let events = self.events
        group.addTask {
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
            events.yield(event)
        }
    }

    mutating func resolveStart(_ result: StartResult) {
        let waiters = startWaiters
        startWaiters = []
        for waiter in waiters { waiter.resume(returning: result) }
    }

    func signalNumber(_ name: String) -> Int32 {
        SignalName.number(of: name) ?? SIGTERM
    }

    func snapshot(measuringMemory: Bool = true) -> AppSnapshot {
        let state: AppState
        if !wantsRunning {
            state = isAlive ? .stopping : .stopped
        } else if rolling != nil || queuedReload != nil {
            state = .reloading
        } else if failedReason != nil {
            state = .failed
        } else if slots.allSatisfy({ $0.state == .ready }) {
            state = .running
        } else {
            state = .starting
        }
        let everyone = (slots + retired).sorted { ($0.slot, $0.generation) < ($1.slot, $1.generation) }
        let workers = everyone.map { slot in
            WorkerSnapshot(
                slot: slot.slot, generation: slot.generation, pid: slot.process?.workerPID, state: slot.state,
                endpoint: slot.endpoint?.description, startedAt: slot.process == nil ? nil : slot.startedWall,
                restarts: slot.restarts,
                rssBytes: measuringMemory ? slot.process.map { WorkerLaunch.residentBytes(of: $0.workerPID) } ?? 0 : 0,
                lastExit: slot.lastExit, statusText: slot.statusText)
        }
        let backoffReason = slots.first { $0.state == .backoff }.map { "worker \($0.slot) is waiting to restart" }
        return AppSnapshot(
            name: config.name, state: state,
            reason: state == .failed ? failedReason : (wantsRunning ? backoffReason : nil),
            route: config.route.path, workers: workers)
    }

    /// `run()` ended (the daemon is exiting): make sure no waiter hangs.
    mutating func abandon() {
        resolveStart(.stopped)
        let waiters = stopWaiters
        stopWaiters = []
        for waiter in waiters { waiter.resume() }
    }
}
