import HostConfig
import HostSupport
import Testing

/// Decoding of the three kinds of config file: every kind of mistake is reported with its line and column.
@Suite("config decoding")
struct ConfigDecoderTests {
    let handlerHead = "name: dante\ndirectory: /srv/dante\ncommand: [node, server.js]\n"

    func problems(_ text: String, _ kind: ConfigFileKind = .handler) -> [String] {
        ConfigDecoder.decode(text, file: "f.yml", kind: kind).1.map(\.description)
    }

    @Test func validHandlerConfig_decodesEveryKey() throws {
        let text =
            handlerHead + """
                workers: 4
                handoff: port
                route: {path: /d/, hosts: [Example.COM], strip_prefix: false}
                env: {A: "1", B: two, C: 3}
                user: root
                ready: {mode: notify, timeout: 2m}
                watchdog: 10s
                restart: {policy: always, backoff: 50ms..10s, burst: 3, interval: 30s}
                stop: {signal: SIGINT, timeout: 0}
                watch: ["*.js", "lib/**/*.js"]
                limits: {max_memory: 512MiB, max_requests: 1000, max_concurrent_requests: 8}
                logs: {max_size: 1GiB, max_files: 3, target: both}
                """
        let (layer, problems) = ConfigDecoder.decode(text, file: "f.yml", kind: .handler)
        #expect(problems.isEmpty, "\(problems)")
        #expect(layer["workers"] == .int(4))
        #expect(layer["route.path"] == .string("/d"))
        #expect(layer["route.hosts"] == .strings(["example.com"]))
        #expect(layer["env.C"] == .string("3"))
        #expect(layer["ready.timeout"] == .duration(.seconds(120)))
        #expect(layer["restart.backoff"] == .backoff(.milliseconds(50)...(.seconds(10))))
        #expect(layer["stop.signal"] == .string("INT"))
        #expect(layer["stop.timeout"] == .duration(.zero))
        #expect(layer["limits.max_memory"] == .bytes(.mebibytes(512)))
        #expect(layer["logs.target"] == .string("both"))
        #expect(layer.values["workers"]?.location == SourceLocation(file: "f.yml", line: 4, column: 10))
    }

    @Test(arguments: [
        ("wrokers: 2", "f.yml:4:1: error: unknown key 'wrokers' (did you mean 'workers'?)"),
        ("workers: two", "f.yml:4:10: error: workers: expected a whole number, found 'two'"),
        ("workers: \"2\"", "f.yml:4:10: error: workers: expected a whole number"),
        ("workers: 300", "f.yml:4:10: error: workers: 300 is out of range; use 0 to 256 (0 means one per CPU)"),
        ("workers: [1]", "f.yml:4:10: error: workers: expected a whole number, found a list"),
        ("handoff: pip", "f.yml:4:10: error: handoff: unknown value 'pip' (did you mean 'pipe'?)"),
        ("route: /x", "f.yml:4:8: error: 'route' holds keys (hosts, path, strip_prefix), found '/x'"),
        ("route:\n  pth: /x", "f.yml:5:3: error: unknown key 'route.pth' (did you mean 'route.path'?)"),
        ("route:\n  path: x", "f.yml:5:9: error: route.path: route 'x' must start with '/'"),
        ("route:\n  hosts: [a..b]", "f.yml:5:10: error: route.hosts: invalid host name 'a..b'"),
        ("route:\n  strip_prefix: yes", "f.yml:5:17: error: route.strip_prefix: expected true or false"),
        ("env: [A]", "f.yml:4:6: error: env: expected NAME: value lines, found a list"),
        ("env:\n  PORT: 1", "f.yml:5:3: error: env: PORT is set by hostctl"),
        ("env:\n  A-B: 1", "f.yml:5:3: error: env: invalid environment variable name 'A-B'"),
        ("user: nobody-at-all-here", "f.yml:4:7: error: user: unknown user 'nobody-at-all-here'"),
        ("ready:\n  timeout: 30", "f.yml:5:12: error: ready.timeout: '30' is not a duration"),
        ("ready:\n  timeout: 0s", "f.yml:5:12: error: ready.timeout: must be more than 0"),
        ("watchdog: 5 s", "f.yml:4:11: error: watchdog: '5 s' is not a duration"),
        ("restart:\n  backoff: 1s", "f.yml:5:12: error: restart.backoff: '1s' is not a backoff range"),
        ("restart:\n  policy: sometimes", "f.yml:5:11: error: restart.policy: unknown value 'sometimes'"),
        ("stop:\n  signal: STOP", "f.yml:5:11: error: stop.signal: unknown signal 'STOP'"),
        ("watch: [/etc/passwd]", "f.yml:4:8: error: watch: watch pattern '/etc/passwd' must be relative"),
        ("watch: [../x]", "f.yml:4:8: error: watch: watch pattern '../x' leaves the app directory"),
        ("limits:\n  max_memory: 10 bananas", "f.yml:5:15: error: limits.max_memory: '10 bananas' is not a size"),
        ("logs:\n  max_size: 0", "f.yml:5:13: error: logs.max_size: must be more than 0"),
        ("logs:\n  max_files: 0", "f.yml:5:14: error: logs.max_files: 0 is out of range; use 1 to 1000"),
        ("workers: 1\nworkers: 2", "f.yml:5:1: error: duplicate key 'workers'"),
        ("workers: [1", "f.yml:5:1: error: malformed YAML"),
        ("\tworkers: 1", "f.yml:4:1: error: malformed YAML"),
    ])
    func mistakeInHandlerConfig_isReportedAtItsPlace(line: String, expected: String) {
        let found = problems(handlerHead + line + "\n")
        #expect(found.contains { $0.hasPrefix(expected) }, "\(found)")
    }

