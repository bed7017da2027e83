/// How a worker's main process ended.
public enum WorkerExit: Sendable, Hashable, CustomStringConvertible {
    /// It exited with this status code.
    case exited(Int32)
    /// A signal killed it.
    case signaled(Int32)

    /// Whether this counts as a failure for `restart.policy: on-failure` (any signal, or a non-zero code).
    public var isFailure: Bool {
        switch self {
        case .exited(let code): return code != 0
        case .signaled: return true
        }
    }

    /// `status 1`, `signal 9 (KILL)`.
    public var description: String {
        switch self {
        case .exited(let code): return "status \(code)"
        case .signaled(let signal): return "signal \(signal) (\(SignalName.name(of: signal)))"
        }
    }
}

/// Signal numbers and names (Linux x86-64 and arm64 numbering).
public enum SignalName {
    private static let table: [(String, Int32)] = [
        ("HUP", 1), ("INT", 2), ("QUIT", 3), ("ILL", 4), ("TRAP", 5), ("ABRT", 6), ("BUS", 7), ("FPE", 8),
        ("KILL", 9), ("USR1", 10), ("SEGV", 11), ("USR2", 12), ("PIPE", 13), ("ALRM", 14), ("TERM", 15),
        ("CHLD", 17), ("CONT", 18), ("STOP", 19), ("TSTP", 20), ("WINCH", 28),
    ]

    /// `TERM` for 15; the number itself when unknown.
    public static func name(of signal: Int32) -> String {
        table.first { $0.1 == signal }?.0 ?? String(signal)
    }

    /// 15 for `TERM` or `SIGTERM`; nil when unknown.
    public static func number(of name: String) -> Int32? {
        let bare = name.hasPrefix("SIG") ? String(name.dropFirst(3)) : name
        return table.first { $0.0 == bare }?.1
    }
}
