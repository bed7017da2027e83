import Foundation
import Testing

/// Ten `hostctl add` processes at once leave only whole, valid files and one winner per name.
@Suite("concurrent add")
struct ConcurrencyTests {
    /// Runs `count` invocations at once and returns their results in order.
    func concurrently(_ count: Int, _ args: @escaping @Sendable (Int) -> [String]) -> [RunResult] {
        nonisolated(unsafe) var results = [RunResult?](repeating: nil, count: count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: count) { index in
            let result = try? runHostctl(args(index))
            lock.lock()
            results[index] = result
            lock.unlock()
        }
        return results.map { $0 ?? RunResult(status: -1, stdout: "", stderr: "did not run") }
    }

    @Test func tenDifferentNames_allWritten() throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        let home = t.home
        let results = concurrently(10) { ["add", "app\($0)", app, "--route", "/r\($0)", "--home", home] }
        #expect(results.allSatisfy { $0.status == 0 }, "\(results)")
        let check = try t.hostctl(["check"])
        #expect(check.status == 0, "\(check)")
        #expect(check.stdout.contains("10 apps are valid"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: home + "/apps").filter {
            $0.contains(".tmp")
        }
        #expect(leftovers.isEmpty)
    }

    @Test func tenSameNameDifferentSettings_oneWinner() throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        let home = t.home
        let results = concurrently(10) { ["add", "same", app, "--workers", "\($0 + 1)", "--home", home] }
        let winners = results.enumerated().filter { $0.element.status == 0 }
        #expect(winners.count == 1, "\(results)")
        #expect(results.filter { $0.status == 1 }.count == 9)
        for loser in results where loser.status == 1 {
            #expect(loser.stderr.contains("already exists with other settings"))
        }
        let config = try #require(try jsonObject(t.hostctl(["show", "same", "--json"]))["config"] as? [String: Any])
        #expect(config["workers"] as? Int == (winners.first?.offset ?? -1) + 1)
    }

    @Test func tenSameNameSameSettings_allSucceed() throws {
        let t = try TempHome()
        let app = try t.nodeApp("app")
        let home = t.home
        let results = concurrently(10) { _ in ["add", "same", app, "--workers", "3", "--home", home] }
        #expect(results.allSatisfy { $0.status == 0 }, "\(results)")
        #expect(results.filter { $0.stdout.contains("added same") }.count == 1)
        #expect(try t.hostctl(["check"]).status == 0)
    }
}
