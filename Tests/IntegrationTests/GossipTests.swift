import Cluster
import Foundation
import Glibc
import Testing

extension IntegrationSuite {
    /// Issue 10: gossip on real processes. The timing figures (kills, SIGSTOP, partitions) are
    /// measured by `scripts/gossip-faults.py`, which the test script runs; these tests cover what
    /// one datagram or one admin command can show.
    @Suite("Gossip", Only.ringcached)
    struct GossipTests {
        static let fast = ["--probe-interval", "200ms", "--probe-timeout", "100ms"]

        /// Sends one UDP datagram to 127.0.0.1:`port`.
        static func sendDatagram(_ bytes: [UInt8], port: UInt16) {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(fd) }
            var address = TestClient.loopback(port: port)
            _ = bytes.withUnsafeBytes { raw in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }

        static func nodes(_ server: ServerProcess) throws -> [String: String] {
            let text = try server.connect().call("cluster nodes\r\n", until: "END\r\n")
            var out: [String: String] = [:]
            for line in text.split(separator: "\r\n") where line.hasPrefix("NODE ") {
                let parts = line.split(separator: " ").map(String.init)
                out[parts[1]] = parts[3]
            }
            return out
        }

        static func address(_ cluster: ClusterProcess, _ i: Int) -> NodeAddress {
            // The test's own addresses are valid by construction.
            try! NodeAddress(parsing: "\(cluster.advertise(i))@\(cluster.peerPorts[i])")
        }

        @Test("forged, replayed, altered and garbled gossip datagrams are dropped and counted, never obeyed")
        func forgedGossipIsRefused() throws {
            let secret = "a test cluster secret, 16+ bytes"
            let file = try PeerLayerTests.secretFile([secret])
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: ["--cluster-secret-file", file] + Self.fast)
            defer { cluster.stop() }
            let a = cluster.nodes[0], bAddress = Self.address(cluster, 1)
            #expect(try PeerLayerTests.eventually(10) { try Self.nodes(a).values.allSatisfy { $0 == "alive" } && Self.nodes(a).count == 3 })
            let failures = { try PeerLayerTests.counter(a, "gossip_auth_failures") }
            let malformed = { try PeerLayerTests.counter(a, "gossip_malformed") }
            let start = try failures()

            // In the clear, claiming node 2 is dead: refused (a node with a secret reads only sealed datagrams).
            let death = GossipPacket(
                sender: Self.address(cluster, 2), senderBoot: 1, body: .gossip,
                news: [MemberNews(address: bAddress, state: .dead, incarnation: .max - 1, bootID: 1, confirmed: true, reporter: "x")])
            Self.sendDatagram(GossipCodec.encode(death), port: cluster.peerPorts[0])
            #expect(try PeerLayerTests.eventually(3) { try failures() == start + 1 })
            // Sealed with another secret: refused.
            var stranger = GossipSeal(secrets: [Array("another secret, also 16+ bytes".utf8)], bootID: 1)
            Self.sendDatagram(stranger.seal(GossipCodec.encode(death), to: cluster.advertise(0)), port: cluster.peerPorts[0])
            #expect(try PeerLayerTests.eventually(3) { try failures() == start + 2 })

            // Sealed with the secret, harmless (no news): taken. The same datagram again is a replay.
            let boot = UInt64.random(in: 1...UInt64.max)
            var insider = GossipSeal(secrets: [Array(secret.utf8)], bootID: boot)
            let hello = insider.seal(GossipCodec.encode(GossipPacket(sender: Self.address(cluster, 2), senderBoot: boot, body: .gossip)), to: cluster.advertise(0))
            Self.sendDatagram(hello, port: cluster.peerPorts[0])
            usleep(200_000)
            #expect(try failures() == start + 2)
            Self.sendDatagram(hello, port: cluster.peerPorts[0])
            #expect(try PeerLayerTests.eventually(3) { try failures() == start + 3 })
            // Replayed to another member (whose window has not seen it): sealed for node 1, refused.
            let elsewhere = try PeerLayerTests.counter(cluster.nodes[1], "gossip_auth_failures")
            Self.sendDatagram(hello, port: cluster.peerPorts[1])
            #expect(try PeerLayerTests.eventually(3) { try PeerLayerTests.counter(cluster.nodes[1], "gossip_auth_failures") == elsewhere + 1 })
            // One flipped byte: refused.
            var altered = insider.seal(GossipCodec.encode(death), to: cluster.advertise(0))
            altered[altered.count / 2] ^= 0x01
            Self.sendDatagram(altered, port: cluster.peerPorts[0])
            #expect(try PeerLayerTests.eventually(3) { try failures() == start + 4 })
            // A sealed packet that claims another life than its seal's: refused.
            let otherLife = insider.seal(GossipCodec.encode(GossipPacket(sender: Self.address(cluster, 2), senderBoot: boot &+ 1, body: .gossip)), to: cluster.advertise(0))
            Self.sendDatagram(otherLife, port: cluster.peerPorts[0])
            #expect(try PeerLayerTests.eventually(3) { try failures() == start + 5 })
            // Sealed garbage with the secret: malformed.
            let before = try malformed()
            Self.sendDatagram(insider.seal([1, 99, 0, 0], to: cluster.advertise(0)), port: cluster.peerPorts[0])
            #expect(try PeerLayerTests.eventually(3) { try malformed() == before + 1 })
            // Random bytes: refused; nothing changed.
            Self.sendDatagram((0..<300).map { _ in UInt8.random(in: 0...255) }, port: cluster.peerPorts[0])
            usleep(300_000)
            #expect(try Self.nodes(a)[cluster.advertise(1)] == "alive")
            #expect(try cluster.nodes[0].connect().call("set k 0 0 1\r\nx\r\n") == "STORED")
            #expect(cluster.nodes.allSatisfy { $0.isRunning })
        }

