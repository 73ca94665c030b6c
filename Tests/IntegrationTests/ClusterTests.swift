import Foundation
import Glibc
import Testing

extension IntegrationSuite {
    /// Issue 4: a cluster of ringcached nodes on 127.0.0.1 (ketama ring from `--seeds`, any node
    /// serves any key, forwarding over peer links). Every cluster test starts its own nodes on free
    /// ports and stops them by PID.
    ///
    /// Tests marked `Only.ringcached` need the cluster; the others check this file's own tools
    /// (the command script's expectations, the nutcracker helper) and also run against memcached.
    @Suite("Cluster")
    struct ClusterTests {
        // MARK: - Tools, checked on standalone nodes (memcached too)

        @Test("the every-command script gives memcached's answers on a standalone node")
        func everyCommandScriptOnStandalone() throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            let client = try server.connect()
            let keys = ["A": "sa", "B": "sb", "C": "sc", "M": "sm", "N": "sn"]
            let failures = try ClusterScript.everyCommand.run(on: client, keys: keys)
            for failure in failures { Issue.record("standalone \(server.target.flavor): \(failure)") }
            #expect(client.isAlive())
        }

        @Test("nutcracker (ketama md5) in front of three standalone nodes spreads 3,000 keys over all three")
        func nutcrackerSpreadsOverStandaloneNodes() throws {
            try #require(NutcrackerProcess.isInstalled, "apt-get install nutcracker")
            let servers = try (0..<3).map { _ in try ServerProcess.start() }
            defer { servers.forEach { $0.stop() } }
            let proxy = try NutcrackerProcess.start(serverPorts: servers.map(\.port))
            defer { proxy.stop() }
            let keys = (0..<3000).map { "spread-\($0)" }
            try ClusterFixtures.storeThrough(proxy.connect(timeout: 30), keys: keys)
            var found = Array(repeating: 0, count: 3)
            var copies = [String: Int]()
            for (i, server) in servers.enumerated() {
                let present = try ClusterFixtures.presentKeys(keys, on: server.connect(timeout: 30))
                found[i] = present.count
                for key in present { copies[key, default: 0] += 1 }
            }
            #expect(found.allSatisfy { $0 > 300 }, "keys per node \(found)\n\(proxy.log())")
            #expect(found.reduce(0, +) == keys.count, "keys per node \(found)")
            #expect(copies.values.allSatisfy { $0 == 1 }, "some key is on several nodes")
        }

        // MARK: - a. read back through every node

        @Test("10,000 keys written through node 1 (noreply, pipelined) read back through every node",
              Only.ringcached)
        func tenThousandKeysThroughEveryNode() throws {
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: ["--replicas", "1"])
            defer { cluster.stop() }
            let keys = (0..<10_000).map { "bulk-\($0)" }
            let writer = try cluster.nodes[0].connect(timeout: 60)
            let owners = try ClusterProcess.routes(keys, via: writer)
            let sentinels = try cluster.keysByOwner(prefix: "sentinel-", perNode: 1).map { $0[0] }

