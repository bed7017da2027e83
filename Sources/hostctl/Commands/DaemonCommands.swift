import ArgumentParser
import ControlProtocol
import Foundation
import HostConfig
import HostDaemon
import HostSupport

/// `hostctl serve`: the daemon in the foreground, as systemd runs it.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon in the foreground (what `hostctl start` and systemd run).",
        discussion: """
            Binds the front listener (HTTP and WebSockets routed to the apps' ready workers), starts every \
            app of the home that `hostctl stop` did not stop, restarts workers that exit, and \
            answers the other commands on <home>/run/control.sock. SIGTERM or SIGINT stops every app \
            gracefully and exits 0. One daemon per home.
            """)

    @Option(
        name: .customLong("listen"),
        help: ArgumentHelp(
            "The front listener's address, ADDR:PORT or [IPV6]:PORT (port 0 picks one); repeat for more. Default: HOSTCTL_LISTEN, else listen: in hostctl.yml, else 127.0.0.1:8080.",
            valueName: "addr:port"))
    var listen: [String] = []

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let code = try Daemon.serve(layout: global.layout, environment: Environment.variables, listen: listen)
        if code != 0 { throw ExitCode(code) }
    }
}

/// `hostctl start [NAME...]`.
struct StartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start apps (all when none are named), starting the daemon first if needed; wait until ready.",
        discussion: """
            Reads the named apps' configs from disk afresh. Exits 0 once every worker of every named app is \
            ready; exits 1 at once when a worker fails before it is ready, quoting its exit and last stderr \
            lines, while the daemon goes on restarting it. A stopped app stays stopped across daemon \
            restarts until started again. A daemon that is already running keeps its listener: when \
            HOSTCTL_LISTEN names another address, a warning says where it listens.
            """)

    @Argument(help: "The apps to start; all when none are named.")
    var names: [String] = []

    @Flag(help: "Return once the daemon accepted the request, without waiting for the workers.")
    var noWait = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        for name in names { if let problem = ValueRules.checkAppName(name) { throw CommandError(problem) } }
        let connection = DaemonConnection(layout: global.layout, home: global.home)
        let launched = try connection.ensureRunning() == .started
        if !launched { warnIfListeningElsewhere(connection) }
        let request = ControlRequest(command: .start, apps: names, wait: !noWait, launchedDaemon: launched)
        let response = try connection.send(request, timeout: nil)
        for message in response.messages { Output.line(message) }
    }

    /// A daemon that was already running keeps its listener: says so when HOSTCTL_LISTEN asks for
    /// another one (`start` would otherwise look as if it had moved it).
    private func warnIfListeningElsewhere(_ connection: DaemonConnection) {
        guard let wanted = Environment.variables["HOSTCTL_LISTEN"], !wanted.isEmpty else { return }
        let requested = wanted.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !requested.contains(where: { $0.hasSuffix(":0") }),
            let listening = try? connection.send(ControlRequest(command: .status)).status?.listen,
            Set(requested) != Set(listening)
        else { return }
        Output.warning(
            "hostctl was already running and listens on \(listening.joined(separator: ", ")), not on "
                + "\(requested.joined(separator: ", ")) (HOSTCTL_LISTEN); to move it: `hostctl shutdown`, then `hostctl start`"
        )
    }
}

/// `hostctl stop NAME... | --all`.
struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stop apps gracefully: stop signal to each worker's process group, SIGKILL after stop.timeout.",
        discussion: "A stopped app stays stopped when the daemon restarts, until `hostctl start NAME`.")

    @Argument(help: "The apps to stop.")
    var names: [String] = []

    @Flag(help: "Stop every app.")
    var all = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try checkNamesOrAll(names, all: all, verb: "stop")
        let connection = DaemonConnection(layout: global.layout, home: global.home)
        let response = try connection.send(ControlRequest(command: .stop, apps: names, all: all), timeout: nil)
        for message in response.messages { Output.line(message) }
    }
}

