import Foundation
import FrontProxy
import HostConfig
import HostSupport
import Synchronization

/// Where the front listener binds, and binding it.
enum ListenAddresses {
    /// `--listen`, else `HOSTCTL_LISTEN` (comma-separated), else `listen:` of the global config (which
    /// defaults to 127.0.0.1:8080).
    ///
    /// Every address is checked like the config key.
    static func resolve(flag: [String]?, environment: [String: String], global: GlobalConfig) throws(Daemon
        .StartupError)
        -> [String]
    {
        var source = "listen: in \(global.path)"
        var addresses = global.listen
        if let fromEnvironment = environment["HOSTCTL_LISTEN"], !fromEnvironment.isEmpty {
            addresses = fromEnvironment.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            source = "HOSTCTL_LISTEN"
        }
        if let flag, !flag.isEmpty {
            addresses = flag
            source = "--listen"
        }
        for address in addresses {
            if let problem = ValueRules.checkListenAddress(address) {
                throw Daemon.StartupError(summary: "\(source): \(problem)", hint: nil)
            }
        }
        return addresses
    }

    /// Binds every address; the first failure (a busy port, a privileged one) is the error.
    static func bind(_ addresses: [String], proxy: ProxyServer) -> Result<[String], Daemon.StartupError> {
        waiting {
            var bound: [String] = []
            for address in addresses {
                do throws(ProxyServer.BindError) {
                    bound.append(try await proxy.bind(address))
                } catch {
                    let hint =
                        error.reason.contains("in use")
                        ? "another program listens there: choose another with `listen:` in hostctl.yml, --listen or HOSTCTL_LISTEN"
                        : (error.reason.contains("permission")
                            ? "ports below 1024 need root (or systemd socket activation)" : nil)
                    return .failure(Daemon.StartupError(summary: error.description, hint: hint))
                }
            }
            return .success(bound)
        }
    }

    /// Serves on listening sockets passed by systemd; returns their addresses.
    static func adopt(_ descriptors: [Int32], proxy: ProxyServer) -> Result<[String], Daemon.StartupError> {
        waiting {
            var bound: [String] = []
            for descriptor in descriptors {
                do throws(ProxyServer.BindError) {
                    bound.append(try await proxy.adopt(descriptor: descriptor))
                } catch {
                    return .failure(
                        Daemon.StartupError(
                            summary: error.description,
                            hint: "check the ListenStream= lines of the socket unit (`hostctl systemd-unit --socket`)"))
                }
            }
            return .success(bound)
        }
    }

    /// Runs `work` and waits for its result (the daemon binds before anything else runs).
    private static func waiting<Value: Sendable>(_ work: @escaping @Sendable () async -> Value) -> Value {
        let result = Mutex<Value?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await work()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        guard let value = result.withLock({ $0 }) else { preconditionFailure("the task signalled without a result") }
        return value
    }
}

/// The `proxy:` section of the global config as the proxy's settings.
enum ProxyConfiguration {
    static func settings(_ global: GlobalConfig) -> ProxySettings {
        var settings = ProxySettings()
        func bytes(_ key: String) -> Int64? {
            if case .bytes(let size)? = global.values[key]?.value { return size.bytes }
            return nil
        }
        func time(_ key: String) -> Duration? {
            if case .duration(let duration)? = global.values[key]?.value { return duration }
            return nil
        }
        if let value = bytes("proxy.max_request_line") { settings.maxRequestLine = Int(value) }
        if let value = bytes("proxy.max_header_size") { settings.maxHeadSize = Int(value) }
        if let value = bytes("proxy.max_body") { settings.maxBody = value }
        if let value = time("proxy.header_timeout") { settings.headerTimeout = value }
        if let value = time("proxy.body_timeout") { settings.bodyTimeout = value }
        if let value = time("proxy.send_timeout") { settings.sendTimeout = value }
        if let value = time("proxy.response_timeout") { settings.responseTimeout = value }
        if let value = time("proxy.idle_timeout") { settings.idleTimeout = value }
        if let value = time("proxy.slow_start") { settings.slowStart = value }
        if case .int(let value)? = global.values["proxy.max_connections"]?.value { settings.maxConnections = value }
        if case .strings(let list)? = global.values["proxy.trusted_proxies"]?.value { settings.trustedProxies = list }
        return settings
    }

    static func threads(_ global: GlobalConfig) -> Int {
        if case .int(let value)? = global.values["proxy.threads"]?.value { return value }
        return 0
    }
}

/// The daemon holds a socket per connection: it raises its open-file limit to the hard limit at start.
enum OpenFileLimit {
    static func raiseToHardLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
