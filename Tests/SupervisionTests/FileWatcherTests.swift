import Foundation
import Synchronization
import Testing

@testable import Supervision

@Suite("watch: patterns")
struct FileWatcherTests {
    @Test func patterns_matchWithinOneComponent_andDoubleStarAcrossMany() {
        #expect(FileWatcher.matches("*.js", "app.js"))
        #expect(!FileWatcher.matches("*.js", "lib/app.js"))
        #expect(FileWatcher.matches("lib/**/*.js", "lib/app.js"))
        #expect(FileWatcher.matches("lib/**/*.js", "lib/a/b/app.js"))
        #expect(!FileWatcher.matches("lib/**/*.js", "lib/a/b/app.ts"))
        #expect(FileWatcher.matches("hostctl.yml", "hostctl.yml"))
        #expect(FileWatcher.matches("src/*/index.[jt]s", "src/api/index.ts"))
    }

    @Test func directoriesBeyondTheWatchLimit_areReportedOnce_withWhatToDo() throws {
        // The inotify watch limit is per user and system-wide, so it is not lowered here: the
        // watcher's add-watch call fails with ENOSPC after two directories, as the kernel's would.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "hfw-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: root) }
        for name in ["a", "b", "c", "d", "e"] {
            try FileManager.default.createDirectory(atPath: root + "/lib/" + name, withIntermediateDirectories: true)
        }
        let calls = Atomic(0)
        let watcher = FileWatcher(addWatch: { inotify, path, mask in
            guard calls.add(1, ordering: .relaxed).newValue <= 2 else {
                errno = ENOSPC
                return -1
            }
            return inotify_add_watch(inotify, path, mask)
        })
        let problems = Mutex<[String]>([])
        watcher.watch(
            app: "fx", directory: root, patterns: ["lib/**/*.js"], onChange: { _ in },
            onProblem: { problem in problems.withLock { $0.append(problem) } })
        // lib and one of its five directories are watched; the other four are not, and that is said once.
        #expect(watcher.watchedDirectories == 2)
        let said = problems.withLock { $0 }
        #expect(said.count == 1, "\(said)")
        #expect(said.first?.contains("4 directories are not watched") == true, "\(said)")
        #expect(said.first?.contains("fs.inotify.max_user_watches") == true, "\(said)")
    }

    @Test func roots_areTheFixedDirectories_recursiveWhereAWildcardIsInADirectory() {
        let roots = Dictionary(
            uniqueKeysWithValues: FileWatcher.roots(["*.js", "lib/**/*.js", "conf/app.yml", "src/*/x.js"]))
        #expect(roots == ["": false, "lib": true, "conf": false, "src": true])
    }
}
