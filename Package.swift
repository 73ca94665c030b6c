// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ringcache",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ringcached", targets: ["ringcached"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        // libevent through pkg-config; the module map also links event_pthreads (never -levent).
        .systemLibrary(
            name: "CLibevent",
            pkgConfig: "libevent_core",
            providers: [.apt(["libevent-dev"])]
        ),
        // The only module that touches libevent pointers and errno.
        .target(name: "EventLoop", dependencies: ["CLibevent"]),
        // Pure: no I/O.
        .target(name: "TextProtocol"),
        .target(name: "Storage"),
        // Pure: ketama ring, replica sets, membership, the peer protocol's frames, handshake and
        // sealing (swift-crypto: HKDF, HMAC, ChaCha20-Poly1305). MD5 is hand-written: faster
        // than swift-crypto's and allocation-free.
        .target(name: "Cluster", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // Glue: workers, connections, the executor, stats, config.
        .target(
            name: "Server",
            dependencies: [
                "EventLoop", "TextProtocol", "Storage", "Cluster",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            // Release builds skip Swift's dynamic exclusivity checks here: every connection,
            // worker and peer link is confined to one thread, and the checks were a fifth of the
            // user-space instructions of a get (callgrind, docs/BENCHMARKS.md). Debug builds and
            // the tests keep them.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "ringcached",
            dependencies: ["Server", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "TextProtocolTests", dependencies: ["TextProtocol"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        // swift-crypto's MD5 is the independent reference the hand-written one is checked against.
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "TextProtocol", "Storage"]),
        // The real binary is what is tested; the Cluster module only crafts peer frames (a replayed
        // record, a flipped byte, a forged hello) to send it.
        .testTarget(name: "IntegrationTests", dependencies: ["Cluster"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
