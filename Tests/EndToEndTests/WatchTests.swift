import Foundation
import Testing

@Suite("watch: files that reload their app", .serialized)
struct WatchTests {
    /// The daemon's log (where `hostctl start` points its standard error) and the app's hostctl lines.
    func logs(_ t: TempHome, _ app: String) throws -> String {
        ((try? t.read(t.home + "/logs/hostctl.log")) ?? "") + (try t.hostctl(["logs", app, "-n", "1000"]).stdout)
    }

    @Test func aWatchedFileChanged_rollsTheApp_anIgnoredOneDoesNot() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--graceful"], yaml: "watch: [\"*.js\", \"lib/**/*.js\"]\n")
        let app = t.root + "/apps/fx"
        try t.file("apps/fx/app.js", "v1\n")
        try t.file("apps/fx/notes.txt", "v1\n")
        #expect(try t.hostctl(["start"]).status == 0)
        try "v2\n".write(toFile: app + "/notes.txt", atomically: false, encoding: .utf8)
        try "v2\n".write(toFile: app + "/app.js", atomically: false, encoding: .utf8)
        #expect(
            try waitUntil(10) {
                let workers = try t.workers("fx")
                return workers.count == 1 && workers.first?["generation"] as? Int == 2
                    && workers.first?["state"] as? String == "ready"
            })
        let text = try logs(t, "fx")
        #expect(text.contains("fx/- hostctl | watch: app.js changed: reloading"), "\(text)")
        #expect(!text.contains("notes.txt"), "\(text)")
        // A directory made after the start is watched too (`lib/**`).
        try FileManager.default.createDirectory(atPath: app + "/lib/deep", withIntermediateDirectories: true)
        #expect(waitUntil(5) { (try? logs(t, "fx").contains("fx/- hostctl | reloaded")) == true })
        try "x\n".write(toFile: app + "/lib/deep/x.js", atomically: false, encoding: .utf8)
        let third = try waitUntil(10) { try t.workers("fx").first?["generation"] as? Int == 3 }
        let after = try logs(t, "fx")
        #expect(third, "\(after)")
    }

    @Test func aChangeWhileAnotherReloadRuns_isNotLost_itsReloadFollows() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--graceful", "--start-delay", "1500"], yaml: "watch: [\"*.js\"]\n")
        let app = t.root + "/apps/fx"
        try t.file("apps/fx/app.js", "v1\n")
        #expect(try t.hostctl(["start"]).status == 0)
        // A reload whose replacement takes 1.5 s to be ready; the file changes meanwhile.
        #expect(try t.hostctl(["reload", "fx", "--no-wait"]).status == 0)
        try "v2\n".write(toFile: app + "/app.js", atomically: false, encoding: .utf8)
        let text = { (try? logs(t, "fx")) ?? "" }
        #expect(
            waitUntil(5) { text().contains("watch: another reload is running; this change follows it") }, "\(text())")
        // Once the first reload ends, the change's own reload runs.
        #expect(
            try waitUntil(15) {
                let workers = try t.workers("fx")
                return workers.first?["generation"] as? Int == 3 && workers.first?["state"] as? String == "ready"
            }, "\(text())")
    }

    @Test func aTreeOfThousandsOfFiles_isWatched_andOneChangeInItRollsTheApp() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--graceful"], yaml: "watch: [\"src/**/*.js\"]\n")
        let app = t.root + "/apps/fx"
        for directory in 0..<100 {
            let path = app + "/src/d\(directory)/e\(directory % 7)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            for file in 0..<20 {
                _ = FileManager.default.createFile(atPath: path + "/f\(file).js", contents: Data("x".utf8))
            }
        }
        // node_modules is never descended into.
        try FileManager.default.createDirectory(
            atPath: app + "/src/node_modules/big", withIntermediateDirectories: true)
        #expect(try t.hostctl(["start"]).status == 0)
        try "changed\n".write(toFile: app + "/src/d42/e0/f7.js", atomically: false, encoding: .utf8)
        #expect(try waitUntil(10) { try t.workers("fx").first?["generation"] as? Int == 2 })
        let text = try logs(t, "fx")
        #expect(text.contains("watch: src/d42/e0/f7.js changed: reloading"), "\(text)")
    }

    @Test func aBrokenAppOverride_isReportedWithItsLine_andTheWorkersStay() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", yaml: "watch: [hostctl.yml]\n")
        #expect(try t.hostctl(["start"]).status == 0)
        let pid = try #require(try t.workers("fx").first?["pid"] as? Int)
        try t.file("apps/fx/hostctl.yml", "workers: many\n")
        let reported = try waitUntil(10) { try logs(t, "fx").contains("\(t.root)/apps/fx/hostctl.yml:1:") }
        let text = try logs(t, "fx")
        #expect(reported, "\(text)")
        #expect(try logs(t, "fx").contains("the workers go on as they are"))
        // The app's own log has the problem with its line, where `hostctl logs fx` shows it.
        let own = try t.hostctl(["logs", "fx", "--stream", "hostctl"]).stdout
        #expect(own.contains("fx/- hostctl | watch: \(t.root)/apps/fx/hostctl.yml:1:"), "\(own)")
        #expect(try t.workers("fx").first?["pid"] as? Int == pid)
    }
}
