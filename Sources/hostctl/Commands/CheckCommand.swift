import ArgumentParser
import HostConfig
import HostSupport

/// `hostctl check [NAME]`: validates the global config, handler configs and app overrides.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the configs; print file:line:col: error: message for each problem.",
        discussion: """
            Checks the global config, then every handler config and app override (or only NAME's), and \
            that no two apps claim the same route. Exits 1 when there is any problem.
            """)

    @Argument(help: "Check only this app (and the global config).")
    var name: String?

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let layout = global.layout
        let catalog = AppCatalog(layout: layout)
        var problems: [ConfigDiagnostic] = []
        var globalConfig = GlobalConfig.builtIn(path: layout.globalConfigPath)
        switch GlobalConfig.load(path: layout.globalConfigPath) {
        case .success(let loaded): globalConfig = loaded
        case .failure(let found): problems += found.diagnostics
        }
        let files = try catalog.handlerFiles()
        let names: [String]
        if let name {
            if let problem = ValueRules.checkAppName(name) { throw CommandError(problem) }
            guard files.contains(name) else {
                throw CommandError("no app named '\(name)'", hint: "`hostctl list` shows the apps of this home")
            }
            names = [name]
        } else {
            names = files
        }
        var resolved: [ResolvedApp] = []
        for file in names {
            if let problem = ValueRules.checkAppName(file) {
                problems.append(
                    ConfigDiagnostic(
                        SourceLocation(file: layout.handlerConfigPath(file), line: 1, column: 1),
                        "the file name is not a valid app name (\(problem)); rename the file"))
                continue
            }
            let loaded = catalog.load(file, global: globalConfig)
            problems += loaded.diagnostics
            if let app = loaded.resolved { resolved.append(app) }
        }
        if let name {
            // One app: its route against every other app's (whose own problems are not this check's).
            let others = files.filter { $0 != name && ValueRules.checkAppName($0) == nil }
                .compactMap { catalog.load($0, global: globalConfig).resolved?.config }
            problems += RouteConflicts.find(in: resolved, others: others, handlerPath: layout.handlerConfigPath)
        } else {
            problems += RouteConflicts.find(in: resolved, handlerPath: layout.handlerConfigPath)
        }
        for problem in problems { Output.line(problem.description) }
        guard problems.isEmpty else {
            let fileCount = Set(problems.map(\.location.file)).count
            throw CommandError(
                "\(problems.count) problem\(problems.count == 1 ? "" : "s") in \(fileCount) file\(fileCount == 1 ? "" : "s")",
                hint: "fix the lines above, then run `hostctl check` again")
        }
        Output.line("ok: the global config and \(resolved.count) app\(resolved.count == 1 ? "" : "s") are valid")
    }
}
