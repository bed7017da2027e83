import Foundation
import Testing

/// Whether `python3` can import `module`.
func pythonHas(_ module: String) -> Bool {
    (try? runCommand(["/usr/bin/env", "python3", "-c", "import \(module)"]))?.status == 0
}

/// The stanzas of examples/dante/canto1.txt.
let cantoStanzas: [String] = {
    let text = (try? String(contentsOfFile: packageRoot + "/examples/dante/canto1.txt", encoding: .utf8)) ?? ""
    return text.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\n\n")
}()

/// Reads `count` stanzas (then one more after asking for them `again`) from the WebSocket at `url`
/// with Python's `websockets`: each message as a dictionary.
func readStanzas(_ url: String, count: Int) throws -> (status: Int32, messages: [[String: Any]], output: String) {
    let client = try runCommand([
        "/usr/bin/env", "python3", packageRoot + "/Tests/Fixtures/websocket/stanzas.py", url, String(count),
    ])
    let messages = client.stdout.split(separator: "\n").compactMap {
        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    return (client.status, messages, "\(client)")
}

@Suite("the dante example", .serialized)
struct DanteExampleTests {
    @Test(arguments: ["pipe", "port", "fd"])
    func dante_servesThePage_andStreamsTheCantoInOrder_throughTheProxy(handoff: String) throws {
        guard (try? runCommand(["/usr/bin/env", "node", "--version"]))?.status == 0 else {
            print("skipped the dante test: node is not installed (scripts/demo installs it)")
            return
        }
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        // What a user types; the route and the watch list come from the example's own hostctl.yml.
        let add = try t.hostctl(
            [
                "add", "dante", packageRoot + "/examples/dante", "--handoff", handoff, "--workers", "2",
                "--env", "STANZA_INTERVAL_MS=50",
            ])
        #expect(add.status == 0, "\(add)")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        #expect(httpGet(listen, "/dante").contains("\r\nLocation: /dante/\r\n"))
        let page = httpGet(listen, "/dante/")
        #expect(page.hasPrefix("HTTP/1.1 200") && page.contains("<title>Inferno, Canto I</title>"), "\(page)")
        let read = try readStanzas("ws://\(listen)/dante/", count: 2)
        #expect(read.status == 0, "\(read.output)")
        #expect(read.messages.map { $0["index"] as? Int } == [1, 2, 1], "\(read.output)")
        #expect(read.messages.prefix(2).map { $0["text"] as? String } == cantoStanzas.prefix(2).map { $0 })
        #expect(read.messages.first?["total"] as? Int == 46)
    }

    @Test func reloadsUnderLoad_with20Streams_dropNothing_andNewStreamsLandOnNewWorkers() throws {
        guard (try? runCommand(["/usr/bin/env", "node", "--version"]))?.status == 0 else {
            print("skipped the dante reload test: node is not installed (scripts/demo installs it)")
            return
        }
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        let add = try t.hostctl(
            ["add", "dante", packageRoot + "/examples/dante", "--workers", "2", "--env", "STANZA_INTERVAL_MS=60"])
        #expect(add.status == 0, "\(add)")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        let oldWorkers = Set(try t.workers("dante").compactMap { $0["pid"] as? Int })
        // 20 streams, each taking about 3 s to recite the canto.
        let streams = Process()
        streams.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        streams.arguments = [
            "python3", packageRoot + "/Tests/Fixtures/websocket/streams.py", "ws://\(listen)/dante/", "20",
        ]
        let output = Pipe()
        streams.standardOutput = output
        try streams.run()
        let reader = output.fileHandleForReading
        var text = ""
        while !text.contains("open\n") {
            let data = reader.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        #expect(text.hasPrefix("open\n"), "\(text)")
        let load = LoadGenerator(listen, path: "/dante/canto1.txt", threads: 2)
        for _ in 1...3 {
            let r = try t.hostctl(["reload", "dante"])
            #expect(r.status == 0, "\(r)")
        }
        let result = load.finish()
        #expect(result.failures.isEmpty, "\(result.failures.count) failed: \(result.failures.prefix(3))")
        #expect(result.answered > 0)
        // A stream opened now is served by a new worker.
        let late = try readStanzas("ws://\(listen)/dante/", count: 1)
        let latePID = try #require((late.messages.first?["worker"] as? [String: Any])?["pid"] as? Int, "\(late.output)")
        #expect(!oldWorkers.contains(latePID))
        // Every stream opened before the reloads recites the whole canto on its old worker.
        text += String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
        streams.waitUntilExit()
        let summaries = text.split(separator: "\n").dropFirst().compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(summaries.count == 20, "\(text)")
        for summary in summaries {
            #expect(
                summary["stanzas"] as? Int == 46 && summary["ordered"] as? Bool == true
                    && summary["code"] as? Int == 1000,
                "\(summary)")
            #expect(oldWorkers.contains(summary["worker"] as? Int ?? 0))
        }
    }

    @Test func browser_loadsThePageThroughHostctl_andShowsTheFirstStanza() throws {
        let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let browser, (try? runCommand(["/usr/bin/env", "node", "--version"]))?.status == 0 else {
            print("skipped the browser test: it needs chromium and node (scripts/test installs them where apt can)")
            return
        }
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        let add = try t.hostctl(["add", "dante", packageRoot + "/examples/dante", "--env", "STANZA_INTERVAL_MS=100"])
        #expect(add.status == 0, "\(add)")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        // Headless Chromium runs the page's script, which opens the WebSocket through hostctl; the first
        // stanza must show in the DOM within 5 s (read through the DevTools protocol).
        let started = Date()
        let run = try runCommand([
            "/usr/bin/env", "python3", packageRoot + "/Tests/Fixtures/browser/first_stanza.py", browser,
            "http://\(listen)/dante/",
        ])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == (cantoStanzas.first ?? "?") + "\n", "\(run)")
        #expect(Date().timeIntervalSince(started) < 15, "the first stanza came late")
    }

    @Test func dantePython_streamsTheSameCanto_onItsOwnRoute() throws {
        guard pythonHas("aiohttp") else {
            print("skipped the dante-py test: python3 cannot import aiohttp (scripts/test installs it with pip)")
            return
        }
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        let add = try t.hostctl(
            ["add", "dante-py", packageRoot + "/examples/dante-py", "--env", "STANZA_INTERVAL_MS=50"])
        #expect(add.status == 0, "\(add)")
        #expect(try t.hostctl(["start"]).status == 0)
        let listen = try #require((try t.status()?["listen"] as? [String])?.first)
        #expect(httpGet(listen, "/dante-py/").contains("<title>Inferno, Canto I</title>"))
        let read = try readStanzas("ws://\(listen)/dante-py/", count: 2)
        #expect(read.status == 0, "\(read.output)")
        #expect(read.messages.prefix(2).map { $0["text"] as? String } == cantoStanzas.prefix(2).map { $0 })
    }
}
