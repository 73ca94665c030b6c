import Cluster
import Foundation
import Glibc
import Testing

extension IntegrationSuite {
    /// Issue 12, anti-entropy on real processes: copies that drifted (async copies dropped
    /// past the queue; a change, a delete or a key that reached one holder only) converge to
    /// the newest version on every holder within a few rounds, and rounds whose copies agree
    /// cost only their digests.
    @Suite("Anti-entropy", Only.ringcached)
    struct AntiEntropyIntegrationTests {
        /// Gossip at its default pace: a false death under a loaded machine would bring a repair
        /// pass, which would mend the copies in anti-entropy's place.
        static let fast = ["--anti-entropy-interval", "2s", "--peer-timeout", "500ms"]

        /// Every key's copies on its holders, as (value, cas) per holder.
        static func copies(_ cluster: ClusterProcess, _ keys: [String], _ routes: [String: [String]]) throws -> [String: [String]] {
            var out: [String: [String]] = [:]
            for key in keys {
                out[key] = try routes[key]!.map { holder in
                    try ReplicationTests.local(cluster, cluster.index(of: holder)!, key).map { "\($0.value) \($0.cas)" } ?? "-"
                }
            }
            return out
        }

        static func sum(_ cluster: ClusterProcess, _ name: String) throws -> Int {
            try cluster.nodes.reduce(0) { $0 + (try PeerLayerTests.counter($1, name)) }
        }

