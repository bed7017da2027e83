#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The rules values must follow, shared by `hostctl add`'s flags and the config decoder so that a
/// flag and a key can never disagree.
///
/// Each check returns nil when the value is fine, else a
/// message that says what to write instead.
public enum ValueRules {
    /// `[a-z0-9][a-z0-9-]{0,62}`.
    public static func checkAppName(_ name: String) -> String? {
        if name.isEmpty { return "the app name is empty; use lower-case letters, digits and '-', e.g. 'dante'" }
        let bytes = Array(name.utf8)
        let isLowerOrDigit = { (b: UInt8) in (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
        guard bytes.count <= 63 else {
            return "the app name '\(name.prefix(20))…' is \(bytes.count) characters long; use at most 63"
        }
        guard isLowerOrDigit(bytes[0]), bytes.allSatisfy({ isLowerOrDigit($0) || $0 == 45 }) else {
            return "invalid app name '\(name)': use lower-case letters, digits and '-', starting with a letter or digit"
        }
        return nil
    }

    /// A route path: starts with `/`, no empty, `.` or `..` segments, no query, no spaces or control
    /// characters.
    ///
    /// Returns the normalised path (no trailing slash except for `/`) or the problem.
    public static func normaliseRoutePath(_ path: String) -> Result<String, RuleViolation> {
        guard path.hasPrefix("/") else {
            return .failure(RuleViolation("route '\(path)' must start with '/', e.g. '/\(path)'"))
        }
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        let segments = trimmed.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if trimmed == "/" { return .success("/") }
        for segment in segments {
            if segment.isEmpty || segment == "." || segment == ".." {
                return .failure(
                    RuleViolation("route '\(path)' has an empty, '.' or '..' segment; write it like '/app/api'"))
            }
            let allowed = segment.unicodeScalars.allSatisfy { c in
                (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9")
                    || "-._~!$&'()*+,;=:@%".unicodeScalars.contains(c)
            }
            if !allowed {
                return .failure(
                    RuleViolation(
                        "route '\(path)' has characters not allowed in a URL path; use letters, digits, '-', '_', '.', '~'"
                    )
                )
            }
        }
        return .success(String(trimmed))
    }

    /// A host name (RFC 1123 labels, at most 253 characters) or a `*.` wildcard over one; lower-cased.
    public static func normaliseHost(_ host: String) -> Result<String, RuleViolation> {
        let lowered = host.lowercased()
        var rest = Substring(lowered)
        if rest.hasPrefix("*.") { rest = rest.dropFirst(2) }
        let problem = RuleViolation(
            "invalid host name '\(host)': use a name like 'example.com' or '*.example.com' (letters, digits, '-' and dots; no port)"
        )
        guard !rest.isEmpty, rest.utf8.count <= 253 else { return .failure(problem) }
        for label in rest.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty, label.utf8.count <= 63, label.first != "-", label.last != "-",
                label.unicodeScalars.allSatisfy({ ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" })
            else { return .failure(problem) }
        }
        return .success(lowered)
    }

    /// Variables hostctl sets for every worker; an app's `env` may not set them.
    public static let reservedEnvironment: Set<String> = ["PORT", "HOSTCTL_APP", "HOSTCTL_WORKER"]

    /// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, not one hostctl sets itself.
    public static func checkEnvironmentName(_ key: String) -> String? {
        guard let first = key.unicodeScalars.first,
            first == "_" || (first >= "A" && first <= "Z") || (first >= "a" && first <= "z"),
            key.unicodeScalars.allSatisfy({
                $0 == "_" || ($0 >= "A" && $0 <= "Z") || ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9")
            })
        else {
            return "invalid environment variable name '\(key)': use letters, digits and '_', not starting with a digit"
        }
        if reservedEnvironment.contains(key) {
            return "\(key) is set by hostctl for each worker and cannot be set in env"
        }
        return nil
    }

    /// The `${NAME}` references a command may use; they are expanded per worker.
    public static let commandReferences: Set<String> = ["PORT", "HOSTCTL_APP", "HOSTCTL_WORKER"]

    /// A command: at least one argument, the first not empty, and only known `${…}` references.
    public static func checkCommand(_ arguments: [String]) -> String? {
        guard let program = arguments.first, !program.isEmpty else {
            return "the command is empty; give the program and its arguments, e.g. 'node server.js'"
        }
        for argument in arguments {
            var rest = Substring(argument)
            while let start = rest.firstRange(of: "${") {
                guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                    return "unterminated '${' in command argument '\(argument)'"
                }
                let name = String(rest[start.upperBound..<end])
                guard commandReferences.contains(name) else {
                    return
                        "unknown reference '${\(name)}' in the command: only ${PORT}, ${HOSTCTL_APP} and ${HOSTCTL_WORKER} are expanded (a shell would see $\(name) without braces)"
                }
                rest = rest[rest.index(after: end)...]
            }
        }
        return nil
    }

    /// Signal names accepted for `stop.signal`, without the `SIG` prefix.
    public static let signalNames: [String] = ["TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2", "WINCH"]

    /// Normalises `SIGTERM`, `term`, `TERM` to `TERM`.
    public static func normaliseSignal(_ text: String) -> Result<String, RuleViolation> {
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name = String(name.dropFirst(3)) }
        guard signalNames.contains(name) else {
            return .failure(
                RuleViolation("unknown signal '\(text)'; use one of \(signalNames.joined(separator: ", "))"))
        }
        return .success(name)
    }

    /// A watch pattern: relative to the app directory, never leaving it.
    public static func checkWatchPattern(_ pattern: String) -> String? {
        if pattern.isEmpty { return "empty watch pattern; write a glob such as '*.js'" }
        if pattern.hasPrefix("/") { return "watch pattern '\(pattern)' must be relative to the app directory" }
        if pattern.split(separator: "/").contains("..") {
            return "watch pattern '\(pattern)' leaves the app directory ('..'); watch only files inside it"
        }
        return nil
    }

    /// A listen address: `HOST:PORT`, `[IPV6]:PORT`; the port 0..65535.
    public static func checkListenAddress(_ text: String) -> String? {
        let problem = "invalid listen address '\(text)': write ADDR:PORT, e.g. '127.0.0.1:8080' or '[::1]:8080'"
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return problem
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
            guard isIPv6(host) else { return problem }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return problem }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
            guard !host.isEmpty, !host.contains(":") else { return problem }
            if !isIPv4(host), case .failure = normaliseHost(String(host)) { return problem }
        }
        guard !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(port), number <= 65535
        else {
            return "invalid port in listen address '\(text)': use 0 (pick one) to 65535"
        }
        return nil
    }

