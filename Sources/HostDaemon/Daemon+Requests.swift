import ControlProtocol
import Foundation
import FrontProxy
import HostConfig
import HostSupport
import LogStore
import Supervision

extension Daemon {
    /// Answers one control request.
    func handle(_ request: ControlRequest) async -> ControlResponse {
        if shuttingDown && request.command != .status {
            return ControlResponse(
                failure: ControlFailure(code: "shutting_down", message: "the daemon is shutting down"))
        }
        switch request.command {
        case .status: return await status(request.apps)
        case .start: return await start(request)
        case .stop: return await stop(request)
        case .restart:
            // The configs are checked before anything stops: a typo must not take a running app down.
            let checked = names(request).flatMap { freshConfigs($0, refusal: "nothing was restarted") }
            if case .failure(let failure) = checked { return ControlResponse(failure: failure) }
            // Between the stop and the new workers, requests wait (up to ready.timeout) instead of 503.
            let restarting = (try? names(request).get()) ?? []
            for name in restarting { routes.restarting(name, true) }
            defer { for name in restarting { routes.restarting(name, false) } }
            let stopped = await stop(request)
            if stopped.failure != nil { return stopped }
            return await start(request)
        case .forget: return await forget(request.apps)
        case .reload: return await reloadApps(request)
        case .shutdown:
            Task { await self.shutdown() }
            return ControlResponse(messages: ["stopping every app, then the daemon"])
        }
    }

    /// The names a request is about: every app with a handler config for `all` (or none named).
    func names(_ request: ControlRequest) -> Result<[String], ControlFailure> {
        let known = (try? catalog.appNames()) ?? []
        if request.all || request.apps.isEmpty {
            return .success(Array(Set(known).union(supervisors.keys)).sorted())
        }
        for name in request.apps where !known.contains(name) && supervisors[name] == nil {
            return .failure(
                ControlFailure(
                    code: "app_not_found", message: "no app named '\(name)'",
                    hint: "`hostctl list` shows the apps of this home"))
        }
        return .success(request.apps)
    }

    /// The named apps' configs read from disk afresh; all or none: any problem refuses them all.
    func freshConfigs(_ names: [String], refusal: String) -> Result<[AppConfig], ControlFailure> {
        let global: GlobalConfig
        switch checkedGlobal() {
        case .success(let loaded): global = loaded
        case .failure(let problems):
            // Quoted like an app's problems, file:line first.
            return .failure(
                ControlFailure(
                    code: "invalid_config", message: "config problems; \(refusal)",
                    hint: "fix them, then `hostctl check`",
                    details: problems.diagnostics.map(\.description)))
        }
        var resolved: [ResolvedApp] = []
        var details: [String] = []
        for name in names {
            let loaded = catalog.load(name, global: global)
            if let app = loaded.resolved {
                resolved.append(app)
            } else {
                details += loaded.diagnostics.map(\.description)
            }
        }
        if details.isEmpty {
            // No two apps may claim one route: these against each other and against the other apps
            // that have a route now (running or stopped).
            let others = routes.configs.filter { !names.contains($0.name) }
            details = RouteConflicts.find(in: resolved, others: others, handlerPath: layout.handlerConfigPath)
                .map(\.description)
        }
        let configs = resolved.map(\.config)
        guard details.isEmpty else {
            return .failure(
                ControlFailure(
                    code: "invalid_config", message: "config problems; \(refusal)",
                    hint: "fix them, then `hostctl check`",
                    details: details))
        }
        return .success(configs)
    }

