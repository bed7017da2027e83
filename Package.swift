// swift-tools-version: 6.1
//
// Dependency rules (STYLE.md 2.1), checked by reading this file:
// - `hostctl` (the executable) parses arguments, prints and exits; it imports ArgumentParser,
//   HostConfig and HostSupport. Nothing else prints or exits.
// - `HostConfig` owns the app handler configs and the global config: model, YAML with marks,
//   validation, the on-disk home layout and atomic writes. It knows nothing of processes or networking.
// - `HostSupport` is the leaf: the error protocol every target's errors conform to, source
//   locations, and thin syscall wrappers. It imports no other target.
// - `CHostSupport` (C) is the only code that forks: spawn through a keeper, pidfds, pipes.
// - `Supervision` spawns and watches workers; it knows nothing of HTTP. Not wired into the CLI yet.
// - `LogStore` captures worker output into rotated files and reads them back (`hostctl logs` reads
//   the files without the daemon); it imports HostSupport and CHostSupport (epoll, inotify). `Supervision` feeds it.
// - `Systemd` is the only importer of `CSystemd` (libsystemd, Debian's libsystemd-dev): sd_notify,
//   socket activation, the watchdog; the unit files `hostctl systemd-unit` prints; and the
//   per-worker notify sockets `Supervision` reads (`ready: notify`).
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "hostctl",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hostctl", targets: ["hostctl"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "hostctl",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "ControlProtocol",
                "HostConfig",
                "HostDaemon",
                "HostSupport",
                "LogStore",
                "CHostSupport",
                "Systemd",
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HostConfig",
            dependencies: [
                "HostSupport",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HostSupport",
            swiftSettings: swiftSettings
        ),
        .target(name: "CHostSupport"),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .target(
            name: "Systemd",
            dependencies: ["CSystemd", "CHostSupport"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FrontProxy",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LogStore",
            dependencies: ["CHostSupport", "HostSupport"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ControlProtocol",
            dependencies: ["HostSupport"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HostDaemon",
            dependencies: [
                "ControlProtocol", "FrontProxy", "HostConfig", "HostSupport", "LogStore", "Supervision",
                "CHostSupport", "Systemd",
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Supervision",
            dependencies: ["CHostSupport", "HostConfig", "HostSupport", "LogStore", "Systemd"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HostConfigTests",
            dependencies: ["HostConfig", "HostSupport"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "hostctl-fixture-worker",
            path: "Tests/Fixtures/Worker",
            // A test fixture written as a plain script: top-level state, no concurrency to check.
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "SupervisionTests",
            dependencies: ["Supervision", "CHostSupport", "HostSupport", "LogStore", "hostctl-fixture-worker"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FrontProxyTests",
            dependencies: [
                "FrontProxy", "hostctl-fixture-worker",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LogStoreTests",
            dependencies: ["LogStore", "hostctl-fixture-worker"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["hostctl", "HostConfig"],
            swiftSettings: swiftSettings
        ),
    ]
)
