import ArgumentParser
import HostConfig

/// Options every subcommand takes after its name.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).",
            valueName: "dir"))
    var home: String?

    /// The home's layout from --home, HOSTCTL_HOME or the defaults.
    var layout: HomeLayout {
        HomeLayout.resolve(home: home, environment: Environment.variables)
    }
}

/// The `--json` flag of read commands.
struct JSONOption: ParsableArguments {
    @Flag(name: .long, help: "Print JSON for scripts instead of text.")
    var json = false
}
