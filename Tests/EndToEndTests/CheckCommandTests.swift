import Foundation
import Testing

@Suite("hostctl check")
struct CheckCommandTests {
    @Test func validHome_exits0() throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        try t.file(
            "h/hostctl.yml",
            "listen: [\"127.0.0.1:0\", \"[::1]:8080\"]\nproxy:\n  max_body: 1GiB\n  trusted_proxies: [10.0.0.0/8, \"::1\"]\n"
        )
        #expect(try t.hostctl(["add", "a", app]).status == 0)
        let r = try t.hostctl(["check"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("ok"))
    }

    @Test func problemsInEveryKindOfFile_areListedWithLineAndColumn() throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        #expect(try t.hostctl(["add", "a", app]).status == 0)
        try t.file("h/hostctl.yml", "listen: 127.0.0.1:99999\nproxy:\n  max_bodyy: 1MiB\ndefaults:\n  workers: -2\n")
        try t.file("app/hostctl.yml", "name: other\nlogs:\n  max_size: 10 parsecs\n")
        let handler = try t.read("h/apps/a.yml")
        try (handler + "restart:\n  backoff: 5s..1s\n").write(
            toFile: t.home + "/apps/a.yml", atomically: true, encoding: .utf8)
        let handlerLine = handler.split(separator: "\n", omittingEmptySubsequences: false).count + 1
        let r = try t.hostctl(["check"])
        #expect(r.status == 1)
        let global = t.home + "/hostctl.yml"
        #expect(r.stdout.contains("\(global):1:9: error: listen: invalid port"), "\(r)")
        #expect(
            r.stdout.contains("\(global):3:3: error: unknown key 'proxy.max_bodyy' (did you mean 'proxy.max_body'?)"),
            "\(r)")
        #expect(r.stdout.contains("\(global):5:12: error: defaults.workers: -2 is out of range"), "\(r)")
        #expect(r.stdout.contains("\(t.home)/apps/a.yml:\(handlerLine):12: error: restart.backoff"), "\(r)")
        #expect(r.stderr.contains("hostctl: error: 3 problems") || r.stderr.contains("problems in"), "\(r)")
        // The override is only read once the handler config is clean.
        try handler.write(toFile: t.home + "/apps/a.yml", atomically: true, encoding: .utf8)
        try t.file("h/hostctl.yml", "")
        let r2 = try t.hostctl(["check", "a"])
        #expect(r2.status == 1)
        #expect(
            r2.stdout.contains("\(app)/hostctl.yml:1:1: error: 'name' can only be set in the app's handler config"),
            "\(r2)")
        #expect(
            r2.stdout.contains("\(app)/hostctl.yml:3:13: error: logs.max_size: '10 parsecs' is not a size"), "\(r2)")
    }

    @Test func twoAppsOnOneRoute_isAConflict() throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        #expect(try t.hostctl(["add", "one", app, "--route", "/same"]).status == 0)
        #expect(try t.hostctl(["add", "three", app, "--route", "/same", "--host", "x.example.com"]).status == 0)
        // `add` refuses a route another app has; a handler config written by hand can still claim it.
        try t.file(
            "h/apps/two.yml", try t.read("h/apps/one.yml").replacingOccurrences(of: "name: one", with: "name: two"))
        let r = try t.hostctl(["check"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("route /same is also the route of app 'one'"), "\(r)")
        #expect(r.stdout.split(separator: "\n").count == 1, "\(r)")
        // Checking one app checks its route against the others too.
        let two = try t.hostctl(["check", "two"])
        #expect(two.status == 1 && two.stdout.contains("route /same is also the route of app 'one'"), "\(two)")
        #expect(try t.hostctl(["check", "three"]).status == 0)
    }

    @Test func handlerFileNameThatIsNotAnAppName_isReported() throws {
        let t = try TempHome()
        try t.file("h/apps/Bad_Name.yml", "name: x\n")
        let r = try t.hostctl(["check"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("Bad_Name.yml:1:1: error: the file name is not a valid app name"), "\(r)")
    }

    @Test func nameMustMatchTheFile_andDirectoryMustExist() throws {
        let t = try TempHome()
        try t.file("h/apps/m.yml", "name: n\ndirectory: \(t.root)/gone\ncommand: node x.js\n")
        let r = try t.hostctl(["check"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("m.yml:1:7: error: name 'n' does not match the file name m.yml"), "\(r)")
        #expect(r.stdout.contains("m.yml:2:12: error: directory: \(t.root)/gone does not exist"), "\(r)")
    }
}
