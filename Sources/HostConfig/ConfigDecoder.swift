import HostSupport
internal import Yams

/// Reads one config file's YAML into a `ConfigLayer`, checking every key and value against
/// `ConfigSchema` and reporting every problem with its line and column, never ignoring one.
public enum ConfigDecoder {
    /// Decodes `text`, read from `file` (the path shown in diagnostics), as a file of `kind`.
    ///
    /// Returns the keys that decoded cleanly and every problem found.
    public static func decode(_ text: String, file: String, kind: ConfigFileKind) -> (ConfigLayer, [ConfigDiagnostic]) {
        var walker = Walker(file: file, keys: kind.keys)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, .basic, .default, .utf8)
        } catch {
            return (ConfigLayer(), [walker.diagnostic(forYAMLError: error, text: text)])
        }
        guard let root else {
            walker.requireKeys(kind)
            return (ConfigLayer(values: walker.values), walker.diagnostics)
        }
        guard case .mapping(let mapping) = root else {
            walker.report(root, "expected keys at the top level (`key: value` lines), found \(Walker.describe(root))")
            return (ConfigLayer(), walker.diagnostics)
        }
        walker.walk(mapping, prefix: "")
        walker.requireKeys(kind)
        return (ConfigLayer(values: walker.values), walker.diagnostics)
    }

    /// The built-in defaults of an app named `name` (the route's default is `/<name>`).
    public static func builtInLayer(appName name: String) -> ConfigLayer {
        var layer = builtInAppLayer
        if let route = layer.values["route.path"] {
            layer.values["route.path"] = LocatedValue(.string("/\(name)"), at: route.location)
        }
        return layer
    }

    /// The built-in app defaults, decoded once from the schema's default texts with the same rules
    /// as a config file (so the documentation and the behaviour cannot disagree).
    private static let builtInAppLayer: ConfigLayer = {
        var values: [String: LocatedValue] = [:]
        let location = SourceLocation(file: "<built-in>", line: 0, column: 0)
        for key in ConfigSchema.appKeys {
            guard let text = key.defaultText else { continue }
            let yaml = "value: " + (key.path == "route.path" ? "/app" : text)
            let (layer, diagnostics) = decodeLeaf(key: key, yaml: yaml)
            precondition(diagnostics.isEmpty, "internal inconsistency: default of \(key.path) does not decode")
            for (path, value) in layer { values[path] = LocatedValue(value, at: location) }
        }
        return ConfigLayer(values: values)
    }()

    /// Decodes the built-in defaults of the global config (without `defaults`).
    public static func builtInGlobalLayer() -> ConfigLayer {
        var values: [String: LocatedValue] = [:]
        let location = SourceLocation(file: "<built-in>", line: 0, column: 0)
        for key in ConfigSchema.globalKeys {
            guard let text = key.defaultText else { continue }
            let (layer, diagnostics) = decodeLeaf(key: key, yaml: "value: \(text)")
            precondition(diagnostics.isEmpty, "internal inconsistency: default of \(key.path) does not decode")
            for (path, value) in layer { values[path] = LocatedValue(value, at: location) }
        }
        return ConfigLayer(values: values)
    }

    /// Decodes one value written as flag text (`--workers`, `--route`) with the key's own rules.
    public static func decodeFlag(_ path: String, yaml: String) -> Result<ConfigValue, RuleViolation> {
        guard let key = ConfigSchema.appKey(path) else { return .failure(RuleViolation("unknown key \(path)")) }
        let (values, diagnostics) = decodeLeaf(key: key, yaml: "value: \(yaml)")
        if let first = diagnostics.first { return .failure(RuleViolation(first.message)) }
        guard let value = values[key.path] else { return .failure(RuleViolation("no value for \(path)")) }
        return .success(value)
    }

    private static func decodeLeaf(key: ConfigKey, yaml: String) -> ([String: ConfigValue], [ConfigDiagnostic]) {
        var walker = Walker(file: "<value>", keys: [key.path: key])
        guard let root = try? Yams.compose(yaml: yaml, .basic, .default, .utf8), case .mapping(let mapping) = root,
            let node = mapping.first?.value
        else { return ([:], [ConfigDiagnostic(SourceLocation(file: "<value>", line: 1, column: 1), "not a value")]) }
        walker.leaf(node, key: key, path: key.path)
        return (walker.values.mapValues(\.value), walker.diagnostics)
    }
}
