public import HostSupport

/// The apps of one home: reading, adding and removing their handler configs.
///
/// Every change takes the home's lock (`<config>/apps/.lock`) for the whole read-compare-write, so
/// concurrent `hostctl add` processes leave whole files and one clear winner per name.
public struct AppCatalog: Sendable {
    /// The home's directories.
    public let layout: HomeLayout

    /// A catalog over `layout`.
    public init(layout: HomeLayout) { self.layout = layout }

    /// The names of the apps that have a handler config, sorted.
    ///
    /// Files whose names are not app
    /// names are listed by `check` as problems, not here.
    public func appNames() throws(SystemError) -> [String] {
        try handlerFiles().filter { ValueRules.checkAppName($0) == nil }
    }

    /// The stems of every `*.yml` in the apps directory (dot-files excluded), sorted.
    public func handlerFiles() throws(SystemError) -> [String] {
        switch FileSystem.kind(of: layout.appsDirectory) {
        case .missing: return []
        case .directory: break
        default:
            throw SystemError(
                errno: 20, action: "cannot list \(layout.appsDirectory)", hint: "it should be a directory")
        }
        return try DirectoryListing.names(in: layout.appsDirectory)
            .filter { $0.hasSuffix(".yml") && !$0.hasPrefix(".") }
            .map { String($0.dropLast(4)) }
            .sorted()
    }

    /// The result of loading one app: its effective config, or every problem found on the way.
    public struct LoadedApp: Sendable {
        /// The app's name.
        public var name: String
        /// `<config>/apps/<name>.yml`.
        public var handlerPath: String
        /// The override file, when the app's directory has one.
        public var overridePath: String?
        /// The effective config, when every file decoded cleanly.
        public var resolved: ResolvedApp?
        /// Every problem, in file order.
        public var diagnostics: [ConfigDiagnostic]
    }

    /// Loads one app: its handler config, its override, and the global defaults.
    public func load(_ name: String, global: GlobalConfig) -> LoadedApp {
        let handlerPath = layout.handlerConfigPath(name)
        var loaded = LoadedApp(name: name, handlerPath: handlerPath, overridePath: nil, resolved: nil, diagnostics: [])
        let handler: ConfigLayer
        switch readLayer(handlerPath, kind: .handler) {
        case .success(let layer): handler = layer
        case .failure(let problems):
            loaded.diagnostics = problems.diagnostics
            return loaded
        }
        if let written = handler.values["name"], written.value != .string(name) {
            loaded.diagnostics.append(
                ConfigDiagnostic(
                    written.location,
                    "name '\(written.value.stringValue ?? "")' does not match the file name \(name).yml; make them the same"
                ))
        }
        if case .string(let directory)? = handler.values["directory"]?.value {
            if FileSystem.kind(of: directory) != .directory, let location = handler.values["directory"]?.location {
                loaded.diagnostics.append(
                    ConfigDiagnostic(
                        location,
                        "directory: \(directory) does not exist or is not a directory; create it or fix the path"))
            }
            let overridePath = HomeLayout.overridePath(directory: directory)
            if overridePath != layout.globalConfigPath, FileSystem.kind(of: overridePath) != .missing {
                loaded.overridePath = overridePath
            }
        }
        var override: ConfigLayer?
        if let overridePath = loaded.overridePath {
            switch readLayer(overridePath, kind: .override) {
            case .success(let layer): override = layer
            case .failure(let problems): loaded.diagnostics += problems.diagnostics
            }
        }
        guard loaded.diagnostics.isEmpty else { return loaded }
        switch ResolvedApp.resolve(
            name: name, globalDefaults: global.appDefaults, handler: handler, handlerFile: handlerPath,
            override: override)
        {
        case .success(let resolved): loaded.resolved = resolved
        case .failure(let problem): loaded.diagnostics.append(problem)
        }
        return loaded
    }

    /// Reads and decodes one file.
    func readLayer(_ path: String, kind: ConfigFileKind) -> Result<ConfigLayer, ConfigProblems> {
        switch ConfigText.read(path) {
        case .failure(let problem): return .failure(ConfigProblems([problem]))
        case .success(let text):
            let (layer, problems) = ConfigDecoder.decode(text, file: path, kind: kind)
            return problems.isEmpty ? .success(layer) : .failure(ConfigProblems(problems))
        }
    }

    /// Removes an app's handler config (and with `purgeLogs` its log directory).
    public func remove(_ name: String, purgeLogs: Bool) throws(HostConfigError) {
        if let problem = ValueRules.checkAppName(name) { throw .invalid(problem) }
        let path = layout.handlerConfigPath(name)
        guard FileSystem.kind(of: path) == .file else {
            throw HostConfigError(
                .appNotFound, "no app named '\(name)'", hint: "`hostctl list` shows the apps of this home")
        }
        let lock = try Self.converting { () throws(SystemError) in try FileLock(path: layout.lockPath) }
        defer { lock.unlock() }
        try Self.converting { () throws(SystemError) in try AtomicFile.remove(path) }
        if purgeLogs {
            try Self.converting { () throws(SystemError) in
                try DirectoryListing.removeTree(layout.appLogsDirectory(name))
            }
        }
    }

    /// Runs `body`, turning a failed system call into this target's error type.
    static func converting<T>(_ body: () throws(SystemError) -> T) throws(HostConfigError) -> T {
        do {
            return try body()
        } catch {
            throw HostConfigError(.unreadable, error.summary, hint: error.hint)
        }
    }
}
