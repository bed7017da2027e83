import ArgumentParser
import HostConfig
import LogStore

#if canImport(Glibc)
    import Glibc
#endif

/// `hostctl logs`: the apps' log files, read directly (no daemon needed), optionally followed.
struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Show the apps' logs, or follow them with -f.",
        discussion: """
            Each line is `TIME APP/SLOT.GENERATION STREAM | TEXT`: UTC time with milliseconds, the worker, \
            then out, err, or hostctl (worker started, ready, exited, restarted, dropped lines). Control \
            characters and invalid UTF-8 are shown as \\xNN. With --json, one object per line (time, app, \
            worker, generation, stream, text, continued), text as the worker wrote it (bytes that are not \
            UTF-8 as U+FFFD). The files are read directly, so this works when the daemon is not running.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The app (default: every app, interleaved by time).")
    var name: String?

    @Flag(name: [.customShort("f"), .customLong("follow")], help: "Keep printing new lines until Ctrl-C.")
    var follow = false

    // Unconditional (as --worker): `-n -5` reaches the check in `checkValues` instead of reading as a flag.
    @Option(
        name: [.customShort("n"), .customLong("lines")],
        parsing: .unconditional,
        help: ArgumentHelp(
            "How many of the last lines to print first (default 100, or all with --since).", valueName: "n"))
    var lines: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Only lines since then: 30s, 10m, 2h, 1d ago, or an ISO 8601 time (UTC unless it says).", valueName: "when")
    )
    var since: String?

    @Option(
        name: .long, parsing: .unconditional, help: ArgumentHelp("Only this worker slot's lines.", valueName: "slot"))
    var worker: Int?

    @Option(name: .long, help: ArgumentHelp("Only this stream: out, err or hostctl.", valueName: "stream"))
    var stream: String?

    @OptionGroup var output: JSONOption

    /// Values that parse but are wrong: exit 1 with one line, as every command's (DESIGN.md), not
    /// argument-parser's usage error (exit 2).
    private func checkValues() throws {
        if let lines, lines < 0 {
            throw CommandError("-n takes a count of 0 or more, not \(lines)", hint: "`-n 0` prints no old lines")
        }
        if let worker, worker < 1 {
            throw CommandError(
                "--worker takes a slot number from 1, not \(worker)", hint: "`hostctl status` shows the slots")
        }
        if let stream, LogStream(rawValue: stream) == nil {
            throw CommandError("--stream takes out, err or hostctl, not '\(stream)'")
        }
        if let since, LogsCommand.sinceTime(since, now: 0) == nil {
            throw CommandError(
                "--since takes a duration ago (30s, 10m, 2h, 1d) or an ISO 8601 time (2026-11-25T07:00:00Z), not '\(since)'"
            )
        }
    }

    func run() throws {
        try checkValues()
        let layout = global.layout
        if let name {
            let known = (try? AppCatalog(layout: layout).appNames()) ?? []
            var info = stat()
            guard known.contains(name) || stat(layout.appLogsDirectory(name), &info) == 0 else {
                throw CommandError("no app named '\(name)'", hint: "`hostctl list` shows the apps of this home")
            }
            let catalog = AppCatalog(layout: layout)
            if known.contains(name),
                let config = catalog.load(name, global: ConfigLoading.globalOrBuiltIn(layout)).resolved?.config,
                config.logs.target == .journal
            {
                Output.note(
                    "\(name) logs to the systemd journal (logs.target: journal): see `journalctl -t \(name)`"
                        + (follow ? " -f" : ""))
            }
        }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let filter = LogFilter(
            slot: worker, stream: stream.flatMap(LogStream.init(rawValue:)),
            since: since.flatMap { Self.sinceTime($0, now: now.tv_sec) })
        let count: Int? = lines ?? (since == nil ? 100 : nil)
        // Standard output closed by its reader (`| head`) ends the command quietly; Ctrl-C and
        // SIGTERM end it even when the parent left them blocked (some test runners and IDEs do).
        signal(SIGPIPE, SIG_IGN)
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for number in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&unblock, number) }
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
        let follower = follow ? LogFollower(logsDirectory: layout.logsDirectory, apps: name.map { [$0] }) : nil
        let apps = name.map { [$0] } ?? LogReader.apps(logsDirectory: layout.logsDirectory)
        var records: [LogRecord] = []
        for app in apps {
            records += LogReader.last(
                count, app: app, directory: layout.appLogsDirectory(app), filter: filter,
                currentEnd: follower?.startOffsets[app])
        }
        if apps.count > 1 {
            records = records.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }
                .map(\.element)
            if let count { records = Array(records.suffix(count)) }
        }
        guard print(records) else { return }
        follower?.run(filter: filter, closeWatch: 1) { print($0) }
    }

    /// Writes `records` to standard output; false once it is closed.
    private func print(_ records: [LogRecord]) -> Bool {
        guard !records.isEmpty else { return true }
        var text = ""
        for record in records {
            if output.json {
                text += Self.json(record).text + "\n"
            } else {
                let worker = record.slot.map { "\($0).\(record.generation ?? 0)" } ?? "-"
                text += "\(record.time) \(record.app)/\(worker) \(record.stream.rawValue) "
                text += (record.continued ? "+ " : "| ") + record.escapedText + "\n"
            }
            if text.utf8.count > 1 << 16 {
                guard Self.write(text) else { return false }
                text = ""
            }
        }
        return Self.write(text)
    }

    private static func write(_ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            bytes = bytes.dropFirst(written)
        }
        return true
    }

    static func json(_ record: LogRecord) -> JSONValue {
        .object([
            ("time", .string(record.time)), ("app", .string(record.app)),
            ("worker", record.slot.map(JSONValue.int) ?? .null),
            ("generation", record.generation.map(JSONValue.int) ?? .null),
            // The line as the worker wrote it (JSON escapes its control characters; bytes that are
            // not UTF-8 become U+FFFD), not the terminal view's `\xNN`, which a script could not tell
            // from the same four characters written by the worker.
            ("stream", .string(record.stream.rawValue)),
            ("text", .string(String(decoding: record.text, as: UTF8.self))),
            ("continued", .bool(record.continued)),
        ])
    }

    /// `--since` as a log time string.
    ///
    /// A duration ago from `now` (seconds since the epoch), or an
    /// ISO 8601 date or time (`2026-11-25`, `2026-11-25T07:00`, `…:00Z`, `…:00.5+01:00`; UTC
    /// when no offset is given). Nil when it is neither.
    static func sinceTime(_ text: String, now: Int) -> String? {
        if let ago = ConfigDuration.parse(text) {
            let milliseconds =
                Int(ago.components.seconds) * 1000 + Int(ago.components.attoseconds / 1_000_000_000_000_000)
            let at = now * 1000 - milliseconds
            return LogTimestamp.format(seconds: at / 1000, milliseconds: at % 1000)
        }
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ width: Int) -> Int? {
            guard index + width <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<(index + width)] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            index += width
            return value
        }
        func take(_ character: Character) -> Bool {
            guard index < bytes.count, bytes[index] == character.asciiValue else { return false }
            index += 1
            return true
        }
        guard let year = number(4), take("-"), let month = number(2), take("-"), let day = number(2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var hour = 0
        var minute = 0
        var second = 0
        var milliseconds = 0
        var offset = 0
        if take("T") || take(" ") {
            guard let h = number(2), take(":"), let m = number(2), h < 24, m < 60 else { return nil }
            hour = h
            minute = m
            if take(":") {
                guard let s = number(2), s < 61 else { return nil }
                second = s
                if take(".") || take(",") {
                    var digits = 0
                    while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                        if digits < 3 { milliseconds = milliseconds * 10 + Int(bytes[index] - 48) }
                        digits += 1
                        index += 1
                    }
                    guard digits > 0 else { return nil }
                    if digits < 3 { for _ in digits..<3 { milliseconds *= 10 } }
                }
            }
            if take("Z") || take("z") {
            } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
                index += 1
                guard let oh = number(2) else { return nil }
                _ = take(":")
                guard let om = number(2) else { return nil }
                offset = sign * (oh * 3600 + om * 60)
            }
        }
        guard index == bytes.count else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts) - offset
        return LogTimestamp.format(seconds: seconds, milliseconds: milliseconds)
    }
}