/// `hostctl reload NAME... | --all`.
struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Re-read apps' configs and roll their workers over without dropping a request.",
        discussion: """
            For each worker slot in turn: a replacement starts with the config read afresh; once it is \
            ready it takes the new requests and upgrades, and the old worker gets the stop signal once \
            the requests sent to it are answered (at most stop.timeout later), then keeps its open \
            WebSockets until it exits or stop.timeout passes (then SIGKILL). The app never \
            has fewer ready workers than before. A worker that is not ready yet (still starting, or \
            waiting to restart after a crash) is replaced at once by one on the new config. A \
            replacement that is not ready stops the reload: the old workers go on serving, and the \
            command exits 1 with the reason. A reload that comes while a worker is being recycled \
            (limits.max_requests, limits.max_memory) follows the recycle. A replacement starts \
            under SCHED_IDLE, so that the workers serving come first, until it is ready; still \
            starting after 1 s (half its ready.timeout if shorter) it goes on at nice 10 above the \
            daemon's, and at half its ready.timeout at the daemon's priority. This is done where the \
            daemon can give the priority back (root, or an RLIMIT_NICE that allows the daemon's nice \
            value); otherwise replacements start at the daemon's priority.
            """)

    @Argument(help: "The apps to reload.")
    var names: [String] = []

    @Flag(help: "Reload every running app.")
    var all = false

    @Flag(name: .customLong("no-wait"), help: "Return once the reload began instead of when it finished.")
    var noWait = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try checkNamesOrAll(names, all: all, verb: "reload")
        let connection = DaemonConnection(layout: global.layout, home: global.home)
        let response = try connection.send(
            ControlRequest(command: .reload, apps: names, all: all, wait: !noWait), timeout: nil)
        for message in response.messages { Output.line(message) }
    }
}

/// `hostctl restart NAME...`.
struct RestartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restart",
        abstract: "Stop, then start apps with their configs read afresh; wait until ready.",
        discussion: """
            The configs are checked first: when one has problems, they are printed (file:line:col) and \
            nothing is stopped. Requests that arrive while the old workers stop wait for the new ones \
            (up to ready.timeout) rather than being answered 503; `hostctl reload` replaces workers \
            one by one with no gap at all.
            """)

    @Argument(help: "The apps to restart.")
    var names: [String]

    @OptionGroup var global: GlobalOptions

    func run() throws {
        for name in names { if let problem = ValueRules.checkAppName(name) { throw CommandError(problem) } }
        let connection = DaemonConnection(layout: global.layout, home: global.home)
        let response = try connection.send(ControlRequest(command: .restart, apps: names), timeout: nil)
        for message in response.messages { Output.line(message) }
    }
}

/// `hostctl shutdown`.
struct ShutdownCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shutdown",
        abstract: "Stop every app gracefully, then the daemon; returns once it exited.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let layout = global.layout
        let connection = DaemonConnection(layout: layout, home: global.home)
        _ = try connection.send(ControlRequest(command: .shutdown))
        // The daemon holds <run>/hostctl.lock for its whole life; taking it means the daemon is gone
        // (its workers had their stop timeout first). No polling.
        let lock = open(layout.runDirectory + "/hostctl.lock", O_RDWR | O_CLOEXEC)
        if lock >= 0 {
            while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
            close(lock)
        }
        Output.line("hostctl stopped")
    }
}

/// `hostctl status [NAME] [--json]`.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon's apps and workers; --json prints the documented schema for scripts.")

    @Argument(help: "Show only this app.")
    var name: String?

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: JSONOption

    func run() throws {
        if let name, let problem = ValueRules.checkAppName(name) { throw CommandError(problem) }
        let connection = DaemonConnection(layout: global.layout, home: global.home)
        let response = try connection.send(ControlRequest(command: .status, apps: name.map { [$0] } ?? []))
        guard let status = response.status else { throw CommandError("the daemon sent no status") }
        if output.json {
            Output.line(StatusJSON.render(status).text)
            return
        }
        Output.standardOutput(StatusText.render(status))
    }
}

