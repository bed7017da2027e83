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
        var configs: [String: AppConfig] = [:]
        var problems: [String] = []
        for name in names {
            let loaded = catalog.load(name, global: global)
            if let config = loaded.resolved?.config {
                configs[name] = config
            } else {
                problems += loaded.diagnostics.map(\.description)
            }
        }
        guard problems.isEmpty else {
            for problem in problems { log.write(problem) }
            log.write("hostctl: reload refused: config problems above; still running on the old configs")
            return
        }
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
                await existing.supervisor.stop()
                await existing.supervisor.update(config)
                supervisors[name]?.config = config
                routes.configure(config, starting: !stopped.contains(name))
                changes.append("changed \(name)")
                if !stopped.contains(name) { starts.append((name, existing.supervisor)) }
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
