import Foundation
import Testing

/// A datagram socket standing in for systemd's `NOTIFY_SOCKET`.
final class NotifyReceiver {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(bound == 0, "cannot bind \(path)")
    }

    deinit { close(fd) }

    /// The next message, or nil after `seconds`.
    func next(within seconds: Double = 10) -> String? {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(seconds * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }

    /// Messages until one contains `text` (included); nil when none does within `seconds`.
    func until(_ text: String, within seconds: Double = 10) -> [String]? {
        let deadline = Date().addingTimeInterval(seconds)
        var seen: [String] = []
        while Date() < deadline, let message = next(within: deadline.timeIntervalSinceNow) {
            seen.append(message)
            if message.contains(text) { return seen }
        }
        return nil
    }
}

/// A free TCP port on 127.0.0.1: bound by the kernel's choice, then released.
func freePort() -> Int {
    let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(probe) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            _ = Glibc.bind(probe, $0, length)
            return getsockname(probe, $0, &length)
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// `hostctl serve` in the foreground, as systemd runs it; its standard error goes to `log`.
func startServe(_ t: TempHome, environment: [String: String], launcher: [String] = [], log: String? = nil) throws
    -> Process
{
    let process = Process()
    let arguments = ["serve", "--home", t.home]
    process.executableURL = URL(fileURLWithPath: launcher.first ?? hostctlBinary)
    process.arguments = Array(launcher.dropFirst()) + (launcher.isEmpty ? [] : [hostctlBinary]) + arguments
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HOSTCTL_") }
    for (key, value) in environment { env[key] = value }
    process.environment = env
    process.standardOutput = FileHandle.nullDevice
    if let log {
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
    } else {
        process.standardError = FileHandle.nullDevice
    }
    try process.run()
    return process
}

@Suite("systemd: notify, watchdog, socket activation, units", .serialized)
struct SystemdTests {
    @Test func serve_underTypeNotify_sendsReadyStatusWatchdogAndStopping() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx", flags: ["--workers", "2"])
        let receiver = try NotifyReceiver(path: t.root + "/notify.sock")
        let daemon = try startServe(
            t,
            environment: ["NOTIFY_SOCKET": receiver.path, "WATCHDOG_USEC": "300000", "HOSTCTL_LISTEN": "127.0.0.1:0"])
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        // READY=1 only once both workers are ready, with the summary as the status.
        let beforeReady = try #require(receiver.until("READY=1"))
        #expect(beforeReady.last == "READY=1\nSTATUS=1 app, 2/2 workers ready", "\(beforeReady)")
        #expect(try t.workers("fx").allSatisfy { $0["state"] as? String == "ready" })
        // The watchdog is pinged at half of WATCHDOG_USEC (150 ms). Pings queued while the test was busy
        // are read first, so that the times below are those of pings as they arrive.
        while receiver.next(within: 0) != nil {}
        var pings: [Date] = []
        while pings.count < 4, let message = receiver.next(within: 2) {
            if message == "WATCHDOG=1" { pings.append(Date()) }
        }
        #expect(pings.count == 4)
        if let first = pings.first, let last = pings.last {
            let interval = last.timeIntervalSince(first) / 3
            #expect(interval > 0.1 && interval < 0.6, "pinged every \(interval) s")
        }
        // STATUS follows the workers: one killed, then back.
        let pid = try #require(try t.workers("fx").first?["pid"] as? Int)
        kill(Int32(pid), SIGKILL)
        #expect(receiver.until("STATUS=1 app, 1/2 workers ready") != nil)
        #expect(receiver.until("STATUS=1 app, 2/2 workers ready") != nil)
        kill(daemon.processIdentifier, SIGTERM)
        #expect(receiver.until("STOPPING=1") != nil)
        daemon.waitUntilExit()
        #expect(daemon.terminationStatus == 0)
    }

    @Test func serve_withASocketPassedBySystemd_servesOnIt_andTheFirstConnectionIsNotLost() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-socket-activate") else {
            print(
                "skipped the socket-activation test: /usr/bin/systemd-socket-activate is missing (Debian package systemd)"
            )
            return
        }
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx")
        let port = freePort()
        // systemd-socket-activate closes every inherited fd before it execs, Foundation's child-watching
        // socket included, which makes Foundation block in waitpid on it and miss every later exit: it
        // runs under a Python parent that does not pass that socket on.
        let launcher = try startServe(
            t, environment: [:],
            launcher: [
                "/usr/bin/env", "python3", "-c", "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))",
                "/usr/bin/systemd-socket-activate", "-l", "127.0.0.1:\(port)", "--fdname=http",
            ])
        defer { if launcher.isRunning { kill(launcher.processIdentifier, SIGKILL) } }
        // The listener exists before the daemon does: the first request starts it and is answered.
        var response = ""
        #expect(
            waitUntil(5) {
                response = httpGet("127.0.0.1:\(port)", "/fx/")
                return !response.isEmpty
            })
        #expect(response.hasPrefix("HTTP/1.1 200"), "\(response)")
        let status = try #require(try t.status())
        #expect(status["listen"] as? [String] == ["127.0.0.1:\(port)"], "\(status)")
    }

    @Test func sighup_startsAddedApps_stopsRemovedOnes_restartsChangedOnes_andMovesTheListener() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        let (first, second) = (freePort(), freePort())
        try t.file("h/hostctl.yml", "listen: 127.0.0.1:\(first)\n")
        try t.addFixture("fx")
        try t.addFixture("fz")
        let receiver = try NotifyReceiver(path: t.root + "/notify.sock")
        let log = t.root + "/serve.log"
        let daemon = try startServe(t, environment: ["NOTIFY_SOCKET": receiver.path], log: log)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        #expect(receiver.until("READY=1") != nil)
        let oldFZ = try #require(try t.workers("fz").first?["pid"] as? Int)
        try t.addFixture("fy")
        try FileManager.default.removeItem(atPath: t.home + "/apps/fz.yml")
        try (try t.read(t.home + "/apps/fx.yml") + "workers: 2\n").write(
            toFile: t.home + "/apps/fx.yml", atomically: true, encoding: .utf8)
        let post =
            "POST /fx/ HTTP/1.1\r\nHost: a\r\nContent-Length: 200\r\nConnection: close\r\n\r\n"
            + String(repeating: "b", count: 200)
        #expect(Wire.exchange("127.0.0.1:\(first)", post).hasPrefix("HTTP/1.1 200"))
        try t.file("h/hostctl.yml", "listen: 127.0.0.1:\(second)\nproxy:\n  max_body: 100\n")
        kill(daemon.processIdentifier, SIGHUP)
        let reloading = try #require(receiver.until("RELOADING=1"))
        #expect(reloading.last?.wholeMatch(of: /RELOADING=1\nMONOTONIC_USEC=\d+/) != nil, "\(reloading)")
        let ready = try #require(receiver.until("READY=1"))
        #expect(ready.last == "READY=1\nSTATUS=2 apps, 3/3 workers ready", "\(ready)")
        let status = try #require(try t.status())
        let apps = (status["apps"] as? [[String: Any]]) ?? []
        #expect(apps.map { $0["name"] as? String } == ["fx", "fy"])
        #expect(try t.workers("fx").count == 2 && t.workers("fy").count == 1)
        #expect(processGone(Int32(oldFZ)), "the removed app's worker is stopped")
        #expect(status["listen"] as? [String] == ["127.0.0.1:\(second)"])
        #expect(httpGet("127.0.0.1:\(second)", "/fy/").hasPrefix("HTTP/1.1 200"))
        #expect(httpGet("127.0.0.1:\(first)", "/fy/").isEmpty, "the old listener is closed")
        #expect(
            Wire.exchange("127.0.0.1:\(second)", post).hasPrefix("HTTP/1.1 413 "),
            "the new proxy.max_body holds from the reload on")
        let text = try t.read(log)
        #expect(text.contains("hostctl: reloaded: removed fz, changed fx, added fy"), "\(text)")
    }

    @Test func sighup_withABrokenConfig_saysWhere_andKeepsRunningOnTheOldOne() throws {
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("fx")
        let receiver = try NotifyReceiver(path: t.root + "/notify.sock")
        let log = t.root + "/serve.log"
        let daemon = try startServe(
            t, environment: ["NOTIFY_SOCKET": receiver.path, "HOSTCTL_LISTEN": "127.0.0.1:0"], log: log)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        #expect(receiver.until("READY=1") != nil)
        let pid = try #require(try t.workers("fx").first?["pid"] as? Int)
        let lines = try t.read(t.home + "/apps/fx.yml").split(separator: "\n", omittingEmptySubsequences: false).count
        try (try t.read(t.home + "/apps/fx.yml") + "workers: many\n").write(
            toFile: t.home + "/apps/fx.yml", atomically: true, encoding: .utf8)
        kill(daemon.processIdentifier, SIGHUP)
        #expect(receiver.until("READY=1") != nil)
        let text = try t.read(log)
        #expect(text.contains("\(t.home)/apps/fx.yml:\(lines):"), "\(text)")
        #expect(text.contains("reload refused"), "\(text)")
        #expect(try t.workers("fx").first?["pid"] as? Int == pid, "the app runs on, untouched")
        #expect(daemon.isRunning)
    }

    @Test(arguments: [[], ["--socket"], ["--user"], ["--user", "--socket"]])
    func systemdUnit_printsUnitsThatSystemdAnalyzeVerifies(flags: [String]) throws {
        let t = try TempHome()
        let r = try t.hostctl(
            ["systemd-unit"] + flags, environment: ["HOSTCTL_LISTEN": "127.0.0.1:8123,[::1]:8123"])
        #expect(r.status == 0, "\(r)")
        let parts = r.stdout.components(separatedBy: "# hostctl.socket")
        let service = parts[0]
        #expect(service.contains("Type=notify\n") && service.contains("NotifyAccess=main\n"))
        #expect(service.contains("ExecStart=\(hostctlBinary) serve --home \(t.home)\n"), "\(service)")
        #expect(service.contains("ExecReload=/bin/kill -HUP $MAINPID\n") && service.contains("KillMode=mixed\n"))
        #expect(service.contains("WatchdogSec=") && service.contains("Restart=on-failure\n"))
        #expect(service.contains("Requires=hostctl.socket") == flags.contains("--socket"))
        #expect(service.contains("WantedBy=\(flags.contains("--user") ? "default.target" : "multi-user.target")"))
        #expect(parts.count == (flags.contains("--socket") ? 2 : 1))
        if parts.count == 2 {
            #expect(
                parts[1].contains("ListenStream=127.0.0.1:8123\nListenStream=[::1]:8123\nFileDescriptorName=http\n"))
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else {
            print("skipped systemd-analyze verify: /usr/bin/systemd-analyze is missing (Debian package systemd)")
            return
        }
        let units = try t.directory("units")
        try service.write(toFile: units + "/hostctl.service", atomically: true, encoding: .utf8)
        if parts.count == 2 {
            try ("# hostctl.socket" + parts[1]).write(
                toFile: units + "/hostctl.socket", atomically: true, encoding: .utf8)
        }
        let runtime = try t.directory("xdg-runtime")
        chmod(runtime, 0o700)
        let files = (try FileManager.default.contentsOfDirectory(atPath: units)).map { units + "/" + $0 }
        let verify = try runCommand(
            [
                "/usr/bin/env", "XDG_RUNTIME_DIR=\(runtime)", "/usr/bin/systemd-analyze", "verify",
                flags.contains("--user") ? "--user" : "--system",
            ] + files)
        #expect(verify.status == 0, "\(verify)")
    }

    @Test func systemdUnit_forAHomeWithASpaceAndAPercentSign_quotesItWhereverItIsNamed() throws {
        let t = try TempHome()
        let home = try t.directory("my home 100%")
        let r = try t.hostctl(["systemd-unit", "--home", home], home: false)
        #expect(r.status == 0, "\(r)")
        let escaped = home.replacingOccurrences(of: "%", with: "%%")
        #expect(r.stdout.contains("ExecStart=\(hostctlBinary) serve --home \"\(escaped)\"\n"), "\(r.stdout)")
        // A list split at spaces: unquoted, the home was two paths, the second ignored as not absolute.
        #expect(r.stdout.contains("ReadWritePaths=\"-\(escaped)\"\n"), "\(r.stdout)")
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else {
            print("skipped systemd-analyze verify: /usr/bin/systemd-analyze is missing (Debian package systemd)")
            return
        }
        let units = try t.directory("units")
        try r.stdout.write(toFile: units + "/hostctl.service", atomically: true, encoding: .utf8)
        let runtime = try t.directory("xdg-runtime")
        chmod(runtime, 0o700)
        let verify = try runCommand(
            [
                "/usr/bin/env", "XDG_RUNTIME_DIR=\(runtime)", "/usr/bin/systemd-analyze", "verify", "--system",
                units + "/hostctl.service",
            ])
        #expect(verify.status == 0 && !verify.stderr.contains("hostctl.service:"), "\(verify)")
    }

    @Test func systemdUnit_install_writesTheUserUnits_andSaysWhatToRun() throws {
        let t = try TempHome()
        let config = try t.directory("xdg-config")
        let r = try t.hostctl(
            ["systemd-unit", "--user", "--socket", "--install"], environment: ["XDG_CONFIG_HOME": config])
        #expect(r.status == 0, "\(r)")
        let service = try t.read(config + "/systemd/user/hostctl.service")
        #expect(service.contains("ExecStart=\(hostctlBinary) serve --home \(t.home)\n"))
        #expect(try t.read(config + "/systemd/user/hostctl.socket").contains("ListenStream="))
        #expect(r.stdout.contains("wrote \(config)/systemd/user/hostctl.service"))
        #expect(r.stdout.contains("systemctl --user daemon-reload"))
        #expect(r.stdout.contains("systemctl --user enable --now hostctl.socket hostctl.service"))
    }
}