            // Noreply sets, then one acknowledged set per owner: a node forwards in order over one
            // link per (worker, peer), so the acknowledgements mean every earlier set has landed.
            var request = ""
            for (i, key) in keys.enumerated() {
                let value = ClusterFixtures.value(i)
                request += "set \(key) \(i % 1000) 0 \(value.utf8.count) noreply\r\n\(value)\r\n"
            }
            for key in sentinels { request += "set \(key) 0 0 1\r\ns\r\n" }
            let answer = try writer.callUntilNoop(request, timeout: 60)
            #expect(answer == String(repeating: "STORED\r\n", count: sentinels.count),
                    "noreply sets answered \(Escaping.show(Array(answer.utf8)))\n\(cluster.logExcerpts)")

            for node in 0..<3 {
                let reader = try cluster.nodes[node].connect(timeout: 60)
                var mismatches: [String] = []
                var start = 0
                var requests = ""
                var batches: [[String]] = []
                while start < keys.count {
                    let batch = Array(keys[start..<min(keys.count, start + 100)])
                    requests += "get \(batch.joined(separator: " "))\r\n"
                    batches.append(batch)
                    start += 100
                }
                try reader.send(requests)
                for batch in batches {
                    let values = try reader.readRetrieval(what: "get of \(batch.count) keys through node \(node + 1)")
                    let expected = batch.map { key -> RetrievedValue in
                        let i = Int(key.dropFirst(5))!
                        return RetrievedValue(key: key, flags: UInt32(i % 1000), value: Array(ClusterFixtures.value(i).utf8), cas: nil)
                    }
                    if values != expected {
                        let missing = Set(batch).subtracting(values.map(\.key))
                        mismatches.append("batch from \(batch[0]): \(values.count) values, missing \(missing.sorted().prefix(5)) "
                            + "(owners \(missing.sorted().prefix(5).map { owners[$0]?.first ?? "?" })), first difference "
                            + "\(zip(values, expected).first { $0 != $1 }.map { "\($0.0) vs expected \($0.1)" } ?? "-")")
                    }
                }
                #expect(mismatches.isEmpty, "through node \(node + 1) (\(cluster.advertise(node))):\n\(mismatches.prefix(5).joined(separator: "\n"))")
                #expect(reader.isAlive())
            }

            // Each node holds exactly the keys it owns; node 1 forwarded exactly the sets it does not own.
            let sentinelOwners = try ClusterProcess.routes(sentinels, via: writer)
            for node in 0..<3 {
                let client = try cluster.nodes[node].connect()
                let owned = owners.values.filter { $0.first == cluster.advertise(node) }.count
                    + sentinelOwners.values.filter { $0.first == cluster.advertise(node) }.count
                let stats = try Stats.read(client, "stats")
                #expect(stats["curr_items"] == String(owned), "node \(node + 1) curr_items \(stats["curr_items"] ?? "-"), owns \(owned)")
            }
            let forwarded = try Stats.read(writer, "stats cluster")
            let notOwned = owners.values.filter { $0.first != cluster.advertise(0) }.count + 2
            #expect(forwarded["forwarded_sets"] == String(notOwned),
                    "node 1 forwarded_sets \(forwarded["forwarded_sets"] ?? "-"), expected \(notOwned) (sets of keys it does not own)")
            #expect(forwarded["forward_errors"] == "0")
        }

        // MARK: - b. every command through a non-owner

        @Test("every command through a non-owner answers as on a standalone node", Only.ringcached)
        func everyCommandThroughNonOwner() throws {
            let cluster = try ClusterProcess.start(nodes: 3)
            defer { cluster.stop() }
            let byOwner = try cluster.keysByOwner(prefix: "cmd-", perNode: 5)
            // A and C on node 2, B, M and N on node 3; the client talks to node 1.
            let keys = ["A": byOwner[1][0], "C": byOwner[1][1], "B": byOwner[2][0], "M": byOwner[2][1], "N": byOwner[2][2]]
            let client = try cluster.nodes[0].connect()
            let failures = try ClusterScript.everyCommand.run(on: client, keys: keys)
            for failure in failures {
                Issue.record("through node 1 (\(cluster.advertise(0))), keys \(keys.sorted { $0.key < $1.key }):\n\(failure)")
            }
            #expect(client.isAlive())

            // The same script through node 2, on keys owned by nodes 1 and 3.
            let second = ["A": byOwner[0][0], "C": byOwner[2][3], "B": byOwner[0][1], "M": byOwner[2][4], "N": byOwner[0][2]]
            let other = try cluster.nodes[1].connect()
            for failure in try ClusterScript.everyCommand.run(on: other, keys: second) {
                Issue.record("through node 2 (\(cluster.advertise(1))), keys \(second.sorted { $0.key < $1.key }):\n\(failure)")
            }
            #expect(other.isAlive())
            let stats = try Stats.read(client, "stats cluster")
            #expect(Int(stats["forwarded_sets"] ?? "") ?? 0 > 0 && Int(stats["forwarded_gets"] ?? "") ?? 0 > 0, "\(stats)")
            #expect(stats["forward_errors"] == "0", "\(stats)\n\(cluster.logExcerpts)")
        }

        // MARK: - c. multi-key gets split across owners

        @Test("a multi-key get split across owners is answered in the client's key order, flags and cas intact",
              Only.ringcached)
        func multiGetAcrossOwners() throws {
            let cluster = try ClusterProcess.start(nodes: 3)
            defer { cluster.stop() }
            let byOwner = try cluster.keysByOwner(prefix: "multi-", perNode: 4)
            // Store every key on its owner directly, and read its cas there.
            var direct: [String: RetrievedValue] = [:]
            for (node, keys) in byOwner.enumerated() {
                let owner = try cluster.nodes[node].connect()
                for (j, key) in keys.enumerated() {
                    let value = "value of \(key) on \(node)"
                    #expect(try owner.call("set \(key) \(100 * node + j) 0 \(value.utf8.count)\r\n\(value)\r\n") == "STORED")
                    try owner.send("gets \(key)\r\n")
                    direct[key] = try owner.readRetrieval().first
                }
            }
            let order = [byOwner[1][0], byOwner[2][0], byOwner[0][0], "multi-missing-key", byOwner[1][1], byOwner[0][1],
                         byOwner[2][1], byOwner[1][0], byOwner[2][2], byOwner[2][3], byOwner[0][2], byOwner[1][2], byOwner[1][3], byOwner[0][3]]
            let expectedGets = order.compactMap { direct[$0] }
            let expectedGet = expectedGets.map { RetrievedValue(key: $0.key, flags: $0.flags, value: $0.value, cas: nil) }
            for node in 0..<3 {
                let client = try cluster.nodes[node].connect()
                for command in ["get", "gets", "gat 1000", "gats 1000"] {
                    try client.send("\(command) \(order.joined(separator: " "))\r\n")
                    let got = try client.readRetrieval(what: command)
                    let withCas = command.hasPrefix("gets") || command.hasPrefix("gats")
                    if withCas {
                        // gat may renew the cas with the touch; the keys, flags and values must match and every
                        // cas must equal the owner's current one.
                        #expect(got.map(\.key) == expectedGets.map(\.key), "\(command) through node \(node + 1): keys \(got.map(\.key))")
                        #expect(got.map(\.flags) == expectedGets.map(\.flags), "\(command) through node \(node + 1): flags")
                        #expect(got.map(\.value) == expectedGets.map(\.value), "\(command) through node \(node + 1): values")
                        var ownerCas: [String: UInt64] = [:]
                        for key in Set(got.map(\.key)) {
                            let owner = try cluster.nodes[cluster.index(of: try ClusterProcess.routes([key], via: client)[key]![0])!].connect()
                            try owner.send("gets \(key)\r\n")
                            ownerCas[key] = try owner.readRetrieval().first?.cas
                        }
                        for value in got {
                            #expect(value.cas != nil && value.cas == ownerCas[value.key],
                                    "\(command) through node \(node + 1): cas of \(value.key) \(value.cas.map(String.init) ?? "none"), owner says \(ownerCas[value.key].map(String.init) ?? "none")")
                        }
                    } else {
                        #expect(got == expectedGet, "\(command) through node \(node + 1):\n got \(got)\n expected \(expectedGet)")
                    }
                }
                // Meta gets of the same keys, pipelined: each answer in order, with its flags and opaque.
                var request = ""
                for (i, key) in order.enumerated() { request += "mg \(key) v f k O\(i)\r\n" }
                let answer = try client.callUntilNoop(request)
                var expected = ""
                for (i, key) in order.enumerated() {
                    if let v = direct[key] {
                        expected += "VA \(v.value.count) f\(v.flags) k\(key) O\(i)\r\n\(String(decoding: v.value, as: UTF8.self))\r\n"
                    } else {
                        expected += "EN k\(key) O\(i)\r\n"
                    }
                }
                #expect(answer == expected, "pipelined mg through node \(node + 1):\n request \(Escaping.show(Array(request.utf8)))\n expected \(Escaping.show(Array(expected.utf8)))\n got \(Escaping.show(Array(answer.utf8)))")
                #expect(client.isAlive())
            }
        }

        // MARK: - d. flush_all reaches every node; stats stay per node

        @Test("flush_all through one node empties every node (also with a delay); stats stay per node",
              Only.ringcached)
        func flushAllReachesEveryNode() throws {
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: ["--replicas", "1"])
            defer { cluster.stop() }
            let byOwner = try cluster.keysByOwner(prefix: "flush-", perNode: 10)
            let all = byOwner.flatMap { $0 }
            let client = try cluster.nodes[0].connect()
            try ClusterFixtures.storeThrough(client, keys: all)
            for node in 0..<3 {
                let stats = try Stats.read(try cluster.nodes[node].connect(), "stats")
                #expect(stats["pid"] == String(cluster.nodes[node].pid), "node \(node + 1): stats pid")
                #expect(stats["curr_items"] == "10", "node \(node + 1) owns 10 keys; curr_items \(stats["curr_items"] ?? "-")")
            }
            #expect(try client.call("flush_all\r\n") == "OK")
            for node in 0..<3 {
                let present = try ClusterFixtures.presentKeys(byOwner[node], on: cluster.nodes[node].connect())
                #expect(present.isEmpty, "after flush_all through node 1, node \(node + 1) still has \(present.count) of its keys")
            }

            // flush_all 2 through node 2: keys stay readable now, and are gone on every node after 2 s.
            try ClusterFixtures.storeThrough(client, keys: all)
            let second = try cluster.nodes[1].connect()
            #expect(try second.call("flush_all 2\r\n") == "OK")
            for node in 0..<3 {
                let present = try ClusterFixtures.presentKeys(byOwner[node], on: cluster.nodes[node].connect())
                #expect(present.count == 10, "right after flush_all 2, node \(node + 1) has \(present.count) of its 10 keys")
            }
            usleep(3_100_000)
            for node in 0..<3 {
                let present = try ClusterFixtures.presentKeys(byOwner[node], on: cluster.nodes[node].connect())
                #expect(present.isEmpty, "3 s after flush_all 2 through node 2, node \(node + 1) still has \(present.count) keys")
            }

            // flush_all noreply: no answer, still reaches everyone.
            try ClusterFixtures.storeThrough(client, keys: all)
            #expect(try client.callUntilNoop("flush_all noreply\r\n") == "")
            let deadline = Deadline(seconds: 2)
            var left = all.count
            while left > 0 && !deadline.hasPassed {
                left = 0
                for node in 0..<3 { left += try ClusterFixtures.presentKeys(byOwner[node], on: cluster.nodes[node].connect()).count }
                if left > 0 { usleep(50_000) }
            }
            #expect(left == 0, "flush_all noreply through node 1 left \(left) keys")
            #expect(client.isAlive())
        }

        // MARK: - e. admin commands

        @Test("cluster nodes, cluster route and stats cluster print issue 4's formats", Only.ringcached)
        func adminCommandFormats() throws {
            let cluster = try ClusterProcess.start(nodes: 3)
            defer { cluster.stop() }
            let members = Set((0..<3).map(cluster.advertise))
            var routesSeen: [[String]] = []
            for node in 0..<3 {
                let client = try cluster.nodes[node].connect()
                // Each member's incarnation is its life's (milliseconds at its start; 0 until its hello was heard).
                let nodes = try client.call("cluster nodes\r\n", until: "END\r\n")
                    .replacingOccurrences(of: #"alive \d+"#, with: "alive <life>", options: .regularExpression)
                var expected = ""
                for j in 0..<3 {
                    expected += "NODE \(cluster.advertise(j)) \(cluster.peerEndpoint(j)) alive <life>\(j == node ? " myself" : "")\r\n"
                }
                expected += "END\r\n"
                #expect(nodes == expected, "cluster nodes on node \(node + 1):\n got \(Escaping.show(Array(nodes.utf8)))\n expected \(Escaping.show(Array(expected.utf8)))")

                let route = try client.call("cluster route some-key\r\n", until: "END\r\n")
                let lines = route.split(separator: "\r\n").map(String.init)
                let parts = lines.first?.split(separator: " ").map(String.init) ?? []
                #expect(lines.count == 2 && lines.last == "END", "cluster route on node \(node + 1): \(Escaping.show(Array(route.utf8)))")
                #expect(parts.count == 4 && parts[0] == "ROUTE" && parts[1] == "some-key",
                        "cluster route some-key: \(Escaping.show(Array(route.utf8))) (expected ROUTE some-key <owner> <replica>)")
                if parts.count == 4 {
                    #expect(Set(parts[2...]).count == 2 && Set(parts[2...]).isSubset(of: members), "route names \(parts[2...]), members \(members)")
                    routesSeen.append(Array(parts[2...]))
                }
                let bad = try client.call("cluster route \(String(repeating: "k", count: 251))\r\n")
                #expect(bad.hasPrefix("CLIENT_ERROR"), "cluster route with a 251-byte key: \(bad)")
                let longest = try client.call("cluster route \(String(repeating: "k", count: 250))\r\n", until: "END\r\n")
                #expect(longest.hasPrefix("ROUTE " + String(repeating: "k", count: 250) + " "), "250-byte key: \(longest.prefix(40))")
                #expect(client.isAlive(), "the connection must survive the CLIENT_ERROR")

                let stats = try client.call("stats cluster\r\n", until: "END\r\n")
                let statLines = stats.split(separator: "\r\n").map(String.init)
                let names = statLines.dropLast().map { $0.split(separator: " ").dropFirst().first.map(String.init) ?? "" }
                // Issue 4's names, in this order (further counters may come between them).
                let required = ["node_id", "members", "ring_points", "forwarded_gets", "forwarded_sets", "forward_errors",
                                "peer_links_open", "ring_mismatch"]
                #expect(names.filter { required.contains($0) } == required,
                        "stats cluster on node \(node + 1): \(Escaping.show(Array(stats.utf8)))")
                #expect(statLines.last == "END")
                let values = try Stats.read(client, "stats cluster")
                #expect(values["node_id"] == cluster.advertise(node))
                #expect(values["members"] == "3")
                #expect(values["ring_points"] == "480", "160 points per node")
                #expect(values["ring_mismatch"] == "0")
                for name in ["forwarded_gets", "forwarded_sets", "forward_errors", "peer_links_open"] {
                    #expect(values[name].flatMap(UInt64.init) != nil, "\(name) = \(values[name] ?? "missing")")
                }
                // Commands only peers may send are refused on the client port.
                #expect(try client.call("rc_hello 1.0 127.0.0.1:1 0123456789abcdef\r\n") == "ERROR")
                #expect(client.isAlive())
            }
            #expect(Set(routesSeen.map { $0.joined(separator: " ") }).count == 1, "nodes disagree on the route: \(routesSeen)")

            // Counters: one forwarded set and one forwarded get through node 1; a local key counts nothing.
            let byOwner = try cluster.keysByOwner(prefix: "count-", perNode: 1)
            let client = try cluster.nodes[0].connect()
            let before = try Stats.read(client, "stats cluster")
            #expect(try client.call("set \(byOwner[0][0]) 0 0 1\r\nx\r\n") == "STORED")
            #expect(try client.getValue(byOwner[0][0]) != nil)
            let local = try Stats.read(client, "stats cluster")
            #expect(local["forwarded_sets"] == before["forwarded_sets"] && local["forwarded_gets"] == before["forwarded_gets"],
                    "a key node 1 owns was counted as forwarded: before \(before), after \(local)")
            #expect(try client.call("set \(byOwner[1][0]) 0 0 1\r\nx\r\n") == "STORED")
            #expect(try client.getValue(byOwner[1][0]) != nil)
            let after = try Stats.read(client, "stats cluster")
            func delta(_ name: String) -> Int { (Int(after[name] ?? "") ?? -1000) - (Int(local[name] ?? "") ?? 0) }
            #expect(delta("forwarded_sets") == 1, "forwarded_sets \(local["forwarded_sets"] ?? "-") → \(after["forwarded_sets"] ?? "-")")
            #expect(delta("forwarded_gets") == 1, "forwarded_gets \(local["forwarded_gets"] ?? "-") → \(after["forwarded_gets"] ?? "-")")
            #expect((Int(after["peer_links_open"] ?? "") ?? 0) >= 1, "peer_links_open \(after["peer_links_open"] ?? "-") after forwarding")
        }

        // MARK: - f. a dead or hung peer

        @Test("a peer killed with SIGKILL: its keys get SERVER_ERROR peer unavailable, other keys work",
              Only.ringcached)
        func killedPeer() throws {
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: ["--replicas", "1", "--peer-timeout", "500ms"])
            defer { cluster.stop() }
            try ClusterFixtures.checkUnavailablePeer(cluster, disable: { node in
                node.child.signal(SIGKILL)
                #expect(node.waitForExit(timeout: 5))
            }, what: "SIGKILL")
        }

        @Test("a peer stopped with SIGSTOP: its keys get SERVER_ERROR peer unavailable after peer_timeout",
              Only.ringcached)
        func hungPeer() throws {
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: ["--replicas", "1", "--peer-timeout", "500ms"])
            defer {
                cluster.nodes[2].child.signal(SIGCONT)
                cluster.stop()
            }
            try ClusterFixtures.checkUnavailablePeer(cluster, disable: { node in
                node.child.signal(SIGSTOP)
                // Until it is stopped it may still answer what is sent next.
                #expect(ProcStatus.waitUntilStopped(pid: node.pid))
            }, what: "SIGSTOP", minimumWait: 0.4)
        }

        // MARK: - g. memccapable against a non-owner

        @Test("memccapable -a passes all 27 against node 2 of a 3-node cluster", Only.ringcached)
        func memccapableAgainstClusterNode() throws {
            let cluster = try ClusterProcess.start(nodes: 3)
            defer { cluster.stop() }
            let tool = ClientToolTests.memccapable
            try #require(FileManager.default.isExecutableFile(atPath: tool), "apt-get install libmemcached-tools")
            let run = try ToolRun.run(tool, ["-a", "-h", "127.0.0.1", "-p", String(cluster.nodes[1].port), "-t", "10"], timeout: 120)
            let lines = run.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            let results = lines.filter { $0.hasPrefix("ascii ") }
            let failed = results.filter { !$0.hasSuffix("[pass]") }
            #expect(results.count == 27, "memccapable ran \(results.count) tests:\n\(run.output)")
            #expect(failed.isEmpty, "failed: \(failed)\n\(run.output)\n\(cluster.logExcerpts)")
            #expect(lines.contains("All tests passed"), "\(run.output)")
            #expect(run.status == .exited(0), "memccapable \(run.status)")
            let stats = try Stats.read(try cluster.nodes[1].connect(), "stats cluster")
            #expect((Int(stats["forwarded_sets"] ?? "") ?? 0) + (Int(stats["forwarded_gets"] ?? "") ?? 0) > 0,
                    "memccapable's keys never left node 2: \(stats)")
            let allRunning = cluster.nodes.allSatisfy { $0.isRunning }
            #expect(allRunning, "\(cluster.logExcerpts)")
        }

        // MARK: - h. nutcracker agrees with the ring

        @Test("nutcracker (ketama md5) in front of three ringcached nodes: 10,000 keys, none forwarded, each on its owner",
              Only.ringcached)
        func nutcrackerAgreesWithRing() throws {
            try #require(NutcrackerProcess.isInstalled, "apt-get install nutcracker")
            let cluster = try ClusterProcess.start(nodes: 3, extraArguments: ["--replicas", "1"])
            defer { cluster.stop() }
            let proxy = try NutcrackerProcess.start(serverPorts: cluster.nodes.map(\.port))
            defer { proxy.stop() }
            let keys = (0..<10_000).map { "twem-\($0)" }
            try ClusterFixtures.storeThrough(proxy.connect(timeout: 60), keys: keys)

            for node in 0..<3 {
                let stats = try Stats.read(try cluster.nodes[node].connect(), "stats cluster")
                #expect(stats["forwarded_sets"] == "0" && stats["forwarded_gets"] == "0",
                        "node \(node + 1) forwarded requests nutcracker sent it: \(stats)\nnutcracker config:\n\(proxy.configText)")
            }
            let routes = try ClusterProcess.routes(keys, via: cluster.nodes[0].connect(timeout: 60))
            for node in 0..<3 {
                let owned = keys.filter { routes[$0]?.first == cluster.advertise(node) }
                let client = try cluster.nodes[node].connect(timeout: 60)
                let present = try ClusterFixtures.presentKeys(owned, on: client)
                #expect(present.count == owned.count,
                        "node \(node + 1) owns \(owned.count) keys by cluster route but holds only \(present.count); missing \(Set(owned).subtracting(present).sorted().prefix(5))")
                let stats = try Stats.read(client, "stats")
                #expect(stats["curr_items"] == String(owned.count), "node \(node + 1): curr_items \(stats["curr_items"] ?? "-"), owns \(owned.count)")
                #expect(try client.call("rc_hello 1.0 127.0.0.1:1 0123456789abcdef\r\n") == "ERROR",
                        "a peer hello on the client port must be refused")
                #expect(client.isAlive())
            }
            // Reading them back through nutcracker: still nothing forwarded.
            let viaProxy = try ClusterFixtures.presentKeys(keys, on: proxy.connect(timeout: 60))
            #expect(viaProxy.count == keys.count)
            for node in 0..<3 {
                let stats = try Stats.read(try cluster.nodes[node].connect(), "stats cluster")
                #expect(stats["forwarded_sets"] == "0" && stats["forwarded_gets"] == "0", "node \(node + 1) after reads: \(stats)")
            }
        }
    }
}

