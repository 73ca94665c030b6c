import Foundation
import Testing

extension IntegrationSuite {
    /// The table of request bytes → memcached 1.6.18's answer bytes (Fixtures/compat-pairs.txt,
    /// recorded by scripts/integration/record-compat.py), replayed case by case.
    /// `RINGCACHE_COMPAT_CASE=<name>[,<name>…]` replays only those cases.
    @Suite("Compatibility table")
    struct CompatibilityTableTests {
        @Test("every case answers byte for byte as recorded from memcached")
        func serverUnderTest() throws {
            try replayAll(on: .current)
        }

        @Test("the table is memcached's answer (replayed against /usr/bin/memcached)",
              .enabled(if: ServerTarget.isMemcachedInstalled && ServerTarget.isRingcached,
                       "memcached is not installed, or it is already the server under test"))
        func memcachedItself() throws {
            try replayAll(on: try #require(ServerTarget.installedMemcached))
        }

        @Test("the fixture parses, and every case ends cleanly (closed, or the mn sentinel)")
        func fixtureIsWellFormed() throws {
            let cases = try CompatFixture.load()
            #expect(cases.count >= 140)
            for testCase in cases {
                let sends = testCase.steps.filter { if case .send = $0 { return true } else { return false } }
                #expect(!sends.isEmpty, "case \(testCase.name) sends nothing")
                switch testCase.steps.last {
                case .closed?:
                    break
                case .recv(let pattern)?:
                    #expect(pattern.description == "MN\\r\\n", "case \(testCase.name) does not end with the mn sentinel")
                default:
                    Issue.record("case \(testCase.name) ends with neither `closed` nor the mn sentinel")
                }
            }
        }

        @Test("patterns match what they should and nothing else")
        func patternMatcher() throws {
            let parsed = try CompatFixture.parsePayload(Array("VA 1 c{d} t{99..100} k{2*x\\}}\\r\\n{*}\\r\\n".utf8), allowPatterns: true)
            let pattern = Pattern(tokens: parsed.tokens)
            func matches(_ text: String) -> String {
                switch pattern.match(Array(text.utf8)) {
                case .complete(let consumed, _): return "complete \(consumed)"
                case .needMore: return "more"
                case .mismatch(let at): return "mismatch \(at)"
                }
            }
            #expect(matches("VA 1 c123 t100 kx}x}\r\nME a=1\r\nrest") == "complete 30")
            #expect(matches("VA 1 c123 t98 kx}x}\r\n") == "mismatch 11")
            #expect(matches("VA 1 c t100") == "mismatch 6")
            #expect(matches("VA 1 c12") == "more")
            #expect(matches("VA 2") == "mismatch 3")
            let send = try CompatFixture.parsePayload(Array("cas a 0 0 1 {$c}\\r\\n{3*ab}\\x00".utf8), allowPatterns: false)
            #expect(send.pieces.count == 3)
            if case .bytes(let tail) = send.pieces.last { #expect(tail == Array("\r\nababab\0".utf8)) }
        }

        private func replayAll(on target: ServerTarget) throws {
            var cases = try CompatFixture.load()
            if let only = ProcessInfo.processInfo.environment["RINGCACHE_COMPAT_CASE"] {
                let names = Set(only.split(separator: ",").map(String.init))
                cases = cases.filter { names.contains($0.name) }
                try #require(!cases.isEmpty, "RINGCACHE_COMPAT_CASE=\(only) matches no case")
            }
            let server = try ServerProcess.start(target)
            defer { server.stop() }
            var failed = 0
            for testCase in cases {
                guard server.isRunning else {
                    Issue.record("\(server.describe) died before case \(testCase.name)\n\(server.logExcerpt)")
                    return
                }
                if let failure = CompatReplayer.run(testCase, port: server.port) {
                    failed += 1
                    Issue.record("case \(testCase.name) (compat-pairs.txt:\(testCase.line)) against \(target.flavor): \(failure)")
                }
            }
            #expect(server.isRunning, "\(server.describe) is no longer running\n\(server.logExcerpt)")
            #expect(failed == 0, "\(failed) of \(cases.count) cases differ")
        }
    }
}
