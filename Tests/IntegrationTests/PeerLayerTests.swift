import Cluster
import Foundation
import Glibc
import Testing

extension IntegrationSuite {
    /// Issue 9: the framed, authenticated peer protocol and runtime membership, on real
    /// processes. Each refusal is counted in `stats cluster` and the node keeps serving.
    @Suite("Peer layer", Only.ringcached)
    struct PeerLayerTests {
        static let secret = "a test cluster secret, 16+ bytes"

        static func stats(_ server: ServerProcess) throws -> [String: String] {
            let text = try server.connect().call("stats cluster\r\n", until: "END\r\n")
            var out: [String: String] = [:]
            for line in text.split(separator: "\r\n") where line.hasPrefix("STAT ") {
                let parts = line.split(separator: " ", maxSplits: 2).map(String.init)
                if parts.count == 3 { out[parts[1]] = parts[2] }
            }
            return out
        }

        static func counter(_ server: ServerProcess, _ name: String) throws -> Int { Int(try stats(server)[name] ?? "") ?? -1 }

        static func secretFile(_ lines: [String]) throws -> String {
            let path = temporaryPath("secrets-\(UInt32.random(in: 0...UInt32.max))")
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        /// Polls `condition` every 20 ms for up to `seconds`.
        static func eventually(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if try condition() { return true }
                usleep(20_000)
            }
            return try condition()
        }

        // MARK: - Refusals on the peer port

        @Test("client text on the peer port closes that link and is counted; the node keeps serving")
        func clientTextOnThePeerPort() throws {
            let cluster = try ClusterProcess.start(nodes: 2)
            defer { cluster.stop() }
            let before = try Self.counter(cluster.nodes[0], "peer_protocol_errors")
            let intruder = try TestClient(port: cluster.peerPorts[0])
            try intruder.send("get foo\r\n")
            #expect(try intruder.waitForClose() != nil, "the peer port must close on client text")
            #expect(try Self.eventually(2) { try Self.counter(cluster.nodes[0], "peer_protocol_errors") == before + 1 })
            #expect(try cluster.nodes[0].connect().call("set k 0 0 1\r\nx\r\n") == "STORED")
        }

        @Test("a connection to the peer port that never says hello is closed after the handshake deadline and counted")
        func silentPeerConnection() throws {
            let cluster = try ClusterProcess.start(nodes: 2, extraArguments: ["--peer-timeout", "300ms"])
            defer { cluster.stop() }
            let before = try Self.counter(cluster.nodes[0], "peer_protocol_errors")
            let started = Date()
            let silent = try TestClient(port: cluster.peerPorts[0])
            #expect(try silent.waitForClose(timeout: 5) != nil, "a silent peer connection must not be held for ever")
            let took = Date().timeIntervalSince(started)
            #expect(took >= 0.9 && took < 3, "closed after \(took) s (deadline: max(peer_timeout, 1 s))")
            #expect(try Self.eventually(2) { try Self.counter(cluster.nodes[0], "peer_protocol_errors") == before + 1 })
        }

        @Test("peer frames on the client port reach no peer operation")
        func peerFramesOnTheClientPort() throws {
            let cluster = try ClusterProcess.start(nodes: 2)
            defer { cluster.stop() }
            let before = try Self.stats(cluster.nodes[0])
            // A well-formed hello from an unknown node: on the peer port it would make it a member.
            let stranger = try NodeAddress(parsing: "127.0.0.1:1@2")
            let hello = PeerHelloInfo(lane: .control, secured: false, node: stranger, bootID: 1, incarnation: 1, epoch: 99,
                                      ringDigest: "00", challenge: Array(repeating: 1, count: 32), members: [Member(address: stranger)])
            let client = try cluster.nodes[0].connect()
            try client.send(PeerFrameCodec.encode(PeerFrameHeader(type: .hello), payload: PeerHandshake.encode(hello)) + Array("\r\nmn\r\n".utf8))
            _ = try? client.readUntil("MN\r\n", timeout: 2)
            let after = try Self.stats(cluster.nodes[0])
            #expect(after["members"] == before["members"] && after["membership_epoch"] == before["membership_epoch"])
            #expect(try cluster.nodes[0].connect().call("cluster nodes\r\n", until: "END\r\n").split(separator: "\r\n").count == 3)
        }

