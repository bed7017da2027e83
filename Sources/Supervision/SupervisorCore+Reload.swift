import Foundation
import HostConfig
import HostSupport
import LogStore
import Systemd

/// Rolling reloads: each slot in turn gets a replacement; once it is ready, the old worker stops
/// taking new work and drains (stop signal, SIGKILL after `stop.timeout`). The app never has fewer
/// ready workers than before. A replacement that is not ready ends the reload, and the old worker of
/// that slot goes on serving.
extension SupervisorCore {
    struct Rolling {
        /// Nil for a recycle, which nobody waits for.
        var reply: CheckedContinuation<ReloadResult, Never>?
        /// A recycle replaces this slot index only.
        var only: Int?
        /// The config before the reload, put back when it fails.
        var previous: AppConfig
        /// The slot being replaced, and whether its replacement was launched.
        var index = 0
        var launched = false
        /// Why the replacement of the current slot failed.
        var failure: String?
    }

    mutating func reload(
        _ new: AppConfig, reply: CheckedContinuation<ReloadResult, Never>, group: inout DiscardingTaskGroup
    ) async {
        if let running = rolling {
            // A recycle (nobody waits for it) is not a reload: this one follows it. Another reload is.
            guard running.reply == nil, queuedReload == nil else {
                reply.resume(returning: .busy)
                return
            }
            context.output.note("reload: follows the recycle that is running", app: config.name)
            queuedReload = (new, reply)
            return
        }
        guard wantsRunning else {
            // Stopped: the new config simply applies from the next start.
            update(new)
            reply.resume(returning: .done)
            return
        }
        // A worker waiting to restart after a crash is started now, on the new config, and waited
        // for like any replacement.
        let previous = config
        update(new)
        context.output.note("reloading: one worker at a time", app: config.name)
        rolling = Rolling(reply: reply, only: nil, previous: previous)
        await pumpRolling(group: &group)
    }

    /// Replaces one worker the same way, for `reason` (`limits.max_requests`, `limits.max_memory`).
    mutating func recycle(slot: Int, generation: Int, reason: String, group: inout DiscardingTaskGroup) async {
        guard rolling == nil, wantsRunning, let index = current(slot, generation), slots[index].state == .ready else {
            return
        }
        context.output.note("recycling: \(reason)", about: source(slot, generation))
        rolling = Rolling(reply: nil, only: index, previous: config, index: index)
        await pumpRolling(group: &group)
    }

    /// Moves the reload on after any event: switches a slot whose replacement is ready, stops on a
    /// failed replacement, launches the next replacement, or finishes.
    mutating func pumpRolling(group: inout DiscardingTaskGroup) async {
        while var current = rolling {
            if let only = current.only, current.index > only { break }
            if current.launched {
                guard current.index < slots.count else { break }
                switch slots[current.index].state {
                case .starting:
                    return
                case .ready:
                    drainRetired(slot: slots[current.index].slot, replacedBy: slots[current.index].generation)
                    current.index += 1
                    current.launched = false
                    rolling = current
                    continue
                default:
                    abortRolling(
                        current, reason: current.failure ?? "worker \(slots[current.index].slot) did not start")
                    return
                }
            }
            guard current.index < slots.count else { break }
            let index = current.index
            if slots[index].slot > Self.workerCount(config) {
                // The app got smaller: this slot's worker drains without a replacement.
                if slots[index].process != nil {
                    retire(index)
                    drainRetired(slot: slots[index].slot, replacedBy: nil)
                }
                slots.remove(at: index)
                continue
            }
            if slots[index].process != nil && slots[index].state == .stopping {
                // Being stopped already: nothing to replace.
                current.index += 1
                rolling = current
                continue
            }
            if slots[index].process != nil && slots[index].state == .starting {
                // Still starting, on the old config: it serves nothing yet, so it stops now and the
                // replacement starts at once (a restart after a crash would otherwise come up with
                // the old config, and the reload would not wait for it).
                stopStarting(index, group: &group)
            }
            if slots[index].process != nil { retire(index) }
            current.launched = true
            rolling = current
            await launch(index, group: &group)
            if slots[index].process == nil {
                abortRolling(current, reason: failedReason ?? "worker \(slots[index].slot) could not be started")
                return
            }
            return
        }
        guard let done = rolling else { return }
        rolling = nil
        if done.only == nil { context.output.note("reloaded", app: config.name) }
        done.reply?.resume(returning: .done)
    }

    /// `limits.max_memory`: once a second while ready, the RSS of the worker's process group; above
    /// the limit three times in a row, the worker is recycled.
    mutating func checkMemory(slot: Int, generation: Int, group: inout DiscardingTaskGroup) async {
        guard let index = current(slot, generation), slots[index].state == .ready, let process = slots[index].process
        else { return }
        let limit = Int(config.limits.maxMemory.bytes)
        guard limit > 0 else { return }
        let resident = WorkerLaunch.groupResidentBytes(of: process.workerPID)
        slots[index].overMemory = resident > limit ? slots[index].overMemory + 1 : 0
        if slots[index].overMemory >= 3 && rolling == nil {
            slots[index].overMemory = 0
            await recycle(
                slot: slot, generation: generation,
                reason: "RSS \(resident >> 20) MiB above limits.max_memory (\(limit >> 20) MiB) for 3 s", group: &group)
            if current(slot, generation) == nil || rolling != nil { return }
        }
        schedule(.memoryCheck(slot: slot, generation: generation), after: .seconds(1), group: &group)
    }

