/// The unit files `hostctl systemd-unit` prints: `hostctl.service` (Type=notify) and, for socket
/// activation, `hostctl.socket`.
public struct UnitTemplate: Sendable {
    /// The absolute path of the hostctl binary.
    public var executable: String
    /// `--home DIR` when the home is one directory; nil for the system or XDG defaults.
    public var home: String?
    /// The directories the daemon writes: state, logs, run (and the home itself when given).
    public var writablePaths: [String]
    /// The front listener's addresses, for the socket unit.
    public var listen: [String]
    /// A user unit (`systemctl --user`) rather than a system one.
    public var user: Bool
    /// Whether a socket unit goes with the service.
    public var socket: Bool
    /// The stop timeout given to systemd: the longest `stop.timeout` of the apps plus a margin.
    public var stopTimeoutSeconds: Int

    /// Creates a template.
    public init(
        executable: String, home: String?, writablePaths: [String], listen: [String], user: Bool, socket: Bool,
        stopTimeoutSeconds: Int
    ) {
        self.executable = executable
        self.home = home
        self.writablePaths = writablePaths
        self.listen = listen
        self.user = user
        self.socket = socket
        self.stopTimeoutSeconds = stopTimeoutSeconds
    }

    /// `hostctl.service`.
    public var service: String {
        var start = Self.quote(executable) + " serve"
        if let home { start += " --home " + Self.quote(home) }
        var lines = [
            "# hostctl.service, written by `hostctl systemd-unit\(user ? " --user" : "")\(socket ? " --socket" : "")`.",
            "[Unit]",
            "Description=hostctl: web apps as workers behind one front listener",
        ]
        if socket {
            lines += ["Requires=hostctl.socket", "After=hostctl.socket"]
        } else if !user {
            lines += ["Wants=network-online.target", "After=network-online.target"]
        }
        lines += [
            "",
            "[Service]",
            "Type=notify",
            "NotifyAccess=main",
            "ExecStart=\(start)",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "Restart=on-failure",
            "RestartSec=1s",
            "WatchdogSec=30s",
            "# A daemon the watchdog caught gets SIGABRT, and SIGKILL if that did not end it within 10s.",
            "TimeoutAbortSec=10s",
            "# SIGTERM to the daemon alone: it stops every worker gracefully; what is left gets SIGKILL.",
            "KillMode=mixed",
            "TimeoutStopSec=\(stopTimeoutSeconds)s",
            "LimitNOFILE=65536",
            "NoNewPrivileges=yes",
        ]
        if !user {
            // /usr, /boot and /etc read-only; apps keep their own directories (no ProtectHome, no
            // PrivateTmp: an app or a home may live there).
            lines += ["ProtectSystem=full"]
            lines += writablePaths.map { "ReadWritePaths=\(Self.quote("-" + $0, variables: false))" }
        }
        lines += ["", "[Install]", "WantedBy=\(user ? "default.target" : "multi-user.target")", ""]
        return lines.joined(separator: "\n")
    }

    /// `hostctl.socket`: one `ListenStream=` per listen address, each named `http`.
    public var socketUnit: String {
        var lines = [
            "# hostctl.socket, written by `hostctl systemd-unit\(user ? " --user" : "") --socket`.",
            "[Unit]",
            "Description=hostctl front listener",
            "",
            "[Socket]",
        ]
        lines += listen.map { "ListenStream=\($0)" }
        lines += [
            "FileDescriptorName=http",
            "NoDelay=yes",
            "Backlog=1024",
            "",
            "[Install]",
            "WantedBy=sockets.target",
            "",
        ]
        return lines.joined(separator: "\n")
    }

    /// A path quoted for a unit file when it needs it.
    ///
    /// One word, `%` not a specifier, and for
    /// `ExecStart=` (`variables`) `$` not a variable. `ReadWritePaths=` is a list split at spaces,
    /// so a home with a space in it was two paths there, the second ignored as not absolute.
    static func quote(_ text: String, variables: Bool = true) -> String {
        guard
            text.contains(where: {
                $0 == " " || $0 == "\t" || $0 == "\"" || $0 == "\\" || $0 == "'" || $0 == "%"
                    || (variables && $0 == "$")
            })
        else { return text }
        var escaped = ""
        for character in text {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "%": escaped += "%%"
            case "$" where variables: escaped += "$$"
            default: escaped.append(character)
            }
        }
        return "\"\(escaped)\""
    }
}