/// Shared steps of the cluster tests.
enum ClusterFixtures {
    static func value(_ i: Int) -> String { "value-\(i)-" + String(repeating: "v", count: i % 37) }

    /// Stores `key` → "<key>!" for every key through `client` (pipelined, acknowledged `set`s).
    static func storeThrough(_ client: TestClient, keys: [String], batch: Int = 1000) throws {
        var start = 0
        while start < keys.count {
            let slice = keys[start..<min(keys.count, start + batch)]
            let sent = Deadline.now()
            try client.send(slice.map { "set \($0) 0 0 \($0.utf8.count + 1)\r\n\($0)!\r\n" }.joined())
            for (i, key) in slice.enumerated() {
                let line = try client.readLine()
                guard line == "STORED" else {
                    throw IntegrationError("pipelined set \(i + 1) of \(slice.count) through 127.0.0.1:\(client.port), request "
                        + "\"set \(key) 0 0 \(key.utf8.count + 1)\\r\\n\(key)!\\r\\n\": expected STORED, got \(line) "
                        + String(format: "after %.3f s", Deadline.now() - sent))
                }
            }
            start += batch
        }
    }

    /// The keys of `keys` that `client`'s node returns with the value `storeThrough` wrote
    /// (pipelined `get`s of 100 keys).
    static func presentKeys(_ keys: [String], on client: TestClient) throws -> [String] {
        var batches: [ArraySlice<String>] = []
        var start = 0
        while start < keys.count {
            batches.append(keys[start..<min(keys.count, start + 100)])
            start += 100
        }
        try client.send(batches.map { "get \($0.joined(separator: " "))\r\n" }.joined())
        var present: [String] = []
        for _ in batches {
            for v in try client.readRetrieval() where v.value == Array("\(v.key)!".utf8) { present.append(v.key) }
        }
        return present
    }