/// The table a person reads.
enum StatusText {
    static func render(_ status: StatusDocument) -> String {
        var text = "hostctl pid \(status.pid), up since \(status.startedAt)"
        text += status.listen.isEmpty ? "\n" : ", listening on \(status.listen.joined(separator: ", "))\n"
        if status.apps.isEmpty { return text + "no apps; add one with `hostctl add NAME DIR`\n" }
        var rows = [["APP", "STATE", "READY", "ROUTE", "REASON"]]
        for app in status.apps {
            let ready = app.workers.filter { $0.state == "ready" }.count
            rows.append([app.name, app.state, "\(ready)/\(app.workers.count)", app.route, app.reason ?? ""])
        }
        text += Output.table(rows)
        for app in status.apps where !app.workers.isEmpty && app.state != "stopped" {
            var workers = [["  \(app.name)", "SLOT", "GEN", "PID", "STATE", "RESTARTS", "RSS", "LAST EXIT"]]
            for worker in app.workers {
                let last = worker.lastExit.map { exit in
                    (exit.code.map { "status \($0)" } ?? "signal \(exit.signal ?? "?")") + " at \(exit.at)"
                }
                workers.append([
                    "", String(worker.slot), String(worker.generation), worker.pid.map(String.init) ?? "-",
                    worker.state,
                    String(worker.restarts), worker.rssBytes > 0 ? "\(worker.rssBytes / 1_048_576) MiB" : "-",
                    last ?? "-",
                ])
            }
            text += "\n" + Output.table(workers)
        }
        return text
    }
}

/// `status --json` in the order DESIGN.md documents, with every field present (null when unknown).
enum StatusJSON {
    static func render(_ status: StatusDocument) -> JSONValue {
        func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        let apps = status.apps.map { app -> JSONValue in
            let workers = app.workers.map { worker -> JSONValue in
                let lastExit: JSONValue =
                    worker.lastExit.map { exit in
                        .object([
                            ("code", exit.code.map(JSONValue.int) ?? .null), ("signal", optional(exit.signal)),
                            ("at", .string(exit.at)),
                        ])
                    } ?? .null
                return .object([
                    ("slot", .int(worker.slot)), ("generation", .int(worker.generation)),
                    ("pid", worker.pid.map(JSONValue.int) ?? .null), ("state", .string(worker.state)),
                    ("endpoint", optional(worker.endpoint)), ("started_at", optional(worker.startedAt)),
                    ("restarts", .int(worker.restarts)), ("rss_bytes", .int(worker.rssBytes)),
                    ("in_flight", .int(worker.inFlight)), ("open_connections", .int(worker.openConnections)),
                    ("status_text", optional(worker.statusText)), ("last_exit", lastExit),
                ])
            }
            return .object([
                ("name", .string(app.name)), ("state", .string(app.state)), ("reason", optional(app.reason)),
                ("route", .string(app.route)), ("dropped_log_lines", .int(app.droppedLogLines)),
                ("workers", .array(workers)),
            ])
        }
        return .object([
            ("listen", .array(status.listen.map(JSONValue.string))), ("pid", .int(status.pid)),
            ("started_at", .string(status.startedAt)), ("apps", .array(apps)),
        ])
    }
}

/// For `VERB NAME... | --all`: names or --all (not both, not neither), each name valid.
func checkNamesOrAll(_ names: [String], all: Bool, verb: String) throws {
    guard all != !names.isEmpty else {
        throw CommandError(
            all ? "name the apps to \(verb) or pass --all, not both" : "name the apps to \(verb), or pass --all",
            hint: "`hostctl \(verb) dante` or `hostctl \(verb) --all`")
    }
    for name in names { if let problem = ValueRules.checkAppName(name) { throw CommandError(problem) } }
}
