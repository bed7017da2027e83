import Foundation
import Testing

@Suite("recycling by limits", .serialized)
struct RecycleTests {
    @Test func maxRequests_replacesTheWorkerGracefully_afterThatMany() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--graceful"], yaml: "limits:\n  max_requests: 5\n")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        // Requests one after another until the worker was replaced twice (a replacement may take a
        // few more requests while it starts), none of them failing.
        var failures = 0
        var sent = 0
        while sent < 60, try t.workers("fx").contains(where: { $0["generation"] as? Int ?? 0 < 3 }) {
            if !httpGet(listen, "/fx/").hasPrefix("HTTP/1.1 200 ") { failures += 1 }
            sent += 1
        }
        #expect(failures == 0)
        #expect(sent < 60, "still not replaced twice after \(sent) requests")
        #expect(try waitUntil(5) { try t.workers("fx").count == 1 })
        let logs = try t.hostctl(["logs", "fx", "--stream", "hostctl"]).stdout
        #expect(logs.contains("fx/1.1 hostctl | recycling: served 5 requests (limits.max_requests)"), "\(logs)")
        #expect(logs.contains("fx/1.1 hostctl | draining: SIGTERM (replaced by generation 2)"), "\(logs)")
    }

    @Test func aReloadDuringARecycle_followsIt_andSaysReloaded() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture(
            "fx", ["--graceful", "--start-delay", "1000", "--print-env", "VERSION"],
            flags: ["--env", "VERSION=1"], yaml: "limits:\n  max_requests: 2\n")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        for _ in 0..<2 { #expect(httpGet(listen, "/fx/").hasPrefix("HTTP/1.1 200 ")) }
        // The recycle's replacement takes a second to start; the reload comes meanwhile.
        #expect(try waitUntil(5) { try t.workers("fx").contains { $0["generation"] as? Int == 2 } })
        let path = t.home + "/apps/fx.yml"
        try (try t.read(path)).replacingOccurrences(of: "VERSION: \"1\"", with: "VERSION: \"2\"").write(
            toFile: path, atomically: true, encoding: .utf8)
        let r = try t.hostctl(["reload", "fx"])
        #expect(r.status == 0 && r.stdout == "fx reloaded\n", "\(r)")
        let worker = try #require(try t.workers("fx").first { $0["state"] as? String == "ready" })
        let generation = try #require(worker["generation"] as? Int)
        #expect(generation == 3, "\(worker)")
        let logs = try t.hostctl(["logs", "fx"]).stdout
        #expect(logs.contains("reload: follows the recycle that is running"), "\(logs)")
        #expect(logs.contains("fx/1.\(generation) out | env VERSION=2"), "\(logs)")
    }

    @Test func maxMemory_replacesAWorkerThatStaysAboveIt() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", ["--graceful", "--grow"], yaml: "limits:\n  max_memory: 60MiB\n")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        let pid = try #require(try t.workers("fx").first?["pid"] as? Int)
        #expect(httpGet(listen, "/fx/grow").hasPrefix("HTTP/1.1 200 "))
        #expect(
            try waitUntil(15) {
                let worker = try t.workers("fx").first
                return worker?["pid"] as? Int != pid && worker?["state"] as? String == "ready"
            })
        let logs = try t.hostctl(["logs", "fx", "--stream", "hostctl"]).stdout
        #expect(logs.contains("above limits.max_memory (60 MiB) for 3 s"), "\(logs)")
        #expect(waitUntil(5) { processGone(Int32(pid)) })
    }
}
