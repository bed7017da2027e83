import Foundation
import Testing

@Suite("logs.target: journal", .serialized)
struct JournalTests {
    @Test func journalTarget_sendsEachLineWithItsFields_andLogsSaysWhereToLook() throws {
        guard runningAsRoot, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else {
            print("skipped the journal test: it needs root to mount a private /run with its own journal socket")
            return
        }
        let t = try TempHome()
        defer { try? t.stopDaemon() }
        try t.addFixture("jx", ["--spew", "2"], yaml: "logs:\n  target: journal\n")
        try t.addFixture("jb", ["--spew", "1"], yaml: "logs:\n  target: both\n")
        let received = t.root + "/journal.bin"
        let receiver = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/journal/receiver.py").path
        // In a private mount namespace: a tmpfs /run with our receiver as journald's socket, then the
        // daemon, which inherits the namespace.
        let script = """
            set -e
            mount -t tmpfs tmpfs /run
            mkdir -p /run/systemd/journal
            python3 '\(receiver)' /run/systemd/journal/socket '\(received)' &
            receiver=$!
            trap 'kill $receiver' EXIT
            for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
            HOSTCTL_LISTEN=127.0.0.1:0 '\(hostctlBinary)' start --home '\(t.home)'
            for i in $(seq 100); do grep -q 'MESSAGE=err 2' '\(received)' 2>/dev/null && break; sleep 0.05; done
            '\(hostctlBinary)' shutdown --home '\(t.home)'
            """
        let run = try runCommand(["/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script])
        guard run.status == 0 || !run.stderr.contains("Operation not permitted") else {
            print("skipped the journal test: cannot make a private mount namespace here (\(run.stderr))")
            return
        }
        #expect(run.status == 0, "\(run)")
        let entries = try Data(contentsOf: URL(fileURLWithPath: received)).split(separator: 0x1e).map { entry in
            Dictionary(
                String(decoding: entry, as: UTF8.self).split(separator: "\n").compactMap { line in
                    line.firstIndex(of: "=").map { (String(line[..<$0]), String(line[line.index(after: $0)...])) }
                }, uniquingKeysWith: { $1 })
        }
        let errorLine = try #require(entries.first { $0["MESSAGE"] == "err 2" && $0["HOSTCTL_APP"] == "jx" })
        #expect(
            errorLine["PRIORITY"] == "3" && errorLine["SYSLOG_IDENTIFIER"] == "jx" && errorLine["HOSTCTL_WORKER"] == "1"
        )
        let outputLine = try #require(entries.first { $0["MESSAGE"] == "out 1" && $0["HOSTCTL_APP"] == "jx" })
        #expect(outputLine["PRIORITY"] == "6")
        #expect(entries.contains { $0["HOSTCTL_APP"] == "jx" && $0["MESSAGE"]?.hasPrefix("started pid ") == true })
        #expect(entries.contains { $0["HOSTCTL_APP"] == "jb" && $0["MESSAGE"] == "out 1" })
        // journal only: nothing in the files, and `hostctl logs` says where to look; both: in the files too.
        let onlyJournal = try t.hostctl(["logs", "jx"])
        #expect(!onlyJournal.stdout.contains("out 1"), "\(onlyJournal)")
        #expect(onlyJournal.stderr.contains("journalctl -t jx"), "\(onlyJournal)")
        #expect(try t.hostctl(["logs", "jb"]).stdout.contains("jb/1.1 out | out 1"))
    }
}
