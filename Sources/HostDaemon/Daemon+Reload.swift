import ControlProtocol
import FrontProxy
import HostConfig
import Supervision
import Systemd

extension Daemon {
    /// SIGHUP (`systemctl reload`).
    ///
    /// Re-reads the global config, every handler config and every app
    /// override. Apps added are started, apps removed are stopped, apps whose effective config changed
    /// are restarted with it; a changed `listen:` is bound before the old listener closes. A config
    /// with problems is reported (file:line) to the daemon's log and nothing changes.
    func reload() async {
        guard !shuttingDown else { return }
        if reloading {
            reloadAgain = true
            return
        }
        reloading = true
        defer { reloading = false }
        repeat {
            reloadAgain = false
            notifier?.reloading()
            log.write("hostctl: SIGHUP: reloading the configs")
            await reloadOnce()
            await refreshRoutes()
            notifier?.ready(status: routes.status)
        } while reloadAgain && !shuttingDown
    }

    private func reloadOnce() async {
        guard let global = loadGlobal() else {
            log.write("hostctl: reload refused: the global config has problems; still running on the old configs")
            return
        }
        let names = (try? catalog.appNames()) ?? []
        var resolved: [ResolvedApp] = []
        var problems: [String] = []
        for name in names {
            let loaded = catalog.load(name, global: global)
            if let app = loaded.resolved {
                resolved.append(app)
            } else {
                problems += loaded.diagnostics.map(\.description)
            }
        }
        if problems.isEmpty {
            problems = RouteConflicts.find(in: resolved, handlerPath: layout.handlerConfigPath).map(\.description)
        }
        let configs = Dictionary(uniqueKeysWithValues: resolved.map { ($0.config.name, $0.config) })
        guard problems.isEmpty else {
            for problem in problems { log.write(problem) }
            log.write("hostctl: reload refused: config problems above; still running on the old configs")
            return
        }
        // The proxy's limits and timeouts hold for every request from now on (its threads stay).
        proxy.apply(ProxyConfiguration.settings(global))
        if listenFromConfig && global.listen != listenRequested {
            do {
                listening = try await proxy.rebind(to: global.listen)
                listenRequested = global.listen
                log.write("hostctl: now listening on \(listening.joined(separator: ", "))")
            } catch {
                log.write(
                    "hostctl: reload: \(error.description); still listening on \(listening.joined(separator: ", "))")
            }
        }
        var changes: [String] = []
        // Removed: stopped, and their routes go.
        for name in supervisors.keys.sorted() where configs[name] == nil {
            _ = await forget([name])
            changes.append("removed \(name)")
        }
        var starts: [(String, AppSupervisor)] = []
        for (name, config) in configs.sorted(by: { $0.key < $1.key }) {
            if let existing = supervisors[name] {
                guard existing.config != config else { continue }
                supervisors[name]?.config = config
                routes.configure(config)
                watchFiles(config)
                if stopped.contains(name) {
                    await existing.supervisor.update(config)
                } else {
                    // Rolled over one worker at a time, as `hostctl reload` does.
                    let result = await existing.supervisor.reload(config)
                    reported(name, result)
                    if result != .done {
                        supervisors[name]?.config = existing.config
                        routes.configure(existing.config)
                    }
                }
                changes.append("changed \(name)")
            } else if stopped.contains(name) {
                routes.configure(config)
            } else {
                starts.append((name, supervise(config)))
                changes.append("added \(name)")
            }
        }
        await withTaskGroup(of: (String, StartResult).self) { group in
            for (name, supervisor) in starts { group.addTask { (name, await supervisor.start()) } }
            for await (name, result) in group { report(name, result) }
        }
        log.write("hostctl: reloaded: \(changes.isEmpty ? "nothing changed" : changes.joined(separator: ", "))")
    }
}

extension Daemon {
    /// `hostctl reload NAME... | --all`: the named apps' configs read afresh, each running app rolled
    /// onto its config one worker at a time.
    func reloadApps(_ request: ControlRequest) async -> ControlResponse {
        let names: [String]
        switch self.names(request) {
        case .success(let found):
            // --all: the running apps only.
            names =
                request.all || request.apps.isEmpty
                ? found.filter { supervisors[$0] != nil && !stopped.contains($0) } : found
        case .failure(let failure): return ControlResponse(failure: failure)
        }
        for name in names where supervisors[name] == nil || stopped.contains(name) {
            return ControlResponse(
                failure: ControlFailure(
                    code: "not_running", message: "\(name) is not running", hint: "`hostctl start \(name)` starts it"))
        }
        let configs: [AppConfig]
        switch freshConfigs(names, refusal: "nothing was reloaded") {
        case .success(let loaded): configs = loaded
        case .failure(let failure): return ControlResponse(failure: failure)
        }
        let work: [(String, AppSupervisor, AppConfig)] = configs.compactMap { config in
            supervisors[config.name].map { (config.name, $0.supervisor, config) }
        }
        let previous = Dictionary(
            uniqueKeysWithValues: work.compactMap { item in supervisors[item.0].map { (item.0, $0.config) } })
        for (name, _, config) in work {
            supervisors[name]?.config = config
            routes.configure(config)
            watchFiles(config)
        }
        guard request.wait else {
            for (name, supervisor, config) in work {
                Task { self.reported(name, await supervisor.reload(config)) }
            }
            return ControlResponse(messages: names.map { "reloading \($0)" })
        }
        var failures: [String] = []
        var busy: [String] = []
        var unserved: [String] = []
        for (name, supervisor, config) in work {
            let result = await supervisor.reload(config)
            reported(name, result)
            switch result {
            case .done: continue
            case .failed(let reason):
                failures.append(reason)
                let snapshot = await supervisor.snapshot()
                if !snapshot.workers.contains(where: { $0.state == .ready }) { unserved.append(name) }
            case .busy: busy.append(name)
            }
            // The supervisor stayed on, or went back to, the old config: so do the records and the route.
            if let old = previous[name] {
                supervisors[name]?.config = old
                routes.configure(old)
            }
        }
        if failures.isEmpty && !busy.isEmpty {
            return ControlResponse(
                failure: ControlFailure(
                    code: "reload_running",
                    message: busy.map { "\($0): a reload is already running" }.joined(separator: "; "),
                    hint: "wait until `hostctl status` no longer shows it reloading, then reload again"))
        }
        guard failures.isEmpty else {
            // Only say that old workers go on serving when they do.
            let hint =
                unserved.isEmpty
                ? "the workers that were ready go on serving, on the old config; `hostctl logs NAME` shows why the new one was not ready"
                : "\(unserved.joined(separator: ", ")) has no ready worker; `hostctl logs \(unserved[0])` shows why, and the daemon goes on restarting it"
            return ControlResponse(
                failure: ControlFailure(code: "reload_failed", message: failures.joined(separator: "; "), hint: hint))
        }
        return ControlResponse(messages: names.map { "\($0) reloaded" })
    }

    func reported(_ name: String, _ result: ReloadResult) {
        if result != .busy, let paths = watchPending.removeValue(forKey: name) {
            Task { await self.filesChanged(name, paths) }
        }
        switch result {
        case .done: log.write("hostctl: \(name) reloaded")
        case .failed(let reason): log.write("hostctl: \(name): reload failed: \(reason)")
        case .busy: log.write("hostctl: \(name): not reloaded: another reload is running")
        }
    }
}
