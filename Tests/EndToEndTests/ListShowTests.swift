import Foundation
import Testing

@Suite("list, show, remove and precedence")
struct ListShowTests {
    @Test func list_emptyHome_saysHowToAdd() throws {
        let t = try TempHome()
        let r = try t.hostctl(["list"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("hostctl add"))
        let json = try jsonObject(t.hostctl(["list", "--json"]))
        #expect((json["apps"] as? [Any])?.isEmpty == true)
    }

    @Test func list_showsEveryApp_textAndJSON_andFlagsInvalidOnes() throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        #expect(try t.hostctl(["add", "b-app", app, "--workers", "0"]).status == 0)
        #expect(try t.hostctl(["add", "a-app", app, "--route", "/a", "--host", "a.example.com"]).status == 0)
        var r = try t.hostctl(["list"])
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[1].hasPrefix("a-app") && lines[2].hasPrefix("b-app"))
        #expect(lines[2].contains("auto"))
        let apps = try #require(try jsonObject(t.hostctl(["list", "--json"]))["apps"] as? [[String: Any]])
        #expect(apps.map { $0["name"] as? String } == ["a-app", "b-app"])
        #expect(apps[0]["route"] as? String == "/a")
        #expect(apps[0]["hosts"] as? [String] == ["a.example.com"])
        #expect(apps[1]["workers"] as? Int == 0)
        try t.file("h/apps/c-app.yml", "name: c-app\nworkers: lots\n")
        r = try t.hostctl(["list", "--json"])
        #expect(r.status == 0)
        let withBroken = try #require(try jsonObject(r)["apps"] as? [[String: Any]])
        #expect((withBroken[2]["error"] as? String)?.contains("c-app.yml:2:10") == true, "\(r)")
        r = try t.hostctl(["list"])
        #expect(r.stderr.contains("hostctl check"))
    }

    @Test func show_namesTheSourceOfEveryValue_withPrecedence() throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        try t.file(
            "h/hostctl.yml", "defaults:\n  workers: 3\n  stop:\n    timeout: 5s\n  env:\n    A: global\n    B: global\n"
        )
        #expect(
            try t.hostctl(["add", "p", app, "--env", "B=handler", "--env", "C=handler", "--route", "/p"]).status == 0)
        try t.file(
            "app/hostctl.yml", "# override\nstop:\n  signal: INT\nenv:\n  C: override\nroute:\n  strip_prefix: false\n")
        let r = try t.hostctl(["show", "p", "--json"])
        #expect(r.status == 0, "\(r)")
        let show = try jsonObject(r)
        let config = try #require(show["config"] as? [String: Any])
        let sources = try #require(show["sources"] as? [String: [String: Any]])
        #expect(config["workers"] as? Int == 3)
        #expect(sources["workers"]?["source"] as? String == "global_defaults")
        #expect(sources["workers"]?["line"] as? Int == 2)
        #expect(config["env"] as? [String: String] == ["A": "global", "B": "handler", "C": "override"])
        #expect(sources["env.A"]?["source"] as? String == "global_defaults")
        #expect(sources["env.B"]?["source"] as? String == "handler")
        #expect(sources["env.C"]?["source"] as? String == "override")
        #expect(sources["env.C"]?["file"] as? String == app + "/hostctl.yml")
        #expect(sources["env.C"]?["line"] as? Int == 5)
        let route = try #require(config["route"] as? [String: Any])
        #expect(route["path"] as? String == "/p")
        #expect(route["strip_prefix"] as? Bool == false)
        #expect(sources["route.path"]?["source"] as? String == "handler")
        #expect(sources["route.strip_prefix"]?["source"] as? String == "override")
        #expect((config["stop"] as? [String: Any])?["signal"] as? String == "INT")
        #expect((config["stop"] as? [String: Any])?["timeout"] as? String == "5s")
        #expect(sources["handoff"]?["source"] as? String == "default")
        #expect(show["override"] as? String == app + "/hostctl.yml")
        let text = try t.hostctl(["show", "p"])
        #expect(text.stdout.contains("app override (\(app)/hostctl.yml:3)"), "\(text)")
        #expect(text.stdout.contains("global defaults (\(t.home)/hostctl.yml:2)"), "\(text)")
    }

    @Test func add_warnsWhenAFlagIsShadowedByTheOverride() throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        try t.file("app/hostctl.yml", "workers: 2\nenv:\n  MODE: override\n")
        let r = try t.hostctl(["add", "s", app, "--workers", "4", "--env", "MODE=flag", "--env", "OTHER=x"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stderr.contains("--workers is shadowed by \(app)/hostctl.yml:1:10"), "\(r)")
        #expect(r.stderr.contains("--env MODE is shadowed"), "\(r)")
        #expect(!r.stderr.contains("OTHER"))
    }

    @Test func remove_deletesTheConfig_andWithPurgeLogsTheLogs() throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        #expect(try t.hostctl(["add", "r", app]).status == 0)
        #expect(try t.hostctl(["add", "k", app, "--route", "/k"]).status == 0)
        try t.file("h/logs/r/r.log", "line\n")
        try t.file("h/logs/k/k.log", "line\n")
        var r = try t.hostctl(["remove", "r", "--purge-logs"])
        #expect(r.status == 0, "\(r)")
        #expect(!FileManager.default.fileExists(atPath: t.home + "/apps/r.yml"))
        #expect(!FileManager.default.fileExists(atPath: t.home + "/logs/r"))
        r = try t.hostctl(["remove", "k"])
        #expect(r.status == 0)
        #expect(FileManager.default.fileExists(atPath: t.home + "/logs/k/k.log"))
        #expect(FileManager.default.fileExists(atPath: app + "/server.js"))
        r = try t.hostctl(["remove", "k"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("no app named 'k'"))
    }

    @Test func homeFromEnvironment_whenNoFlag() throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        let r = try t.hostctl(["add", "envhome", app], home: false, environment: ["HOSTCTL_HOME": t.root + "/envhome"])
        #expect(r.status == 0, "\(r)")
        #expect(FileManager.default.fileExists(atPath: t.root + "/envhome/apps/envhome.yml"))
        let flag = try t.hostctl(
            ["list", "--home", t.root + "/envhome"], home: false, environment: ["HOSTCTL_HOME": "/nonexistent"])
        #expect(flag.stdout.contains("envhome"))
    }

    @Test(.enabled(if: runningAsRoot, "needs root to run hostctl as another user (nobody) with setpriv"))
    func nonRootUser_usesTheXDGDirectories() throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        let userHome = try t.directory("nobody")
        chown(userHome, 65534, 65534)
        chmod(t.root, 0o755)
        let asNobody = ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
        let r = try runHostctl(
            ["add", "xdg", app], environment: ["HOME": userHome, "XDG_RUNTIME_DIR": userHome + "/rt"], prefix: asNobody)
        #expect(r.status == 0, "\(r)")
        #expect(FileManager.default.fileExists(atPath: userHome + "/.config/hostctl/apps/xdg.yml"))
        #expect(FileManager.default.fileExists(atPath: userHome + "/.local/state/hostctl/logs"))
        #expect(FileManager.default.fileExists(atPath: userHome + "/rt/hostctl"))
    }
}