        @Test("a wrong secret is refused and counted on both sides; members are untouched")
        func wrongSecret() throws {
            let file = try Self.secretFile([Self.secret])
            let cluster = try ClusterProcess.start(nodes: 2, extraArguments: ["--cluster-secret-file", file])
            defer { cluster.stop() }
            let peer = try RawPeer(port: cluster.peerPorts[0], identity: try NodeAddress(parsing: "127.0.0.1:1@2"),
                                   secret: "another secret, also 16+ bytes")
            _ = try? peer.handshake(lane: .control)
            #expect(peer.closedByNode(), "a wrong proof must close the link")
            #expect(try Self.eventually(2) { try Self.counter(cluster.nodes[0], "peer_auth_failures") >= 1 })
            #expect(try Self.stats(cluster.nodes[0])["members"] == "2")
            // A plain (no secret) hello to a secured node: refused too.
            let plain = try RawPeer(port: cluster.peerPorts[0], identity: try NodeAddress(parsing: "127.0.0.1:3@4"), secret: nil)
            #expect(throws: (any Error).self) { try plain.handshake() }
            #expect(try cluster.nodes[0].connect().call("set k 0 0 1\r\nx\r\n") == "STORED")
        }

        @Test("with the secret a forward is served; a replayed or altered record closes the link and is counted")
        func replayAndTamper() throws {
            let file = try Self.secretFile([Self.secret])
            let cluster = try ClusterProcess.start(nodes: 2, extraArguments: ["--cluster-secret-file", file])
            defer { cluster.stop() }
            // It speaks as node 1: an authenticated stranger would join the ring (that is how a
            // node joins), and keys it then owned would be unavailable to the last check.
            let identity = try NodeAddress(parsing: "\(cluster.advertise(1))@\(cluster.peerPorts[1])")
            let peer = try RawPeer(port: cluster.peerPorts[0], identity: identity, secret: Self.secret)
            _ = try peer.handshake()
            // A key node 0 owns: a forward is served where it arrives, and the last check reads it
            // through node 0's client port.
            let sealed = try cluster.keysByOwner(prefix: "sealed", perNode: 1)[0][0]
            #expect(try peer.forward("set \(sealed) 0 0 2\r\nok\r\n") == Array("STORED\r\n".utf8))
            #expect(try peer.forward("get \(sealed)\r\n", id: 2) == Array("VALUE \(sealed) 0 2\r\nok\r\nEND\r\n".utf8))
            let captured = peer.sentRecords[0]
            let before = try Self.counter(cluster.nodes[0], "peer_auth_failures")

            // The same record again on the same link: its counter has moved on.
            try peer.client.send(captured)
            #expect(peer.closedByNode())
            #expect(try Self.eventually(2) { try Self.counter(cluster.nodes[0], "peer_auth_failures") == before + 1 })

            // Captured on one link, replayed on another: other keys.
            let second = try RawPeer(port: cluster.peerPorts[0], identity: identity, secret: Self.secret)
            _ = try second.handshake()
            try second.client.send(captured)
            #expect(second.closedByNode())
            #expect(try Self.eventually(2) { try Self.counter(cluster.nodes[0], "peer_auth_failures") == before + 2 })

            // One flipped byte in a fresh record.
            let third = try RawPeer(port: cluster.peerPorts[0], identity: identity, secret: Self.secret)
            _ = try third.handshake()
            var record = third.wire(PeerFrameHeader(type: .forward, requestID: 1), Array("delete \(sealed)\r\n".utf8))
            record[record.count / 2] ^= 0x01
            try third.client.send(record)
            #expect(third.closedByNode())
            #expect(try Self.eventually(2) { try Self.counter(cluster.nodes[0], "peer_auth_failures") == before + 3 })

            // None of it changed data, and the node serves.
            let client = try cluster.nodes[0].connect()
            #expect(try client.call("get \(sealed)\r\n", until: "END\r\n") == "VALUE \(sealed) 0 2\r\nok\r\nEND\r\n")
            #expect(try Self.stats(cluster.nodes[0])["members"] == "2")
        }

        // MARK: - Configuration of the secret

