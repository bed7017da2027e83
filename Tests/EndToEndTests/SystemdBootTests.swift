import Foundation
import Testing

/// systemd 252 booted as PID 1 of private PID, mount and cgroup namespaces, with only our units.
final class PrivateSystemd {
    let pid: Int32
    let launcher: Process

    /// Boots systemd with `unitDirectory` as its only unit path; nil (with the reason printed) when
    /// that is impossible here.
    static func boot(unitDirectory: String, marker: String) throws -> PrivateSystemd? {
        guard runningAsRoot else {
            print("skipped the real-systemd test: booting systemd in private namespaces needs root")
            return nil
        }
        guard FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd"),
            FileManager.default.isExecutableFile(atPath: "/usr/bin/nsenter")
        else {
            print("skipped the real-systemd test: /lib/systemd/systemd or nsenter is missing")
            return nil
        }
        try "[Unit]\nDescription=hostctl test target\n".write(
            toFile: unitDirectory + "/hostctl-test.target", atomically: true, encoding: .utf8)
        // The default dependencies of a service, as empty targets.
        for target in ["sysinit", "basic", "shutdown", "network-online", "sockets", "multi-user", "slices"] {
            try "[Unit]\nDescription=\(target)\nDefaultDependencies=no\n".write(
                toFile: unitDirectory + "/\(target).target", atomically: true, encoding: .utf8)
        }
        let script = """
            mount -t tmpfs tmpfs /run && mount -t cgroup2 none /sys/fs/cgroup || exit 3
            export container=other SYSTEMD_UNIT_PATH='\(unitDirectory)' HOSTCTL_TEST_MARKER='\(marker)'
            exec /lib/systemd/systemd --system --unit=hostctl-test.target
            """
        let launcher = Process()
        launcher.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        launcher.arguments = ["--fork", "--pid", "--mount", "--mount-proc", "--cgroup", "/bin/sh", "-c", script]
        launcher.standardOutput = FileHandle.nullDevice
        launcher.standardError = FileHandle.nullDevice
        try launcher.run()
        // systemd's pid as this namespace sees it, found by the marker in its environment.
        let found = waitUntilValue(10) { () -> Int32? in
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return entries.compactMap(Int32.init).first { pid in
                guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ"),
                    let command = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
                else { return false }
                return command.hasPrefix("systemd")
                    && String(decoding: data, as: UTF8.self).contains("HOSTCTL_TEST_MARKER=\(marker)")
            }
        }
        guard let pid = found else {
            if launcher.isRunning { launcher.terminate() }
            print("skipped the real-systemd test: systemd did not come up in private namespaces here")
            return nil
        }
        let systemd = PrivateSystemd(pid: pid, launcher: launcher)
        // Ready to take commands once systemctl can talk to it (until then it says "offline", or
        // "Failed to connect to bus").
        _ = waitUntil(20) {
            let version = try? systemd.run(["systemctl", "show", "-p", "Version", "--value"])
            return version?.status == 0 && version?.stdout.isEmpty == false
        }
        return systemd
    }

    private init(pid: Int32, launcher: Process) {
        self.pid = pid
        self.launcher = launcher
    }

    /// Runs `arguments` inside systemd's namespaces.
    func run(_ arguments: [String]) throws -> RunResult {
        try runCommand(["/usr/bin/nsenter", "-t", String(pid), "-m", "-p"] + arguments)
    }

    /// `systemctl show -p NAME --value hostctl.service`.
    func property(_ name: String) throws -> String {
        try run(["systemctl", "show", "-p", name, "--value", "hostctl.service"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Ends systemd, and with it everything in its PID namespace.
    func kill() {
        Glibc.kill(pid, SIGKILL)
        launcher.waitUntilExit()
    }
}

@Suite("under a real systemd", .serialized)
struct SystemdBootTests {
    @Test func generatedUnit_startsActive_reloads_isRestartedByTheWatchdog_andStopsClean() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        let port = freePort()
        try t.file("h/hostctl.yml", "listen: 127.0.0.1:\(port)\n")
        try t.addFixture("fx", flags: ["--workers", "4"])
        let units = try t.directory("units")
        let generated = try t.hostctl(["systemd-unit"])
        #expect(generated.status == 0, "\(generated)")
        // The generated unit, with the watchdog shortened so that the test takes seconds.
        let service = generated.stdout.replacingOccurrences(of: "WatchdogSec=30s", with: "WatchdogSec=1s")
            .replacingOccurrences(of: "TimeoutAbortSec=10s", with: "TimeoutAbortSec=1s")
        try service.write(toFile: units + "/hostctl.service", atomically: true, encoding: .utf8)
        guard let systemd = try PrivateSystemd.boot(unitDirectory: units, marker: t.root) else { return }
        defer { systemd.kill() }

        let start = try systemd.run(["systemctl", "start", "hostctl.service"])
        #expect(start.status == 0, "\(start)")
        #expect(try systemd.property("ActiveState") == "active")
        #expect(try systemd.property("StatusText") == "1 app, 4/4 workers ready")
        #expect(httpGet("127.0.0.1:\(port)", "/fx/").hasPrefix("HTTP/1.1 200"))

        let firstPID = try systemd.property("MainPID")
        try #require(firstPID != "0" && !firstPID.isEmpty, "the service did not start")
        let reload = try systemd.run(["systemctl", "reload", "hostctl.service"])
        #expect(reload.status == 0, "\(reload)")
        #expect(try systemd.property("ActiveState") == "active" && systemd.property("MainPID") == firstPID)

        // A wedged daemon (stopped) misses its pings: systemd kills and restarts it.
        _ = try systemd.run(["kill", "-STOP", firstPID])
        let restarted = try waitUntil(20) {
            try systemd.property("NRestarts") == "1" && systemd.property("ActiveState") == "active"
                && systemd.property("StatusText") == "1 app, 4/4 workers ready"
        }
        let state = try systemd.run(["systemctl", "status", "hostctl.service"]).stdout
        #expect(restarted, "\(state)")
        #expect(try systemd.property("MainPID") != firstPID)
        #expect(httpGet("127.0.0.1:\(port)", "/fx/").hasPrefix("HTTP/1.1 200"))

        let stop = try systemd.run(["systemctl", "stop", "hostctl.service"])
        #expect(stop.status == 0, "\(stop)")
        #expect(try systemd.property("ActiveState") == "inactive")
        #expect(waitUntil(5) { fixturePIDs(under: t.root).isEmpty }, "workers left: \(fixturePIDs(under: t.root))")
    }
}
