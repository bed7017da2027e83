/// One typed leaf value of a config file, after decoding and validation.
///
/// Enumerations, signals and user names are `.string`; commands, host lists and listen addresses
/// are `.strings`. The schema (`ConfigSchema`) says which case each key holds.
public enum ConfigValue: Sendable, Hashable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case duration(Duration)
    case bytes(ByteCount)
    case strings([String])
    case backoff(ClosedRange<Duration>)
    case null

    /// The value as YAML text in flow style, as `hostctl add` writes it and `show` prints it.
    public var yaml: String {
        switch self {
        case .string(let text): return YAMLText.scalar(text)
        case .int(let number): return String(number)
        case .bool(let flag): return flag ? "true" : "false"
        case .duration(let duration): return ConfigDuration.format(duration)
        case .bytes(let size): return size.description
        case .strings(let items): return "[" + items.map(YAMLText.scalar).joined(separator: ", ") + "]"
        case .backoff(let range):
            return ConfigDuration.format(range.lowerBound) + ".." + ConfigDuration.format(range.upperBound)
        case .null: return "null"
        }
    }

    /// The value as JSON: durations and sizes as their config text, so a script can feed them back.
    public var json: JSONValue {
        switch self {
        case .string(let text): return .string(text)
        case .int(let number): return .int(number)
        case .bool(let flag): return .bool(flag)
        case .duration, .bytes, .backoff: return .string(yaml)
        case .strings(let items): return .array(items.map(JSONValue.string))
        case .null: return .null
        }
    }

    /// The string inside `.string`, else nil.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}

/// YAML scalar quoting for the files hostctl writes.
public enum YAMLText {
    /// `text` as a plain scalar when that reads back as the same string in block and flow context,
    /// else double-quoted with escapes.
    public static func scalar(_ text: String) -> String {
        if isPlainSafe(text) { return text }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 2)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private static let reserved: Set<String> = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "True", "False", "TRUE", "FALSE",
        "Yes", "No", "YES", "NO", "On", "Off", "ON", "OFF", "Null", "NULL", "Y", "N",
    ]

    private static func isPlainSafe(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, !reserved.contains(text) else { return false }
        let allowedFirst = { (c: Unicode.Scalar) in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "/" || c == "_" || c == "."
        }
        let allowed = { (c: Unicode.Scalar) in
            allowedFirst(c) || (c >= "0" && c <= "9") || c == "-" || c == "+" || c == "@" || c == "="
        }
        guard allowedFirst(first), text.unicodeScalars.allSatisfy(allowed) else { return false }
        // `.5`, `.inf`, `.nan` and friends resolve to floats.
        if first == "." && text.count > 1 { return text.unicodeScalars.dropFirst().first.map(allowedFirst) ?? false }
        return true
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