    /// Takes slot `index`'s worker out of the slot (it keeps serving until drained).
    mutating func retire(_ index: Int) {
        retired.append(slots[index])
        slots[index].process = nil
        slots[index].endpoint = nil
        slots[index].socketPath = nil
        slots[index].notify = nil
        slots[index].state = .exited
    }

    /// The retired worker of `slot` that still serves stops taking new work and gets the stop signal.
    mutating func drainRetired(slot: Int, replacedBy generation: Int?) {
        guard let index = retired.firstIndex(where: { $0.slot == slot && $0.state == .ready }),
            retired[index].process != nil
        else { return }
        retired[index].state = .draining
        retired[index].drainingSince = clock.now
        let old = retired[index].generation
        context.output.note(
            "draining: SIG\(config.stop.signal)" + (generation.map { " (replaced by generation \($0))" } ?? ""),
            about: source(slot, old))
        // The signal goes in a later event: after this one, the observer publishes the table without
        // the old worker, so no new request is sent to a worker that is stopping.
        events.yield(.drainSignal(slot: slot, generation: old))
    }

    /// A worker that is not ready yet leaves its slot and gets the stop signal (SIGKILL after
    /// `stop.timeout`).
    mutating func stopStarting(_ index: Int, group: inout DiscardingTaskGroup) {
        guard let process = slots[index].process else { return }
        let slot = slots[index].slot
        let generation = slots[index].generation
        retire(index)
        retired[retired.count - 1].state = .stopping
        context.output.note(
            "stopping: SIG\(config.stop.signal) (not ready yet, replaced by the reload)",
            about: source(slot, generation))
        kill(-process.workerPID, signalNumber(config.stop.signal))
        schedule(.retiredDeadline(slot: slot, generation: generation), after: config.stop.timeout, group: &group)
    }

    /// Sends a draining worker its stop signal once its requests in flight were answered.
    ///
    /// The proxy no longer sends it anything new; the signal waits for what it has (up to
    /// `stop.timeout`), so that a worker that exits at once on the signal (node's default) loses
    /// none. Upgraded connections do not wait: the worker keeps them, with the signal, until they
    /// close or it exits. A stop of the app signals at once.
    mutating func signalDraining(slot: Int, generation: Int, group: inout DiscardingTaskGroup) {
        guard let index = retired.firstIndex(where: { $0.slot == slot && $0.generation == generation }),
            retired[index].state == .draining, let process = retired[index].process,
            let since = retired[index].drainingSince
        else { return }
        let waited = clock.now - since
        let inFlight = retired[index].endpoint.map { context.requestsInFlight($0.description) } ?? 0
        if inFlight > 0 && waited < config.stop.timeout && wantsRunning {
            // Checked again soon: every millisecond at first, then less often for a long request.
            let next = min(max(waited / 4, .milliseconds(1)), .milliseconds(50))
            schedule(.drainSignal(slot: slot, generation: generation), after: next, group: &group)
            return
        }
        retired[index].drainingSince = nil
        if inFlight > 0 {
            let why = wantsRunning ? "after " + ConfigDuration.format(config.stop.timeout) : "(the app is stopping)"
            context.output.note(
                "SIG\(config.stop.signal) with \(inFlight) request\(inFlight == 1 ? "" : "s") still in flight \(why)",
                about: source(slot, generation))
        } else if waited >= .milliseconds(1) {
            context.output.note(
                "SIG\(config.stop.signal) once its requests in flight were answered (\(Self.milliseconds(waited)))",
                about: source(slot, generation))
        }
        kill(-process.workerPID, signalNumber(config.stop.signal))
        schedule(.retiredDeadline(slot: slot, generation: generation), after: config.stop.timeout, group: &group)
    }

    /// The reload stops: the old worker of the current slot serves again, the old config is back.
    mutating func abortRolling(_ current: Rolling, reason: String) {
        let index = current.index
        if index < slots.count, slots[index].process == nil,
            let old = retired.firstIndex(where: { $0.slot == slots[index].slot && $0.state == .ready })
        {
            slots[index] = retired.remove(at: old)
        }
        config = current.previous
        restart = Self.machine(for: current.previous)
        failedReason = nil
        rolling = nil
        context.output.note("reload stopped: \(reason); the old workers go on serving", app: config.name)
        current.reply?.resume(returning: .failed("\(config.name): \(reason)"))
    }

    /// A retired worker exited.
    mutating func retiredExited(_ index: Int, exit: WorkerExit, group: inout DiscardingTaskGroup) {
        let worker = retired.remove(at: index)
        if let path = worker.socketPath { unlink(path) }
        if let notify = worker.notify { context.notify.close(notify.fd, path: notify.path) }
        if let process = worker.process {
            kill(-process.workerPID, signalNumber(config.stop.signal))
            schedule(.groupDeadline(processGroup: process.workerPID), after: config.stop.timeout, group: &group)
        }
        let ran = Self.milliseconds(clock.now - (worker.startedAt ?? clock.now))
        let source = source(worker.slot, worker.generation)
        context.output.note(
            (worker.state == .draining || worker.state == .stopping ? "stopped: " : "while being replaced: ")
                + "\(Self.exitText(exit)) after \(ran)",
            about: source)
        context.output.forget(source)
        if !wantsRunning && !isAlive {
            let waiters = stopWaiters
            stopWaiters = []
            for waiter in waiters { waiter.resume() }
        }
    }
}
