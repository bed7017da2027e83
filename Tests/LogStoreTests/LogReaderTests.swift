import Foundation
import Testing

@testable import LogStore

@Suite("log reader and follower")
struct LogReaderTests {
    /// Lines numbered 1...n at one second apart from 07:00:00, for app `a`, written through a writer.
    func writeTimed(_ range: ClosedRange<Int>, to writer: LogWriter, slot: Int = 1) {
        var batch: [UInt8] = []
        for index in range {
            let time = LogTimestamp.format(seconds: 1_795_590_000 + index, milliseconds: 0)
            batch +=
                LogRecord(
                    time: time, app: "a", slot: slot, generation: 1, stream: index.isMultiple(of: 2) ? .err : .out,
                    text: Array("line \(index)".utf8)
                ).line
        }
        writer.write(batch[...])
    }

    func numbers(_ records: [LogRecord]) -> [Int] {
        records.map { Int(String(decoding: $0.text, as: UTF8.self).split(separator: " ").last ?? "") ?? 0 }
    }

    @Test func last_readsAcrossRotatedFiles_withFilters_andSince() throws {
        let dir = try TempDirectory()
        let writer = LogWriter(app: "a", directory: dir.path, maxSize: 2000, maxFiles: 10)
        writeTimed(1...200, to: writer)
        #expect(LogReader.files(app: "a", directory: dir.path).count > 3)
        #expect(numbers(LogReader.last(5, app: "a", directory: dir.path, filter: LogFilter())) == Array(196...200))
        // `-n 0` is none (as for tail), e.g. `hostctl logs -n 0 -f` for new lines only.
        #expect(LogReader.last(0, app: "a", directory: dir.path, filter: LogFilter()).isEmpty)
        #expect(LogReader.last(1, app: "a", directory: dir.path, filter: LogFilter()).count == 1)
        let across = LogReader.last(60, app: "a", directory: dir.path, filter: LogFilter())
        #expect(numbers(across) == Array(141...200), "60 lines span several files")
        let errors = LogReader.last(3, app: "a", directory: dir.path, filter: LogFilter(stream: .err))
        #expect(numbers(errors) == [196, 198, 200])
        let since = LogTimestamp.format(seconds: 1_795_590_000 + 150, milliseconds: 0)
        let recent = LogReader.last(nil, app: "a", directory: dir.path, filter: LogFilter(since: since))
        #expect(numbers(recent) == Array(150...200))
        #expect(numbers(LogReader.last(100, app: "a", directory: dir.path, filter: LogFilter(slot: 2))).isEmpty)
    }

    @Test func last_onALargeFile_readsOnlyItsEnd() throws {
        let dir = try TempDirectory()
        let writer = LogWriter(app: "a", directory: dir.path, maxSize: 1 << 30, maxFiles: 2)
        writeTimed(1...50_000, to: writer)
        let started = ContinuousClock.now
        let last = LogReader.last(100, app: "a", directory: dir.path, filter: LogFilter())
        #expect(numbers(last) == Array(49_901...50_000))
        // Not a timing assertion, only a sanity bound far above what reading the end costs.
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    /// Runs `follower` on a thread of its own (it blocks in poll) until `done` is true of what it
    /// printed or `finish` is called, which waits for it to stop, 5 s at most.
    final class Following: @unchecked Sendable {
        let seen = Locked<[Int]>([])
        private var stop: [Int32] = [0, 0]
        private let stopped = DispatchSemaphore(value: 0)

        init(
            _ follower: LogFollower, numbers: @escaping @Sendable ([LogRecord]) -> [Int],
            done: @escaping @Sendable ([Int]) -> Bool
        ) {
            pipe(&stop)
            // Closing the read end of this pipe stops the follower, as a reader closing standard output would.
            let watched = stop[1]
            let seen = seen
            let stopped = stopped
            nonisolated(unsafe) let follower = follower  // used by that thread alone from here on
            Thread.detachNewThread {
                follower.run(filter: LogFilter(), closeWatch: watched) { batch in
                    seen.mutate { $0 += numbers(batch) }
                    return !done(seen.value)
                }
                stopped.signal()
            }
        }

        /// Waits until the follower saw what it waits for (5 s at most), then stops it.
        func finish() {
            if stopped.wait(timeout: .now() + 5) == .timedOut {
                close(stop[0])
                _ = stopped.wait(timeout: .now() + 5)
            } else {
                close(stop[0])
            }
            close(stop[1])
        }
    }

    @Test func follow_readsNewLines_acrossARotation_withoutLossOrRepeat() throws {
        let dir = try TempDirectory()
        let writer = LogWriter(app: "a", directory: dir.path + "/a", maxSize: 2000, maxFiles: 3)
        writeTimed(1...10, to: writer)
        let follower = LogFollower(logsDirectory: dir.path, apps: ["a"])
        #expect(
            follower.startOffsets["a"] == Int64(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/a/a.log")).count)
        )
        let following = Following(follower, numbers: { [self] in numbers($0) }, done: { $0.last == 120 })
        // Written in steps while the follower runs, rotating twice on the way.
        for start in stride(from: 11, through: 111, by: 10) {
            writeTimed(start...start + 9, to: writer)
            usleep(5000)
        }
        following.finish()
        #expect(following.seen.value == Array(11...120))
        #expect(LogReader.files(app: "a", directory: dir.path + "/a").count == 3)
    }

    @Test func followEveryApp_picksUpAnAppWhoseLogsAppearLater() throws {
        let dir = try TempDirectory()
        let first = LogWriter(app: "a", directory: dir.path + "/a", maxSize: 1 << 20, maxFiles: 2)
        writeTimed(1...3, to: first)
        let follower = LogFollower(logsDirectory: dir.path, apps: nil)
        let following = Following(follower, numbers: { [self] in numbers($0) }, done: { $0.contains(20) })
        writeTimed(4...5, to: first)
        usleep(20_000)
        // A second app starts logging while the follower runs: its directory and file are new.
        let later = LogWriter(app: "b", directory: dir.path + "/b", maxSize: 1 << 20, maxFiles: 2)
        writeTimed(10...20, to: later)
        following.finish()
        #expect(following.seen.value == [4, 5] + Array(10...20))
    }
}

/// A value shared with a detached task.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func mutate(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}
