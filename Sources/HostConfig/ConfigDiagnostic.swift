public import HostSupport

/// One problem in a config file, printed in compiler form: `file:line:col: error: message`.
public struct ConfigDiagnostic: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where the problem is.
    public var location: SourceLocation
    /// What is wrong, and where it helps, what to write instead.
    public var message: String

    /// Creates a diagnostic.
    public init(_ location: SourceLocation, _ message: String) {
        self.location = location
        self.message = message
    }

    /// `file:line:col: error: message`.
    public var description: String { "\(location): error: \(message)" }
}

/// Every problem found in one or more config files.
public struct ConfigProblems: Error, Sendable, Hashable {
    /// The problems, in file order.
    public var diagnostics: [ConfigDiagnostic]
    /// Wraps diagnostics.
    public init(_ diagnostics: [ConfigDiagnostic]) { self.diagnostics = diagnostics }
}

/// Where a value of the effective config came from, lowest precedence first.
public enum ConfigSource: Sendable, Hashable {
    /// hostctl's built-in default.
    case builtIn
    /// `defaults:` in the global config.
    case globalDefaults(SourceLocation)
    /// The app's handler config, `<home>/apps/<name>.yml`.
    case handler(SourceLocation)
    /// The app override, `hostctl.yml` in the app's directory.
    case override(SourceLocation)

    /// The stable word scripts read in `show --json`.
    public var kind: String {
        switch self {
        case .builtIn: return "default"
        case .globalDefaults: return "global_defaults"
        case .handler: return "handler"
        case .override: return "override"
        }
    }

    /// Where the value was written, when it was written somewhere.
    public var location: SourceLocation? {
        switch self {
        case .builtIn: return nil
        case .globalDefaults(let l), .handler(let l), .override(let l): return l
        }
    }

    /// The source for people (`default`, `handler config (/h/apps/dante.yml:7)`).
    public var label: String {
        switch self {
        case .builtIn: return "default"
        case .globalDefaults(let l): return "global defaults (\(l.file):\(l.line))"
        case .handler(let l): return "handler config (\(l.file):\(l.line))"
        case .override(let l): return "app override (\(l.file):\(l.line))"
        }
    }
}

/// The error type of the HostConfig target: a code scripts and tests can match, a message, and a hint.
public struct HostConfigError: ActionableError, Equatable {
    /// What kind of failure this is.
    ///
    /// Cases can be added without breaking callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Wrapped: String, Sendable, Hashable {
            case invalidValue = "invalid_value"
            case invalidConfig = "invalid_config"
            case appNotFound = "app_not_found"
            case appExists = "app_exists"
            case entryNotFound = "entry_not_found"
            case routeTaken = "route_taken"
            case unreadable
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// A value that parses but is wrong (a bad name, a missing directory, a range).
        public static let invalidValue = Code(.invalidValue)
        /// A config file with problems; the diagnostics say which.
        public static let invalidConfig = Code(.invalidConfig)
        /// No handler config for that name.
        public static let appNotFound = Code(.appNotFound)
        /// `add` of a name that exists with other settings.
        public static let appExists = Code(.appExists)
        /// `add` found no entry point to run.
        public static let entryNotFound = Code(.entryNotFound)
        /// `add` of an app whose route another app already has.
        public static let routeTaken = Code(.routeTaken)
        /// A file that cannot be read.
        public static let unreadable = Code(.unreadable)

        /// The stable string form.
        public var description: String { wrapped.rawValue }
    }

    /// What kind of failure.
    public var code: Code
    /// The one-line summary.
    public var summary: String
    /// What to do.
    public var hint: String?
    /// `file:line:col: error: …` lines, for config problems.
    public var diagnostics: [ConfigDiagnostic]

    /// Creates an error.
    public init(_ code: Code, _ summary: String, hint: String? = nil, diagnostics: [ConfigDiagnostic] = []) {
        self.code = code
        self.summary = summary
        self.hint = hint
        self.diagnostics = diagnostics
    }

    /// The diagnostics, one line each.
    public var details: [String] { diagnostics.map(\.description) }

    /// An invalid-value error.
    public static func invalid(_ summary: String, hint: String? = nil) -> HostConfigError {
        HostConfigError(.invalidValue, summary, hint: hint)
    }
}
