import Foundation
import Testing

/// Every wrong value exits 1 with one `hostctl: error:` line (and maybe a hint) and writes nothing;
/// only arguments that do not parse exit 2.
@Suite("exit codes and errors")
struct ExitCodeTests {
    static let valueErrors: [(args: [String], says: String)] = [
        (["add", "Dante", "@app"], "invalid app name"),
        (["add", "../x", "@app"], "invalid app name"),
        (["add", String(repeating: "a", count: 64), "@app"], "at most 63"),
        (["add", "", "@app"], "empty"),
        (["add", "x", "@missing"], "does not exist"),
        (["add", "x", "@app/server.js"], "is not a directory"),
        (["add", "x", "@app", "--workers", "257"], "out of range"),
        (["add", "x", "@app", "--workers=-1"], "out of range"),
        (["add", "x", "@app", "--workers", "-1"], "out of range"),
        (["add", "x", "@app", "--handoff", "socket"], "use one of: pipe, port, fd"),
        (["add", "x", "@app", "--route", "api"], "must start with '/'"),
        (["add", "x", "@app", "--route", "/a//b"], "empty"),
        (["add", "x", "@app", "--host", "bad_host!"], "invalid host name"),
        (["add", "x", "@app", "--host", "example.com:80"], "invalid host name"),
        (["add", "x", "@app", "--env", "NOEQUALS"], "KEY=VALUE"),
        (["add", "x", "@app", "--env", "1X=y"], "invalid environment variable name"),
        (["add", "x", "@app", "--env", "PORT=1"], "set by hostctl"),
        (["add", "x", "@app", "--ready", "soon"], "use one of: listen, notify"),
        (["add", "x", "@app", "--user", "no-such-user-hostctl"], "unknown user"),
        (["add", "x", "@app", "--command", "node a.js", "--entry", "a.js"], "cannot be used together"),
        (["add", "x", "@app", "--command", "node 'a.js"], "unclosed single quote"),
        (["add", "x", "@app", "--command", "node ${HOME}/a.js"], "unknown reference"),
        (["add", "x", "@app", "--command", ""], "empty"),
        (["remove", "nope"], "no app named 'nope'"),
        (["show", "nope"], "no app named 'nope'"),
        (["check", "nope"], "no app named 'nope'"),
        (["stop", "x", "--all"], "name the apps to stop or pass --all, not both"),
        (["reload", "x", "--all"], "name the apps to reload or pass --all, not both"),
        // A negative count reads as a value (not as an unknown flag), so the message says what is wrong with it.
        (["logs", "-n", "-5"], "-n takes a count of 0 or more, not -5"),
        (["logs", "--worker", "-1"], "--worker takes a slot number from 1, not -1"),
        (["logs", "--worker", "0"], "--worker takes a slot number from 1, not 0"),
        (["logs", "--stream", "stdout"], "--stream takes out, err or hostctl"),
        (["logs", "--since", "yesterday"], "--since takes a duration ago"),
    ]

    @Test(arguments: valueErrors.indices)
    func wrongValue_exits1WithOneErrorLine_andWritesNothing(index: Int) throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        let args = Self.valueErrors[index].args.map { $0.hasPrefix("@") ? t.root + "/" + $0.dropFirst() : $0 }
        let r = try t.hostctl(args)
        #expect(r.status == 1, "\(args): \(r)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.first?.hasPrefix("hostctl: error: ") == true, "\(r)")
        #expect(lines.count <= 2 && lines.dropFirst().allSatisfy { $0.hasPrefix("hint: ") }, "\(r)")
        #expect(r.stderr.contains(Self.valueErrors[index].says), "\(args): \(r)")
        let written = (try? FileManager.default.contentsOfDirectory(atPath: t.home + "/apps")) ?? []
        #expect(written.filter { !$0.hasPrefix(".") }.isEmpty, "\(written)")
        _ = app
    }

    static let usageErrors: [[String]] = [
        ["add", "x", "@app", "--wrokers", "2"],
        ["add", "x"],
        ["add"],
        ["add", "x", "@app", "--workers", "abc"],
        ["list", "extra"],
        ["frobnicate"],
        ["stop", "--all", "--bogus"],
        ["status", "a", "b"],
    ]

    @Test(arguments: usageErrors.indices)
    func argumentsThatDoNotParse_exit2(index: Int) throws {
        let t = try TempHome()
        try t.nodeApp("app")
        let args = Self.usageErrors[index].map { $0.hasPrefix("@") ? t.root + "/" + $0.dropFirst() : $0 }
        let r = try t.hostctl(args, home: args.count > 1)
        #expect(r.status == 2, "\(args): \(r)")
        #expect(!r.stderr.isEmpty)
    }

    @Test func help_exits0_andListsEveryCommand() throws {
        let r = try runHostctl(["--help"])
        #expect(r.status == 0)
        for built in [
            "add", "remove", "list", "show", "check", "start", "stop", "restart", "status", "logs", "shutdown",
            "serve", "systemd-unit", "reload",
        ] {
            #expect(r.stdout.contains("  \(built) "), "\(built) is not listed")
        }
    }

    @Test func malformedGlobalConfig_isReportedWithItsLine() throws {
        let t = try TempHome()
        try t.file("h/hostctl.yml", "listen: 127.0.0.1:8080\nproxy:\n  max_body: [1, 2\n")
        let r = try t.hostctl(["check"])
        #expect(r.status == 1)
        #expect(r.stdout.contains(t.home + "/hostctl.yml:4:"), "\(r)")
        #expect(r.stdout.contains("malformed YAML"))
    }

    @Test func configFileThatIsADirectory_isAnError() throws {
        let t = try TempHome()
        try t.directory("h/hostctl.yml")
        try t.directory("h/apps/dir.yml")
        let r = try t.hostctl(["check"])
        #expect(r.status == 1)
        #expect(r.stdout.contains(t.home + "/hostctl.yml:1:1: error: cannot read the file: is a directory"), "\(r)")
        #expect(r.stdout.contains(t.home + "/apps/dir.yml:1:1: error: cannot read the file: is a directory"), "\(r)")
        let show = try t.hostctl(["show", "dir"])
        #expect(show.status == 1, "\(show)")
    }

    @Test(.enabled(if: runningAsRoot, "needs root to run hostctl as another user (nobody) with setpriv"))
    func unwritableHome_andUnreadableConfig_asAnotherUser() throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        try t.directory("h")
        chmod(t.root, 0o755)
        chmod(app, 0o755)
        chmod(app + "/server.js", 0o644)
        let asNobody = ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
        var r = try runHostctl(["add", "app", app, "--home", t.home], environment: ["HOME": t.root], prefix: asNobody)
        #expect(r.status == 1, "\(r)")
        #expect(r.stderr.contains("permission denied"), "\(r)")
        #expect(r.stderr.contains("hint:"), "\(r)")
        #expect(try t.hostctl(["add", "app", app]).status == 0)
        chmod(t.home + "/apps/app.yml", 0o600)
        r = try runHostctl(["check", "--home", t.home], environment: ["HOME": t.root], prefix: asNobody)
        #expect(r.status == 1, "\(r)")
        #expect(r.stdout.contains("app.yml:1:1: error: cannot read the file: permission denied"), "\(r)")
    }
}
