import Foundation
import Testing

extension IntegrationSuite {
    /// Real memcached clients against the server: libmemcached's memccapable and pymemcache.
    @Suite("Client tools")
    struct ClientToolTests {
        static let memccapable = "/usr/bin/memccapable"
        static let python = "/usr/bin/python3"

        /// memccapable -a runs libmemcached's 27 ASCII-protocol tests (without -a it would also
        /// try the binary protocol, which ringcached does not serve).
        @Test("memccapable -a: all 27 ASCII tests [pass] and \"All tests passed\"")
        func memccapableAscii() throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            guard FileManager.default.isExecutableFile(atPath: Self.memccapable) else {
                Issue.record("\(Self.memccapable) is missing: apt-get install libmemcached-tools")
                return
            }
            let run = try ToolRun.run(Self.memccapable, ["-a", "-h", "127.0.0.1", "-p", String(server.port), "-t", "10"],
                                      timeout: 120)
            let lines = run.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            let results = lines.filter { $0.hasPrefix("ascii ") }
            let passed = results.filter { $0.hasSuffix("[pass]") }
            #expect(results.count == 27, "memccapable ran \(results.count) tests, expected 27:\n\(run.output)")
            #expect(passed.count == 27, "passed \(passed.count) of 27:\n\(run.output)\n\(server.logExcerpt)")
            #expect(lines.contains("All tests passed"), "no \"All tests passed\":\n\(run.output)")
            #expect(run.status == .exited(0), "memccapable \(run.status)")
            #expect(server.isRunning, "\(server.logExcerpt)")
        }

        @Test("pymemcache round trip: binary values, 1,000,000-byte values, 250-byte keys, expiry")
        func pymemcacheRoundTrip() throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            let script = PackagePaths.scripts + "/pymemcache_roundtrip.py"
            let run = try ToolRun.run(Self.python, [script, "--port", String(server.port)], timeout: 120)
            #expect(run.status == .exited(0), "pymemcache_roundtrip.py \(run.status):\n\(run.output)\n\(server.logExcerpt)")
            #expect(run.output.contains("pymemcache round trip: all checks passed"), "\(run.output)")
            #expect(server.isRunning, "\(server.logExcerpt)")
        }
    }
}
