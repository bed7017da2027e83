import Foundation
import Testing

/// The built `hostctl` binary next to the test bundle (SwiftPM builds both into one directory),
/// or `HOSTCTL_BIN` when set.
let hostctlBinary: String = {
    if let path = ProcessInfo.processInfo.environment["HOSTCTL_BIN"], !path.isEmpty { return path }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("hostctl").path
}()

/// What a run of the binary did.
struct RunResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
}

/// A temporary directory under a short root (Unix socket paths stop at 107 bytes), removed on deinit.
final class TempHome: @unchecked Sendable {
    /// The root of the temporary tree; the hostctl home is `home` inside it.
    let root: String
    /// `<root>/h`, passed as --home.
    var home: String { root + "/h" }

    init() throws {
        var template = Array("/tmp/hct-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        root = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Creates a directory (and parents) under the root and returns its path.
    @discardableResult
    func directory(_ relative: String) throws -> String {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Writes a file under the root and returns its path.
    @discardableResult
    func file(_ relative: String, _ contents: String, mode: Int = 0o644) throws -> String {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    /// A node-style app directory with a server.js.
    @discardableResult
    func nodeApp(_ relative: String) throws -> String {
        try file(
            relative + "/server.js", "require('http').createServer((q, s) => s.end('hi')).listen(process.env.PORT)\n")
        return root + "/" + relative
    }

    /// Reads a file under the root.
    func read(_ relative: String) throws -> String {
        try String(contentsOfFile: relative.hasPrefix("/") ? relative : root + "/" + relative, encoding: .utf8)
    }

    /// Runs `hostctl args… --home <home>` (the home is added after the subcommand unless `home: false`).
    func hostctl(_ args: [String], home: Bool = true, environment: [String: String] = [:], cwd: String? = nil) throws
        -> RunResult
    {
        try runHostctl(args + (home ? ["--home", self.home] : []), environment: environment, cwd: cwd ?? root)
    }
}

/// Runs the binary with `args`, the test's environment minus HOSTCTL_* plus `environment`, and
/// waits for it.
func runHostctl(_ args: [String], environment: [String: String] = [:], cwd: String? = nil, prefix: [String] = []) throws
    -> RunResult
{
    let process = Process()
    let executable = prefix.first ?? hostctlBinary
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = Array(prefix.dropFirst()) + (prefix.isEmpty ? [] : [hostctlBinary]) + args
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HOSTCTL_") }
    // Daemons started by tests listen on a port the kernel picks, so that tests run side by side.
    env["HOSTCTL_LISTEN"] = "127.0.0.1:0"
    for (key, value) in environment { env[key] = value }
    process.environment = env
    if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    return try collect(process)
}

/// Runs `process` (set up but not started) with standard input from /dev/null and waits for it,
/// reading both of its outputs to the end first, so that a chatty child never blocks on a full pipe.
func collect(_ process: Process) throws -> RunResult {
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let group = DispatchGroup()
    nonisolated(unsafe) var errData = Data()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return RunResult(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// The JSON object printed on standard output.
func jsonObject(_ result: RunResult) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    return try #require(object as? [String: Any], "not a JSON object: \(result)")
}

/// Whether tests run as root (some checks need another user to be provoked).
let runningAsRoot = getuid() == 0

/// The package root, from this file's path.
let packageRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
