#if canImport(Glibc)
    public import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Thin wrappers over the file system calls hostctl needs, with errors that name the path.
public enum FileSystem {
    /// Reads a whole regular file.
    ///
    /// Throws `EISDIR` for a directory, and the `open`/`read` errno otherwise.
    public static func readFile(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError(errno: errno, action: "cannot read \(path)", hint: nil) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemError(errno: errno, action: "cannot read \(path)", hint: nil) }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw SystemError(
                errno: EISDIR, action: "cannot read \(path)", hint: "it should be a file; move the directory away")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError(errno: errno, action: "cannot read \(path)", hint: nil)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    /// What is at a path, without following a final symbolic link's absence.
    public enum Kind: Sendable, Equatable {
        case missing, file, directory, other
    }

    /// The kind of file at `path` (following symbolic links).
    public static func kind(of path: String) -> Kind {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// Whether the file at `path` has any execute bit set.
    public static func isExecutable(_ path: String) -> Bool {
        kind(of: path) == .file && access(path, X_OK) == 0
    }

    /// Creates `path` and any missing parents with `mode` (umask applied to none of them), and
    /// gives newly created directories `group` when one is named.
    ///
    /// Existing directories are left as they are.
    public static func makeDirectories(_ path: String, mode: mode_t, group: gid_t? = nil) throws(SystemError) {
        if kind(of: path) == .directory { return }
        let parent = parentDirectory(of: path)
        if parent != path && kind(of: parent) != .directory {
            try makeDirectories(parent, mode: 0o755)
        }
        if mkdir(path, mode) != 0 {
            let code = errno
            if code == EEXIST && kind(of: path) == .directory { return }
            throw SystemError(errno: code, action: "cannot create the directory \(path)")
        }
        // mkdir applies the umask; set the mode we promised.
        chmod(path, mode)
        if let group { _ = chown(path, uid_t.max, group) }
    }

    /// The directory part of a path (`/a/b` → `/a`, `/a` → `/`, `a` → `.`).
    public static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// The last component of a path.
    public static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// The canonical absolute path (the corresponding C function is `realpath`), or nil when it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `path` made absolute against the current directory, with `.` and `..` components removed
    /// textually (the path need not exist).
    public static func absolutePath(_ path: String) -> String {
        var full = path
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let cwd =
                getcwd(&buffer, buffer.count) == nil
                ? "/" : String(decoding: buffer.prefix { $0 != 0 }.map(UInt8.init(bitPattern:)), as: UTF8.self)
            full = cwd + "/" + path
        }
        var parts: [Substring] = []
        for part in full.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                _ = parts.popLast()
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The group id of a group name (the corresponding C function is `getgrnam_r`), or nil.
    public static func groupID(named name: String) -> gid_t? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }

    /// The first executable named `name` on `PATH`, or nil.
    public static func findExecutable(_ name: String, path: String?) -> String? {
        if name.contains("/") { return isExecutable(name) ? name : nil }
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if isExecutable(candidate) { return candidate }
        }
        return nil
    }
}
