import Foundation
import HostSupport
import Synchronization
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

    /// A short temporary directory of its own (mkdtemp, as the other suites).
    func makeDirectory() throws -> String {
        var template = Array("/tmp/hrd-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        return String(cString: made)
    }

    @Test func aListeningUnixSocketIsReady_andAMissingOneIsNotWithinTheTimeout() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/1.1.sock"
        #expect(await Readiness.wait(for: .unix(path), probeHTTP: false, timeout: .milliseconds(30)) == false)
        let fd = try UnixSocket.listen(at: path, backlog: 8)
        defer { close(fd) }
        #expect(await Readiness.wait(for: .unix(path), probeHTTP: false, timeout: .seconds(5)))
    }

    @Test func theHTTPProbe_isReadyOnceTheWorkerAnswers() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/1.1.sock"
        let fd = try UnixSocket.listen(at: path, backlog: 8)
        defer { close(fd) }
        // The fd handoff: the socket accepts into its backlog before anyone serves it. The worker
        // answers the probe only after a while.
        let server = Thread {
            usleep(30_000)
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            var request = [UInt8](repeating: 0, count: 256)
            _ = recv(client, &request, request.count, 0)
            let answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            _ = answer.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            close(client)
        }
        server.start()
        #expect(await Readiness.wait(for: .unix(path), probeHTTP: true, timeout: .seconds(5)))
    }

    @Test func probesOfWorkersThatDoNotAnswerYet_leaveTheirThreadFree() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Eight fd-handoff workers starting at once, none answering: sockets that accept into their
        // backlog and are never served.
        let paths = (1...8).map { "\(directory)/\($0).1.sock" }
        let listeners = try paths.map { try UnixSocket.listen(at: $0, backlog: 8) }
        defer { listeners.forEach { close($0) } }
        // The probes and a ticker share one thread of their own (other tests' tasks cannot take it):
        // 200 short sleeps of the ticker end long before the probes' timeout. A probe blocking in
        // `poll` for 20 ms at a time made each of them wait for all eight probes.
        let executor = OneThreadExecutor()
        defer { executor.stop() }
        let probesEnded = Flag()
        let tickerFinishedFirst = await withTaskExecutorPreference(executor) {
            let probes = Task(executorPreference: executor) {
                await withTaskGroup(of: Bool.self) { group in
                    for path in paths {
                        group.addTask {
                            await Readiness.wait(for: .unix(path), probeHTTP: true, timeout: .seconds(3))
                        }
                    }
                    for await _ in group {}
                }
                probesEnded.set()
            }
            for _ in 0..<200 {
                try? await Task.sleep(for: .milliseconds(1))
            }
            let probesStillRunning = !probesEnded.isSet
            probes.cancel()
            await probes.value
            return probesStillRunning
        }
        #expect(tickerFinishedFirst, "the probes timed out before 200 sleeps of 1 ms ended on their thread")
    }
}

/// A flag set once, read from any thread.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// A task executor with one thread of its own.
final class OneThreadExecutor: TaskExecutor, @unchecked Sendable {
    // Invariant: `jobs` and `stopped` are touched only with `condition` locked.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init() {
        Thread { [self] in run() }.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.withLock {
            jobs.append(job)
            condition.signal()
        }
    }

    /// Ends the thread once the jobs queued are run.
    func stop() {
        condition.withLock {
            stopped = true
            condition.signal()
        }
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