        @Test("without a secret, garbled datagrams on loopback are counted as malformed and change nothing")
        func garbledGossipWithoutSecret() throws {
            let cluster = try ClusterProcess.start(nodes: 2, extraArguments: Self.fast)
            defer { cluster.stop() }
            let before = try PeerLayerTests.counter(cluster.nodes[0], "gossip_malformed")
            var packet = GossipCodec.encode(GossipPacket(sender: Self.address(cluster, 1), senderBoot: 1, body: .ack(seq: 1)))
            Self.sendDatagram(Array(packet.prefix(packet.count - 1)), port: cluster.peerPorts[0])
            packet[0] = 9
            Self.sendDatagram(packet, port: cluster.peerPorts[0])
            Self.sendDatagram([], port: cluster.peerPorts[0])
            #expect(try PeerLayerTests.eventually(3) { try PeerLayerTests.counter(cluster.nodes[0], "gossip_malformed") == before + 3 })
            #expect(try Self.nodes(cluster.nodes[0]).values.allSatisfy { $0 == "alive" })
        }

        @Test("a killed member is dead, then `cluster forget` drops it at once; an alive member cannot be forgotten")
        func killThenForget() throws {
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: Self.fast)
            defer { cluster.stop() }
            let a = cluster.nodes[0]
            #expect(try PeerLayerTests.eventually(10) { try Self.nodes(a).count == 3 && Self.nodes(a).values.allSatisfy { $0 == "alive" } })
            var stats: [String: String] = [:]
            let healthy = try PeerLayerTests.eventually(5) {
                stats = try PeerLayerTests.stats(a)
                return stats["sees_majority"] == "yes" && stats["members_known"] == "3" && stats["members_visible"] == "3" && stats["isolated"] == "no"
            }
            #expect(healthy, "stats cluster: \(stats.filter { $0.key.hasPrefix("members") || $0.key == "sees_majority" || $0.key == "isolated" })\n\(cluster.logExcerpts)")
            #expect(try a.connect().call("cluster forget \(cluster.advertise(1))\r\n").hasPrefix("CLIENT_ERROR 127.0.0.1:"))
            #expect(try a.connect().call("cluster forget \(cluster.advertise(0))\r\n") == "CLIENT_ERROR a node cannot forget itself")
            #expect(try a.connect().call("cluster forget 127.0.0.1:1\r\n") == "NOT_FOUND")
            kill(cluster.nodes[2].pid, SIGKILL)
            #expect(try PeerLayerTests.eventually(10) { try Self.nodes(a)[cluster.advertise(2)] == "dead" })
            // Two of three visible: still a majority, so the death moved the keys: node 3 holds
            // none of 300 keys (with it on the ring, about two thirds would name it).
            let routes = try ClusterProcess.routes((0..<300).map { "key\($0)" }, via: a.connect())
            #expect(routes.count == 300 && routes.values.allSatisfy { !$0.contains(cluster.advertise(2)) })
            #expect(try a.connect().call("cluster forget \(cluster.advertise(2))\r\n") == "OK")
            #expect(try PeerLayerTests.eventually(3) { try Self.nodes(a)[cluster.advertise(2)] == nil })
        }

        @Test("SIGTERM: the others show the member left at once")
        func leaveOnSIGTERM() throws {
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: Self.fast)
            defer { cluster.stop() }
            let a = cluster.nodes[0]
            #expect(try PeerLayerTests.eventually(10) { try Self.nodes(a).values.allSatisfy { $0 == "alive" } && Self.nodes(a).count == 3 })
            kill(cluster.nodes[1].pid, SIGTERM)
            #expect(try PeerLayerTests.eventually(2) {
                try Self.nodes(a)[cluster.advertise(1)] == "left" && Self.nodes(cluster.nodes[2])[cluster.advertise(1)] == "left"
            })
        }
    }
}
