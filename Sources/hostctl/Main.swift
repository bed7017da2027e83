import ArgumentParser
import HostSupport

#if canImport(Glibc)
    import Glibc
#endif

/// The root command: `hostctl <subcommand>`.
@main
struct Hostctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hostctl",
        abstract: "Host web apps on this machine: workers behind one front listener, supervised.",
        discussion: """
            hostctl keeps one home directory per instance (--home DIR or HOSTCTL_HOME; otherwise \
            /etc/hostctl and friends for root, the XDG directories for other users). Exit status: 0 on \
            success, 1 for a failure you can act on (the message says what to do), 2 for arguments \
            that do not parse.
            """,
        version: "0.1.0",
        subcommands: [
            AddCommand.self, RemoveCommand.self, ListCommand.self, ShowCommand.self, CheckCommand.self,
            StartCommand.self, StopCommand.self, RestartCommand.self, ReloadCommand.self, StatusCommand.self,
            ShutdownCommand.self,
            ServeCommand.self, LogsCommand.self, SystemdUnitCommand.self,
        ]
    )

    /// Parses the arguments and runs the command, mapping every failure to the exit codes of the
    /// CLI contract: usage errors exit 2 (argument-parser's own default would be 64).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
            Glibc.exit(0)
        } catch let error as any ActionableError {
            Glibc.exit(ErrorPresenter.present(error))
        } catch {
            // Help, version, completion scripts and usage errors, as argument-parser describes them.
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                Output.standardOutput(message + (message.isEmpty || message.hasSuffix("\n") ? "" : "\n"))
                Glibc.exit(0)
            }
            Output.standardError(message + "\n")
            Glibc.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}
