import HostSupport

/// The global config, `<home>/hostctl.yml`: where the front proxy listens, its limits, and the
/// `defaults:` applied below every handler config.
public struct GlobalConfig: Sendable {
    /// The file it was read from (it may not exist: then every value is built in).
    public var path: String
    /// Every leaf of `listen` and `proxy`, built-in defaults included.
    public var values: [String: LocatedValue]
    /// The `defaults:` section, paths without the `defaults.` prefix.
    public var appDefaults: ConfigLayer

    /// The listen addresses.
    public var listen: [String] {
        if case .strings(let list)? = values["listen"]?.value { return list }
        return ["127.0.0.1:8080"]
    }

    /// Reads and checks the global config at `path`; a missing file means all defaults.
    public static func load(path: String) -> Result<GlobalConfig, ConfigProblems> {
        var values = ConfigDecoder.builtInGlobalLayer().values
        guard FileSystem.kind(of: path) != .missing else {
            return .success(GlobalConfig(path: path, values: values, appDefaults: ConfigLayer()))
        }
        let text: String
        switch ConfigText.read(path) {
        case .success(let content): text = content
        case .failure(let diagnostic): return .failure(ConfigProblems([diagnostic]))
        }
        let (layer, diagnostics) = ConfigDecoder.decode(text, file: path, kind: .global)
        guard diagnostics.isEmpty else { return .failure(ConfigProblems(diagnostics)) }
        for (key, value) in layer.values where !key.hasPrefix("defaults.") { values[key] = value }
        return .success(GlobalConfig(path: path, values: values, appDefaults: layer.subtree("defaults")))
    }
}

/// Reading config files as UTF-8 text, with failures as diagnostics at line 1.
enum ConfigText {
    static func read(_ path: String) -> Result<String, ConfigDiagnostic> {
        let location = SourceLocation(file: path, line: 1, column: 1)
        do {
            let bytes = try FileSystem.readFile(path)
            guard let text = String(validating: bytes, as: UTF8.self) else {
                return .failure(ConfigDiagnostic(location, "the file is not UTF-8 text"))
            }
            return .success(text)
        } catch {
            return .failure(ConfigDiagnostic(location, "cannot read the file: \(SystemError.describe(error.errno))"))
        }
    }
}

extension GlobalConfig {
    /// The global config with every value built in, for when the file cannot be used.
    public static func builtIn(path: String) -> GlobalConfig {
        GlobalConfig(path: path, values: ConfigDecoder.builtInGlobalLayer().values, appDefaults: ConfigLayer())
    }
}
