/// Splits a command line into arguments the way a POSIX shell would quote them, without running
/// a shell: no expansion, no globbing, no redirection.
///
/// `${PORT}` and friends stay as written.
public enum CommandSplitter {
    /// `'…'` keeps everything literally; `"…"` keeps everything but lets `\` escape `"`, `\`, `$` and
    /// `` ` ``; outside quotes `\` escapes the next character; spaces, tabs and newlines separate.
    public static func split(_ line: String) -> Result<[String], RuleViolation> {
        var arguments: [String] = []
        var current = ""
        var inArgument = false
        var iterator = Array(line.unicodeScalars).makeIterator()
        enum Quote { case none, single, double }
        var quote = Quote.none
        while let c = iterator.next() {
            switch quote {
            case .single:
                if c == "'" { quote = .none } else { current.unicodeScalars.append(c) }
            case .double:
                if c == "\"" {
                    quote = .none
                } else if c == "\\" {
                    guard let next = iterator.next() else {
                        return .failure(RuleViolation("the command ends inside a double quote; close it with \""))
                    }
                    if !"\"\\$`".unicodeScalars.contains(next) && next != "\n" { current += "\\" }
                    if next != "\n" { current.unicodeScalars.append(next) }
                } else {
                    current.unicodeScalars.append(c)
                }
            case .none:
                switch c {
                case " ", "\t", "\n":
                    if inArgument {
                        arguments.append(current)
                        current = ""
                        inArgument = false
                    }
                case "'":
                    quote = .single
                    inArgument = true
                case "\"":
                    quote = .double
                    inArgument = true
                case "\\":
                    guard let next = iterator.next() else {
                        return .failure(RuleViolation("the command ends with a lone backslash"))
                    }
                    if next != "\n" {
                        current.unicodeScalars.append(next)
                        inArgument = true
                    }
                default:
                    current.unicodeScalars.append(c)
                    inArgument = true
                }
            }
        }
        switch quote {
        case .single: return .failure(RuleViolation("the command has an unclosed single quote (')"))
        case .double: return .failure(RuleViolation("the command has an unclosed double quote (\")"))
        case .none: break
        }
        if inArgument { arguments.append(current) }
        return .success(arguments)
    }

    /// Joins arguments back into one line that `split` turns into the same arguments, quoting only
    /// where needed; for display.
    public static func join(_ arguments: [String]) -> String {
        arguments.map { argument in
            let safe =
                !argument.isEmpty
                && argument.unicodeScalars.allSatisfy { c in
                    (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9")
                        || "-_./:=@+,%${}".unicodeScalars.contains(c)
                }
            if safe { return argument }
            return "'" + argument.replacing("'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}
