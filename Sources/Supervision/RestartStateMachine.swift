/// Decides what happens when a worker exits: restart at once, after a backoff, mark the app failed
/// (and keep retrying at the maximum backoff), or leave the slot stopped.
///
/// Pure: it takes instants from the caller's clock and returns actions (STYLE.md 2.5).
/// Rules (DESIGN.md, Processes): the first crash restarts at once; further crashes back off,
/// doubling from `backoff.lowerBound` to `backoff.upperBound`; a worker that stayed up `resetAfter`
/// (10 s) resets the backoff. After `burst` crashes within `interval` the app is failed, with the
/// reason, and still retried at the maximum backoff.
public struct RestartStateMachine<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// What the supervisor must do after an exit.
    public enum Action: Sendable, Equatable {
        /// Start the slot's next generation after this delay (zero: at once).
        case restart(after: Duration)
        /// Mark the app failed with this reason, and start the slot again after this delay.
        case markFailed(reason: String, retryAfter: Duration)
        /// Leave the slot stopped (the policy says so).
        case stayStopped
    }

    /// The restart policy.
    public var policy: RestartPolicyKind
    /// The backoff range.
    public var backoff: ClosedRange<Duration>
    /// Crashes within `interval` that fail the app.
    public var burst: Int
    /// The crash-counting window.
    public var interval: Duration
    /// How long a worker must stay up to reset its backoff.
    public var resetAfter: Duration

    /// Crash times within the window, oldest first, for the whole app.
    private var crashes: [Instant] = []
    /// Consecutive quick crashes per slot, for the backoff.
    private var streak: [Int: Int] = [:]

    /// Creates the machine.
    public init(
        policy: RestartPolicyKind, backoff: ClosedRange<Duration>, burst: Int, interval: Duration,
        resetAfter: Duration = .seconds(10)
    ) {
        self.policy = policy
        self.backoff = backoff
        self.burst = burst
        self.interval = interval
        self.resetAfter = resetAfter
    }

    /// Whether the burst limit is reached now (the app is failed).
    public var isFailed: Bool { crashes.count >= burst }

    /// The worker in `slot`, started at `startedAt`, exited with `exit` at `now`.
    public mutating func workerExited(slot: Int, exit: WorkerExit, startedAt: Instant, now: Instant) -> Action {
        let crashed = exit.isFailure
        switch policy {
        case .never: return .stayStopped
        case .onFailure where !crashed: return .stayStopped
        default: break
        }
        // A worker that stayed up long enough starts its slot's backoff afresh.
        if startedAt.duration(to: now) >= resetAfter { streak[slot] = 0 }
        let count = (streak[slot] ?? 0) + 1
        streak[slot] = count
        crashes.removeAll { $0.duration(to: now) > interval }
        crashes.append(now)
        let delay = Self.delay(afterCrash: count, backoff: backoff)
        if crashes.count >= burst {
            // running -> failed: still retried, at the maximum backoff, so a dependency that comes back is picked up.
            return .markFailed(
                reason: "\(crashes.count) crashes within \(format(interval)), last with \(exit)",
                retryAfter: backoff.upperBound)
        }
        return .restart(after: delay)
    }

    /// `start NAME` while failed: forget the crash history so the app gets a fresh start.
    public mutating func reset() {
        crashes.removeAll()
        streak.removeAll()
    }

    /// 0 for the first crash, then MIN, 2×MIN, 4×MIN … capped at MAX.
    static func delay(afterCrash count: Int, backoff: ClosedRange<Duration>) -> Duration {
        guard count > 1 else { return .zero }
        var delay = backoff.lowerBound
        for _ in 2..<count {
            delay *= 2
            if delay >= backoff.upperBound { return backoff.upperBound }
        }
        return min(delay, backoff.upperBound)
    }

    private func format(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        return seconds >= 1 ? "\(seconds)s" : "\(duration.components.attoseconds / 1_000_000_000_000_000)ms"
    }
}

/// The restart policies of `restart.policy`.
public enum RestartPolicyKind: String, Sendable {
    case onFailure = "on-failure"
    case always
    case never
}
