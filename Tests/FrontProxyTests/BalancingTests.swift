import NIOCore
import Testing

@testable import FrontProxy

@Suite("balancing")
struct BalancingTests {
    func worker(_ name: String) -> EndpointTable.Worker {
        EndpointTable.Worker(endpoint: "/run/\(name).sock", slot: 1, generation: 1, maxConcurrent: 1024)
    }

    func table(_ workers: [EndpointTable.Worker]) -> EndpointTable {
        EndpointTable(apps: [
            EndpointTable.App(
                route: RouteEntry(app: "a", path: "/", hosts: [], stripPrefix: true), availability: .running,
                workers: workers, readyTimeout: .seconds(1))
        ])
    }

    /// `count` picks without releasing any, by endpoint.
    func picks(_ state: ProxyState, _ count: Int, now: NIODeadline? = nil) -> [String] {
        guard let app = state.current.table.app(named: "a") else { return [] }
        return (0..<count).compactMap { state.pick(app, start: $0, now: now)?.endpoint }
    }

    @Test func leastInFlight_spreadsEvenlyBetweenWarmWorkers() {
        var settings = ProxySettings()
        settings.slowStart = .zero
        let state = ProxyState(settings: settings)
        state.update(table([worker("old"), worker("new")]))
        let chosen = picks(state, 10)
        #expect(chosen.filter { $0 == "/run/old.sock" }.count == 5, "\(chosen)")
    }

    @Test func aWorkerThatJustBecameReady_getsATenthOfAWarmOnesShare_thenItsFullShare() {
        var settings = ProxySettings()
        settings.slowStart = .seconds(10)
        let state = ProxyState(settings: settings)
        let start = NIODeadline.now()
        state.update(table([worker("old")]), now: start)
        // Ten seconds later a second worker becomes ready: the old one's slow start is over, the new
        // one's begins (weight 1/10), so the old one takes requests until it has about ten times as
        // many in flight as the new one.
        let ready = start + .seconds(10)
        state.update(table([worker("old"), worker("new")]), now: ready)
        let early = picks(state, 9, now: ready)
        #expect(early == Array(repeating: "/run/old.sock", count: 9), "\(early)")
        let more = picks(state, 22, now: ready)
        #expect(more.filter { $0 == "/run/new.sock" }.count == 2, "\(more)")

        // Once both are warm, plain least-in-flight evens the counts out: 29 and 2 in flight now, so
        // the new worker takes the next 28.
        let warm = picks(state, 28, now: ready + .seconds(10))
        #expect(warm == Array(repeating: "/run/new.sock", count: 28), "\(warm)")
    }
}
