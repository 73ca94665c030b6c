import Foundation
import Glibc

/// Which server binary the integration tests run against.
///
/// By default the release build of `ringcached` (`RINGCACHED_BIN`, or
/// `<package root>/.build/release/ringcached`). With `RINGCACHE_TEST_AGAINST=memcached` the same
/// tests run against Debian's memcached 1.6.18 (`/usr/bin/memcached`), which is how the tests
/// themselves are validated; tests of ringcached-only behaviour are then disabled.
struct ServerTarget: Sendable, CustomStringConvertible {
    enum Flavor: Sendable { case ringcached, memcached }

    let flavor: Flavor
    let binary: String

    static let memcachedPath = "/usr/bin/memcached"

    /// The server under test, chosen from the environment.
    static let current: ServerTarget = {
        let env = ProcessInfo.processInfo.environment
        if env["RINGCACHE_TEST_AGAINST"] == "memcached" {
            return ServerTarget(flavor: .memcached, binary: env["MEMCACHED_BIN"] ?? memcachedPath)
        }
        let bin = env["RINGCACHED_BIN"] ?? PackagePaths.root + "/.build/release/ringcached"
        return ServerTarget(flavor: .ringcached, binary: bin)
    }()

    /// Debian's memcached, when it is installed (used to prove the compatibility table).
    static let installedMemcached: ServerTarget? = {
        FileManager.default.isExecutableFile(atPath: memcachedPath)
            ? ServerTarget(flavor: .memcached, binary: memcachedPath) : nil
    }()

    static var isRingcached: Bool { current.flavor == .ringcached }
    static var isMemcachedInstalled: Bool { installedMemcached != nil }

    var description: String { "\(flavor) (\(binary))" }

    /// The command line every test starts from: the flags ringcached and memcached share.
    /// `overrides` replaces the value of a standard flag (e.g. `["-c": "10"]`); `extra` is appended.
    func standardArguments(port: UInt16, overrides: [String: String] = [:], extra: [String] = []) -> [String] {
        let standard: [(String, String)] = [
            ("-p", String(port)), ("-l", "127.0.0.1"), ("-t", "4"), ("-m", "64"), ("-c", "1024"), ("-I", "1m"), ("-U", "0"),
        ]
        return standard.flatMap { [$0.0, overrides[$0.0] ?? $0.1] } + extra + rootArguments
    }

    /// memcached refuses to run as root without `-u`; ringcached is started as it is.
    var rootArguments: [String] {
        flavor == .memcached && geteuid() == 0 ? ["-u", "memcache"] : []
    }

    /// Fails with a clear message when the binary is missing (never skips).
    func requireBinary() throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            switch flavor {
            case .ringcached:
                throw IntegrationError(
                    "ringcached binary not found at \(binary): build it with `swift build -c release` "
                        + "(or set RINGCACHED_BIN; set RINGCACHE_TEST_AGAINST=memcached to run the suite against memcached)")
            case .memcached:
                throw IntegrationError("memcached not found at \(binary): apt-get install memcached")
            }
        }
    }
}

/// Paths inside the package, found from this source file's location.
enum PackagePaths {
    /// `<root>/Tests/IntegrationTests/Support/ServerTarget.swift` → `<root>`.
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var integrationTests: String { root + "/Tests/IntegrationTests" }
    static var fixtures: String { integrationTests + "/Fixtures" }
    static var scripts: String { root + "/scripts/integration" }
}

struct IntegrationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
