import HostSupport

/// The one place that turns an error into what the user reads and an exit code
/// (STYLE.md 2.4): `hostctl: error: <summary>`, then `hint: <hint>`.
enum ErrorPresenter {
    /// Prints `error` to standard error and returns the exit code.
    static func present(_ error: any Error) -> Int32 {
        if let actionable = error as? any ActionableError {
            var text = ""
            for line in actionable.details { text += line + "\n" }
            text += "hostctl: error: \(actionable.summary)\n"
            if let hint = actionable.hint { text += "hint: \(hint)\n" }
            Output.standardError(text)
            return actionable.exitCode
        }
        Output.standardError("hostctl: internal error: \(error)\nhint: please report this with the command you ran\n")
        return 1
    }
}

/// An error raised by the executable itself: a value that parsed but is wrong.
struct CommandError: ActionableError {
    var summary: String
    var hint: String?

    init(_ summary: String, hint: String? = nil) {
        self.summary = summary
        self.hint = hint
    }
}