        @Test("secret from the file or the environment, not both; beyond loopback a secret is required")
        func secretConfiguration() throws {
            let file = try Self.secretFile([Self.secret])
            let port = try freePort()
            func run(_ args: [String], env: [String: String]) throws -> (Int32?, String) {
                let server = try ServerProcess.launch(.current, port: port, arguments: ["-p", String(port)] + args, environment: env)
                defer { server.stop() }
                _ = server.waitForExit(timeout: 5)
                if case .exited(let code)? = server.exit { return (code, server.log()) }
                return (nil, server.log())
            }
            let peerPort = try freePort()
            let seeds = ["--seeds", "127.0.0.1:\(port)@\(peerPort),127.0.0.1:1", "--peer-port", String(peerPort)]
            let both = try run(["-l", "127.0.0.1", "--cluster-secret-file", file] + seeds, env: ["RINGCACHE_CLUSTER_SECRET": Self.secret])
            #expect(both.0 == 64 && both.1.contains("both --cluster-secret-file and RINGCACHE_CLUSTER_SECRET"), "\(both)")
            let exposed = try run(["-l", "0.0.0.0", "--advertise", "127.0.0.1:\(port)"] + seeds, env: [:])
            #expect(exposed.0 == 64 && exposed.1.contains("without a cluster secret"), "\(exposed)")
            let short = try run(["-l", "127.0.0.1"] + seeds, env: ["RINGCACHE_CLUSTER_SECRET": "short"])
            #expect(short.0 == 64 && short.1.contains("at least 16"), "\(short)")
            #expect(!short.1.contains("short\n"), "a secret must never be logged")
            // --print-config shows the file, never a secret.
            let printed = try ToolRun.run(ServerTarget.current.binary, ["--cluster-secret-file", file, "--print-config"], timeout: 10)
            #expect(printed.output.contains("cluster_secret_file = \"\(file)\"") && !printed.output.contains(Self.secret))
        }

        // MARK: - Pipelined forwarding

        @Test("a pipelined client whose keys live on every node gets every answer, in its own order")
        func pipelinedForwarding() throws {
            let cluster = try ClusterProcess.start(nodes: 3)
            defer { cluster.stop() }
            let keys = try cluster.keysByOwner(prefix: "pipe", perNode: 20)
            let all = zip(zip(keys[0], keys[1]), keys[2]).flatMap { [$0.0, $0.1, $1] }
            var request = ""
            var expected = ""
            for (i, key) in all.enumerated() {
                let value = "v\(i)"
                request += "set \(key) 0 0 \(value.utf8.count)\r\n\(value)\r\nget \(key)\r\nmg \(key) v q\r\nincr \(key) 1\r\n"
                expected += "STORED\r\nVALUE \(key) 0 \(value.utf8.count)\r\n\(value)\r\nEND\r\nVA \(value.utf8.count)\r\n\(value)\r\n"
                expected += "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
            }
            request += "get \(all.joined(separator: " "))\r\nmn\r\n"
            for (i, key) in all.enumerated() { expected += "VALUE \(key) 0 \("v\(i)".utf8.count)\r\nv\(i)\r\n" }
            expected += "END\r\nMN\r\n"
            let client = try cluster.nodes[0].connect()
            try client.send(request)
            let answer = String(decoding: try client.readUntil("MN\r\n", timeout: 20), as: UTF8.self)
            #expect(answer == expected)
            #expect(try Self.counter(cluster.nodes[0], "forwarded_sets") >= 80)
        }

        // MARK: - Membership at runtime

