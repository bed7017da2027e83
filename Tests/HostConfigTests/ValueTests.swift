import Foundation
import HostConfig
import Testing

@Suite("values: durations, sizes, commands, names")
struct ValueTests {
    @Test(arguments: [
        ("100ms", Duration.milliseconds(100)), ("30s", .seconds(30)), ("2m", .seconds(120)), ("1h", .seconds(3600)),
        ("1m30s", .seconds(90)), ("0", .zero), ("0s", .zero),
    ])
    func durationParses(text: String, expected: Duration) {
        #expect(ConfigDuration.parse(text) == expected)
    }

    @Test(arguments: ["", "10", "-1s", "1.5s", "5 s", "1y", "s", "99999999999999999h"])
    func durationRejects(text: String) {
        #expect(ConfigDuration.parse(text) == nil)
    }

    @Test func durationFormats_readBackExactly() {
        for text in ["100ms", "30s", "60s", "90s", "5m", "2h", "1500ms", "0s"] {
            let parsed = ConfigDuration.parse(text)
            #expect(parsed.map(ConfigDuration.format) == text)
        }
    }

    @Test(arguments: [
        ("10MiB", Int64(10 << 20)), ("512KiB", 512 << 10), ("1GiB", 1 << 30), ("100MB", 100_000_000), ("4096", 4096),
        ("64K", 64 << 10), ("1.5GiB", 3 << 29), ("0", 0),
    ])
    func sizeParses(text: String, bytes: Int64) {
        #expect(ByteCount(parsing: text)?.bytes == bytes)
    }

    @Test(arguments: ["", "MiB", "10XB", "-1MiB", "1..2MiB", "99999999999TiB", "ten"])
    func sizeRejects(text: String) {
        #expect(ByteCount(parsing: text) == nil)
    }

    @Test(arguments: [
        ("node server.js", ["node", "server.js"]),
        ("  node   server.js  ", ["node", "server.js"]),
        (#"gunicorn --bind 'unix:${PORT}' app:app"#, ["gunicorn", "--bind", "unix:${PORT}", "app:app"]),
        (#"sh -c "echo \"hi\" \$HOME""#, ["sh", "-c", #"echo "hi" $HOME"#]),
        (#"a\ b 'c d' "e'f" ''"#, ["a b", "c d", "e'f", ""]),
        (#"x "a\nb""#, ["x", #"a\nb"#]),
    ])
    func commandSplits(line: String, expected: [String]) throws {
        #expect(try CommandSplitter.split(line).get() == expected)
    }

    @Test(arguments: ["node 'x", #"node "x"#, #"node x\"#])
    func commandSplitRejectsUnclosedQuotes(line: String) {
        #expect((try? CommandSplitter.split(line).get()) == nil)
    }

    @Test func commandJoin_roundTrips() throws {
        let arguments = ["gunicorn", "--bind", "unix:${PORT}", "it's", "a b", ""]
        #expect(try CommandSplitter.split(CommandSplitter.join(arguments)).get() == arguments)
    }

    @Test(arguments: ["dante", "a", "0", "my-app-2", String(repeating: "a", count: 63)])
    func appNameAccepts(name: String) {
        #expect(ValueRules.checkAppName(name) == nil)
    }

    @Test(arguments: ["", "Dante", "-x", "a_b", "../x", "a.b", "a b", String(repeating: "a", count: 64), "é"])
    func appNameRejects(name: String) {
        #expect(ValueRules.checkAppName(name) != nil)
    }

    @Test func routePathNormalises() throws {
        #expect(try ValueRules.normaliseRoutePath("/dante/").get() == "/dante")
        #expect(try ValueRules.normaliseRoutePath("/").get() == "/")
        #expect(try ValueRules.normaliseRoutePath("/a/b-c_d.e~f").get() == "/a/b-c_d.e~f")
        for bad in ["dante", "/a//b", "/a/../b", "/a b", "/a?b", "/a#b"] {
            #expect((try? ValueRules.normaliseRoutePath(bad).get()) == nil, "\(bad)")
        }
    }

    @Test func hostsNormalise() throws {
        #expect(try ValueRules.normaliseHost("Example.COM").get() == "example.com")
        #expect(try ValueRules.normaliseHost("*.example.com").get() == "*.example.com")
        for bad in ["", "a..b", "-a.com", "a.com:80", "*", "a_b.com", "*.*.com"] {
            #expect((try? ValueRules.normaliseHost(bad).get()) == nil, "\(bad)")
        }
    }

    @Test func listenAddresses() {
        for good in ["127.0.0.1:8080", "0.0.0.0:80", "[::1]:0", "localhost:8080", "[::]:443"] {
            #expect(ValueRules.checkListenAddress(good) == nil, "\(good)")
        }
        for bad in ["8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:80", "[::1]80", "[zz]:80"] {
            #expect(ValueRules.checkListenAddress(bad) != nil, "\(bad)")
        }
    }

    @Test func yamlScalarsReadBackAsStrings() throws {
        for text in [
            "true", "null", "1", "0x10", "${PORT}", "a: b", "- x", "#c", "", "it's", "\"q\"", "tab\there", "~", ".5",
        ] {
            let yaml = "command: [x, \(YAMLText.scalar(text))]"
            let (layer, problems) = ConfigDecoder.decode(yaml, file: "f", kind: .override)
            #expect(problems.isEmpty, "\(text): \(problems)")
            #expect(layer["command"] == .strings(["x", text]), "\(text)")
        }
    }

    @Test func jsonStrings_escapeWhatJSONRequires_andReadBackAsTheSameText() throws {
        #expect(JSONValue.string("a\"b\\c\n\r\t\u{07}\u{7F}é🙂").text == #""a\"b\\c\n\r\t\u0007\u007fé🙂""#)
        // Random strings of the characters around every escaping rule read back (by Foundation's
        // parser) as exactly what was written.
        let alphabet: [Character] = [
            "a", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1B}", "\u{7F}", "\u{80}", "é", "—", "🙂",
            "\u{2028}",
        ]
        var state: UInt64 = 42
        for _ in 0..<2_000 {
            var text = ""
            for _ in 0..<16 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                text.append(alphabet[Int(state >> 33) % alphabet.count])
            }
            let encoded = JSONValue.array([.string(text)]).text
            let decoded = try JSONSerialization.jsonObject(with: Data(encoded.utf8)) as? [String]
            #expect(decoded == [text], "\(encoded)")
        }
    }
}
