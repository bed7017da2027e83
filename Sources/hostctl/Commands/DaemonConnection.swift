import CHostSupport
import ControlProtocol
import Foundation
import HostConfig
import HostSupport

/// A control-protocol failure as the CLI shows it; every daemon-side failure exits 1.
struct DaemonFailure: ActionableError {
    var summary: String
    var hint: String?
    var details: [String]

    init(_ failure: ControlFailure) {
        summary = failure.message
        hint = failure.hint
        details = failure.details
    }
}

/// Talking to the daemon of a home, and starting it when `start` needs it.
struct DaemonConnection {
    let layout: HomeLayout
    /// The home as given (--home), to pass on to a daemon started from here.
    let home: String?

    var client: ControlClient { ControlClient(path: layout.runDirectory + "/control.sock") }

    /// Sends `request`; turns the three ways of not reaching the daemon into their own messages.
    func send(_ request: ControlRequest, timeout: Duration? = .seconds(30)) throws -> ControlResponse {
        let response: ControlResponse
        // HOSTCTL_CONTROL_TIMEOUT (seconds) bounds every wait for an answer, the waits for ready included.
        var limit = timeout
        if let text = ProcessInfo.processInfo.environment["HOSTCTL_CONTROL_TIMEOUT"], let seconds = Double(text),
            seconds > 0
        {
            limit = .milliseconds(Int64(seconds * 1000))
        }
        do {
            response = try client.send(request, timeout: limit)
        } catch {
            throw Self.unreachable(error, layout: layout)
        }
        if let failure = response.failure { throw DaemonFailure(failure) }
        return response
    }

    static func unreachable(_ error: ControlUnavailable, layout: HomeLayout) -> CommandError {
        switch error {
        case .notRunning:
            return CommandError(
                "hostctl is not running for \(layout.configDirectory)", hint: "start it with `hostctl start`")
        case .notAllowed:
            return CommandError(
                "not allowed to talk to the daemon (\(layout.runDirectory)/control.sock)",
                hint: "run as the daemon's user or root, or add yourself to group hostctl")
        case .notAnswering:
            return CommandError(
                "the daemon did not answer in time",
                hint: "see \(layout.logsDirectory)/hostctl.log; `hostctl shutdown` and `hostctl start` restart it")
        }
    }

    /// Whether `ensureRunning` found the daemon running or started it.
    enum Daemon { case alreadyRunning, started }

    /// Starts `hostctl serve` for this home in the background unless a daemon answers already, and
    /// waits until it accepts control connections.
    @discardableResult
    func ensureRunning() throws -> Daemon {
        if client.isRunning() { return .alreadyRunning }
        do {
            try layout.create()
        } catch {
            throw CommandError(error.summary, hint: error.hint)
        }
        let logPath = layout.logsDirectory + "/hostctl.log"
        let logFD = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard logFD >= 0 else {
            throw CommandError(SystemError(errno: errno, action: "cannot open \(logPath)").summary)
        }
        defer { close(logFD) }
        let logStart = lseek(logFD, 0, SEEK_END)
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var arguments = [executable, "serve"]
        if let home { arguments += ["--home", FileSystem.absolutePath(home)] }
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        let pid = withCStringArray(arguments) { argv in
            withCStringArray(environment) { envp in hc_spawn_detached(executable, argv, envp, logFD) }
        }
        guard pid > 0 else {
            throw CommandError(SystemError(errno: errno, action: "cannot start the daemon").summary)
        }
        // Wait for the daemon to accept, or for it to die and say why.
        let deadline = ContinuousClock.now.advanced(by: .seconds(15))
        var delay = Duration.milliseconds(2)
        while ContinuousClock.now < deadline {
            if client.isRunning() { return .started }
            if kill(pid, 0) != 0 && errno == ESRCH {
                let said = Self.lastError(in: logPath, from: logStart)
                throw CommandError(
                    "the daemon exited at start" + (said.error.isEmpty ? "" : ": \(said.error)"),
                    hint: said.hint.map { "\($0) (the daemon's log: \(logPath))" } ?? "see \(logPath)")
            }
            Thread.sleep(forTimeInterval: Double(delay.components.attoseconds) / 1e18)
            delay = min(delay * 2, .milliseconds(50))
        }
        throw CommandError("the daemon did not start within 15s", hint: "see \(logPath)")
    }

    /// The daemon's last error written to the log after `offset`, without its `hostctl: error: `
    /// prefix, and the hint line that follows it (else the last non-empty line, and no hint).
    static func lastError(in path: String, from offset: Int) -> (error: String, hint: String?) {
        guard let bytes = try? FileSystem.readFile(path), bytes.count > offset else { return ("", nil) }
        let text = String(decoding: bytes[max(0, offset)...], as: UTF8.self)
        let lines = text.split(separator: "\n").filter { !$0.isEmpty }
        let prefix = "hostctl: error: "
        guard let index = lines.lastIndex(where: { $0.hasPrefix(prefix) }) else {
            return (
                lines.last(where: { $0.contains("error") }).map(String.init) ?? lines.last.map(String.init) ?? "", nil
            )
        }
        let hint = index + 1 < lines.count && lines[index + 1].hasPrefix("hint: ") ? lines[index + 1].dropFirst(6) : nil
        return (String(lines[index].dropFirst(prefix.count)), hint.map(String.init))
    }
}

/// Calls `body` with a NULL-terminated C string array that lives for the call.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers = strings.map { strdup($0) } + [nil]
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress else { preconditionFailure("internal inconsistency: empty C string array") }
        return body(base)
    }
}
