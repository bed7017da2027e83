import ArgumentParser
import HostConfig

/// `hostctl list`: the apps of the home with their main settings.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the apps of this home.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONOption

    func run() throws {
        let layout = global.layout
        let catalog = AppCatalog(layout: layout)
        let names = try catalog.appNames()
        let globalConfig = ConfigLoading.globalOrBuiltIn(layout)
        let apps = names.map { catalog.load($0, global: globalConfig) }
        if output.json {
            Output.line(JSONValue.object([("apps", .array(apps.map(Self.json)))]).text)
            return
        }
        guard !apps.isEmpty else {
            Output.line("no apps in \(layout.appsDirectory); add one with `hostctl add NAME DIR`")
            return
        }
        var rows = [["NAME", "WORKERS", "HANDOFF", "ROUTE", "COMMAND", "DIRECTORY"]]
        for app in apps {
            guard let config = app.resolved?.config else {
                rows.append([app.name, "-", "-", "-", "-", "invalid: \(app.diagnostics.first?.description ?? "")"])
                continue
            }
            let route =
                config.route.hosts.isEmpty
                ? config.route.path : config.route.hosts.joined(separator: ",") + config.route.path
            rows.append([
                config.name, config.workers == 0 ? "auto" : String(config.workers), config.handoff.rawValue, route,
                CommandSplitter.join(config.command), config.directory,
            ])
        }
        Output.standardOutput(Output.table(rows))
        let invalid = apps.filter { $0.resolved == nil }.count
        if invalid > 0 {
            Output.warning(
                "\(invalid) app\(invalid == 1 ? " has" : "s have") config problems; `hostctl check` lists them")
        }
    }

    private static func json(_ app: AppCatalog.LoadedApp) -> JSONValue {
        guard let config = app.resolved?.config else {
            return .object([
                ("name", .string(app.name)), ("config", .string(app.handlerPath)),
                ("error", .string(app.diagnostics.first?.description ?? "invalid config")),
            ])
        }
        return .object([
            ("name", .string(config.name)), ("directory", .string(config.directory)),
            ("command", .array(config.command.map(JSONValue.string))), ("workers", .int(config.workers)),
            ("handoff", .string(config.handoff.rawValue)), ("route", .string(config.route.path)),
            ("hosts", .array(config.route.hosts.map(JSONValue.string))), ("config", .string(app.handlerPath)),
            ("error", .null),
        ])
    }
}
