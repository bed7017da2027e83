import Foundation
import Testing

@Suite("ready: notify workers (sd_notify to hostctl)", .serialized)
struct NotifyWorkerTests {
    @Test func worker_isReadyOnlyWhenItSaysSo_andItsStatusShows() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("nx", ["--notify-ready-after", "700"], flags: ["--ready", "notify"])
        let started = try t.hostctl(["start", "nx", "--no-wait"])
        #expect(started.status == 0, "\(started)")
        // It listens at once, but it is starting until READY=1, with what it said as status_text.
        #expect(
            try waitUntil(5) {
                let worker = try t.workers("nx").first
                return worker?["state"] as? String == "starting" && worker?["status_text"] as? String == "warming up"
            })
        #expect(
            try waitUntil(5) {
                let worker = try t.workers("nx").first
                return worker?["state"] as? String == "ready" && worker?["status_text"] as? String == "serving"
            })
        let socket = try #require(try t.workers("nx").first?["endpoint"] as? String)
        #expect(
            FileManager.default.fileExists(atPath: socket.replacingOccurrences(of: ".sock", with: ".notify")),
            "each worker has its own notify socket")
        #expect(try t.hostctl(["logs", "nx"]).stdout.contains("hostctl | ready after "))
    }

    @Test func worker_thatNeverSaysReady_isKilledAtTheTimeout_andStartSaysWhy() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture(
            "nx", ["--notify-never"], yaml: "ready:\n  mode: notify\n  timeout: 400ms\nrestart:\n  policy: never\n")
        let r = try t.hostctl(["start", "nx"])
        #expect(r.status == 1, "\(r)")
        #expect(
            r.stderr.contains(
                "not ready within 400ms: it sent no READY=1 to $NOTIFY_SOCKET (ready.mode: notify); its last STATUS: warming up"
            ), "\(r)")
    }

    @Test func readyFromAnotherUser_isIgnored() throws {
        guard runningAsRoot, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            print("skipped the notify-credentials test: it sends as another user, which needs root and setpriv")
            return
        }
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("nx", ["--notify-never"], yaml: "ready:\n  mode: notify\n")
        #expect(try t.hostctl(["start", "nx", "--no-wait"]).status == 0)
        let worker = try #require(try waitUntilValue(5) { try t.workers("nx").first { $0["pid"] is Int } })
        let socket = try #require(worker["endpoint"] as? String).replacingOccurrences(of: ".sock", with: ".notify")
        #expect(waitUntil(5) { FileManager.default.fileExists(atPath: socket) })
        // The run directories keep other users out already; open them so that the uid check is what is tested.
        for directory in [t.root, t.home, t.home + "/run", t.home + "/run/apps", t.home + "/run/apps/nx"] {
            chmod(directory, 0o711)
        }
        let send = try runCommand([
            "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/env", "python3", "-c",
            "import socket, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'READY=1', sys.argv[1])",
            socket,
        ])
        #expect(send.status == 0, "\(send)")
        #expect(
            try waitUntil(5) { try t.hostctl(["logs", "nx"]).stdout.contains("notify message from uid 65534") })
        #expect(try t.workers("nx").first?["state"] as? String == "starting", "READY=1 from nobody does not count")
    }

    @Test func extendTimeout_letsASlowWorkerTakeLongerThanTheReadyTimeout() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture(
            "nx", ["--notify-extend", "3000000", "--notify-ready-after", "800", "--notify-mainpid"],
            yaml: "ready:\n  mode: notify\n  timeout: 300ms\n")
        let r = try t.hostctl(["start", "nx"])
        #expect(r.status == 0, "\(r)")
        #expect(try t.workers("nx").first?["restarts"] as? Int == 0)
        let logs = try t.hostctl(["logs", "nx"]).stdout
        #expect(logs.contains("warning: MAINPID=1 ignored"), "\(logs)")
    }

    @Test func reloadingAndStopping_areAccepted_logged_andShown() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("nx", ["--notify-ready-after", "10", "--notify-stopping"], flags: ["--ready", "notify"])
        #expect(try t.hostctl(["start", "nx"]).status == 0)
        #expect(try waitUntil(5) { try t.workers("nx").first?["status_text"] as? String == "stopping" })
        let logs = try t.hostctl(["logs", "nx", "--stream", "hostctl"]).stdout
        #expect(logs.contains("the worker says it is reloading (RELOADING=1)"), "\(logs)")
        #expect(logs.contains("the worker says it is stopping (STOPPING=1)"), "\(logs)")
        #expect(try t.workers("nx").first?["state"] as? String == "ready", "saying so does not stop it")
    }

    @Test func watchdog_aWorkerThatStopsPinging_isKilledAndRestarted() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture(
            "nx", ["--notify-ready-after", "10", "--watchdog-pings", "4"], flags: ["--ready", "notify"],
            yaml: "watchdog: 300ms\n")
        #expect(try t.hostctl(["start", "nx"]).status == 0)
        let first = try #require(try t.workers("nx").first?["pid"] as? Int)
        // Four pings at 150 ms, then silence: killed about 300 ms later, and restarted.
        #expect(
            try waitUntil(10) {
                let worker = try t.workers("nx").first
                return worker?["pid"] as? Int != first && worker?["restarts"] as? Int == 1
            })
        let logs = try t.hostctl(["logs", "nx", "--stream", "hostctl"]).stdout
        #expect(logs.contains("no WATCHDOG=1 within 300ms: killing it (SIGKILL)"), "\(logs)")
    }
}
