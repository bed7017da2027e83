import Foundation
import Testing

/// The committed completions must be what the parser generates now; `scripts/gen-docs` regenerates them.
@Suite("generated files")
struct GeneratedFilesTests {
    @Test(arguments: [("bash", "hostctl.bash"), ("zsh", "_hostctl"), ("fish", "hostctl.fish")])
    func completionScript_isNotStale(shell: String, file: String) throws {
        let r = try runHostctl(["--generate-completion-script", shell])
        #expect(r.status == 0)
        let committed = try String(contentsOfFile: packageRoot + "/completions/" + file, encoding: .utf8)
        #expect(r.stdout == committed, "completions/\(file) is stale: run scripts/gen-docs and commit the result")
    }
}
