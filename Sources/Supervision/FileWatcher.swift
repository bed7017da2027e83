import CHostSupport
import Foundation

/// `watch:`.
///
/// Inotify on the directories an app's glob patterns can match (no polling), changes
/// debounced per app, then one call with the changed paths. One thread for every app; idle, it
/// sleeps in `poll` and costs nothing.
///
/// Patterns are relative to the app directory: `*` and `?` match within one path component, `**`
/// matches any number of components (`lib/**/*.js`), `[...]` a set. Directories named
/// `node_modules` or starting with `.` are not descended into by `**`.
public final class FileWatcher: @unchecked Sendable {
    private struct Watched {
        var app: String
        var directory: String
        var patterns: [String]
        var onChange: @Sendable ([String]) -> Void
        var onProblem: @Sendable (String) -> Void
        var pending: Set<String> = []
        var due: ContinuousClock.Instant?
        /// Directories that could not be watched (the inotify watch limit), and whether that was said.
        var unwatched = 0
        var reported = false
    }

    /// `inotify_add_watch`: the watch descriptor, or -1 with errno set (tests make it fail).
    public typealias AddWatch = @Sendable (_ inotify: Int32, _ path: String, _ mask: UInt32) -> Int32

    // Invariant: everything below is touched only with `lock` held (the thread and the callers).
    private let lock = NSLock()
    private var apps: [String: Watched] = [:]
    /// inotify watch descriptor -> (app, directory path relative to the app directory, "" at the top).
    private var watches: [Int32: (app: String, relative: String)] = [:]
    private let inotify: Int32
    private let wake: [Int32]
    private let debounce: Duration
    private let addWatch: AddWatch
    private let clock = ContinuousClock()

    /// Starts the watching thread; a burst of changes within `debounce` of each other is one call.
    public init(
        debounce: Duration = .milliseconds(300), addWatch: AddWatch? = nil
    ) {
        self.debounce = debounce
        self.addWatch = addWatch ?? { inotify_add_watch($0, $1, $2) }
        inotify = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        var fds: [Int32] = [0, 0]
        _ = hc_pipe_cloexec(&fds, O_NONBLOCK)
        wake = fds
        let thread = Thread { [self] in self.loop() }
        thread.name = "hostctl-watch"
        thread.start()
    }

    /// Watches `patterns` under `directory` for `app` (replacing what was watched for it).
    ///
    /// `onChange` gets the changed paths, relative to `directory`, once changes have stopped for the
    /// debounce time; `onProblem` hears, once, that directories could not be watched (the inotify
    /// watch limit).
    public func watch(
        app: String, directory: String, patterns: [String], onChange: @escaping @Sendable ([String]) -> Void,
        onProblem: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        let problems = lock.withLock {
            removeLocked(app)
            guard !patterns.isEmpty else { return [(@Sendable (String) -> Void, String)]() }
            apps[app] = Watched(
                app: app, directory: directory, patterns: patterns, onChange: onChange, onProblem: onProblem)
            refreshRootsLocked(app)
            return problemsLocked()
        }
        for (report, text) in problems { report(text) }
        poke()
    }

