import Foundation
import HostSupport

/// Who is at the other end of a Unix socket (the corresponding socket option is `SO_PEERCRED`),
/// and whether they may use the daemon: root, the daemon's own user, or members of group `hostctl`.
public struct PeerCredentials: Sendable, Equatable {
    /// The peer's pid.
    public var pid: Int32
    /// The peer's uid.
    public var uid: UInt32
    /// The peer's primary gid.
    public var gid: UInt32

    /// Reads the credentials of the peer of `socket`; nil when the kernel gives none.
    public static func of(socket fd: Int32) -> PeerCredentials? {
        // struct ucred is three 32-bit fields: pid, uid, gid.
        var raw = [UInt32](repeating: 0, count: 3)
        var length = socklen_t(12)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &raw, &length) == 0, length == 12 else { return nil }
        return PeerCredentials(pid: Int32(bitPattern: raw[0]), uid: raw[1], gid: raw[2])
    }

    /// Whether this peer may control a daemon running as `daemonUID`.
    public func isAllowed(daemonUID: UInt32) -> Bool {
        if uid == 0 || uid == daemonUID { return true }
        guard let group = FileSystem.groupID(named: "hostctl") else { return false }
        if gid == group { return true }
        return Self.groups(ofUID: uid).contains(group)
    }

    /// The supplementary groups of the user with `uid` (the corresponding C functions are
    /// `getpwuid_r` and `getgrouplist`).
    static func groups(ofUID uid: UInt32) -> [UInt32] {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name
        else { return [] }
        var count: Int32 = 256
        var groups = [gid_t](repeating: 0, count: Int(count))
        guard getgrouplist(name, entry.pw_gid, &groups, &count) >= 0 else { return [] }
        return Array(groups.prefix(Int(count)))
    }
}
