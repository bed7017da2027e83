public import HostSupport

#if canImport(Glibc)
    public import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Where a hostctl home keeps its files (DESIGN.md, CLI contract).
///
/// The layout:
///
/// ```
/// <config>/hostctl.yml          global config
/// <config>/apps/<name>.yml      handler configs
/// <logs>/<name>/                an app's logs; <logs>/hostctl.log is the daemon's
/// <run>/                        control socket, pid file, worker sockets (0750)
/// ```
///
/// With `--home DIR` (or `HOSTCTL_HOME`) all four are inside DIR. Without, root uses
/// /etc/hostctl, /var/lib/hostctl, /var/log/hostctl and /run/hostctl, other users the XDG directories.
public struct HomeLayout: Sendable, Hashable {
    /// Holds `hostctl.yml` and `apps/`.
    public var configDirectory: String
    /// Holds state the daemon keeps between runs.
    public var stateDirectory: String
    /// Holds one directory of logs per app.
    public var logsDirectory: String
    /// Holds runtime sockets and the pid file.
    public var runDirectory: String

    /// Creates a layout from its four directories.
    public init(configDirectory: String, stateDirectory: String, logsDirectory: String, runDirectory: String) {
        self.configDirectory = configDirectory
        self.stateDirectory = stateDirectory
        self.logsDirectory = logsDirectory
        self.runDirectory = runDirectory
    }

    /// All four directories inside one home directory.
    public init(home: String) {
        let root = FileSystem.absolutePath(home)
        self.init(
            configDirectory: root, stateDirectory: root + "/state", logsDirectory: root + "/logs",
            runDirectory: root + "/run")
    }

    /// The layout for `--home` (when given), else `HOSTCTL_HOME`, else the system or XDG defaults.
    public static func resolve(home: String?, environment: [String: String], userID: uid_t = getuid()) -> HomeLayout {
        if let home, !home.isEmpty { return HomeLayout(home: home) }
        if let home = environment["HOSTCTL_HOME"], !home.isEmpty { return HomeLayout(home: home) }
        if userID == 0 {
            return HomeLayout(
                configDirectory: "/etc/hostctl", stateDirectory: "/var/lib/hostctl", logsDirectory: "/var/log/hostctl",
                runDirectory: "/run/hostctl")
        }
        let userHome = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        func xdg(_ variable: String, _ fallback: String) -> String {
            guard let value = environment[variable], value.hasPrefix("/") else { return userHome + "/" + fallback }
            return value
        }
        let state = xdg("XDG_STATE_HOME", ".local/state") + "/hostctl"
        let runtime = environment["XDG_RUNTIME_DIR"].flatMap { $0.hasPrefix("/") ? $0 + "/hostctl" : nil }
        return HomeLayout(
            configDirectory: xdg("XDG_CONFIG_HOME", ".config") + "/hostctl", stateDirectory: state,
            logsDirectory: state + "/logs", runDirectory: runtime ?? "/tmp/hostctl-\(userID)")
    }

    /// `<config>/hostctl.yml`.
    public var globalConfigPath: String { configDirectory + "/hostctl.yml" }
    /// `<config>/apps`.
    public var appsDirectory: String { configDirectory + "/apps" }
    /// The lock that serialises changes to handler configs.
    public var lockPath: String { appsDirectory + "/.lock" }
    /// `<config>/apps/<name>.yml`.
    public func handlerConfigPath(_ name: String) -> String { appsDirectory + "/\(name).yml" }
    /// `<logs>/<name>`.
    public func appLogsDirectory(_ name: String) -> String { logsDirectory + "/\(name)" }
    /// `hostctl.yml` in the app's own directory.
    public static func overridePath(directory: String) -> String { directory + "/hostctl.yml" }

    /// Creates whatever is missing of the layout: config, apps and logs 0755; run 0750 with the
    /// group `hostctl` where that group exists, so its members can reach the control socket.
    public func create() throws(SystemError) {
        try FileSystem.makeDirectories(configDirectory, mode: 0o755)
        try FileSystem.makeDirectories(appsDirectory, mode: 0o755)
        try FileSystem.makeDirectories(stateDirectory, mode: 0o755)
        try FileSystem.makeDirectories(logsDirectory, mode: 0o755)
        try FileSystem.makeDirectories(runDirectory, mode: 0o750, group: FileSystem.groupID(named: "hostctl"))
    }
}
