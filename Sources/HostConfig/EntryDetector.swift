internal import Foundation
import HostSupport

/// Finds how to run an app that was added without `--command`: from `--entry FILE`, or by
/// looking for the usual entry files of node and Python apps.
public enum EntryDetector {
    /// What was chosen and why.
    public struct Detection: Sendable, Equatable {
        /// The entry file, relative to the app directory.
        public var entry: String
        /// The program that runs it (`node`, `python3`), or nil when the file runs itself.
        public var interpreter: String?
        /// The command to store.
        public var command: [String]
        /// Why this file was chosen (`package.json "main"`, `found server.js`).
        public var reason: String
    }

    /// Looks in `directory` for, in order: package.json "main", server.js, app.js, index.js, app.py, main.py.
    public static func detect(in directory: String) -> Detection? {
        if let main = packageMain(in: directory) {
            return Detection(
                entry: main, interpreter: "node", command: ["node", main], reason: "package.json \"main\"")
        }
        for candidate in ["server.js", "app.js", "index.js", "app.py", "main.py"]
        where FileSystem.kind(of: directory + "/" + candidate) == .file {
            let interpreter = candidate.hasSuffix(".py") ? "python3" : "node"
            return Detection(
                entry: candidate, interpreter: interpreter, command: [interpreter, candidate],
                reason: "found \(candidate)")
        }
        return nil
    }

    /// The command for an explicit entry file, relative to `directory` (or absolute inside it).
    public static func command(forEntry entry: String, in directory: String) -> Result<Detection, RuleViolation> {
        var relative = entry
        if entry.hasPrefix("/") {
            let resolved = FileSystem.realPath(entry) ?? entry
            guard resolved.hasPrefix(directory + "/") else {
                return .failure(
                    RuleViolation("entry \(entry) is outside the app directory \(directory); pass a file inside it"))
            }
            relative = String(resolved.dropFirst(directory.count + 1))
        }
        while relative.hasPrefix("./") { relative = String(relative.dropFirst(2)) }
        let full = directory + "/" + relative
        guard FileSystem.kind(of: full) == .file else {
            return .failure(RuleViolation("entry file \(full) does not exist; pass a file inside \(directory)"))
        }
        if let real = FileSystem.realPath(full), !real.hasPrefix(directory + "/") {
            return .failure(
                RuleViolation("entry \(entry) is outside the app directory \(directory); pass a file inside it"))
        }
        let lower = relative.lowercased()
        if lower.hasSuffix(".js") || lower.hasSuffix(".mjs") || lower.hasSuffix(".cjs") {
            return .success(
                Detection(entry: relative, interpreter: "node", command: ["node", relative], reason: "--entry"))
        }
        if lower.hasSuffix(".py") {
            return .success(
                Detection(entry: relative, interpreter: "python3", command: ["python3", relative], reason: "--entry"))
        }
        if FileSystem.isExecutable(full) {
            return .success(Detection(entry: relative, interpreter: nil, command: ["./" + relative], reason: "--entry"))
        }
        return .failure(
            RuleViolation(
                "cannot tell how to run \(relative): it is not .js, .mjs, .cjs or .py and not executable; pass --command instead"
            ))
    }

    /// package.json's "main", when it names a file that exists inside the directory.
    private static func packageMain(in directory: String) -> String? {
        guard let bytes = try? FileSystem.readFile(directory + "/package.json"),
            let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let main = object["main"] as? String, !main.isEmpty
        else { return nil }
        var relative = main
        while relative.hasPrefix("./") { relative = String(relative.dropFirst(2)) }
        for candidate in [relative, relative + ".js", relative + "/index.js"] {
            let full = directory + "/" + candidate
            guard FileSystem.kind(of: full) == .file, let real = FileSystem.realPath(full),
                real.hasPrefix(directory + "/")
            else { continue }
            return candidate
        }
        return nil
    }
}
