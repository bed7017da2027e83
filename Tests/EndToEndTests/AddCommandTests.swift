import Foundation
import Testing

@Suite("hostctl add")
struct AddCommandTests {
    @Test func detectsServerJS_writesEveryKey_andCreatesTheLayout() throws {
        let t = try TempHome()
        let app = try t.nodeApp("dante")
        let r = try t.hostctl(["add", "dante", app])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("detected entry server.js"))
        #expect(r.stdout.contains("node"))
        let text = try t.read("h/apps/dante.yml")
        for key in [
            "name:", "directory:", "command:", "workers:", "handoff:", "route:", "path:", "hosts:", "strip_prefix:",
            "env:", "user:", "ready:", "mode:", "timeout:", "watchdog:", "restart:", "policy:", "backoff:", "burst:",
            "interval:", "stop:", "signal:", "watch:", "limits:", "max_memory:", "max_requests:",
            "max_concurrent_requests:", "logs:", "max_size:", "max_files:", "target:",
        ] {
            #expect(text.contains(key), "the handler config lacks \(key)")
        }
        let fm = FileManager.default
        func mode(_ path: String) throws -> Int {
            try #require(fm.attributesOfItem(atPath: t.home + path)[.posixPermissions] as? Int)
        }
        #expect(try mode("/apps/dante.yml") == 0o644)
        #expect(try mode("/apps") == 0o755)
        #expect(try mode("/logs") == 0o755)
        #expect(try mode("/run") == 0o750)
        let show = try jsonObject(t.hostctl(["show", "dante", "--json"]))
        let config = try #require(show["config"] as? [String: Any])
        #expect(config["command"] as? [String] == ["node", "server.js"])
        #expect(config["directory"] as? String == app)
    }

    @Test func aRefusedAdd_printsOnlyItsError_andWritesNothing() throws {
        let t = try TempHome()
        let app = try t.nodeApp("dante")
        let r = try t.hostctl(["add", "dante", app, "--workers", "999"])
        #expect(r.status == 1, "\(r)")
        #expect(r.stdout.isEmpty, "nothing about the detected entry of an app that was not added: \(r.stdout)")
        #expect(r.stderr.hasPrefix("hostctl: error: --workers: 999 is out of range"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: t.home + "/apps/dante.yml"))
    }

    @Test func aRouteAnotherAppHas_isRefused_andNothingIsWritten() throws {
        let t = try TempHome()
        let app = try t.nodeApp("a")
        #expect(try t.hostctl(["add", "one", app, "--route", "/same"]).status == 0)
        for route in ["/same", "/same/"] {
            let r = try t.hostctl(["add", "two", app, "--route", route])
            #expect(r.status == 1, "\(r)")
            #expect(
                r.stderr == "hostctl: error: route /same is already the route of app 'one'\n"
                    + "hint: pass another --route (or --host), or `hostctl remove one` first\n", "\(r)")
            #expect(r.stdout.isEmpty, "\(r)")
            #expect(!FileManager.default.fileExists(atPath: t.home + "/apps/two.yml"))
        }
        // On other hosts the same path is another route; a host in common is the same route again.
        #expect(try t.hostctl(["add", "two", app, "--route", "/same", "--host", "b.example"]).status == 0)
        let three = try t.hostctl([
            "add", "three", app, "--route", "/same", "--host", "b.example", "--host", "c.example",
        ])
        #expect(three.status == 1 && three.stderr.contains("is already the route of app 'two'"), "\(three)")
        // A route set by the app's own hostctl.yml (which a flag cannot override) is named with its file.
        let other = try t.nodeApp("b")
        try t.file("b/hostctl.yml", "route:\n  path: /same\n")
        let overridden = try t.hostctl(["add", "four", other])
        #expect(overridden.status == 1, "\(overridden)")
        #expect(
            overridden.stderr.contains("route.path is set in \(other)/hostctl.yml:2; change it there"), "\(overridden)")
        #expect(!FileManager.default.fileExists(atPath: t.home + "/apps/four.yml"))
        #expect(try t.hostctl(["check"]).status == 0)
    }

    @Test func detectsPackageJSONMainBeforeServerJS() throws {
        let t = try TempHome()
        let app = try t.nodeApp("a")
        try t.file("a/package.json", #"{"name": "a", "main": "lib/start.js"}"#)
        try t.file("a/lib/start.js", "")
        let r = try t.hostctl(["add", "a", app])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("lib/start.js"))
        #expect(r.stdout.contains("package.json"))
        let config = try #require(try jsonObject(t.hostctl(["show", "a", "--json"]))["config"] as? [String: Any])
        #expect(config["command"] as? [String] == ["node", "lib/start.js"])
    }

    @Test func detectsPythonEntry() throws {
        let t = try TempHome()
        try t.file("py/main.py", "print('hi')\n")
        let r = try t.hostctl(["add", "py", t.root + "/py"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("main.py"))
        #expect(r.stdout.contains("python3"))
    }

    @Test func noEntryFound_failsAndSaysWhatToPass() throws {
        let t = try TempHome()
        let dir = try t.directory("empty")
        let r = try t.hostctl(["add", "empty", dir])
        #expect(r.status == 1)
        #expect(r.stderr.contains("hostctl: error: no entry point found"))
        #expect(r.stderr.contains("--command"))
        #expect(r.stderr.contains("--entry"))
        #expect(!FileManager.default.fileExists(atPath: t.home + "/apps/empty.yml"))
    }

    @Test func entryFlag_choosesTheInterpreterByExtension() throws {
        let t = try TempHome()
        try t.file("e/worker.mjs", "")
        try t.file("e/run.sh", "#!/bin/sh\n", mode: 0o755)
        var r = try t.hostctl(["add", "e", t.root + "/e", "--entry", "worker.mjs"])
        #expect(r.status == 0, "\(r)")
        r = try t.hostctl(["add", "f", t.root + "/e", "--entry", "run.sh", "--route", "/f"])
        #expect(r.status == 0, "\(r)")
        let e = try #require(try jsonObject(t.hostctl(["show", "e", "--json"]))["config"] as? [String: Any])
        let f = try #require(try jsonObject(t.hostctl(["show", "f", "--json"]))["config"] as? [String: Any])
        #expect(e["command"] as? [String] == ["node", "worker.mjs"])
        #expect(f["command"] as? [String] == ["./run.sh"])
        r = try t.hostctl(["add", "g", t.root + "/e", "--entry", "missing.js"])
        #expect(r.status == 1 && r.stderr.contains("does not exist"), "\(r)")
    }

    @Test func commandIsSplitLikeAShell_andReferencesStayUnexpanded() throws {
        let t = try TempHome()
        let app = try t.directory("g")
        let r = try t.hostctl([
            "add", "g", app, "--command", #"gunicorn --bind 'unix:${PORT}' -e "GREETING=hello world" app:app"#,
        ])
        #expect(r.status == 0, "\(r)")
        let config = try #require(try jsonObject(t.hostctl(["show", "g", "--json"]))["config"] as? [String: Any])
        #expect(
            config["command"] as? [String] == [
                "gunicorn", "--bind", "unix:${PORT}", "-e", "GREETING=hello world", "app:app",
            ])
        #expect(try t.read("h/apps/g.yml").contains("${PORT}"))
    }

    @Test func everyFlag_isWrittenAndReadBack() throws {
        let t = try TempHome()
        let app = try t.nodeApp("x")
        let r = try t.hostctl([
            "add", "x", app, "--workers", "4", "--handoff", "fd", "--route", "/api/", "--host", "Example.com",
            "--host", "*.example.org", "--env", "NODE_ENV=production", "--env", "EMPTY=", "--env", "EQ=a=b",
            "--ready", "notify", "--user", "root",
        ])
        #expect(r.status == 0, "\(r)")
        let config = try #require(try jsonObject(t.hostctl(["show", "x", "--json"]))["config"] as? [String: Any])
        #expect(config["workers"] as? Int == 4)
        #expect(config["handoff"] as? String == "fd")
        let route = try #require(config["route"] as? [String: Any])
        #expect(route["path"] as? String == "/api")
        #expect(route["hosts"] as? [String] == ["example.com", "*.example.org"])
        #expect(config["env"] as? [String: String] == ["NODE_ENV": "production", "EMPTY": "", "EQ": "a=b"])
        #expect((config["ready"] as? [String: Any])?["mode"] as? String == "notify")
        #expect(config["user"] as? String == "root")
        #expect(try t.hostctl(["check"]).status == 0)
    }

    @Test func relativeDirectory_isStoredAbsoluteAndResolved() throws {
        let t = try TempHome()
        try t.nodeApp("real/app")
        try FileManager.default.createSymbolicLink(atPath: t.root + "/link", withDestinationPath: t.root + "/real")
        let r = try t.hostctl(["add", "rel", "./link/app/../app"], cwd: t.root)
        #expect(r.status == 0, "\(r)")
        let config = try #require(try jsonObject(t.hostctl(["show", "rel", "--json"]))["config"] as? [String: Any])
        #expect(config["directory"] as? String == t.root + "/real/app")
    }

    @Test func sameSettingsTwice_succeedsAndChangesNothing() throws {
        let t = try TempHome()
        let app = try t.nodeApp("d")
        #expect(try t.hostctl(["add", "d", app, "--workers", "2", "--env", "A=1"]).status == 0)
        let path = t.home + "/apps/d.yml"
        let before = try FileManager.default.attributesOfItem(atPath: path)
        let text = try t.read(path)
        let r = try t.hostctl(["add", "d", app, "--env", "A=1", "--workers", "2"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("nothing changed"))
        let after = try FileManager.default.attributesOfItem(atPath: path)
        #expect(before[.modificationDate] as? Date == after[.modificationDate] as? Date)
        #expect(before[.systemFileNumber] as? Int == after[.systemFileNumber] as? Int)
        #expect(try t.read(path) == text)
    }

    @Test func otherSettings_failUnlessForce_andSayWhatDiffers() throws {
        let t = try TempHome()
        let app = try t.nodeApp("d")
        #expect(try t.hostctl(["add", "d", app, "--workers", "2"]).status == 0)
        let path = t.home + "/apps/d.yml"
        let text = try t.read(path)
        var r = try t.hostctl(["add", "d", app, "--workers", "3"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("workers: 2 → 3"), "\(r)")
        #expect(r.stderr.contains("--force"))
        #expect(try t.read(path) == text)
        r = try t.hostctl(["add", "d", app, "--workers", "3", "--force"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("replaced d"))
        let config = try #require(try jsonObject(t.hostctl(["show", "d", "--json"]))["config"] as? [String: Any])
        #expect(config["workers"] as? Int == 3)
    }

    @Test func handEditedFile_uncommentedKeyTakesEffect() throws {
        let t = try TempHome()
        let app = try t.nodeApp("d")
        #expect(try t.hostctl(["add", "d", app]).status == 0)
        let path = t.home + "/apps/d.yml"
        var text = try t.read(path)
        text = text.replacingOccurrences(of: "# workers: 1", with: "workers: 7")
        text = text.replacingOccurrences(of: "# stop:\n", with: "stop:\n")
        text = text.replacingOccurrences(
            of: "#   timeout: 30s  # How long a stopping", with: "  timeout: 2m     # How long a stopping")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try t.hostctl(["check", "d"]).status == 0)
        let show = try jsonObject(t.hostctl(["show", "d", "--json"]))
        let config = try #require(show["config"] as? [String: Any])
        #expect(config["workers"] as? Int == 7)
        #expect((config["stop"] as? [String: Any])?["timeout"] as? String == "2m")
        #expect(
            ((show["sources"] as? [String: Any])?["stop.timeout"] as? [String: Any])?["source"] as? String == "handler")
    }

    @Test func userFlag_unknownUserFails() throws {
        let t = try TempHome()
        let app = try t.nodeApp("u")
        let r = try t.hostctl(["add", "u", app, "--user", "no-such-user-hostctl"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("unknown user"))
    }
}