        @Test("async copies dropped past the queue reach every holder by anti-entropy; then rounds cost only their digests")
        func asyncDropsConverge() throws {
            let cluster = try ClusterProcess.start(
                nodes: 3, extraArguments: Self.fast + ["--replication", "async", "--replication-queue", "1"])
            defer { cluster.stop() }
            let client = try cluster.nodes[0].connect()
            let keys = (0..<3000).map { "ae\($0)" }
            // Pipelined: most copies find their link's queue (1) taken and are dropped.
            var burst = ""
            for key in keys { burst += "set \(key) 0 0 \(key.utf8.count + 2)\r\nv-\(key)\r\n" }
            try client.send(burst)
            for _ in keys { #expect(try client.readLine() == "STORED") }
            let dropped = try Self.sum(cluster, "replication_dropped")
            #expect(dropped > 0, "no copy was dropped: this test shows nothing")
            let routes = try ClusterProcess.routes(keys, via: client)
            let missing = try Self.copies(cluster, keys, routes).values.filter { $0.contains("-") }.count
            let start = Date()
            var lastDisagreeing = -1
            let converged = try PeerLayerTests.eventually(40) {
                let all = try Self.copies(cluster, keys, routes)
                lastDisagreeing = all.values.filter { Set($0).count != 1 || $0.contains("-") }.count
                return lastDisagreeing == 0
            }
            let took = Date().timeIntervalSince(start)
            #expect(converged, "\(lastDisagreeing) keys still disagree\n\(cluster.logExcerpts)")
            let passes = (try Self.sum(cluster, "repair_passes"), try Self.sum(cluster, "transfer_passes"))
            #expect(try Self.sum(cluster, "anti_entropy_keys") > 0, "repair and transfer passes \(passes)")
            print("anti-entropy: \(dropped) copies dropped, \(missing) keys missing a copy, converged in \(String(format: "%.1f", took)) s")

            // Agreeing copies: a round sends one digest per peer and ships nothing.
            let bytes0 = try Self.sum(cluster, "digest_bytes_sent"), rounds0 = try Self.sum(cluster, "anti_entropy_rounds")
            let digests0 = try Self.sum(cluster, "digests_sent")
            let shipped0 = try Self.sum(cluster, "anti_entropy_keys"), differing0 = try Self.sum(cluster, "buckets_differing")
            #expect(try PeerLayerTests.eventually(20) { try Self.sum(cluster, "anti_entropy_rounds") >= rounds0 + 6 })
            let rounds = try Self.sum(cluster, "anti_entropy_rounds") - rounds0
            let bytes = try Self.sum(cluster, "digest_bytes_sent") - bytes0
            let digests = try Self.sum(cluster, "digests_sent") - digests0
            #expect(digests >= 2 * rounds - 2)
            #expect(try Self.sum(cluster, "anti_entropy_keys") == shipped0)
            #expect(try Self.sum(cluster, "buckets_differing") == differing0)
            let walk = try cluster.nodes.map { try PeerLayerTests.counter($0, "anti_entropy_walk_ms") }
            print("anti-entropy, copies agree: \(rounds) rounds, \(digests) digests, \(bytes / max(1, digests)) bytes per digest (\(keys.count) keys x 2 copies), walks \(walk) ms")
        }

        @Test("a change, a delete and a key that reached one holder only converge to the newest version on both holders")
        func missedChangesConverge() throws {
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: Self.fast)
            defer { cluster.stop() }
            let client = try cluster.nodes[0].connect()
            let candidates = (0..<300).map { "m\($0)" }
            let routes = try ClusterProcess.routes(candidates, via: client)
            let node3 = cluster.advertise(2)
            let shared = candidates.filter { Set(routes[$0]!) == [cluster.advertise(0), node3] }
            try #require(shared.count >= 3)
            let (changed, deleted, only) = (shared[0], shared[1], shared[2])
            for key in [changed, deleted] { #expect(try client.call("set \(key) 0 0 3\r\nold\r\n") == "STORED") }
            // Node 0 alone gets a newer version of `changed`, a tombstone for `deleted`, and
            // `only`, from a peer that says it is node 3 (a holder of all three): node 3's own
            // copies never change, as if the copies that should have reached it were lost.
            let peer = try ReplicationTests.peer(cluster, at: 0, as: 2)
            let (seconds, clock) = ReplicationTests.versionClockNow()
            let epoch = UInt64(try PeerLayerTests.counter(cluster.nodes[0], "membership_epoch"))
            var writer = ReplicaCodec.begin(count: 3, capacity: 256)
            for (i, (key, value, tombstone)) in [(changed, "new", false), (deleted, "", true), (only, "one", false)].enumerated() {
                let record = ReplicaRecord(clock: clock + UInt64(i), origin: 2, cas: clock + UInt64(i), flags: 0,
                                           exptime: tombstone ? UInt32(seconds + 60) : 0,
                                           bits: tombstone ? ReplicaRecord.Bit.tombstone : 0)
                Array(key.utf8).withUnsafeBytes { k in Array(value.utf8).withUnsafeBytes { v in ReplicaCodec.append(record, key: k, value: v, to: &writer) } }
            }
            try peer.client.send(peer.wire(PeerFrameHeader(type: .replicate, requestID: 1, epoch: epoch), writer.bytes))
            #expect(try peer.readFrame(expecting: .replicateAck, id: 1) == Array(repeating: ReplicaStatus.held.rawValue, count: 3))
            #expect(try ReplicationTests.local(cluster, 0, changed)?.value == "new")
            #expect(try ReplicationTests.local(cluster, 2, changed)?.value == "old")
            #expect(try ReplicationTests.local(cluster, 2, deleted)?.value == "old")
            #expect(try ReplicationTests.local(cluster, 2, only) == nil)
            let start = Date()
            let converged = try PeerLayerTests.eventually(30) {
                try ReplicationTests.local(cluster, 2, changed)?.value == "new"
                    && ReplicationTests.local(cluster, 2, deleted) == nil
                    && ReplicationTests.local(cluster, 2, only)?.value == "one"
            }
            #expect(converged, "\(cluster.logExcerpts)")
            print("anti-entropy: a missed change, delete and key reached the other holder in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
            // The delete stays a delete: no round brings the old value back.
            #expect(try client.call("get \(deleted)\r\n") == "END")
            #expect(try cluster.nodes[2].connect().call("get \(changed)\r\n", until: "END\r\n") == "VALUE \(changed) 0 3\r\nnew\r\nEND\r\n")
        }

        @Test("a garbled digest closes the link and is counted; anti_entropy_interval over half of tombstone_ttl is refused")
        func badDigestsAndConfigurations() throws {
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: Self.fast)
            defer { cluster.stop() }
            let peer = try ReplicationTests.peer(cluster, at: 0, as: 2)
            let errors = try PeerLayerTests.counter(cluster.nodes[0], "peer_protocol_errors")
            try peer.client.send(peer.wire(PeerFrameHeader(type: .digest, requestID: 1), [0, 0, 0, 1, 9]))
            #expect(peer.closedByNode())
            #expect(try PeerLayerTests.counter(cluster.nodes[0], "peer_protocol_errors") == errors + 1)
            // A well-formed digest of a round this node has left behind is dropped, not acted on.
            #expect(try PeerLayerTests.eventually(10) { try PeerLayerTests.counter(cluster.nodes[0], "anti_entropy_rounds") >= 1 })
            let peer2 = try ReplicationTests.peer(cluster, at: 0, as: 2)
            let dropped = try PeerLayerTests.counter(cluster.nodes[0], "digests_dropped")
            let stale = DigestMessage(round: 1, cutoff: 0, ringDigest: "x", digest: RangeDigest())
            try peer2.client.send(peer2.wire(PeerFrameHeader(type: .digest, requestID: 3), stale.encoded()))
            _ = try peer2.readFrame(expecting: .answer, id: 3)
            #expect(try PeerLayerTests.counter(cluster.nodes[0], "digests_dropped") == dropped + 1)
            #expect(try PeerLayerTests.counter(cluster.nodes[0], "anti_entropy_keys") == 0)

            let refused = try ToolRun.run(ServerTarget.current.binary,
                                          ["--seeds", "127.0.0.1:7000", "--anti-entropy-interval", "40s", "--print-config"], timeout: 10)
            #expect(refused.status != .exited(0) && refused.output.contains("at most half of tombstone-ttl"), "\(refused.output)")
            let fine = try ToolRun.run(ServerTarget.current.binary,
                                       ["--seeds", "127.0.0.1:7000", "--anti-entropy-interval", "30s", "--print-config"], timeout: 10)
            #expect(fine.status == .exited(0), "\(fine.output)")
        }
    }
}
