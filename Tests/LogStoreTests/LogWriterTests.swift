import Foundation
import Testing

@testable import LogStore

/// A temporary directory for one test, removed at the end.
final class TempDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/hcl-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func read(_ relative: String) -> String {
        (try? String(contentsOfFile: path + "/" + relative, encoding: .utf8)) ?? ""
    }

    func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + relative) }
}

/// Records of `count` numbered lines, as the capture writes them.
func records(_ range: ClosedRange<Int>, app: String = "a", text: String = "line") -> [UInt8] {
    range.flatMap {
        LogRecord(
            time: "2026-11-25T07:00:00.000Z", app: app, slot: 1, generation: 1, stream: .out,
            text: Array("\(text) \(String(repeating: "0", count: 3 - String($0).count))\($0)".utf8)
        ).line
    }
}

/// A test sink that changes one or two operations and hands every other to the real file sink.
protocol ForwardingSink: LogSink {
    var real: FileLogSink { get }
}

extension ForwardingSink {
    func open(_ path: String) -> Result<(fd: Int32, size: Int64), LogSinkError> { real.open(path) }
    func isRemoved(_ fd: Int32) -> Bool { real.isRemoved(fd) }
    func truncate(_ fd: Int32, to size: Int64) { real.truncate(fd, to: size) }
    func rename(_ from: String, to: String) -> Bool { real.rename(from, to: to) }
    func remove(_ path: String) { real.remove(path) }
    func close(_ fd: Int32) { real.close(fd) }
    func makeDirectory(_ path: String) { real.makeDirectory(path) }
    func reserve(_ fd: Int32, from offset: Int64, length: Int64) { real.reserve(fd, from: offset, length: length) }
}

/// Bytes of disk the file at `path` takes (its allocated blocks).
func allocated(_ path: String) -> Int64 {
    var info = stat()
    return stat(path, &info) == 0 ? Int64(info.st_blocks) * 512 : -1
}

/// The real files, until `failing` is set: then writes fail with ENOSPC (a full disk, which cannot be
/// provoked on every machine that runs the tests).
final class FailingSink: ForwardingSink, @unchecked Sendable {
    let real = FileLogSink()
    let lock = NSLock()
    var _failing = false
    var failing: Bool {
        get { lock.withLock { _failing } }
        set { lock.withLock { _failing = newValue } }
    }

    func write(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Result<Void, LogSinkError> {
        if failing {
            // Part of the batch reaches the disk before it fills up: the writer must cut it back.
            _ = real.write(fd, bytes.prefix(bytes.count / 2))
            return .failure(LogSinkError(code: ENOSPC, action: "cannot write"))
        }
        return real.write(fd, bytes)
    }
}

@Suite("log writer: rotation and dropped lines")
struct LogWriterTests {
    @Test func rotation_byRenameKeepsMaxFiles_andNeverSplitsOrRepeatsALine() throws {
        let dir = try TempDirectory()
        let one = records(1...1).count
        let writer = LogWriter(app: "a", directory: dir.path, maxSize: Int64(one * 10), maxFiles: 3)
        // 45 lines in batches of 7: files of 10 lines, three kept.
        for start in stride(from: 1, through: 45, by: 7) { writer.write(records(start...min(start + 6, 45))[...]) }
        #expect(!dir.exists("a.log.3"))
        let kept = ["a.log.2", "a.log.1", "a.log"].map { dir.read($0) }
        #expect(kept.map { $0.split(separator: "\n").count } == [10, 10, 5])
        let numbers = kept.joined().split(separator: "\n").map { Int($0.split(separator: " ").last ?? "") ?? 0 }
        #expect(numbers == Array(21...45))
    }

