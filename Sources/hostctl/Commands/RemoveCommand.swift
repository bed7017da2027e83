import ArgumentParser
import ControlProtocol
import HostConfig

/// `hostctl remove NAME`: deletes the app's handler config.
struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract:
            "Remove an app: stop it when the daemon runs, delete its handler config (and with --purge-logs its logs).",
        discussion: "The app's own directory, and its hostctl.yml override, are left untouched.")

    @Argument(help: "The app to remove.")
    var name: String

    @Flag(help: "Also delete the app's log directory.")
    var purgeLogs = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let layout = global.layout
        if let problem = ValueRules.checkAppName(name) { throw CommandError(problem) }
        let connection = DaemonConnection(layout: layout, home: global.home)
        if connection.client.isRunning(), try AppCatalog(layout: layout).appNames().contains(name) {
            // Stop it first: nothing of a removed app keeps running.
            _ = try connection.send(ControlRequest(command: .forget, apps: [name]), timeout: nil)
        }
        try AppCatalog(layout: layout).remove(name, purgeLogs: purgeLogs)
        Output.line("removed \(name)" + (purgeLogs ? " and its logs" : ""))
    }
}
