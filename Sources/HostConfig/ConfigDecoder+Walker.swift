internal import HostSupport
internal import Yams

/// The state of one decode: the leaves found so far and the problems, in file order.
struct Walker {
    let file: String
    let keys: [String: ConfigKey]
    var values: [String: LocatedValue] = [:]
    var diagnostics: [ConfigDiagnostic] = []

    init(file: String, keys: [String: ConfigKey]) {
        self.file = file
        self.keys = keys
    }

    // MARK: Structure

    /// Walks a mapping at `prefix` (`""` at the top, `"route."` inside `route:`).
    mutating func walk(_ mapping: Node.Mapping, prefix: String) {
        let children = childNames(prefix: prefix)
        var seen: [String: Int] = [:]
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                report(keyNode, "a key must be a plain word, found \(Self.describe(keyNode))")
                continue
            }
            let name = scalar.string
            let path = prefix + name
            if let line = seen[name] {
                report(keyNode, "duplicate key '\(path)' (first set on line \(line)); keep one")
                continue
            }
            seen[name] = keyNode.mark?.line ?? 0
            if let key = keys[path] {
                leaf(valueNode, key: key, path: path)
            } else if children.contains(name) {
                guard case .mapping(let inner) = valueNode else {
                    if case .scalar(let s) = valueNode, isNull(s) { continue }
                    report(
                        valueNode,
                        "'\(path)' holds keys (\(childNames(prefix: path + ".").sorted().joined(separator: ", "))), found \(Self.describe(valueNode))"
                    )
                    continue
                }
                walk(inner, prefix: path + ".")
            } else {
                var message = "unknown key '\(path)'"
                if (prefix.isEmpty || prefix == "defaults.") && ConfigSchema.handlerOnlyKeys.contains(name) {
                    message = "'\(path)' can only be set in the app's handler config (hostctl add writes it)"
                } else if let guess = ValueRules.closest(to: name, in: Array(children)) {
                    message += " (did you mean '\(prefix + guess)'?)"
                } else {
                    message += "; allowed here: \(children.sorted().joined(separator: ", "))"
                }
                report(keyNode, message)
            }
        }
    }

    /// The names allowed directly under `prefix`.
    func childNames(prefix: String) -> Set<String> {
        var names: Set<String> = []
        for path in keys.keys where path.hasPrefix(prefix) {
            let rest = path.utf8.dropFirst(prefix.utf8.count)
            names.insert(String(Substring(rest.prefix { $0 != UInt8(ascii: ".") })))
        }
        return names
    }

    /// After a walk: the handler config must name the app and its directory.
    mutating func requireKeys(_ kind: ConfigFileKind) {
        guard case .handler = kind else { return }
        for required in ["name", "directory", "command"] where values[required] == nil {
            if diagnostics.contains(where: { $0.message.hasPrefix("\(required):") }) { continue }
            diagnostics.append(
                ConfigDiagnostic(
                    SourceLocation(file: file, line: 1, column: 1),
                    "missing key '\(required)'; the handler config must set name, directory and command"))
        }
    }

    // MARK: Leaves

    /// Decodes the value of one key; on success stores it at `path` (or `path.NAME` for maps).
    mutating func leaf(_ node: Node, key: ConfigKey, path: String) {
        switch decodeValue(node, key: key, path: path) {
        case .success(let value):
            values[path] = LocatedValue(value, at: location(of: node))
        case .failure(let problem):
            report(node, "\(path): \(problem.message)")
        case nil:
            break
        }
    }

    /// Decodes a value; nil when the key is a map whose entries were stored (or reported) one by one.
    private mutating func decodeValue(_ node: Node, key: ConfigKey, path: String) -> Result<ConfigValue, RuleViolation>?
    {
        switch key.kind {
        case .appName:
            return string(node).flatMap { name in
                ValueRules.checkAppName(name).map { .failure(RuleViolation($0)) } ?? .success(.string(name))
            }
        case .absolutePath:
            return string(node).flatMap { text in
                text.hasPrefix("/")
                    ? .success(.string(text))
                    : .failure(RuleViolation("'\(text)' is not an absolute path; write the full path, e.g. /srv/app"))
            }
        case .command:
            let arguments: Result<[String], RuleViolation>
            if case .scalar(let scalar) = node, !isNull(scalar) {
                arguments = CommandSplitter.split(scalar.string)
            } else {
                arguments = stringList(node, what: "a command line or a list of arguments")
            }
            return arguments.flatMap { list in
                ValueRules.checkCommand(list).map { .failure(RuleViolation($0)) } ?? .success(.strings(list))
            }
        case .int(let range):
            return integer(node).flatMap { number in
                range.contains(number)
                    ? .success(.int(number))
                    : .failure(
                        RuleViolation(
                            "\(number) is out of range; use \(range.lowerBound) to \(range.upperBound)\(key.path == "workers" ? " (0 means one per CPU)" : "")"
                        ))
            }
        case .enumeration(let words):
            return string(node).flatMap { word in
                if words.contains(word) { return .success(.string(word)) }
                let guess = ValueRules.closest(to: word, in: words).map { " (did you mean '\($0)'?)" } ?? ""
                return .failure(
                    RuleViolation("unknown value '\(word)'\(guess); use one of: \(words.joined(separator: ", "))"))
            }
        case .routePath:
            return string(node).flatMap { ValueRules.normaliseRoutePath($0).map(ConfigValue.string) }
        case .hostList:
            return stringList(node, what: "a list of host names").flatMap { hosts in
                var out: [String] = []
                for host in hosts {
                    switch ValueRules.normaliseHost(host) {
                    case .success(let name): out.append(name)
                    case .failure(let problem): return .failure(problem)
                    }
                }
                return .success(.strings(out))
            }
        case .bool:
            guard case .scalar(let scalar) = node, scalar.style == .plain, ["true", "false"].contains(scalar.string)
            else {
                return .failure(RuleViolation("expected true or false, found \(Self.describe(node))"))
            }
            return .success(.bool(scalar.string == "true"))
        case .environment:
            environment(node, path: path)
            return nil
        case .user:
            if case .scalar(let scalar) = node, isNull(scalar) { return .success(.null) }
            return string(node).flatMap { name in
                ValueRules.userExists(name)
                    ? .success(.string(name))
                    : .failure(RuleViolation("unknown user '\(name)'; create it (useradd) or name an existing user"))
            }
        case .duration(let allowZero):
            return string(node).flatMap { text in
                guard let duration = ConfigDuration.parse(text) else {
                    return .failure(RuleViolation("'\(text)' is not a duration; write it like 100ms, 30s, 2m or 1h"))
                }
                if !allowZero && duration == .zero { return .failure(RuleViolation("must be more than 0")) }
                return .success(.duration(duration))
            }
        case .backoff:
            return string(node).flatMap { text in
                let parts = text.split(separator: "..", omittingEmptySubsequences: false).map(String.init)
                guard parts.count == 2, let low = ConfigDuration.parse(parts[0]),
                    let high = ConfigDuration.parse(parts[1])
                else {
                    return .failure(RuleViolation("'\(text)' is not a backoff range; write MIN..MAX, e.g. 100ms..30s"))
                }
                guard low > .zero, low <= high else {
                    return .failure(RuleViolation("'\(text)': MIN must be more than 0 and at most MAX"))
                }
                return .success(.backoff(low...high))
            }
        case .signal:
            return string(node).flatMap { ValueRules.normaliseSignal($0).map(ConfigValue.string) }
        case .patterns:
            return stringList(node, what: "a list of glob patterns").flatMap { patterns in
                for pattern in patterns {
                    if let problem = ValueRules.checkWatchPattern(pattern) { return .failure(RuleViolation(problem)) }
                }
                return .success(.strings(patterns))
            }
        case .bytes(let allowZero):
            return string(node).flatMap { text in
                guard let size = ByteCount(parsing: text) else {
                    return .failure(RuleViolation("'\(text)' is not a size; write it like 512KiB, 10MiB or 1GiB"))
                }
                if !allowZero && size.bytes == 0 { return .failure(RuleViolation("must be more than 0")) }
                return .success(.bytes(size))
            }
        case .listen:
            return stringList(node, what: "an address or a list of addresses").flatMap { addresses in
                if addresses.isEmpty {
                    return .failure(RuleViolation("give at least one address, e.g. 127.0.0.1:8080"))
                }
                for address in addresses {
                    if let problem = ValueRules.checkListenAddress(address) { return .failure(RuleViolation(problem)) }
                }
                return .success(.strings(addresses))
            }
        case .addresses:
            return stringList(node, what: "a list of addresses").flatMap { addresses in
                for address in addresses {
                    if let problem = ValueRules.checkAddressOrRange(address) { return .failure(RuleViolation(problem)) }
                }
                return .success(.strings(addresses))
            }
        }
    }

    /// `env:` entries become `env.NAME` leaves, each checked and located on its own.
    private mutating func environment(_ node: Node, path: String) {
        if case .scalar(let scalar) = node, isNull(scalar) { return }
        guard case .mapping(let mapping) = node else {
            report(node, "\(path): expected NAME: value lines, found \(Self.describe(node))")
            return
        }
        var seen: Set<String> = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                report(keyNode, "\(path): a variable name must be a plain word")
                continue
            }
            let name = keyScalar.string
            if let problem = ValueRules.checkEnvironmentName(name) {
                report(keyNode, "\(path): \(problem)")
                continue
            }
            guard seen.insert(name).inserted else {
                report(keyNode, "\(path): duplicate variable '\(name)'; keep one")
                continue
            }
            guard case .scalar(let valueScalar) = valueNode, !(valueScalar.style == .plain && isNull(valueScalar))
            else {
                report(
                    valueNode,
                    "\(path).\(name): expected a text value (write '' for an empty one), found \(Self.describe(valueNode))"
                )
                continue
            }
            values["\(path).\(name)"] = LocatedValue(.string(valueScalar.string), at: location(of: valueNode))
        }
    }

    // MARK: Scalars

    private func string(_ node: Node) -> Result<String, RuleViolation> {
        guard case .scalar(let scalar) = node, !isNull(scalar) else {
            return .failure(RuleViolation("expected a value, found \(Self.describe(node))"))
        }
        return .success(scalar.string)
    }

    private func integer(_ node: Node) -> Result<Int, RuleViolation> {
        guard case .scalar(let scalar) = node, scalar.style == .plain else {
            return .failure(RuleViolation("expected a whole number, found \(Self.describe(node))"))
        }
        let text = scalar.string
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return .failure(RuleViolation("expected a whole number, found \(Self.describe(node))"))
        }
        guard let number = Int(text) else { return .failure(RuleViolation("\(text) is too large")) }
        return .success(number)
    }

    /// A list of scalars, or one scalar as a list of one.
    private func stringList(_ node: Node, what: String) -> Result<[String], RuleViolation> {
        switch node {
        case .scalar(let scalar):
            return isNull(scalar)
                ? .failure(RuleViolation("expected \(what), found nothing")) : .success([scalar.string])
        case .sequence(let sequence):
            var out: [String] = []
            for item in sequence {
                guard case .scalar(let scalar) = item, !isNull(scalar) else {
                    return .failure(RuleViolation("expected \(what), found an item that is \(Self.describe(item))"))
                }
                out.append(scalar.string)
            }
            return .success(out)
        default:
            return .failure(RuleViolation("expected \(what), found \(Self.describe(node))"))
        }
    }

    private func isNull(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    // MARK: Reporting

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string) { return "nothing" }
            return "'\(scalar.string.count > 40 ? scalar.string.prefix(40) + "…" : Substring(scalar.string))'"
        case .mapping: return "a mapping (key: value lines)"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    func location(of node: Node) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    mutating func report(_ node: Node, _ message: String) {
        diagnostics.append(ConfigDiagnostic(location(of: node), message))
    }

    func diagnostic(forYAMLError error: any Error, text: String) -> ConfigDiagnostic {
        guard let yamlError = error as? YamlError else {
            return ConfigDiagnostic(SourceLocation(file: file, line: 1, column: 1), "cannot read YAML: \(error)")
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let where_ = context.map { " \($0.text)" } ?? ""
            return ConfigDiagnostic(
                SourceLocation(file: file, line: mark.line, column: mark.column), "malformed YAML: \(problem)\(where_)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let key = duplicates.first ?? ""
            let (line, column) =
                Self.secondOccurrence(of: key, in: text, from: context.mark.line) ?? (
                    context.mark.line, context.mark.column
                )
            return ConfigDiagnostic(
                SourceLocation(file: file, line: line, column: column),
                "duplicate key '\(duplicates.joined(separator: "', '"))'; keep one")
        case .reader(let problem, let offset, _, _):
            let prefix = text.utf8.prefix(offset ?? 0)
            let line = prefix.filter { $0 == 10 }.count + 1
            return ConfigDiagnostic(
                SourceLocation(file: file, line: line, column: 1), "cannot read the file as text: \(problem)")
        default:
            return ConfigDiagnostic(SourceLocation(file: file, line: 1, column: 1), "malformed YAML: \(yamlError)")
        }
    }

    /// libyaml reports a duplicate key at the start of its mapping; find the line that repeats it
    /// (`key:` at the same indentation as its first occurrence, from `line` on).
    static func secondOccurrence(of key: String, in text: String, from line: Int) -> (Int, Int)? {
        var firstIndent: Int?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where index + 1 >= line {
            let indent = raw.prefix { $0 == " " }.count
            let rest = raw.dropFirst(indent)
            guard rest.hasPrefix(key), rest.dropFirst(key.count).drop(while: { $0 == " " }).hasPrefix(":") else {
                continue
            }
            if let firstIndent {
                if indent == firstIndent { return (index + 1, indent + 1) }
            } else {
                firstIndent = indent
            }
        }
        return nil
    }
}