    @Test func blocksAreReservedAhead_neverPastMaxSize_andARotatedFileKeepsOnlyItsRecords() throws {
        let dir = try TempDirectory()
        // Whether this filesystem reserves blocks at all (ext4, xfs and tmpfs do).
        let probe = open(dir.path + "/probe", O_WRONLY | O_CREAT, 0o644)
        FileLogSink().reserve(probe, from: 0, length: 1 << 20)
        close(probe)
        let reserves = allocated(dir.path + "/probe") >= 1 << 20
        unlink(dir.path + "/probe")

        let batch = records(1...999, text: String(repeating: "x", count: 250))  // about 290 KB
        let maxSize: Int64 = 3 << 20
        let writer = LogWriter(app: "a", directory: dir.path, maxSize: maxSize, maxFiles: 3)
        writer.write(batch[...])
        let current = dir.path + "/a.log"
        if reserves {
            #expect(allocated(current) >= 1 << 20, "a megabyte is reserved ahead of the writes")
        } else {
            print("note: \(dir.path) does not reserve blocks (fallocate): only the bounds are checked")
        }
        for _ in 1...8 {
            writer.write(batch[...])
            #expect(allocated(current) <= maxSize + 4096, "the current file never takes more than max_size")
        }
        // 9 batches (2.5 MiB), then a record that does not fit in the 3 MiB: the file rotates with
        // about 500 KB of blocks reserved past its last record.
        let before = Int64(batch.count * 9)
        #expect(before < maxSize - 300_000)
        writer.write(records(1...1, text: String(repeating: "y", count: 600_000))[...])
        let rotated = dir.path + "/a.log.1"
        let size = (try? FileManager.default.attributesOfItem(atPath: rotated)[.size] as? Int64) ?? nil
        #expect(size == before)
        #expect(allocated(rotated) <= before + 8192, "a rotated file keeps no reserved blocks")
        #expect(!dir.exists("a.log.2"))
    }

    @Test func aRecordLongerThanMaxSize_getsAFileOfItsOwn() throws {
        let dir = try TempDirectory()
        let writer = LogWriter(app: "a", directory: dir.path, maxSize: 10, maxFiles: 5)
        writer.write(records(1...3)[...])
        #expect(dir.read("a.log.2").hasSuffix("line 001\n"))
        #expect(dir.read("a.log.1").hasSuffix("line 002\n"))
        #expect(dir.read("a.log").hasSuffix("line 003\n"))
    }

    @Test func failedWrites_areCountedAsDropped_cutBack_andReportedOnceWritingWorksAgain() throws {
        let dir = try TempDirectory()
        let sink = FailingSink()
        let writer = LogWriter(app: "a", directory: dir.path, maxSize: 1 << 20, maxFiles: 2, sink: sink)
        writer.write(records(1...2)[...])
        sink.failing = true
        #expect(writer.write(records(3...5)[...])?.code == ENOSPC)
        #expect(writer.write(records(6...6)[...]) != nil)
        #expect(writer.droppedLines == 4)
        #expect(dir.read("a.log").split(separator: "\n").count == 2, "a half-written batch is cut back")
        sink.failing = false
        #expect(writer.write(records(7...7)[...]) == nil)
        let lines = dir.read("a.log").split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[2].contains(" a/- hostctl | dropped 4 lines: cannot write: No space left on device"), "\(lines)")
        #expect(lines[3].hasSuffix("line 007"))
        #expect(writer.droppedLines == 4)
    }

    @Test func removedFile_isRecreated_andUnwritableDirectory_dropsLines() throws {
        let dir = try TempDirectory()
        let writer = LogWriter(app: "a", directory: dir.path + "/a", maxSize: 1 << 20, maxFiles: 2)
        writer.write(records(1...1)[...])
        unlink(dir.path + "/a/a.log")
        writer.write(records(2...2)[...])
        #expect(
            dir.read("a/a.log").hasSuffix("line 002\n"), "a removed file is started anew, not written into the void")
        // A regular file where the directory should be: nothing can be written, nothing crashes.
        try FileManager.default.removeItem(atPath: dir.path + "/a")
        _ = FileManager.default.createFile(atPath: dir.path + "/a", contents: Data())
        let blocked = LogWriter(app: "a", directory: dir.path + "/a", maxSize: 1 << 20, maxFiles: 2)
        #expect(blocked.write(records(1...3)[...]) != nil)
        #expect(blocked.droppedLines == 3)
    }
}