        @Test("under load, a 4th node seeded with the 3 joins: filled, then alive everywhere with one ring; no write lost, no miss, only retryable refusals at the switch")
        func fourthNodeJoins() throws {
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: ["--replicas", "1"])
            defer { cluster.stop() }
            // Load through every node while the 4th joins: a key just stored must be read back
            // (a move never loses it, even with one copy); the only failure allowed is the
            // retryable refusal of a write at the instant of the switch.
            let stop = Atomic(false)
            let failures = Atomic(0)
            let retryable = Atomic(0)
            let done = Atomic(0)
            let ops = Atomic(0)
            let loadPorts = cluster.nodes.map(\.port)
            let threads = (0..<3).map { n in
                Thread {
                    guard let client = try? TestClient(port: loadPorts[n]) else { failures.add(1); return }
                    var i = 0
                    while !stop.load() {
                        let key = "load\(n)-\(i % 500)"
                        let stored = (try? client.call("set \(key) 0 0 2\r\nok\r\n")) ?? "no answer"
                        let got = (try? client.call("get \(key)\r\n", until: "END\r\n")) ?? "no answer"
                        // Refused by the joined node until every member switched, or a copy to it
                        // refused by a fence as the rings switch: retryable, never a wrong answer.
                        if stored == "SERVER_ERROR cluster unavailable" || stored == "SERVER_ERROR replica unavailable" {
                            retryable.add(1)
                        } else if stored != "STORED" || !got.hasPrefix("VALUE") {
                            failures.add(1)
                            print("load through node \(n + 1) failed: set \(key) answered \(stored), get answered \(got)")
                        }
                        i += 1
                        ops.add(1)
                    }
                    done.add(1)
                }
            }
            for t in threads { t.start() }
            defer {
                stop.store(true)
                _ = Self.eventually(10) { done.load() == 3 }
            }
            usleep(300_000)

            let port = try freePort()
            let peerPort = try freePort()
            let args = ServerTarget.current.standardArguments(
                port: port, overrides: ["-t": "2"], extra: ["--seeds", cluster.seeds, "--peer-port", String(peerPort), "--replicas", "1"])
            let fourth = try ServerProcess.launch(.current, port: port, arguments: args)
            defer { fourth.stop() }
            try fourth.waitUntilAccepting(timeout: 10)
            let started = Date()
            let nodes = cluster.nodes + [fourth]
            let fourthName = "127.0.0.1:\(port)"
            let joined = try Self.eventually(10) {
                try nodes.allSatisfy { node in
                    let rows = try node.connect().call("cluster nodes\r\n", until: "END\r\n").split(separator: "\r\n")
                    return rows.count == 5 && rows.contains { $0.hasPrefix("NODE \(fourthName) ") && $0.contains(" alive ") }
                }
            }
            let took = Date().timeIntervalSince(started)
            #expect(joined, "every node shows the 4th alive within 10 s (\(took) s)\n\(cluster.logExcerpts)\n\(fourth.logExcerpt)")
            #expect(try Self.counter(fourth, "joins_completed") == 1, "filled by every member, not by join_timeout")
            // The newcomer adopts the cluster's epoch: every node ends at the same one, above 0.
            var epochs: [String] = []
            let sameEpoch = try Self.eventually(3) {
                epochs = try nodes.map { try Self.stats($0)["membership_epoch"] ?? "-" }
                return Set(epochs).count == 1 && epochs[0] != "0"
            }
            #expect(sameEpoch, "membership epochs \(epochs)")
            let keys = (0..<1000).map { "route\($0)" }
            let routes = try nodes.map { try ClusterProcess.routes(keys, via: $0.connect()) }
            for r in routes.dropFirst() { #expect(r == routes[0], "cluster route differs between nodes") }
            #expect(Set(routes[0].values.compactMap(\.first)).count == 4, "the 4th node owns keys")
            usleep(200_000)
            // The load stops before the 4th node does (its keys would fail once it is gone).
            stop.store(true)
            #expect(try Self.eventually(15) { done.load() == 3 })
            #expect(ops.load() > 100, "the load ran (\(ops.load()) requests)")
            #expect(failures.load() == 0, "\(failures.load()) of \(ops.load()) requests failed while the node joined")
            #expect(retryable.load() * 20 < ops.load(), "\(retryable.load()) of \(ops.load()) writes refused (retryable) at the switch")
            print("4th node joined in \(took) s under load: \(ops.load()) requests, \(retryable.load()) retryable refusals at the switch")
        }

        // MARK: - Regressions from the review

        @Test("an oversized set sent to a non-owner deletes the key on its owner too")
        func oversizedSetThroughANonOwner() throws {
            let cluster = try ClusterProcess.start(nodes: 2)
            defer { cluster.stop() }
            let key = try cluster.keysByOwner(prefix: "big", perNode: 1)[1][0]
            let owner = try cluster.nodes[1].connect()
            #expect(try owner.call("set \(key) 0 0 3\r\nold\r\n") == "STORED")
            let client = try cluster.nodes[0].connect()
            let huge = String(repeating: "x", count: 1_100_000)
            #expect(try client.call("set \(key) 0 0 \(huge.utf8.count)\r\n\(huge)\r\n") == "SERVER_ERROR object too large for cache")
            #expect(try Self.eventually(2) { try owner.call("get \(key)\r\n", until: "END\r\n") == "END\r\n" })
        }

