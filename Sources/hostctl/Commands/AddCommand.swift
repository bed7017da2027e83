import ArgumentParser
import HostConfig
import HostSupport

#if canImport(Glibc)
    import Glibc
#endif

/// `hostctl add NAME DIR`: writes the app's handler config.
///
/// Starts nothing.
struct AddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add an app: write its handler config (this starts nothing).",
        discussion: """
            Writes <home>/apps/NAME.yml with every key, the ones given here active and the rest commented \
            with their defaults. Without --command or --entry the entry point is detected: package.json \
            "main", server.js, app.js, index.js (run with node), then app.py, main.py (run with python3). \
            Adding a name again with the same settings changes nothing; with other settings it fails \
            unless --force. An app whose route (path, and hosts if any) another app already has is \
            refused.
            """)

    @Argument(help: "The app's name: lower-case letters, digits and '-', at most 63 characters.")
    var name: String

    @Argument(help: ArgumentHelp("The app's directory; stored as an absolute, resolved path.", valueName: "dir"))
    var directory: String

    @Option(
        help: ArgumentHelp(
            "The command that runs one worker, split with shell-like quoting but never run by a shell; may use ${PORT}, ${HOSTCTL_APP}, ${HOSTCTL_WORKER}.",
            valueName: "cmd"))
    var command: String?

    @Option(
        help: ArgumentHelp(
            "The entry file inside DIR, run with node (.js, .mjs, .cjs) or python3 (.py), or itself when executable.",
            valueName: "file"))
    var entry: String?

    // Unconditional: `--workers -1` reaches the range check instead of reading as an unknown flag.
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("How many workers to run: 0 means one per CPU, at most 256 (default 1).", valueName: "n"))
    var workers: Int?

    @Option(
        help: ArgumentHelp("How a worker learns where to listen: pipe, port or fd (default pipe).", valueName: "mode"))
    var handoff: String?

    @Option(help: ArgumentHelp("The URL path prefix routed to the app (default /NAME).", valueName: "prefix"))
    var route: String?

    @Option(
        name: .customLong("host"),
        help: ArgumentHelp(
            "A host name routed to the app (exact or *.example.com); repeat for more.", valueName: "hostname"))
    var hosts: [String] = []

    @Option(
        name: .customLong("env"),
        help: ArgumentHelp("An environment variable for the workers; repeat for more.", valueName: "key=value"))
    var environment: [String] = []

    @Option(
        help: ArgumentHelp(
            "When a worker is ready: listen (its endpoint accepts) or notify (it sends READY=1).", valueName: "mode"))
    var ready: String?

    @Option(help: ArgumentHelp("Run the workers as this user (the daemon must run as root).", valueName: "user"))
    var user: String?

    @Flag(help: "Replace an existing app of this name that has other settings.")
    var force = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        if let problem = ValueRules.checkAppName(name) { throw CommandError(problem) }
        let resolvedDirectory = try checkedDirectory()
        var values: [String: ConfigValue] = ["name": .string(name), "directory": .string(resolvedDirectory)]
        let resolved = try resolveCommand(in: resolvedDirectory)
        values["command"] = .strings(resolved.arguments)
        var given: [(path: String, flag: String)] = [("command", "--command")]
        func set(_ path: String, flag: String, yaml: String) throws {
            switch ConfigDecoder.decodeFlag(path, yaml: yaml) {
            case .success(let value): values[path] = value
            case .failure(let problem): throw CommandError("\(flag): \(problem.message.dropPrefix("\(path): "))")
            }
            given.append((path, flag))
        }
        if let workers { try set("workers", flag: "--workers", yaml: String(workers)) }
        if let handoff { try set("handoff", flag: "--handoff", yaml: YAMLText.scalar(handoff)) }
        if let route { try set("route.path", flag: "--route", yaml: YAMLText.scalar(route)) }
        if !hosts.isEmpty {
            try set("route.hosts", flag: "--host", yaml: "[" + hosts.map(YAMLText.scalar).joined(separator: ", ") + "]")
        }
        if let ready { try set("ready.mode", flag: "--ready", yaml: YAMLText.scalar(ready)) }
        if let user { try set("user", flag: "--user", yaml: YAMLText.scalar(user)) }
        for pair in environment {
            guard let equals = pair.firstIndex(of: "=") else {
                throw CommandError("--env \(pair): expected KEY=VALUE", hint: "write it like --env NODE_ENV=production")
            }
            let key = String(pair[..<equals])
            if let problem = ValueRules.checkEnvironmentName(key) { throw CommandError("--env: \(problem)") }
            values["env." + key] = .string(String(pair[pair.index(after: equals)...]))
            given.append(("env." + key, "--env \(key)"))
        }

        let layout = global.layout
        let catalog = AppCatalog(layout: layout)
        let outcome = try catalog.add(AddRequest(name: name, values: values, force: force))
        // What detection chose is said once the app is added (a refused add prints only its error).
        if let detected = resolved.detected { Output.line(detected) }
        if let interpreter = resolved.missingInterpreter {
            Output.warning("\(interpreter) is not on PATH; install it before starting \(name)")
        }
        let path = layout.handlerConfigPath(name)
        switch outcome {
        case .created:
            Output.line(
                "added \(name): \(CommandSplitter.join(values["command"].flatMap(Self.strings) ?? [])) in \(resolvedDirectory)"
            )
            Output.line("config: \(path)")
        case .unchanged:
            Output.line("\(name) is already added with these settings; nothing changed (\(path))")
        case .replaced(let differences):
            Output.line("replaced \(name): \(differences.joined(separator: "; "))")
            Output.line("config: \(path)")
        }
        if user != nil && getuid() != 0 {
            Output.warning("--user takes effect only when the daemon runs as root")
        }
        for shadow in catalog.shadowingOverride(directory: resolvedDirectory, paths: given.map(\.path)) {
            let flag = given.first { $0.path == shadow.path }?.flag ?? shadow.path
            Output.warning(
                "\(flag) is shadowed by \(shadow.location) (\(shadow.path): \(shadow.value.yaml)), which takes precedence"
            )
        }
        reportProblems(catalog: catalog, layout: layout)
    }

    /// DIR must exist and be a directory; returns its absolute, resolved path.
    private func checkedDirectory() throws -> String {
        let absolute = FileSystem.absolutePath(directory)
        switch FileSystem.kind(of: absolute) {
        case .directory: return FileSystem.realPath(absolute) ?? absolute
        case .missing:
            throw CommandError(
                "directory \(absolute) does not exist", hint: "create it, or pass the directory that holds the app")
        default:
            throw CommandError(
                "\(absolute) is not a directory",
                hint: "pass the directory that holds the app, not a file in it (use --entry FILE for that)")
        }
    }

    /// The command from --command, --entry, or detection; with what detection chose, and an
    /// interpreter that is not on PATH, for the caller to print once the app is added.
    private func resolveCommand(
        in directory: String
    ) throws -> (arguments: [String], detected: String?, missingInterpreter: String?) {
        if command != nil && entry != nil {
            throw CommandError("--command and --entry cannot be used together", hint: "pass one of them")
        }
        if let command {
            let arguments: [String]
            switch CommandSplitter.split(command) {
            case .success(let list): arguments = list
            case .failure(let problem): throw CommandError("--command: \(problem.message)")
            }
            if let problem = ValueRules.checkCommand(arguments) { throw CommandError("--command: \(problem)") }
            return (arguments, nil, nil)
        }
        let detection: EntryDetector.Detection
        var detected: String?
        if let entry {
            switch EntryDetector.command(forEntry: entry, in: directory) {
            case .success(let found): detection = found
            case .failure(let problem): throw CommandError("--entry: \(problem.message)")
            }
        } else {
            guard let found = EntryDetector.detect(in: directory) else {
                throw CommandError(
                    "no entry point found in \(directory) (looked for package.json \"main\", server.js, app.js, index.js, app.py, main.py)",
                    hint: "pass --command CMD or --entry FILE")
            }
            detection = found
            detected =
                "detected entry \(found.entry) (\(found.reason)); running it with \(found.interpreter ?? "itself")"
        }
        let missing = detection.interpreter.flatMap {
            FileSystem.findExecutable($0, path: Environment.variables["PATH"]) == nil ? $0 : nil
        }
        return (detection.command, detected, missing)
    }

    /// After writing: warn about problems elsewhere that would stop the app from starting.
    private func reportProblems(catalog: AppCatalog, layout: HomeLayout) {
        switch GlobalConfig.load(path: layout.globalConfigPath) {
        case .failure(let problems):
            for problem in problems.diagnostics { Output.standardError("\(problem)\n") }
            Output.warning("the global config has problems; `hostctl check` lists them")
        case .success(let global):
            let loaded = catalog.load(name, global: global)
            guard !loaded.diagnostics.isEmpty else { return }
            for problem in loaded.diagnostics { Output.standardError("\(problem)\n") }
            Output.warning("\(name) will not start until these are fixed; `hostctl check \(name)` checks again")
        }
    }

    private static func strings(_ value: ConfigValue) -> [String]? {
        if case .strings(let list) = value { return list }
        return nil
    }
}

extension String {
    /// The string without `prefix` when it starts with it.
    func dropPrefix(_ prefix: String) -> String {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self
    }
}