    /// An IP address or a CIDR range (`10.0.0.0/8`, `::1`, `fd00::/8`).
    public static func checkAddressOrRange(_ text: String) -> String? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        let problem = "invalid address '\(text)': write an IP address or a CIDR range, e.g. '10.0.0.0/8' or '::1'"
        guard parts.count <= 2 else { return problem }
        let v4 = isIPv4(parts[0])
        guard v4 || isIPv6(parts[0]) else { return problem }
        if parts.count == 2 {
            guard let bits = Int(parts[1]), bits >= 0, bits <= (v4 ? 32 : 128) else { return problem }
        }
        return nil
    }

    /// The corresponding C function is `inet_pton(AF_INET, …)`.
    static func isIPv4(_ text: Substring) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, String(text), &address) == 1
    }

    /// The corresponding C function is `inet_pton(AF_INET6, …)`.
    static func isIPv6(_ text: Substring) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, String(text), &address) == 1
    }

    /// Whether a user of that name exists (the corresponding C function is `getpwnam_r`).
    public static func userExists(_ name: String) -> Bool {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        return status == 0 && result != nil
    }

    /// Close matches among `candidates`, for "did you mean" hints.
    public static func closest(to word: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= max(1, word.count / 3) }
        return scored.min { $0.1 < $1.1 }?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// A value that breaks a rule, with the message to show.
public struct RuleViolation: Error, Sendable, Equatable {
    /// What is wrong and what to write instead.
    public var message: String
    /// Creates a violation.
    public init(_ message: String) { self.message = message }
}
