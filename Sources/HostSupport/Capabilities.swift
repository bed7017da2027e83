import Foundation

/// Linux capabilities of this process.
public enum Capabilities {
    /// CAP_SYS_NICE: raise a process's priority (lower its nice value).
    public static let sysNice = 23
    /// CAP_SYS_RESOURCE: exceed resource limits, the pipe buffer allowance among them.
    public static let sysResource = 24
    /// CAP_SYS_ADMIN.
    public static let sysAdmin = 21

    /// Whether any of `capabilities` is in this process's effective set (`CapEff:` in /proc/self/status).
    public static func effective(anyOf capabilities: Int...) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
            let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return capabilities.contains { mask & (1 << UInt64($0)) != 0 }
    }
}