        @Test("a multi-get answer larger than max_frame comes back whole through a non-owner (answers in several frames)")
        func answerLargerThanAFrame() throws {
            let cluster = try ClusterProcess.start(nodes: 2)
            defer { cluster.stop() }
            let keys = try cluster.keysByOwner(prefix: "huge", perNode: 6)[1]
            let owner = try cluster.nodes[1].connect()
            let value = String(repeating: "v", count: 400_000)
            for key in keys { #expect(try owner.call("set \(key) 0 0 \(value.utf8.count)\r\n\(value)\r\n") == "STORED") }
            // 6 x 400 KB = 2.4 MB, over the default max_frame (1 MiB + 64 KiB).
            let client = try cluster.nodes[0].connect()
            try client.send("get \(keys.joined(separator: " "))\r\n")
            let answer = String(decoding: try client.readUntil("END\r\n", timeout: 20), as: UTF8.self)
            let expected = keys.map { "VALUE \($0) 0 \(value.utf8.count)\r\n\(value)\r\n" }.joined() + "END\r\n"
            #expect(answer == expected, "\(answer.count) bytes instead of \(expected.count)")
            #expect(try Self.counter(cluster.nodes[0], "forward_errors") == 0)
            #expect(try Self.counter(cluster.nodes[0], "peer_protocol_errors") == 0)
            #expect(try Self.counter(cluster.nodes[1], "peer_protocol_errors") == 0)
        }

        @Test("a peer that sends forwards and never reads the answers costs bounded memory")
        func peerThatNeverReads() throws {
            let cluster = try ClusterProcess.start(nodes: 2, extraArguments: ["--peer-timeout", "60s"])
            defer { cluster.stop() }
            let key = try cluster.keysByOwner(prefix: "big", perNode: 1)[0][0]
            let value = String(repeating: "x", count: 1_000_000)
            #expect(try cluster.nodes[0].connect().call("set \(key) 0 0 \(value.utf8.count)\r\n\(value)\r\n") == "STORED")
            let before = cluster.nodes[0].rss() ?? 0
            let peer = try RawPeer(port: cluster.peerPorts[0], identity: try NodeAddress(parsing: "\(cluster.advertise(1))@\(cluster.peerPorts[1])"),
                                   secret: nil)
            _ = try peer.handshake()
            // 1,000 gets of a 1 MB value: 1 GB of answers if the node kept queueing them.
            var burst: [UInt8] = []
            for id in 1...1000 { burst += peer.wire(PeerFrameHeader(type: .forward, requestID: UInt64(id)), Array("get \(key)\r\n".utf8)) }
            try peer.client.send(burst)
            usleep(1_500_000)
            let grown = (cluster.nodes[0].rss() ?? 0) - before
            #expect(grown < 200_000_000, "the node grew by \(grown / 1_000_000) MB for a peer that does not read")
            #expect(try cluster.nodes[0].connect().call("get \(key)\r\n", until: "END\r\n").hasPrefix("VALUE"), "the node still serves")
        }

        @Test("quit behind a forwarded command: its answer is sent before the connection closes")
        func quitWaitsForForwardedAnswers() throws {
            let cluster = try ClusterProcess.start(nodes: 2)
            defer { cluster.stop() }
            let key = try cluster.keysByOwner(prefix: "q", perNode: 1)[1][0]
            _ = try cluster.nodes[1].connect().call("set \(key) 0 0 2\r\nhi\r\n")
            let client = try cluster.nodes[0].connect()
            try client.send("get \(key)\r\nquit\r\n")
            let all = try client.waitForClose(timeout: 5)
            #expect(all.map { String(decoding: $0, as: UTF8.self) } == "VALUE \(key) 0 2\r\nhi\r\nEND\r\n")
        }

        @Test("metadump and watch behind a forwarded command start after its answer, as memcached starts them after a get's")
        func streamsWaitForForwardedAnswers() throws {
            // One copy per key: the dump shows exactly the keys node 1 owns.
            let cluster = try ClusterProcess.start(nodes: 2, extraArguments: ["--replicas", "1"])
            defer { cluster.stop() }
            let keys = try cluster.keysByOwner(prefix: "s", perNode: 1)
            let remote = keys[1][0], local = keys[0][0]
            _ = try cluster.nodes[1].connect().call("set \(remote) 0 0 2\r\nhi\r\n")
            _ = try cluster.nodes[0].connect().call("set \(local) 0 0 2\r\nho\r\n")
            let client = try cluster.nodes[0].connect()
            try client.send("get \(remote)\r\nlru_crawler metadump all\r\n")
            let first = String(decoding: try client.readUntil("\r\nEND\r\n"), as: UTF8.self)
            #expect(first == "VALUE \(remote) 0 2\r\nhi\r\nEND\r\n")
            let dump = String(decoding: try client.readUntil("END\r\n"), as: UTF8.self)
            #expect(dump.hasPrefix("key=\(local) ") && dump.hasSuffix("\nEND\r\n"), "\(dump)")
            let watcher = try cluster.nodes[0].connect()
            try watcher.send("get \(remote)\r\nwatch mutations\r\n")
            #expect(String(decoding: try watcher.readUntil("OK\r\n"), as: UTF8.self) == "VALUE \(remote) 0 2\r\nhi\r\nEND\r\nOK\r\n")
            // Behind a forwarded set (an answer memcached would still hold) it is refused, as
            // memcached refuses it behind a set.
            let stacked = try cluster.nodes[0].connect()
            try stacked.send("set \(remote) 0 0 2\r\nhu\r\nwatch\r\n")
            #expect(String(decoding: try stacked.readUntil("before watch\r\n"), as: UTF8.self)
                    == "STORED\r\nERROR cannot pipeline other commands before watch\r\n")
            // Behind a refusal (held by memcached too): refused, as memcached 1.6.18 answers
            // `get x\r\nfoo\r\nwatch\r\n`.
            let refused = try cluster.nodes[0].connect()
            try refused.send("get \(remote)\r\nfoo\r\nwatch\r\n")
            #expect(String(decoding: try refused.readUntil("before watch\r\n"), as: UTF8.self)
                    == "VALUE \(remote) 0 2\r\nhu\r\nEND\r\nERROR\r\nERROR cannot pipeline other commands before watch\r\n")
        }

