public import HostSupport

/// What `hostctl add` asks for: the app and the keys its flags set.
public struct AddRequest: Sendable {
    /// The app's name, already checked.
    public var name: String
    /// The leaves the flags set (`name`, `directory`, `command`, `workers`, `route.path`, `env.X`, …),
    /// each already checked with the key's rules.
    public var values: [String: ConfigValue]
    /// Replace an existing config with other settings.
    public var force: Bool

    /// Creates a request.
    public init(name: String, values: [String: ConfigValue], force: Bool) {
        self.name = name
        self.values = values
        self.force = force
    }
}

/// What `add` did.
public enum AddOutcome: Sendable, Equatable {
    /// A new handler config was written.
    case created
    /// The app existed with the same settings; nothing was written.
    case unchanged
    /// The app existed with other settings and `--force` replaced it; the differences are listed.
    case replaced([String])
}

extension AppCatalog {
    /// The keys `add` can set; two adds with the same values for these are the same settings.
    static func isAddKey(_ path: String) -> Bool {
        ["name", "directory", "command", "workers", "handoff", "route.path", "route.hosts", "ready.mode", "user"]
            .contains(path) || path.hasPrefix("env.")
    }

    /// Writes the handler config for `request`, atomically and under the home's lock.
    ///
    /// Adding a name that exists with the same settings changes nothing; with other settings it
    /// fails, naming what differs, unless `force` is set.
    public func add(_ request: AddRequest) throws(HostConfigError) -> AddOutcome {
        let path = layout.handlerConfigPath(request.name)
        let text = HandlerConfigRenderer.render(name: request.name, values: request.values)
        // What we write must read back as exactly what we were asked for.
        let (written, problems) = ConfigDecoder.decode(text, file: path, kind: .handler)
        guard problems.isEmpty, written.values.mapValues(\.value) == request.values else {
            preconditionFailure(
                "internal inconsistency: the handler config for \(request.name) does not read back: \(problems)")
        }
        try Self.converting { () throws(SystemError) in try layout.create() }
        let lock = try Self.converting { () throws(SystemError) in try FileLock(path: layout.lockPath) }
        defer { lock.unlock() }
        var outcome = AddOutcome.created
        if FileSystem.kind(of: path) != .missing {
            let existing: [String: ConfigValue]
            switch readLayer(path, kind: .handler) {
            case .success(let layer): existing = layer.values.mapValues(\.value)
            case .failure(let problems):
                guard request.force else {
                    throw HostConfigError(
                        .invalidConfig, "app '\(request.name)' exists but its handler config has problems",
                        hint: "fix \(path) or pass --force to replace it", diagnostics: problems.diagnostics)
                }
                try checkRouteIsFree(written, request: request, path: path)
                try Self.converting { () throws(SystemError) in try AtomicFile.write(text, to: path, mode: 0o644) }
                return .replaced(["the old config had problems"])
            }
            let differences = Self.differences(from: existing, to: request.values)
            if differences.isEmpty { return .unchanged }
            guard request.force else {
                throw HostConfigError(
                    .appExists,
                    "app '\(request.name)' already exists with other settings: \(differences.joined(separator: "; "))",
                    hint: "pass --force to replace \(path), or `hostctl remove \(request.name)` first")
            }
            outcome = .replaced(differences)
        }
        try checkRouteIsFree(written, request: request, path: path)
        try Self.converting { () throws(SystemError) in try AtomicFile.write(text, to: path, mode: 0o644) }
        return outcome
    }

    /// Refuses an app whose route (with its override and the global defaults) another app of this
    /// home already has.
    ///
    /// With a global config that has problems there is nothing to resolve against:
    /// the add goes on, and its caller reports them.
    func checkRouteIsFree(_ handler: ConfigLayer, request: AddRequest, path: String) throws(HostConfigError) {
        guard case .success(let global) = GlobalConfig.load(path: layout.globalConfigPath) else { return }
        var override: ConfigLayer?
        if case .string(let directory)? = request.values["directory"] {
            let overridePath = HomeLayout.overridePath(directory: directory)
            if overridePath != layout.globalConfigPath, FileSystem.kind(of: overridePath) != .missing,
                case .success(let layer) = readLayer(overridePath, kind: .override)
            {
                override = layer
            }
        }
        guard
            case .success(let app) = ResolvedApp.resolve(
                name: request.name, globalDefaults: global.appDefaults, handler: handler, handlerFile: path,
                override: override)
        else { return }
        for name in (try? appNames()) ?? [] where name != request.name {
            guard let other = load(name, global: global).resolved?.config, RouteConflicts.overlap(app.config, other)
            else { continue }
            let hint: String
            if case .override(let location)? = app.values["route.path"]?.source {
                hint =
                    "route.path is set in \(location.file):\(location.line); change it there, or `hostctl remove \(name)` first"
            } else {
                hint = "pass another --route (or --host), or `hostctl remove \(name)` first"
            }
            throw HostConfigError(
                .routeTaken, "route \(RouteConflicts.describe(app.config)) is already the route of app '\(name)'",
                hint: hint)
        }
    }

    /// `key: old → new` for every add-controlled key that differs.
    static func differences(from old: [String: ConfigValue], to new: [String: ConfigValue]) -> [String] {
        let paths = Set(old.keys.filter(isAddKey)).union(new.keys.filter(isAddKey))
        let order = ConfigSchema.appKeys.map(\.path)
        let sorted = paths.sorted { a, b in
            let ia = order.firstIndex(of: a.hasPrefix("env.") ? "env" : a) ?? order.count
            let ib = order.firstIndex(of: b.hasPrefix("env.") ? "env" : b) ?? order.count
            return ia == ib ? a < b : ia < ib
        }
        return sorted.compactMap { path in
            let before = old[path]
            let after = new[path]
            guard before != after else { return nil }
            return "\(path): \(before?.yaml ?? "(default)") → \(after?.yaml ?? "(default)")"
        }
    }

    /// For each key in `paths`, where the app override in `directory` sets it, if it does.
    public func shadowingOverride(directory: String, paths: [String]) -> [(
        path: String, location: SourceLocation, value: ConfigValue
    )] {
        let overridePath = HomeLayout.overridePath(directory: directory)
        guard overridePath != layout.globalConfigPath, FileSystem.kind(of: overridePath) == .file,
            case .success(let layer) = readLayer(overridePath, kind: .override)
        else { return [] }
        return paths.compactMap { path in
            layer.values[path].map { (path, $0.location, $0.value) }
        }
    }
}
