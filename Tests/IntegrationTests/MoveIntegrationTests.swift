import Foundation
import Glibc
import Testing

extension IntegrationSuite {
    /// Issue 12 on real processes: a leave hands everything over before the node exits; a
    /// restarted node is filled before it owns.
    @Suite("Moves", Only.ringcached) struct MoveIntegrationTests {
        static let fast = ["--probe-interval", "200ms", "--probe-timeout", "100ms"]

        /// Writes `count` keys through `node`; every one must be acknowledged.
        static func write(_ cluster: ClusterProcess, _ count: Int, prefix: String) throws -> [String: String] {
            let client = try cluster.nodes[0].connect()
            var written: [String: String] = [:]
            for i in 0..<count {
                let key = "\(prefix)\(i)", value = "v\(i)-\(prefix)"
                let answer = try client.call("set \(key) 0 0 \(value.utf8.count)\r\n\(value)\r\n")
                try #require(answer == "STORED", "set \(key): \(answer)")
                written[key] = value
            }
            return written
        }

        @Test("SIGTERM: the node turns leaving, hands over, exits 0; every acknowledged key is on both remaining holders")
        func leaveHandsOver() throws {
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: Self.fast)
            defer { cluster.stop() }
            let written = try Self.write(cluster, 1500, prefix: "lv")
            let started = Date()
            cluster.nodes[2].child.signal(SIGTERM)
            #expect(cluster.nodes[2].waitForExit(timeout: 10), "the leaving node exits within 10 s")
            let took = Date().timeIntervalSince(started)
            #expect(cluster.nodes[2].exit == .exited(0))
            let log = cluster.nodes[2].log()
            #expect(log.contains("handed over"), "the leave completed, not by shutdown_timeout:\n\(cluster.nodes[2].logExcerpt)")
            // Two nodes left, two copies: every key on both, straight after the exit.
            var missing: [String] = []
            for (key, value) in written.sorted(by: { $0.key < $1.key }) {
                for i in 0..<2 where try ReplicationTests.local(cluster, i, key)?.value != value { missing.append("\(key)@\(i + 1)") }
            }
            #expect(missing.isEmpty, "\(missing.count) copies missing after the leave, e.g. \(missing.prefix(5))")
            let moved = try (0..<2).map { try PeerLayerTests.counter(cluster.nodes[$0], "transferred_keys") }
            #expect(moved.reduce(0, +) > 0)
            print("leave of 1 of 3 nodes with \(written.count) keys: exited in \(took) s, transferred \(moved) keys")
        }

        @Test("SIGKILL and restart at once: the new life is joining until filled, then holds every key it holds on the ring")
        func restartIsFilledBeforeItOwns() throws {
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: Self.fast)
            defer { cluster.stop() }
            let written = try Self.write(cluster, 1500, prefix: "rs")
            let victim = 2
            let port = cluster.nodes[victim].port
            cluster.nodes[victim].child.signal(SIGKILL)
            _ = cluster.nodes[victim].waitForExit(timeout: 5)
            let args = ServerTarget.current.standardArguments(
                port: port, overrides: ["-t": "2"],
                extra: ["--seeds", cluster.seeds, "--peer-port", String(cluster.peerPorts[victim])] + Self.fast)
            let again = try ServerProcess.launch(.current, port: port, arguments: args)
            defer { again.stop() }
            try again.waitUntilAccepting(timeout: 10)
            let name = cluster.advertise(victim)
            let alive = try PeerLayerTests.eventually(15) {
                try [cluster.nodes[0], cluster.nodes[1], again].allSatisfy { node in
                    try node.connect().call("cluster nodes\r\n", until: "END\r\n").split(separator: "\r\n")
                        .contains { $0.hasPrefix("NODE \(name) ") && $0.contains(" alive ") }
                }
            }
            #expect(alive, "the restarted node is alive everywhere\n\(again.logExcerpt)")
            // The others may still show the killed life alive for a moment: the new life's own
            // join is what counts (joins_completed, not join_timeouts, which takes 60 s).
            #expect(try PeerLayerTests.eventually(15) { try PeerLayerTests.counter(again, "joins_completed") == 1 },
                    "filled, not by join_timeout\n\(again.logExcerpt)")
            // Every key whose holders include it is on it, and every key reads back through it.
            let client = try again.connect()
            let routes = try ClusterProcess.routes(Array(written.keys), via: client)
            var missing: [String] = []
            var wrong: [String] = []
            for (key, value) in written.sorted(by: { $0.key < $1.key }) {
                let text = try again.connect().call("cluster local \(key)\r\n", until: "END\r\n")
                if routes[key]?.contains(name) == true && !text.contains("\r\n\(value)\r\n") { missing.append(key) }
                let got = try client.call("get \(key)\r\n", until: "END\r\n")
                if got != "VALUE \(key) 0 \(value.utf8.count)\r\n\(value)\r\nEND\r\n" { wrong.append(key) }
            }
            #expect(missing.isEmpty, "\(missing.count) keys the restarted node holds were not transferred to it, e.g. \(missing.prefix(5))")
            #expect(wrong.isEmpty, "\(wrong.count) keys read wrong through it, e.g. \(wrong.prefix(5))")
        }
    }
}
