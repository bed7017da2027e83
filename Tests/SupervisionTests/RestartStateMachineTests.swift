import Supervision
import Testing

/// A clock instant the tests move by hand.
struct TestInstant: InstantProtocol {
    var offset: Duration
    func advanced(by duration: Duration) -> TestInstant { TestInstant(offset: offset + duration) }
    func duration(to other: TestInstant) -> Duration { other.offset - offset }
    static func < (a: TestInstant, b: TestInstant) -> Bool { a.offset < b.offset }
}

@Suite("restart policy and backoff")
struct RestartStateMachineTests {
    typealias Machine = RestartStateMachine<TestInstant>
    let zero = TestInstant(offset: .zero)

    func machine(_ policy: RestartPolicyKind = .onFailure, burst: Int = 5) -> Machine {
        Machine(policy: policy, backoff: .milliseconds(100)...(.seconds(30)), burst: burst, interval: .seconds(60))
    }

    @Test func firstCrashRestartsAtOnce_thenBackoffDoublesToTheMaximum() {
        var m = machine(burst: 100)
        var now = zero
        var delays: [Duration] = []
        for _ in 0..<12 {
            let started = now
            now = now.advanced(by: .milliseconds(50))
            guard case .restart(let delay) = m.workerExited(slot: 1, exit: .exited(1), startedAt: started, now: now)
            else {
                Issue.record("expected a restart")
                return
            }
            delays.append(delay)
            now = now.advanced(by: delay)
        }
        #expect(
            delays.prefix(6) == [
                .zero, .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                .milliseconds(1600),
            ])
        #expect(delays.last == .seconds(30))
    }

    @Test func workerThatStayedUpTenSeconds_resetsItsBackoff() {
        var m = machine(burst: 100)
        _ = m.workerExited(slot: 1, exit: .exited(1), startedAt: zero, now: zero.advanced(by: .seconds(1)))
        let second = m.workerExited(
            slot: 1, exit: .exited(1), startedAt: zero.advanced(by: .seconds(1)), now: zero.advanced(by: .seconds(2)))
        #expect(second == .restart(after: .milliseconds(100)))
        let afterLongRun = m.workerExited(
            slot: 1, exit: .signaled(9), startedAt: zero.advanced(by: .seconds(2)), now: zero.advanced(by: .seconds(13))
        )
        #expect(afterLongRun == .restart(after: .zero))
    }

    @Test func slotsBackOffIndependently() {
        var m = machine(burst: 100)
        _ = m.workerExited(slot: 1, exit: .exited(1), startedAt: zero, now: zero)
        _ = m.workerExited(slot: 1, exit: .exited(1), startedAt: zero, now: zero)
        #expect(m.workerExited(slot: 2, exit: .exited(1), startedAt: zero, now: zero) == .restart(after: .zero))
    }

    @Test func burstCrashesWithinTheInterval_failTheApp_butItIsStillRetried() {
        var m = machine(burst: 3)
        _ = m.workerExited(slot: 1, exit: .exited(1), startedAt: zero, now: zero)
        _ = m.workerExited(slot: 1, exit: .exited(1), startedAt: zero, now: zero.advanced(by: .seconds(1)))
        let third = m.workerExited(slot: 1, exit: .exited(2), startedAt: zero, now: zero.advanced(by: .seconds(2)))
        #expect(third == .markFailed(reason: "3 crashes within 60s, last with status 2", retryAfter: .seconds(30)))
        #expect(m.isFailed)
        m.reset()
        #expect(!m.isFailed)
        #expect(
            m.workerExited(slot: 1, exit: .exited(1), startedAt: zero, now: zero.advanced(by: .seconds(3)))
                == .restart(after: .zero))
    }

    @Test func crashesOutsideTheInterval_doNotCount() {
        var m = machine(burst: 3)
        _ = m.workerExited(slot: 1, exit: .exited(1), startedAt: zero, now: zero)
        _ = m.workerExited(slot: 1, exit: .exited(1), startedAt: zero, now: zero.advanced(by: .seconds(1)))
        let later = m.workerExited(slot: 1, exit: .exited(1), startedAt: zero, now: zero.advanced(by: .seconds(120)))
        guard case .restart = later else {
            Issue.record("expected a restart, got \(later)")
            return
        }
    }

    @Test func policies() {
        var onFailure = machine(.onFailure)
        #expect(onFailure.workerExited(slot: 1, exit: .exited(0), startedAt: zero, now: zero) == .stayStopped)
        #expect(
            onFailure.workerExited(slot: 1, exit: .signaled(15), startedAt: zero, now: zero) == .restart(after: .zero))
        var always = machine(.always)
        #expect(always.workerExited(slot: 1, exit: .exited(0), startedAt: zero, now: zero) == .restart(after: .zero))
        var never = machine(.never)
        #expect(never.workerExited(slot: 1, exit: .exited(1), startedAt: zero, now: zero) == .stayStopped)
    }
}
