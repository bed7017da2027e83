/// Writes the text of a handler config: every key of the schema, in order, each with a comment
/// that says what it does.
///
/// Keys that `hostctl add` was given are active; the others are written
/// commented out with their built-in default, so the global `defaults:` still applies to them and
/// a user sees every knob in one file.
public enum HandlerConfigRenderer {
    /// The file for app `name` with the leaves in `values` set (`env.NAME` for environment entries).
    public static func render(name: String, values: [String: ConfigValue]) -> String {
        var lines: [String] = [
            "# hostctl handler config for the app \"\(name)\", written by `hostctl add`.",
            "# Edit it by hand if you like, then run `hostctl check \(name)`.",
            "# Commented keys show the built-in default: uncomment one to set it here. Precedence, lowest",
            "# first, is built-in defaults, then `defaults:` in the global hostctl.yml, then this file, then",
            "# a hostctl.yml in the app's own directory. Every key is described in hostctl.yml(5).",
            "",
        ]
        var index = 0
        let keys = ConfigSchema.appKeys
        while index < keys.count {
            let key = keys[index]
            let parts = key.path.split(separator: ".")
            if parts.count == 1 {
                lines.append("# " + key.summary)
                lines += renderTop(key, name: name, values: values)
                index += 1
                continue
            }
            let section = String(parts[0])
            let members = keys[index...].prefix { $0.path.hasPrefix(section + ".") }
            index += members.count
            let active = members.contains { values[$0.path] != nil }
            lines.append("# " + (ConfigSchema.sectionSummaries[section] ?? section))
            lines.append(active ? "\(section):" : "# \(section):")
            let bodies = members.map { member -> String in
                let text = values[member.path]?.yaml ?? defaultText(member, name: name)
                let lead = values[member.path] != nil ? "  " : (active ? "  # " : "#   ")
                return "\(lead)\(member.name): \(text)"
            }
            let width = bodies.map(\.count).max() ?? 0
            for (body, member) in zip(bodies, members) {
                lines.append(body + String(repeating: " ", count: width - body.count) + "  # " + member.summary)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func renderTop(_ key: ConfigKey, name: String, values: [String: ConfigValue]) -> [String] {
        if case .environment = key.kind {
            let entries = values.filter { $0.key.hasPrefix("env.") }.sorted { $0.key < $1.key }
            if entries.isEmpty { return ["# env:", "#   NODE_ENV: production"] }
            return ["env:"] + entries.map { "  \($0.key.dropFirst(4)): \($0.value.yaml)" }
        }
        if let value = values[key.path] { return ["\(key.path): \(value.yaml)"] }
        return ["# \(key.path): \(defaultText(key, name: name))"]
    }

    private static func defaultText(_ key: ConfigKey, name: String) -> String {
        key.path == "route.path" ? "/\(name)" : (key.defaultText ?? "")
    }
}
