import ArgumentParser
import HostConfig
import HostSupport

/// `hostctl show NAME`: the effective config, with where each value came from.
struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show an app's effective config, with the source of each value.",
        discussion: """
            Sources, lowest precedence first: default (built in), global defaults (defaults: in \
            <home>/hostctl.yml), handler config (<home>/apps/NAME.yml), app override (hostctl.yml in the \
            app's directory), each with file:line.
            """)

    @Argument(help: "The app to show.")
    var name: String

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONOption

    func run() throws {
        if let problem = ValueRules.checkAppName(name) { throw CommandError(problem) }
        let layout = global.layout
        let catalog = AppCatalog(layout: layout)
        guard try catalog.appNames().contains(name) else {
            throw CommandError("no app named '\(name)'", hint: "`hostctl list` shows the apps of this home")
        }
        let loaded = catalog.load(name, global: ConfigLoading.globalOrBuiltIn(layout))
        guard let resolved = loaded.resolved else {
            throw HostConfigError(
                .invalidConfig, "\(name)'s config has problems", hint: "fix them, then `hostctl check \(name)`",
                diagnostics: loaded.diagnostics)
        }
        if output.json {
            Output.line(Self.json(resolved, loaded: loaded).text)
            return
        }
        Output.line("\(name): \(loaded.handlerPath)" + (loaded.overridePath.map { ", overridden by \($0)" } ?? ""))
        var rows = [["KEY", "VALUE", "SOURCE"]]
        for path in resolved.orderedPaths {
            guard let entry = resolved.values[path] else { continue }
            rows.append([path, entry.value.yaml, entry.source.label])
        }
        Output.standardOutput(Output.table(rows))
    }

    /// `{"name", "handler_config", "override", "config": {nested}, "sources": {"key": {...}}}`.
    static func json(_ resolved: ResolvedApp, loaded: AppCatalog.LoadedApp) -> JSONValue {
        var top: [(String, JSONValue)] = []
        var sections: [String: [(String, JSONValue)]] = [:]
        var sectionOrder: [String] = []
        for key in ConfigSchema.appKeys {
            let parts = key.path.split(separator: ".").map(String.init)
            let value: JSONValue
            if case .environment = key.kind {
                let entries = resolved.values.filter { $0.key.hasPrefix("env.") }.sorted { $0.key < $1.key }
                value = .object(entries.map { (String($0.key.dropFirst(4)), $0.value.value.json) })
            } else {
                value = resolved.values[key.path]?.value.json ?? .null
            }
            if parts.count == 1 {
                top.append((key.path, value))
            } else {
                if sections[parts[0]] == nil {
                    sectionOrder.append(parts[0])
                    top.append((parts[0], .null))
                }
                sections[parts[0], default: []].append((parts[1], value))
            }
        }
        top = top.map { pair in sections[pair.0].map { (pair.0, JSONValue.object($0)) } ?? pair }
        let sources: [(String, JSONValue)] = resolved.orderedPaths.compactMap { path in
            guard let source = resolved.values[path]?.source else { return nil }
            var fields: [(String, JSONValue)] = [("source", .string(source.kind))]
            if let location = source.location {
                fields += [("file", .string(location.file)), ("line", .int(location.line))]
            }
            return (path, .object(fields))
        }
        return .object([
            ("name", .string(resolved.config.name)), ("handler_config", .string(loaded.handlerPath)),
            ("override", loaded.overridePath.map(JSONValue.string) ?? .null),
            ("config", .object(top)), ("sources", .object(sources)),
        ])
    }
}
