import ArgumentParser
import Foundation
import HostConfig
import HostSupport
import Systemd

/// `hostctl systemd-unit`: the systemd units that run this home's daemon.
struct SystemdUnitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "systemd-unit",
        abstract: "Print (or install) the systemd units that run the daemon.",
        discussion: """
            Prints hostctl.service: Type=notify (READY=1 once the listener is bound and the apps are up), \
            a watchdog, Restart=on-failure, KillMode=mixed so that workers get the graceful stop, \
            ExecReload sending SIGHUP, and ExecStart with this binary's absolute path and the home. With \
            --socket, also hostctl.socket, which listens on the home's listen addresses and passes the \
            sockets to the daemon (privileged ports without root in the daemon; connections queued across \
            restarts). With --install, writes them to the unit directory and prints the systemctl commands.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "A user unit (systemctl --user) instead of a system one.")
    var user = false

    @Flag(name: .long, help: "Also hostctl.socket, for socket activation.")
    var socket = false

    @Flag(name: .long, help: "Write the units to the unit directory instead of printing them.")
    var install = false

    func run() throws {
        let environment = Environment.variables
        let layout = global.layout
        let home =
            global.home.flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["HOSTCTL_HOME"].flatMap { $0.isEmpty ? nil : $0 }
        let globalConfig = ConfigLoading.globalOrBuiltIn(layout)
        var listen = globalConfig.listen
        if let fromEnvironment = environment["HOSTCTL_LISTEN"], !fromEnvironment.isEmpty {
            listen = fromEnvironment.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        }
        // systemd waits for the slowest app's stop timeout, plus a margin for the daemon itself.
        let catalog = AppCatalog(layout: layout)
        var longestStop = 30
        for name in (try? catalog.appNames()) ?? [] {
            if let stop = catalog.load(name, global: globalConfig).resolved?.config.stop.timeout {
                longestStop = max(longestStop, Int(stop.components.seconds) + 1)
            }
        }
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let template = UnitTemplate(
            executable: executable, home: home.map(FileSystem.absolutePath),
            writablePaths: home.map { [FileSystem.absolutePath($0)] }
                ?? [layout.stateDirectory, layout.logsDirectory, layout.runDirectory],
            listen: listen, user: user, socket: socket, stopTimeoutSeconds: longestStop + 10)
        guard install else {
            Output.standardOutput(template.service + (socket ? "\n" + template.socketUnit : ""))
            return
        }
        let directory = user ? Self.userUnitDirectory(environment) : "/etc/systemd/system"
        var files = [("hostctl.service", template.service)]
        if socket { files.append(("hostctl.socket", template.socketUnit)) }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CommandError(
                "cannot create \(directory): \(error.localizedDescription)",
                hint: user
                    ? nil : "system units need root; `hostctl systemd-unit --user --install` installs a user unit")
        }
        for (name, text) in files {
            do {
                try AtomicFile.write(text, to: directory + "/" + name)
            } catch {
                throw CommandError(
                    error.summary,
                    hint: user
                        ? nil : "system units need root; `hostctl systemd-unit --user --install` installs a user unit")
            }
            Output.line("wrote \(directory)/\(name)")
        }
        let systemctl = user ? "systemctl --user" : "systemctl"
        Output.line("now run:")
        Output.line("  \(systemctl) daemon-reload")
        Output.line("  \(systemctl) enable --now \(socket ? "hostctl.socket hostctl.service" : "hostctl.service")")
    }

    /// `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`.
    static func userUnitDirectory(_ environment: [String: String]) -> String {
        if let config = environment["XDG_CONFIG_HOME"], config.hasPrefix("/") { return config + "/systemd/user" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.config/systemd/user"
    }
}