    @Test func missingRequiredKeys_areReported() {
        let found = problems("workers: 1\n")
        #expect(
            found.contains(
                "f.yml:1:1: error: missing key 'name'; the handler config must set name, directory and command"))
        #expect(found.contains { $0.contains("missing key 'directory'") })
        #expect(found.contains { $0.contains("missing key 'command'") })
    }

    @Test func topLevelThatIsNotAMapping_isReported() {
        #expect(
            problems("- a\n- b\n", .override).first?.hasPrefix("f.yml:1:1: error: expected keys at the top level")
                == true)
    }

    @Test func emptyFile_isAnEmptyOverride() {
        let (layer, problems) = ConfigDecoder.decode("# nothing\n", file: "f.yml", kind: .override)
        #expect(problems.isEmpty)
        #expect(layer.values.isEmpty)
    }

    @Test(arguments: [
        ("name: x", "f.yml:1:1: error: 'name' can only be set in the app's handler config"),
        ("directory: /x", "f.yml:1:1: error: 'directory' can only be set in the app's handler config"),
        ("workers: many", "f.yml:1:10: error: workers: expected a whole number"),
        ("logs:\n  target: syslog", "f.yml:2:11: error: logs.target: unknown value 'syslog'"),
        ("command: \"node 'x\"", "f.yml:1:10: error: command: the command has an unclosed single quote"),
        ("command: [node, \"${NOPE}\"]", "f.yml:1:10: error: command: unknown reference '${NOPE}'"),
        ("command: []", "f.yml:1:10: error: command: the command is empty"),
    ])
    func mistakeInOverride_isReportedAtItsPlace(text: String, expected: String) {
        let found = problems(text + "\n", .override)
        #expect(found.contains { $0.hasPrefix(expected) }, "\(found)")
    }

    @Test(arguments: [
        ("listen: 8080", "f.yml:1:9: error: listen: invalid listen address '8080'"),
        ("listen: \"[::1]:70000\"", "f.yml:1:9: error: listen: invalid port"),
        ("listen: []", "f.yml:1:9: error: listen: give at least one address"),
        ("proxy:\n  max_body: huge", "f.yml:2:13: error: proxy.max_body: 'huge' is not a size"),
        ("proxy:\n  idle_timeout: forever", "f.yml:2:17: error: proxy.idle_timeout: 'forever' is not a duration"),
        ("proxy:\n  slow_start: soon", "f.yml:2:15: error: proxy.slow_start: 'soon' is not a duration"),
        (
            "proxy:\n  trusted_proxies: [10.0.0.0/33]",
            "f.yml:2:20: error: proxy.trusted_proxies: invalid address '10.0.0.0/33'"
        ),
        ("proxy:\n  threads: -1", "f.yml:2:12: error: proxy.threads: -1 is out of range"),
        (
            "defaults:\n  wokers: 2",
            "f.yml:2:3: error: unknown key 'defaults.wokers' (did you mean 'defaults.workers'?)"
        ),
        ("defaults:\n  name: x", "f.yml:2:3: error: 'defaults.name' can only be set in the app's handler config"),
        ("lisen: 127.0.0.1:80", "f.yml:1:1: error: unknown key 'lisen' (did you mean 'listen'?)"),
    ])
    func mistakeInGlobalConfig_isReportedAtItsPlace(text: String, expected: String) {
        let found = problems(text + "\n", .global)
        #expect(found.contains { $0.hasPrefix(expected) }, "\(found)")
    }

    @Test func severalMistakes_areAllReported() {
        let found = problems(handlerHead + "workers: x\nhandoff: y\nbogus: 1\n")
        #expect(found.count == 3, "\(found)")
    }
}
