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
    let client = try runCapturing([
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