    /// What is to be said of directories that could not be watched, once per app.
    private func problemsLocked() -> [(@Sendable (String) -> Void, String)] {
        var problems: [(@Sendable (String) -> Void, String)] = []
        for (app, watched) in apps where watched.unwatched > 0 && !watched.reported {
            apps[app]?.reported = true
            let limit =
                (try? String(contentsOfFile: "/proc/sys/fs/inotify/max_user_watches", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            let count = watched.unwatched
            problems.append(
                (
                    watched.onProblem,
                    "watch: \(count) director\(count == 1 ? "y is" : "ies are") not watched, so changes there"
                        + " reload nothing: the inotify watch limit is reached (fs.inotify.max_user_watches = \(limit));"
                        + " raise it, e.g. `sysctl fs.inotify.max_user_watches=524288`, then reload the app"
                ))
        }
        return problems
    }

    /// Stops watching for `app`.
    public func remove(app: String) {
        lock.withLock { removeLocked(app) }
    }

    /// How many directories are watched now (for tests and status).
    public var watchedDirectories: Int { lock.withLock { watches.count } }

    /// The directories to watch for `patterns`: the part before the first component with a wildcard,
    /// and whether to descend into subdirectories (a wildcard in a directory component, or `**`).
    static func roots(_ patterns: [String]) -> [(String, Bool)] {
        var result: [String: Bool] = [:]
        for pattern in patterns {
            var components = pattern.split(separator: "/").map(String.init)
            guard !components.isEmpty else { continue }
            components.removeLast()
            let wild = components.firstIndex { $0.contains { "*?[".contains($0) } }
            let fixed = components[..<(wild ?? components.count)].joined(separator: "/")
            result[fixed] = (result[fixed] ?? false) || wild != nil
        }
        return result.map { ($0.key, $0.value) }
    }

    /// Whether `path` (relative) matches `pattern`.
    static func matches(_ pattern: String, _ path: String) -> Bool {
        let patternParts = pattern.split(separator: "/").map(String.init)
        let pathParts = path.split(separator: "/").map(String.init)
        func match(_ p: Int, _ s: Int) -> Bool {
            if p == patternParts.count { return s == pathParts.count }
            if patternParts[p] == "**" {
                for next in s...pathParts.count where match(p + 1, next) { return true }
                return false
            }
            guard s < pathParts.count else { return false }
            return fnmatch(patternParts[p], pathParts[s], 0) == 0 && match(p + 1, s + 1)
        }
        return match(0, 0)
    }

    /// Watches each root of the app's patterns that exists and is not watched yet; for one that does
    /// not exist yet, its deepest existing parent, so that its creation is seen.
    private func refreshRootsLocked(_ app: String) {
        guard let watched = apps[app] else { return }
        let fileManager = FileManager.default
        for (relative, recursive) in Self.roots(watched.patterns) {
            var candidate = relative
            var recursively = recursive
            while true {
                let path = candidate.isEmpty ? watched.directory : watched.directory + "/" + candidate
                if fileManager.fileExists(atPath: path) { break }
                guard !candidate.isEmpty else { break }
                candidate = candidate.lastIndex(of: "/").map { String(candidate[..<$0]) } ?? ""
                recursively = false
            }
            let key = candidate + (recursively ? "/**" : "")
            if !watches.values.contains(where: { $0.app == app && $0.relative == key }) {
                addLocked(app, candidate, recursive: recursively)
            }
        }
    }

    private func addLocked(_ app: String, _ relative: String, recursive: Bool) {
        guard let watched = apps[app] else { return }
        let path = relative.isEmpty ? watched.directory : watched.directory + "/" + relative
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB)
        let descriptor = addWatch(inotify, path, mask | UInt32(IN_ONLYDIR))
        guard descriptor >= 0 else {
            // ENOENT and ENOTDIR: it went away meanwhile; the limit is worth saying.
            if errno == ENOSPC || errno == ENOMEM { apps[app]?.unwatched += 1 }
            return
        }
        watches[descriptor] = (app, relative + (recursive ? "/**" : ""))
        guard recursive, let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
        for entry in entries where !entry.hasPrefix(".") && entry != "node_modules" {
            var isDirectory: ObjCBool = false
            let child = path + "/" + entry
            if FileManager.default.fileExists(atPath: child, isDirectory: &isDirectory), isDirectory.boolValue {
                addLocked(app, relative.isEmpty ? entry : relative + "/" + entry, recursive: true)
            }
        }
    }

    private func removeLocked(_ app: String) {
        for (descriptor, owner) in watches where owner.app == app {
            inotify_rm_watch(inotify, descriptor)
            watches[descriptor] = nil
        }
        apps[app] = nil
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = write(wake[1], &byte, 1)
    }

    private func loop() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            // Sleep until an event, or until the earliest debounce ends.
            let next = lock.withLock { apps.values.compactMap(\.due).min() }
            var timeout: Int32 = -1
            if let next {
                let left = next - clock.now
                timeout = max(
                    0, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000) + 1)
            }
            var descriptors = [
                pollfd(fd: inotify, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&descriptors, 2, timeout)
            if descriptors[1].revents != 0 { while read(wake[0], &buffer, buffer.count) > 0 {} }
            if descriptors[0].revents != 0 {
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
                    guard count > 0 else { break }
                    let problems = lock.withLock {
                        handleLocked(buffer, count)
                        return problemsLocked()
                    }
                    for (report, text) in problems { report(text) }
                }
            }
            fireDue()
        }
    }

    private func handleLocked(_ buffer: [UInt8], _ count: Int) {
        var offset = 0
        let header = MemoryLayout<inotify_event>.size
        while offset + header <= count {
            let (descriptor, mask, length) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, Int) in
                let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                return (event.wd, event.mask, Int(event.len))
            }
            let nameBytes = buffer[(offset + header)..<(offset + header + length)].prefix { $0 != 0 }
            let name = String(decoding: nameBytes, as: UTF8.self)
            offset += header + length
            guard let owner = watches[descriptor], var watched = apps[owner.app], !name.isEmpty else { continue }
            let recursive = owner.relative.hasSuffix("/**")
            let directory = recursive ? String(owner.relative.dropLast(3)) : owner.relative
            let relative = directory.isEmpty ? name : directory + "/" + name
            if mask & UInt32(IN_ISDIR) != 0 && mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                if recursive && !name.hasPrefix(".") && name != "node_modules" {
                    addLocked(owner.app, relative, recursive: true)
                }
                // A directory a pattern needs may have just appeared.
                refreshRootsLocked(owner.app)
            }
            guard mask & UInt32(IN_ISDIR) == 0, watched.patterns.contains(where: { Self.matches($0, relative) }) else {
                continue
            }
            watched.pending.insert(relative)
            watched.due = clock.now + debounce
            apps[owner.app] = watched
        }
    }

    private func fireDue() {
        let now = clock.now
        let calls: [(@Sendable ([String]) -> Void, [String])] = lock.withLock {
            var calls: [(@Sendable ([String]) -> Void, [String])] = []
            for (app, watched) in apps {
                guard let due = watched.due, due <= now else { continue }
                calls.append((watched.onChange, watched.pending.sorted()))
                apps[app]?.pending = []
                apps[app]?.due = nil
            }
            return calls
        }
        for (call, paths) in calls { call(paths) }
    }
}