    /// Node 3 of `cluster` is disabled by `disable`; through nodes 1 and 2 its keys must give
    /// `SERVER_ERROR peer unavailable` within peer_timeout (500 ms) plus slack, other keys keep
    /// working, a multi-get returns the surviving keys, and the connections stay usable.
    static func checkUnavailablePeer(_ cluster: ClusterProcess, disable: (ServerProcess) -> Void, what: String,
                                     minimumWait: Double = 0) throws {
        let byOwner = try cluster.keysByOwner(prefix: "dead-", perNode: 3)
        for (node, keys) in byOwner.enumerated() {
            try storeThrough(try cluster.nodes[node].connect(), keys: keys)
        }
        let clients = try (0..<2).map { try cluster.nodes[$0].connect() }
        // Links are open before the peer goes away.
        for client in clients { #expect(try client.getValue(byOwner[2][0]) != nil) }
        disable(cluster.nodes[2])

        let dead = byOwner[2]
        let unavailable = "SERVER_ERROR peer unavailable"
        for (n, client) in clients.enumerated() {
            let through = "through node \(n + 1) after \(what) of node 3"
            let singleKey = [
                "get \(dead[0])\r\n", "gets \(dead[0])\r\n", "set \(dead[1]) 0 0 1\r\nx\r\n", "add \(dead[1]) 0 0 1\r\nx\r\n",
                "delete \(dead[0])\r\n", "incr \(dead[0]) 1\r\n", "touch \(dead[0]) 10\r\n", "gat 10 \(dead[0])\r\n",
                "mg \(dead[0]) v\r\n", "ms \(dead[1]) 1\r\nx\r\n", "md \(dead[0])\r\n", "ma \(dead[0])\r\n",
            ]
            for (r, request) in singleKey.enumerated() {
                let start = Deadline.now()
                let answer = try client.callUntilNoop(request, timeout: 10)
                let elapsed = Deadline.now() - start
                #expect(answer == unavailable + "\r\n",
                        "\(through): request \(Escaping.show(Array(request.utf8))) expected \"\(unavailable)\\r\\n\", got \(Escaping.show(Array(answer.utf8))) after \(String(format: "%.2f", elapsed)) s")
                #expect(elapsed < 2.0, "\(through): \(Escaping.show(Array(request.utf8))) took \(String(format: "%.2f", elapsed)) s (peer_timeout 500ms)")
                // The first request waits for the timeout; later ones may fail fast while the link is down.
                if r == 0 && n == 0 {
                    #expect(elapsed >= minimumWait, "\(through): answered after \(String(format: "%.2f", elapsed)) s, before the peer timeout")
                }
            }
            // Other owners keep working on the same connection.
            for node in 0..<2 {
                #expect(try client.getValue(byOwner[node][0])?.value == Array("\(byOwner[node][0])!".utf8),
                        "\(through): key of node \(node + 1)")
                #expect(try client.call("set \(byOwner[node][1]) 0 0 2\r\nok\r\n") == "STORED", "\(through): set on node \(node + 1)")
            }
            // A multi-get returns the surviving keys in order.
            let mixed = [byOwner[0][0], dead[0], byOwner[1][0], dead[2], byOwner[0][2], byOwner[1][2]]
            let start = Deadline.now()
            try client.send("get \(mixed.joined(separator: " "))\r\n")
            let got = try client.readRetrieval(what: "multi-get \(through)")
            let elapsed = Deadline.now() - start
            let survivors = mixed.filter { !dead.contains($0) }
            #expect(got.map(\.key) == survivors, "\(through): get \(mixed.joined(separator: " ")) returned \(got.map(\.key)), expected \(survivors)")
            #expect(elapsed < 2.0, "\(through): multi-get took \(String(format: "%.2f", elapsed)) s")
            // noreply to the dead peer: no answer, connection fine.
            #expect(try client.callUntilNoop("set \(dead[0]) 0 0 1 noreply\r\nx\r\n", timeout: 10) == "",
                    "\(through): noreply set answered")
            #expect(client.isAlive(), "\(through): connection no longer answers mn")
        }
        let stats = try Stats.read(clients[0], "stats cluster")
        #expect((Int(stats["forward_errors"] ?? "") ?? 0) > 0, "forward_errors after \(what): \(stats)")
        #expect(cluster.nodes[0].isRunning && cluster.nodes[1].isRunning, "\(cluster.logExcerpts)")
    }
}