    func start(_ request: ControlRequest) async -> ControlResponse {
        let named: [String]
        switch self.names(request) {
        case .success(let found): named = found
        case .failure(let failure): return ControlResponse(failure: failure)
        }
        // The daemon this start launched began starting the apps itself; a stop that came before this
        // request came after the start was typed, so it wins.
        let interrupted = request.launchedDaemon == true ? named.filter { stoppedSinceBoot.contains($0) } : []
        let names = named.filter { !interrupted.contains($0) }
        let configs: [AppConfig]
        switch freshConfigs(names, refusal: "nothing was started") {
        case .success(let loaded): configs = loaded
        case .failure(let failure): return ControlResponse(failure: failure)
        }
        stopped.remove(names)
        var supervisorsToStart: [(String, AppSupervisor)] = []
        for config in configs {
            if let existing = supervisors[config.name] {
                if existing.config != config {
                    // A changed config: stop the old workers, then start with the new one; requests
                    // wait for it meanwhile (the route is marked until the start has an answer).
                    routes.restarting(config.name, true)
                    await existing.supervisor.stop()
                    await existing.supervisor.update(config)
                    supervisors[config.name]?.config = config
                    routes.configure(config)
                    watchFiles(config)
                }
                supervisorsToStart.append((config.name, existing.supervisor))
            } else {
                supervisorsToStart.append((config.name, supervise(config)))
            }
        }
        if !request.wait {
            for (name, supervisor) in supervisorsToStart {
                Task { self.report(name, await supervisor.start()) }
            }
            return ControlResponse(
                messages: names.map { "starting \($0)" } + interrupted.map { "\($0) was stopped while starting" })
        }
        let results = await withTaskGroup(of: (String, StartResult).self) { group in
            for (name, supervisor) in supervisorsToStart {
                group.addTask { (name, await supervisor.start()) }
            }
            var results: [(String, StartResult)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }
        }
        for (name, result) in results { report(name, result) }
        var failures: [String] = []
        var retrying = false
        var stoppedMeanwhile: [String] = []
        for name in interrupted {
            failures.append("\(name): stopped while starting")
            stoppedMeanwhile.append(name)
        }
        for (name, result) in results {
            switch result {
            case .ready: continue
            case .failed(let reason):
                retrying = true
                failures.append(reason.hasPrefix("\(name):") ? reason : "\(name): \(reason)")
            case .cannotRun(let reason): failures.append(reason.hasPrefix("\(name):") ? reason : "\(name): \(reason)")
            case .stopped:
                failures.append("\(name): stopped while starting")
                stoppedMeanwhile.append(name)
            }
        }
        guard failures.isEmpty else {
            let hint: String
            if retrying {
                hint = "the daemon keeps restarting it; `hostctl status` shows how it goes, `hostctl stop` stops it"
            } else if stoppedMeanwhile.count == failures.count {
                // Nothing to fix: a stop, remove or shutdown came before the workers were ready.
                hint =
                    "it was stopped (`hostctl stop`, `remove` or `shutdown`) before it was ready; nothing is wrong with it"
            } else {
                hint = "fix the app's command or settings (`hostctl show NAME`), then `hostctl start NAME` again"
            }
            return ControlResponse(
                failure: ControlFailure(code: "not_ready", message: failures.joined(separator: "; "), hint: hint))
        }
        return ControlResponse(messages: names.map { "\($0) is ready" })
    }

    func stop(_ request: ControlRequest) async -> ControlResponse {
        let names: [String]
        switch self.names(request) {
        case .success(let found): names = found
        case .failure(let failure): return ControlResponse(failure: failure)
        }
        stopped.insert(names)
        stoppedSinceBoot.formUnion(names)
        await withTaskGroup(of: Void.self) { group in
            for name in names {
                guard let supervisor = supervisors[name]?.supervisor else { continue }
                group.addTask { await supervisor.stop() }
            }
        }
        return ControlResponse(messages: names.map { "stopped \($0)" })
    }

    /// Stops the apps and forgets them (before `hostctl remove` deletes their configs).
    func forget(_ names: [String]) async -> ControlResponse {
        for name in names {
            routes.remove(name)
            watcher.remove(app: name)
            guard let entry = supervisors.removeValue(forKey: name) else { continue }
            await entry.supervisor.stop()
            entry.supervisor.finish()
            await entry.runner.value
            // Its last lines go to its file, which is then closed: `remove --purge-logs` deletes it
            // next, and an open descriptor would keep the space (and the descriptor) taken.
            context.output.flush()
            context.output.forget(app: name)
        }
        stopped.remove(names)
        stoppedSinceBoot.formUnion(names)
        return ControlResponse(messages: names.map { "stopped \($0)" })
    }

