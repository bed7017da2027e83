import HostConfig

/// Loading configs for the read commands, which go on with built-in values (and a warning) when
/// the global config has problems.
enum ConfigLoading {
    /// The global config, or the built-in one with the problems printed as a warning.
    static func globalOrBuiltIn(_ layout: HomeLayout) -> GlobalConfig {
        switch GlobalConfig.load(path: layout.globalConfigPath) {
        case .success(let global): return global
        case .failure(let problems):
            for problem in problems.diagnostics { Output.standardError("\(problem)\n") }
            Output.warning("the global config has problems; its defaults are ignored here (`hostctl check` lists them)")
            return GlobalConfig.builtIn(path: layout.globalConfigPath)
        }
    }
}
