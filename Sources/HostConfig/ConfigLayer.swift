public import HostSupport

/// A value read from a file, with where it was written.
public struct LocatedValue: Sendable, Hashable {
    /// The typed value.
    public var value: ConfigValue
    /// Where its text starts.
    public var location: SourceLocation

    /// Creates a located value.
    public init(_ value: ConfigValue, at location: SourceLocation) {
        self.value = value
        self.location = location
    }
}

/// The keys one config file sets, by dotted path (`workers`, `route.path`, `env.NODE_ENV`).
///
/// Maps such as `env` are flattened to one leaf per entry, so that layering merges them key by key
/// while lists and scalars replace whole.
public struct ConfigLayer: Sendable, Hashable {
    /// The leaves this file sets.
    public var values: [String: LocatedValue]

    /// Creates a layer.
    public init(values: [String: LocatedValue] = [:]) { self.values = values }

    /// The value at `path`, if this layer sets it.
    public subscript(path: String) -> ConfigValue? { values[path]?.value }

    /// The leaves under `prefix.`, with the prefix removed (`defaults.workers` → `workers`).
    public func subtree(_ prefix: String) -> ConfigLayer {
        var out: [String: LocatedValue] = [:]
        for (path, value) in values where path.hasPrefix(prefix + ".") {
            out[String(path.dropFirst(prefix.count + 1))] = value
        }
        return ConfigLayer(values: out)
    }
}

/// Which file a layer was read from; decides which keys it may hold.
public enum ConfigFileKind: Sendable {
    /// `<home>/apps/<name>.yml`: every app key; name and directory required.
    case handler
    /// `hostctl.yml` in an app's directory: app keys except name and directory.
    case override
    /// `<home>/hostctl.yml`: listen, proxy, defaults.
    case global

    /// The keys this kind of file may set, by dotted path.
    var keys: [String: ConfigKey] {
        switch self {
        case .handler: return Self.handlerKeys
        case .override: return Self.overrideKeys
        case .global: return Self.globalKeys
        }
    }

    private static let handlerKeys = Dictionary(uniqueKeysWithValues: ConfigSchema.appKeys.map { ($0.path, $0) })
    private static let overrideKeys = handlerKeys.filter { !ConfigSchema.handlerOnlyKeys.contains($0.key) }
    private static let globalKeys: [String: ConfigKey] = {
        var keys = Dictionary(uniqueKeysWithValues: ConfigSchema.globalKeys.map { ($0.path, $0) })
        for (path, key) in overrideKeys { keys["defaults." + path] = key }
        return keys
    }()
}