    func status(_ requested: [String]) async -> ControlResponse {
        let known = (try? catalog.appNames()) ?? []
        for name in requested where !known.contains(name) && supervisors[name] == nil {
            return ControlResponse(
                failure: ControlFailure(
                    code: "app_not_found", message: "no app named '\(name)'",
                    hint: "`hostctl list` shows the apps of this home"))
        }
        let names = requested.isEmpty ? Array(Set(known).union(supervisors.keys)).sorted() : requested
        let global = loadGlobal() ?? GlobalConfig.builtIn(path: layout.globalConfigPath)
        var apps: [StatusDocument.App] = []
        for name in names {
            if let supervisor = supervisors[name]?.supervisor {
                var app = Self.document(await supervisor.snapshot())
                app.droppedLogLines = context.output.droppedLines(app: name)
                for index in app.workers.indices {
                    if let endpoint = app.workers[index].endpoint {
                        app.workers[index].inFlight = proxy.inFlight(endpoint)
                        app.workers[index].openConnections = proxy.openConnections(endpoint)
                    }
                }
                apps.append(app)
                continue
            }
            let loaded = catalog.load(name, global: global)
            guard let config = loaded.resolved?.config else {
                apps.append(
                    StatusDocument.App(
                        name: name, state: "failed",
                        reason: "config problems: \(loaded.diagnostics.first?.description ?? "unknown")",
                        route: "", workers: []))
                continue
            }
            if let owner = routes.configs.first(where: { RouteConflicts.overlap(config, $0) }) {
                apps.append(
                    StatusDocument.App(
                        name: name, state: "failed",
                        reason: "config problems: route \(config.route.path) is also the route of app '\(owner.name)'",
                        route: config.route.path, workers: []))
                continue
            }
            let count = config.workers == 0 ? ProcessInfo.processInfo.activeProcessorCount : config.workers
            let workers = (1...max(count, 1)).map {
                StatusDocument.Worker(
                    slot: $0, generation: 0, pid: nil, state: "exited", endpoint: nil, startedAt: nil, restarts: 0,
                    rssBytes: 0, lastExit: nil)
            }
            var app = StatusDocument.App(
                name: name, state: "stopped", reason: nil, route: config.route.path, workers: workers)
            app.droppedLogLines = context.output.droppedLines(app: name)
            apps.append(app)
        }
        return ControlResponse(
            status: StatusDocument(
                listen: listening, pid: Int(getpid()), startedAt: Timestamp.iso8601(startedAt), apps: apps))
    }

    static func document(_ snapshot: AppSnapshot) -> StatusDocument.App {
        StatusDocument.App(
            name: snapshot.name, state: snapshot.state.rawValue, reason: snapshot.reason, route: snapshot.route,
            workers: snapshot.workers.map { worker in
                let lastExit = worker.lastExit.map { last -> StatusDocument.LastExit in
                    switch last.exit {
                    case .exited(let code): return .init(code: Int(code), signal: nil, at: Timestamp.iso8601(last.at))
                    case .signaled(let signal):
                        return .init(code: nil, signal: SignalName.name(of: signal), at: Timestamp.iso8601(last.at))
                    }
                }
                var document = StatusDocument.Worker(
                    slot: worker.slot, generation: worker.generation, pid: worker.pid.map(Int.init),
                    state: worker.state.rawValue, endpoint: worker.endpoint,
                    startedAt: worker.startedAt.map { Timestamp.iso8601($0) }, restarts: worker.restarts,
                    rssBytes: worker.rssBytes, lastExit: lastExit)
                document.statusText = worker.statusText
                return document
            })
    }
}
