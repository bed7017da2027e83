import Foundation
import HostConfig
import HostSupport
import Testing

@Suite("handler config files and precedence")
struct RendererAndResolveTests {
    let base: [String: ConfigValue] = [
        "name": .string("dante"), "directory": .string("/srv/dante"), "command": .strings(["node", "server.js"]),
    ]

    @Test func renderedFile_readsBackAsExactlyWhatWasSet() {
        var values = base
        values["workers"] = .int(3)
        values["route.hosts"] = .strings(["a.example.com"])
        values["env.NODE_ENV"] = .string("production")
        values["env.QUOTE"] = .string("it's \"quoted\": yes")
        values["command"] = .strings(["gunicorn", "--bind", "unix:${PORT}", "app:app"])
        values["user"] = .string("root")
        let text = HandlerConfigRenderer.render(name: "dante", values: values)
        let (layer, problems) = ConfigDecoder.decode(text, file: "dante.yml", kind: .handler)
        #expect(problems.isEmpty, "\(problems)\n\(text)")
        #expect(layer.values.mapValues(\.value) == values)
    }

    @Test func renderedFile_namesEveryKeyWithItsDefault() {
        let text = HandlerConfigRenderer.render(name: "dante", values: base)
        for key in ConfigSchema.appKeys {
            #expect(text.contains("\(key.name):"), "\(key.path) missing")
            #expect(text.contains(key.summary))
        }
        #expect(text.contains("#   path: /dante"))
        #expect(text.contains("# workers: 1"))
    }

    @Test func everyCommentedDefault_uncommentedAlone_isValid() {
        let text = HandlerConfigRenderer.render(name: "dante", values: base)
        // Uncommenting every commented key (and its section line) gives a valid file equal to the defaults.
        let uncommented = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if line.hasPrefix("#   ") { return "  " + line.dropFirst(4) }
            let word = line.dropFirst(2).prefix { $0 != ":" }
            if line.hasPrefix("# "), word.count < line.count - 2, word.allSatisfy({ $0.isLowercase || $0 == "_" }) {
                return String(line.dropFirst(2))
            }
            return String(line)
        }.joined(separator: "\n")
        let (layer, problems) = ConfigDecoder.decode(uncommented, file: "dante.yml", kind: .handler)
        #expect(problems.isEmpty, "\(problems)\n\(uncommented)")
        let builtIn = ConfigDecoder.builtInLayer(appName: "dante")
        for (path, leaf) in builtIn.values { #expect(layer[path] == leaf.value, "\(path)") }
    }

    @Test func precedence_builtInThenGlobalThenHandlerThenOverride() throws {
        let global = ConfigDecoder.decode(
            "defaults:\n  workers: 2\n  handoff: port\n  env: {A: g, B: g}\n", file: "g", kind: .global
        ).0
        let handler = ConfigDecoder.decode(
            "name: dante\ndirectory: /srv\ncommand: node s.js\nhandoff: fd\nenv: {B: h, C: h}\nroute: {path: /x}\n",
            file: "h", kind: .handler
        ).0
        let override = ConfigDecoder.decode("env: {C: o}\nroute: {strip_prefix: false}\n", file: "o", kind: .override).0
        let resolved = try ResolvedApp.resolve(
            name: "dante", globalDefaults: global.subtree("defaults"), handler: handler, handlerFile: "h",
            override: override
        ).get()
        #expect(resolved.config.workers == 2)
        #expect(resolved.config.handoff == .fd)
        #expect(resolved.config.env == ["A": "g", "B": "h", "C": "o"])
        #expect(
            resolved.config.route.path == "/x" && resolved.config.route.hosts.isEmpty
                && !resolved.config.route.stripPrefix)
        #expect(resolved.config.ready.mode == .listen && resolved.config.ready.timeout == .seconds(30))
        #expect(resolved.values["workers"]?.source.kind == "global_defaults")
        #expect(
            resolved.values["route.strip_prefix"]?.source == .override(SourceLocation(file: "o", line: 2, column: 23)))
        #expect(resolved.values["logs.max_files"]?.source == .builtIn)
    }

    @Test func defaultRoute_isSlashName() {
        #expect(ConfigDecoder.builtInLayer(appName: "blog")["route.path"] == .string("/blog"))
    }
}

/// Every key the decoder accepts is documented in the hostctl.yml(5) page and the README.
@Suite("documentation")
struct DocumentationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test(arguments: ["man/hostctl.yml.5", "README.md"])
    func everyKey_isDocumented(file: String) throws {
        let text = try String(contentsOfFile: Self.root + "/" + file, encoding: .utf8)
        for path in ConfigSchema.documentedPaths {
            #expect(text.contains(path), "\(file) does not document \(path)")
        }
        for key in ConfigSchema.appKeys + ConfigSchema.globalKeys {
            if let value = key.defaultText, value != "null", value != "[]", value != "{}" {
                #expect(
                    text.contains(value.replacingOccurrences(of: "-", with: "\\-")) || text.contains(value),
                    "\(file) does not give the default \(value) of \(key.path)")
            }
        }
    }
}
