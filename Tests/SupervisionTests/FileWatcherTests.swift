import Testing

@testable import Supervision

@Suite("watch: patterns")
struct FileWatcherTests {
    @Test func patterns_matchWithinOneComponent_andDoubleStarAcrossMany() {
        #expect(FileWatcher.matches("*.js", "app.js"))
        #expect(!FileWatcher.matches("*.js", "lib/app.js"))
        #expect(FileWatcher.matches("lib/**/*.js", "lib/app.js"))
        #expect(FileWatcher.matches("lib/**/*.js", "lib/a/b/app.js"))
        #expect(!FileWatcher.matches("lib/**/*.js", "lib/a/b/app.ts"))
        #expect(FileWatcher.matches("hostctl.yml", "hostctl.yml"))
        #expect(FileWatcher.matches("src/*/index.[jt]s", "src/api/index.ts"))
    }

    @Test func roots_areTheFixedDirectories_recursiveWhereAWildcardIsInADirectory() {
        let roots = Dictionary(
            uniqueKeysWithValues: FileWatcher.roots(["*.js", "lib/**/*.js", "conf/app.yml", "src/*/x.js"]))
        #expect(roots == ["": false, "lib": true, "conf": false, "src": true])
    }
}
