#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Directory reading and removal over `opendir`/`readdir`/`unlink`/`rmdir`.
public enum DirectoryListing {
    /// The entries of a directory, without `.` and `..`, unsorted.
    public static func names(in directory: String) throws(SystemError) -> [String] {
        try entries(in: directory) { name in
            let text = String(decoding: name, as: UTF8.self)
            return text == "." || text == ".." ? nil : text
        }
    }

    /// The entries of a directory whose names are decimal numbers (in /proc: process and thread
    /// ids), as numbers, unsorted; no Strings are made for them.
    public static func numbers(in directory: String) throws(SystemError) -> [Int32] {
        try entries(in: directory) { name in
            var value: Int32 = 0
            for byte in name {
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"), value < Int32.max / 10 - 9 else {
                    return nil
                }
                value = value * 10 + Int32(byte - UInt8(ascii: "0"))
            }
            return name.isEmpty ? nil : value
        }
    }

    /// What `transform` makes of each entry's name (its bytes), where it makes something.
    private static func entries<T>(
        in directory: String, _ transform: (UnsafeRawBufferPointer.SubSequence) -> T?
    ) throws(SystemError) -> [T] {
        guard let handle = opendir(directory) else {
            throw SystemError(errno: errno, action: "cannot list \(directory)")
        }
        defer { closedir(handle) }
        var results: [T] = []
        while let entry = readdir(handle) {
            let result = withUnsafeBytes(of: entry.pointee.d_name) { raw in transform(raw.prefix { $0 != 0 }) }
            if let result { results.append(result) }
        }
        return results
    }

    /// Removes `path` and everything below it, without following symbolic links.
    ///
    /// A missing path is fine.
    public static func removeTree(_ path: String) throws(SystemError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw SystemError(errno: errno, action: "cannot remove \(path)")
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try names(in: path) { try removeTree(path + "/" + name) }
            guard rmdir(path) == 0 else { throw SystemError(errno: errno, action: "cannot remove \(path)") }
        } else {
            guard unlink(path) == 0 else { throw SystemError(errno: errno, action: "cannot remove \(path)") }
        }
    }
}