        @Test("flush_all with a member down flushes the others and says so")
        func flushWithAMemberDown() throws {
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: ["--peer-timeout", "300ms"])
            defer { cluster.stop() }
            let keys = try cluster.keysByOwner(prefix: "fl", perNode: 1)
            for n in 0..<3 { _ = try cluster.nodes[n].connect().call("set \(keys[n][0]) 0 0 1\r\nx\r\n") }
            cluster.nodes[2].child.signal(SIGKILL)
            _ = cluster.nodes[2].waitForExit(timeout: 5)
            let client = try cluster.nodes[0].connect()
            #expect(try client.call("flush_all\r\n") == "SERVER_ERROR peer unavailable")
            #expect(try cluster.nodes[1].connect().call("get \(keys[1][0])\r\n", until: "END\r\n") == "END\r\n")
            #expect(try client.call("get \(keys[0][0])\r\n", until: "END\r\n") == "END\r\n")
        }

        @Test("SIGTERM while a client's pipelined forwards wait on a hung peer: the node stops cleanly, no link reopens")
        func shutdownWithForwardsInFlight() throws {
            // A graceful leave waits for the hung peer's hand-over for at most shutdown_timeout.
            let cluster = try ClusterProcess.start(nodes: 2, extraArguments: ["--peer-timeout", "3s", "--shutdown-timeout", "1s"])
            defer {
                cluster.nodes[1].child.signal(SIGCONT)
                cluster.stop()
            }
            let keys = try cluster.keysByOwner(prefix: "sd", perNode: 300)[1]
            cluster.nodes[1].child.signal(SIGSTOP)
            #expect(ProcStatus.waitUntilStopped(pid: cluster.nodes[1].pid))
            // More than max_forwards (64): the connection pauses with the rest unread; when the
            // stopping worker fails the forwards, it resumes and parses the rest.
            let client = try cluster.nodes[0].connect()
            try client.send(keys.map { "get \($0)\r\n" }.joined())
            usleep(300_000)
            cluster.nodes[0].child.signal(SIGTERM)
            #expect(cluster.nodes[0].waitForExit(timeout: 5), "the node stops within 5 s\n\(cluster.nodes[0].logExcerpt)")
            #expect(cluster.nodes[0].exit == .exited(0), "\(String(describing: cluster.nodes[0].exit))\n\(cluster.nodes[0].logExcerpt)")
            #expect(!cluster.nodes[0].log().contains("Fatal error"))
        }

        @Test("a node whose client port is above 55535 (explicit @peerport) links fine")
        func highClientPort() throws {
            // Ports above 55535 have no default peer port; the hello must carry it.
            var high: [UInt16] = []
            for candidate in stride(from: UInt16(60100), to: 65000, by: 37) where high.count < 2 {
                if let fd = try? bindable(candidate), fd { high.append(candidate) }
            }
            try #require(high.count == 2)
            let peer = [try freePort(), try freePort()]
            let seeds = "127.0.0.1:\(high[0])@\(peer[0]),127.0.0.1:\(high[1])@\(peer[1])"
            let nodes = try (0..<2).map { i in
                try ServerProcess.launch(.current, port: high[i], arguments: ServerTarget.current.standardArguments(
                    port: high[i], overrides: ["-t": "2"], extra: ["--seeds", seeds, "--peer-port", String(peer[i])]))
            }
            defer { for n in nodes { n.stop() } }
            for n in nodes { try n.waitUntilAccepting(timeout: 10) }
            // Both joined (each fills the other first): then writes go to their owners.
            #expect(try Self.eventually(10) {
                try nodes.allSatisfy { n in
                    try n.connect().call("cluster nodes\r\n", until: "END\r\n").split(separator: "\r\n").filter { $0.contains(" alive ") }.count == 2
                }
            })
            let client = try nodes[0].connect()
            var forwarded = false
            for i in 0..<50 {
                let answer = try client.call("set hk\(i) 0 0 1\r\nx\r\n")
                #expect(answer == "STORED", "set hk\(i): \(answer)\n\(nodes[0].logExcerpt)")
            }
            forwarded = try Self.counter(nodes[0], "forwarded_sets") > 0 && Self.counter(nodes[0], "forward_errors") == 0
            #expect(forwarded, "\(nodes[0].logExcerpt)")
        }

        @Test("seeds: localhost names this node; a duplicate is a seeds error; --print-config refuses what the node would")
        func seedHandling() throws {
            let port = try freePort()
            let other = try freePort()
            let otherPeer = try freePort()
            let peerPort = try freePort()
            // localhost:<our port> is this node: 2 members, not 3. (With @peerport: a free port may
            // be above 55535, which has no default peer port.)
            let args = ServerTarget.current.standardArguments(
                port: port, extra: ["--seeds", "localhost:\(port)@\(peerPort),127.0.0.1:\(other)@\(otherPeer)", "--peer-port", String(peerPort)])
            let server = try ServerProcess.launch(.current, port: port, arguments: args)
            defer { server.stop() }
            try server.waitUntilAccepting(timeout: 10)
            #expect(try server.connect().call("cluster nodes\r\n", until: "END\r\n").split(separator: "\r\n").count == 3)
            let dup = try ToolRun.run(ServerTarget.current.binary, ["--seeds", "127.0.0.1:7000,127.0.0.1:7000", "--print-config"], timeout: 10)
            #expect(dup.status != .exited(0) && dup.output.contains("seeds:") && dup.output.contains("listed twice"), "\(dup.output)")
            let bad = try ToolRun.run(ServerTarget.current.binary, ["--seeds", "127.0.0.1:99999", "--print-config"], timeout: 10)
            #expect(bad.status != .exited(0) && bad.output.contains("seeds:"), "\(bad.output)")
        }
    }
}

/// Whether a TCP port can be bound on 127.0.0.1 now.
private func bindable(_ port: UInt16) throws -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = TestClient.loopback(port: port)
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// A tiny thread-safe box for the load threads.
final class Atomic<T: Sendable>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func load() -> T { lock.lock(); defer { lock.unlock() }; return value }
    func store(_ v: T) { lock.lock(); value = v; lock.unlock() }
}

extension Atomic where T == Int {
    func add(_ n: Int) { lock.lock(); value += n; lock.unlock() }
}
