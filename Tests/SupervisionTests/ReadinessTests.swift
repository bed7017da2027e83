import Foundation
import HostSupport
import Testing

@testable import Supervision

@Suite("readiness probing")
struct ReadinessTests {
    /// The attempts `Readiness.wait` makes from the start: their times, until `until`.
    func attempts(until: Duration) -> [Duration] {
        var times: [Duration] = [.zero]
        while let last = times.last, last < until {
            times.append(last + Readiness.delay(after: last))
        }
        return times
    }

    @Test func aWorkerIsSeenReadySoonAfterItListens_withinAnEighthOfItsStartTimePlus1ms() {
        // For any moment the worker may begin to listen, the next attempt comes soon after it.
        for readyMs in stride(from: 1, through: 3000, by: 7) {
            let ready = Duration.milliseconds(readyMs)
            let times = attempts(until: ready)
            guard let seen = times.last else {
                Issue.record("no attempt")
                return
            }
            let bound = min(ready / 8 + .milliseconds(1), .milliseconds(51))
            #expect(seen - ready <= bound, "ready at \(ready), seen at \(seen)")
        }
    }

    @Test func aSlowStartCostsFewAttempts_andPausesStayBetween1And50ms() {
        #expect(Readiness.delay(after: .zero) == .milliseconds(1))
        #expect(Readiness.delay(after: .milliseconds(80)) == .milliseconds(10))
        #expect(Readiness.delay(after: .seconds(60)) == .milliseconds(50))
        #expect(attempts(until: .milliseconds(250)).count <= 45)
        #expect(attempts(until: .seconds(2)).count <= 90)
        // After the first seconds, 20 attempts a second: a worker that takes a minute costs 1,200.
        #expect(attempts(until: .seconds(60)).count <= 1300)
    }

    @Test func aListeningUnixSocketIsReady_andAMissingOneIsNotWithinTheTimeout() async throws {
        let directory = FileManager.default.temporaryDirectory.path + "/hrd-\(getpid())-\(UInt16.random(in: 0...9999))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/1.1.sock"
        #expect(await Readiness.wait(for: .unix(path), probeHTTP: false, timeout: .milliseconds(30)) == false)
        let fd = try UnixSocket.listen(at: path, backlog: 8)
        defer { close(fd) }
        #expect(await Readiness.wait(for: .unix(path), probeHTTP: false, timeout: .seconds(5)))
    }
}
