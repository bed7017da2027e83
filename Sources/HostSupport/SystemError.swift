#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed system call with the path or object it was about, as a user-facing error.
public struct SystemError: ActionableError, Equatable {
    /// The `errno` value.
    public var errno: Int32
    /// What was being done, for example `cannot write /etc/hostctl/apps/dante.yml`.
    public var action: String
    /// What to do about it, when something can be said.
    public var hint: String?

    /// Creates an error from an `errno` value.
    public init(errno: Int32, action: String, hint: String? = nil) {
        self.errno = errno
        self.action = action
        self.hint = hint ?? Self.defaultHint(errno)
    }

    /// `<action>: <strerror>`.
    public var summary: String { "\(action): \(Self.describe(errno))" }

    /// The text `strerror` gives for an errno value, lower-cased like the rest of our messages.
    public static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        let message = String(cString: text)
        return message.prefix(1).lowercased() + message.dropFirst()
    }

    private static func defaultHint(_ code: Int32) -> String? {
        switch code {
        case EACCES, EPERM, EROFS:
            return "choose a home you can write with --home DIR (or HOSTCTL_HOME), or run as root"
        case ENOSPC, EDQUOT:
            return "free some disk space and try again"
        default:
            return nil
        }
    }
}
