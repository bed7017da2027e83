import CHostSupport
import ControlProtocol
import Foundation
import FrontProxy
public import HostConfig
public import HostSupport
import LogStore
import Supervision
import Synchronization
import Systemd

/// The daemon: one per home. Owns the home's lock, the control socket and one `AppSupervisor` per
/// running app, and keeps what `start` and `stop` decided across restarts.
public actor Daemon {
    /// Why the daemon could not start.
    public struct StartupError: ActionableError {
        public var summary: String
        public var hint: String?
    }

    let layout: HomeLayout
    let catalog: AppCatalog
    let context: SupervisionContext
    let startedAt = Date()
    var supervisors: [String: (supervisor: AppSupervisor, runner: Task<Void, Never>, config: AppConfig)] = [:]
    var stopped: StoppedApps
    /// Apps stopped (or removed) since the daemon came up: a `start` that launched the daemon leaves
    /// them stopped.
    var stoppedSinceBoot: Set<String> = []
    var finished: CheckedContinuation<Void, Never>?
    var shuttingDown = false
    /// Watched files that changed while another reload of their app ran: that app reloads again
    /// once the running reload ends.
    var watchPending: [String: [String]] = [:]
    let log: DaemonLog
    let proxy: ProxyServer
    let routes: RoutingPublisher
    var listening: [String] = []
    /// The addresses asked for, and whether they came from `listen:` (so that a reload may change them).
    var listenRequested: [String] = []
    var listenFromConfig = false
    var reloading = false
    var reloadAgain = false
    /// systemd's notify socket, when the daemon runs under systemd with `Type=notify`.
    let notifier: Notifier?
    /// `watch:` patterns of the running apps.
    let watcher = FileWatcher()

    init(layout: HomeLayout, environment: [String: String], log: DaemonLog, proxy: ProxyServer) {
        self.layout = layout
        catalog = AppCatalog(layout: layout)
        self.log = log
        self.proxy = proxy
        let notifier = Notifier(environment: environment)
        self.notifier = notifier
        routes = RoutingPublisher(proxy: proxy) { status in notifier?.status(status) }
        var context = SupervisionContext(
            spawner: Spawner(), monitor: ProcessMonitor(), output: LogCapture(logsDirectory: layout.logsDirectory),
            runDirectory: layout.runDirectory, environment: environment)
        context.requestsInFlight = { [proxy] endpoint in proxy.inFlight(endpoint) }
        self.context = context
        stopped = StoppedApps(path: layout.stateDirectory + "/stopped-apps")
    }

    /// Runs the daemon for `layout` in the foreground until SIGTERM, SIGINT or `hostctl shutdown`.
    ///
    /// returns the exit code. Call before any other thread or task exists (signals are blocked here
    /// so that every thread inherits the mask and only the signal thread takes them).
    ///
    /// The front listener's addresses come from `listen` (the `--listen` flag), else `HOSTCTL_LISTEN`
    /// (comma-separated), else `listen:` in the global config, else 127.0.0.1:8080.
    public static func serve(layout: HomeLayout, environment: [String: String], listen: [String]? = nil)
        throws(StartupError)
        -> Int32
    {
        let signals: [Int32] = [SIGTERM, SIGINT, SIGHUP]
        _ = hc_block_signals(signals, Int32(signals.count))
        let log = DaemonLog()
        OpenFileLimit.raiseToHardLimit()
        let lock: HomeLock
        do {
            try layout.create()
            lock = try HomeLock(layout: layout)
        } catch let error as StartupError {
            throw error
        } catch let error as SystemError {
            throw StartupError(summary: error.summary, hint: error.hint)
        } catch {
            throw StartupError(summary: "\(error)", hint: nil)
        }
        let global: GlobalConfig
        switch GlobalConfig.load(path: layout.globalConfigPath) {
        case .success(let loaded): global = loaded
        case .failure(let problems):
            lock.release()
            throw StartupError(
                summary: "the global config has problems: \(problems.diagnostics.first?.description ?? "")",
                hint: "`hostctl check` lists them")
        }
        let addresses = try ListenAddresses.resolve(flag: listen, environment: environment, global: global)
        // The proxy reports workers that reached `limits.max_requests`; the daemon has them recycled.
        let relay = DaemonRelay()
        let proxy = ProxyServer(
            settings: ProxyConfiguration.settings(global), threads: ProxyConfiguration.threads(global),
            onRequestLimit: { app, worker in relay.requestLimitReached(app: app, worker: worker) },
            onAcceptFailure: { log.write("hostctl: \($0)") })
        let daemon = Daemon(layout: layout, environment: environment, log: log, proxy: proxy)
        relay.set(daemon)
        let configs = daemon.routeEveryApp(stopped: StoppedApps(path: layout.stateDirectory + "/stopped-apps"))
        // Sockets passed by systemd (socket activation) replace the configured addresses.
        let passed = SocketActivation.take()
        let bound =
            passed.isEmpty
            ? ListenAddresses.bind(addresses, proxy: proxy)
            : ListenAddresses.adopt(passed.map(\.fd), proxy: proxy)
        guard case .success(let boundAddresses) = bound else {
            lock.release()
            if case .failure(let error) = bound { throw error }
            return 1
        }
        let server: ControlServer
        do {
            server = try ControlServer(path: layout.runDirectory + "/control.sock") { request in
                await daemon.handle(request)
            }
        } catch {
            throw StartupError(summary: error.summary, hint: error.hint)
        }
        let done = DispatchSemaphore(value: 0)
        Task {
            await daemon.setListening(
                boundAddresses, requested: addresses,
                fromConfig: passed.isEmpty && (listen ?? []).isEmpty
                    && (environment["HOSTCTL_LISTEN"] ?? "").isEmpty)
            let starts = await daemon.boot(configs)
            server.start()
            log.write(
                "hostctl: serving \(layout.configDirectory) on \(boundAddresses.joined(separator: ", "))"
                    + "\(passed.isEmpty ? "" : " (passed by systemd)") (pid \(getpid()))")
            if let notifier = daemon.notifier {
                // READY=1 once the listener is bound and every app that should run is ready or failed.
                Task {
                    for start in starts { await start.value }
                    await daemon.refreshRoutes()
                    notifier.ready(status: daemon.routes.status)
                }
                if let interval = Watchdog.pingInterval() {
                    Task { await daemon.pingWatchdog(every: interval, notifier: notifier) }
                }
            }
            await daemon.waitUntilFinished()
            server.close()
            await proxy.shutdown()
            done.signal()
        }
        let signalThread = Thread {
            while true {
                let signal = hc_wait_signal(signals, Int32(signals.count))
                guard signal > 0 else { continue }
                if signal == SIGHUP {
                    Task { await daemon.reload() }
                    continue
                }
                log.write("hostctl: signal \(SignalName.name(of: signal)): stopping every app")
                Task { await daemon.shutdown() }
            }
        }
        signalThread.name = "hostctl-signals"
        signalThread.start()
        done.wait()
        unlink(layout.runDirectory + "/control.sock")
        lock.release()
        log.write("hostctl: stopped")
        return 0
    }

    /// The apps with a valid handler config, each published to the proxy at once (before the listener
    /// accepts, so that no early request meets a 404): the ones to start as starting (requests wait
    /// for their first ready worker), the ones `hostctl stop` stopped as stopped (503).
    nonisolated func routeEveryApp(stopped: StoppedApps) -> [AppConfig] {
        var configs: [AppConfig] = []
        var routed: [ResolvedApp] = []
        let global = loadGlobal() ?? GlobalConfig.builtIn(path: layout.globalConfigPath)
        for name in (try? catalog.appNames()) ?? [] {
            let loaded = catalog.load(name, global: global)
            guard let app = loaded.resolved else {
                for problem in loaded.diagnostics { log.write("\(problem)") }
                log.write("hostctl: \(name) not started: its config has problems")
                continue
            }
            // Of two apps that claim one route, the first by name gets it; `hostctl start` reports the other.
            let conflicts = RouteConflicts.find(
                in: [app], others: routed.map(\.config), handlerPath: layout.handlerConfigPath)
            guard conflicts.isEmpty else {
                for problem in conflicts { log.write("\(problem)") }
                log.write("hostctl: \(name) not started: its route is another app's")
                continue
            }
            routed.append(app)
            let config = app.config
            routes.configure(config, starting: !stopped.contains(name))
            if !stopped.contains(name) { configs.append(config) }
        }
        return configs
    }

    /// Starts the apps `routeEveryApp` chose; returns a task per app that ends when it is ready or failed.
    func boot(_ configs: [AppConfig]) -> [Task<Void, Never>] {
        configs.map { config in
            let supervisor = supervise(config)
            return Task { self.report(config.name, await supervisor.start()) }
        }
    }

    /// Pushes every supervisor's current snapshot to the routes (and the status line) now, rather
    /// than when its change callback gets there.
    func refreshRoutes() async {
        for (_, entry) in supervisors { routes.changed(await entry.supervisor.snapshot()) }
    }

    /// Sends `WATCHDOG=1` every `interval` for as long as the daemon's actor and every proxy event
    /// loop answer: a wedged one stops the pings, and systemd restarts the daemon.
    func pingWatchdog(every interval: Duration, notifier: Notifier) async {
        while !shuttingDown {
            await proxy.ping()
            notifier.watchdog()
            try? await Task.sleep(for: interval)
        }
    }

    func report(_ name: String, _ result: StartResult) {
        switch result {
        case .ready: log.write("hostctl: \(name) is ready")
        case .failed(let reason), .cannotRun(let reason): log.write("hostctl: \(name) failed to start: \(reason)")
        case .stopped: break
        }
    }

    nonisolated func loadGlobal() -> GlobalConfig? { try? checkedGlobal().get() }

    /// The global config read afresh, or its problems (also written to the daemon's log).
    nonisolated func checkedGlobal() -> Result<GlobalConfig, ConfigProblems> {
        let loaded = GlobalConfig.load(path: layout.globalConfigPath)
        if case .failure(let problems) = loaded {
            for problem in problems.diagnostics { log.write("\(problem)") }
        }
        return loaded
    }

    /// Watches `config`'s `watch:` patterns (none: stops watching the app).
    func watchFiles(_ config: AppConfig) {
        let name = config.name
        let log = self.log
        watcher.watch(
            app: name, directory: config.directory, patterns: config.watch,
            onChange: { [weak self] paths in Task { await self?.filesChanged(name, paths) } },
            onProblem: { [weak self] problem in
                log.write("hostctl: \(name): \(problem)")
                Task { await self?.note(problem, app: name) }
            })
    }

    /// A hostctl line in `name`'s log.
    func note(_ text: String, app name: String) {
        supervisors[name]?.supervisor.note(text)
    }

    /// Watched files of `name` changed: its config is read afresh and, when valid, the app is rolled
    /// over; a config with problems is reported and the workers are left alone.
    func filesChanged(_ name: String, _ paths: [String]) async {
        guard let entry = supervisors[name], !stopped.contains(name), !shuttingDown else { return }
        log.write("hostctl: \(name): \(paths.joined(separator: ", ")) changed: reloading")
        let config: AppConfig
        switch freshConfigs([name], refusal: "not reloaded") {
        case .success(let loaded):
            guard let first = loaded.first else { return }
            config = first
        case .failure(let failure):
            for detail in failure.details { log.write(detail) }
            log.write("hostctl: \(name): \(failure.message); the workers go on as they are")
            entry.supervisor.note("watch: \(paths.joined(separator: ", ")) changed, but \(failure.message)")
            // The problems too, file:line first, where `hostctl logs NAME` shows them.
            for detail in failure.details { entry.supervisor.note("watch: \(detail)") }
            return
        }
        entry.supervisor.note("watch: \(paths.joined(separator: ", ")) changed: reloading")
        let previous = entry.config
        supervisors[name]?.config = config
        routes.configure(config)
        if config.watch != previous.watch || config.directory != previous.directory { watchFiles(config) }
        let result = await entry.supervisor.reload(config)
        if result != .done {
            supervisors[name]?.config = previous
            routes.configure(previous)
        }
        reported(name, result)
        if result == .busy {
            // The change is not lost: the app reloads again when the running reload ends.
            let pending = watchPending[name] ?? []
            watchPending[name] = pending + paths.filter { !pending.contains($0) }
            entry.supervisor.note("watch: another reload is running; this change follows it")
            // The running reload may have ended meanwhile, with nothing left to take the change up.
            if await entry.supervisor.snapshot().state != .reloading, let kept = watchPending.removeValue(forKey: name)
            {
                Task { await self.filesChanged(name, kept) }
            }
        }
    }

    /// A worker was given `limits.max_requests` requests: it is replaced gracefully.
    func requestLimitReached(app: String, worker: EndpointTable.Worker) {
        guard let entry = supervisors[app] else { return }
        entry.supervisor.recycle(
            slot: worker.slot, generation: worker.generation,
            reason: "served \(worker.maxRequests) requests (limits.max_requests)")
    }

    /// Creates and runs the supervisor of `config`.
    func supervise(_ config: AppConfig) -> AppSupervisor {
        let routes = self.routes
        routes.configure(config, starting: true)
        let supervisor = AppSupervisor(config: config, context: context) { routes.changed($0) }
        let runner = Task { await supervisor.run() }
        supervisors[config.name] = (supervisor, runner, config)
        watchFiles(config)
        return supervisor
    }

    func setListening(_ addresses: [String], requested: [String], fromConfig: Bool) {
        listening = addresses
        listenRequested = requested
        listenFromConfig = fromConfig
    }

    func waitUntilFinished() async {
        if shuttingDown && supervisors.isEmpty { return }
        await withCheckedContinuation { finished = $0 }
    }

    /// Stops every app gracefully, then lets `serve` return.
    func shutdown() async {
        guard !shuttingDown else { return }
        shuttingDown = true
        notifier?.stopping()
        let all = supervisors
        await withTaskGroup(of: Void.self) { group in
            for (_, entry) in all {
                group.addTask {
                    await entry.supervisor.stop()
                    entry.supervisor.finish()
                    await entry.runner.value
                }
            }
        }
        supervisors.removeAll()
        // The workers' last lines and the `stopped` lines reach the files before the daemon exits.
        context.output.flush()
        finished?.resume()
        finished = nil
    }
}

/// Hands the proxy's reports to the daemon, which exists only after the proxy.
final class DaemonRelay: Sendable {
    private let daemon = Mutex<Daemon?>(nil)

    func set(_ value: Daemon) { daemon.withLock { $0 = value } }

    func requestLimitReached(app: String, worker: EndpointTable.Worker) {
        guard let daemon = daemon.withLock({ $0 }) else { return }
        Task { await daemon.requestLimitReached(app: app, worker: worker) }
    }
}
