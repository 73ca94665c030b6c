import Foundation
import Testing

extension IntegrationSuite {
    /// What the compatibility table cannot hold: answers that are ringcached's own by design
    /// (`version`, the binary protocol) and `stats`, whose numbers vary (checked by name and by
    /// the counts a known sequence of commands must produce).
    @Suite("Commands and stats")
    struct CommandAndStatsTests {
        @Test("version answers VERSION 1.6.18-ringcache-<semver> (memcached: VERSION 1.6.18)")
        func version() throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            let client = try server.connect()
            let line = try client.call("version\r\n")
            switch server.target.flavor {
            case .ringcached:
                #expect(line.wholeMatch(of: /VERSION 1\.6\.18-ringcache-\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?/) != nil, "got \(line)")
            case .memcached:
                #expect(line == "VERSION 1.6.18")
            }
            #expect(client.isAlive())
        }

        @Test("a connection opening with the binary magic byte 0x80 is closed; others are served",
              Only.ringcached)
        func binaryProtocolIsClosed() throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            let bystander = try server.connect()
            #expect(try bystander.call("set k 0 0 1\r\nv\r\n") == "STORED")
            let binary = try server.connect()
            // A binary-protocol GET of key "k": magic 0x80, opcode 0, key length 1, body length 1.
            try binary.send([0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x6B])
            let rest = try binary.waitForClose(timeout: 5)
            #expect(rest != nil, "the binary-protocol connection stayed open")
            if let rest {
                #expect(rest.isEmpty, "ringcached should close without answering; it sent \(Escaping.show(rest))")
            }
            #expect(bystander.isAlive())
            let later = try server.connect()
            #expect(try later.getValue("k")?.value == Array("v".utf8))
        }

        /// The general stats memcached 1.6.18 prints whose meaning applies to ringcached (issue 2).
        static let generalStatNames = [
            "pid", "uptime", "time", "version", "rusage_user", "rusage_system", "max_connections",
            "curr_connections", "total_connections", "rejected_connections", "connection_structures",
            "cmd_get", "cmd_set", "cmd_flush", "cmd_touch", "cmd_meta", "get_hits", "get_misses", "get_expired",
            "get_flushed", "delete_misses", "delete_hits", "incr_misses", "incr_hits", "decr_misses",
            "decr_hits", "cas_misses", "cas_hits", "cas_badval", "touch_hits", "touch_misses",
            "bytes_read", "bytes_written", "limit_maxbytes", "accepting_conns", "threads", "bytes",
            "curr_items", "total_items", "expired_unfetched", "evicted_unfetched", "evictions", "reclaimed",
        ]

        @Test("stats: every general counter by name, with the counts a known sequence produces")
        func generalStats() throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            let client = try server.connect()
            #expect(try client.call("set a 0 0 1\r\n1\r\n") == "STORED")
            #expect(try client.call("set b 0 0 1\r\n2\r\n") == "STORED")
            #expect(try client.getValue("a") != nil)
            #expect(try client.getValue("nokey") == nil)
            #expect(try client.call("delete b\r\n") == "DELETED")
            #expect(try client.call("delete b\r\n") == "NOT_FOUND")
            #expect(try client.call("incr a 5\r\n") == "6")
            #expect(try client.call("decr nokey 5\r\n") == "NOT_FOUND")
            #expect(try client.call("touch a 100\r\n") == "TOUCHED")
            #expect(try client.call("cas a 0 0 1 1\r\nx\r\n") == "EXISTS")
            #expect(try client.call("set c 0 0 3\r\nabc\r\n") == "STORED")

            let stats = try Stats.read(client, "stats")
            for name in Self.generalStatNames {
                #expect(stats[name] != nil, "stats lacks \(name)")
            }
            #expect(stats["pid"] == String(server.pid))
            #expect(stats["version"]?.hasPrefix("1.6.18") == true)
            #expect(stats["threads"] == "4")
            #expect(stats["limit_maxbytes"] == "67108864")
            #expect(stats["max_connections"] == "1024")
            #expect(stats["accepting_conns"] == "1")
            #expect(stats["cmd_set"] == "4")  // a, b, the failed cas, c
            #expect(stats["cmd_get"] == "2")
            #expect(stats["get_hits"] == "1")
            #expect(stats["get_misses"] == "1")
            #expect(stats["delete_hits"] == "1")
            #expect(stats["delete_misses"] == "1")
            #expect(stats["incr_hits"] == "1")
            #expect(stats["decr_misses"] == "1")
            #expect(stats["touch_hits"] == "1")
            #expect(stats["cmd_touch"] == "1")
            #expect(stats["cas_badval"] == "1")
            #expect(stats["cmd_flush"] == "0")
            #expect(stats["curr_items"] == "2")
            #expect(stats["total_items"].flatMap(Int.init).map { $0 >= 3 } == true)
            #expect(stats["curr_connections"].flatMap(Int.init).map { $0 >= 1 } == true)
            #expect(stats["bytes_read"].flatMap(Int.init).map { $0 > 100 } == true)
            #expect(stats["bytes"].flatMap(Int.init).map { $0 > 0 } == true)
            #expect(stats["time"].flatMap(Int.init).map { abs($0 - Int(Date().timeIntervalSince1970)) <= 5 } == true)

            #expect(try client.call("flush_all\r\n") == "OK")
            #expect(try client.call("flush_all 0 noreply\r\nmn\r\n") == "MN")
            let after = try Stats.read(client, "stats")
            #expect(after["cmd_flush"] == "2")
            #expect(client.isAlive())
        }

        @Test("stats reset answers RESET and zeroes the counters")
        func statsReset() throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            let client = try server.connect()
            #expect(try client.call("set a 0 0 1\r\n1\r\n") == "STORED")
            #expect(try client.getValue("a") != nil)
            #expect(try client.getValue("b") == nil)
            #expect(try client.call("stats reset\r\n") == "RESET")
            let stats = try Stats.read(client, "stats")
            for name in ["cmd_get", "cmd_set", "get_hits", "get_misses"] {
                #expect(stats[name] == "0", "\(name) after stats reset: \(stats[name] ?? "missing")")
            }
            #expect(stats["curr_items"] == "1", "stats reset must not touch the items")
        }

        @Test("stats settings reports the command line's values")
        func statsSettings() throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            let client = try server.connect()
            let settings = try Stats.read(client, "stats settings")
            #expect(settings["maxbytes"] == "67108864")
            #expect(settings["maxconns"] == "1024")
            #expect(settings["tcpport"] == String(server.port))
            #expect(settings["num_threads"] == "4")
            #expect(settings["item_size_max"] == "1048576")
            #expect(settings["cas_enabled"] == "yes")
            #expect(settings["evictions"] == "on")
            #expect(client.isAlive())
        }

        @Test("stats items and stats slabs describe the stored items")
        func statsItemsAndSlabs() throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            let client = try server.connect()
            let empty = try Stats.read(client, "stats items")
            #expect(empty.isEmpty, "stats items with no items: \(empty)")
            for i in 0..<10 {
                #expect(try client.call("set small\(i) 0 0 10\r\n0123456789\r\n") == "STORED")
            }
            let big = String(repeating: "b", count: 50_000)
            #expect(try client.call("set big 0 0 \(big.utf8.count)\r\n\(big)\r\n") == "STORED")

            let items = try Stats.read(client, "stats items")
            var total = 0
            for (name, value) in items {
                #expect(name.wholeMatch(of: /items:\d+:[a-z_]+/) != nil, "unexpected stats items line \(name)")
                if name.hasSuffix(":number") { total += Int(value) ?? -1_000_000 }
            }
            #expect(total == 11, "the items:<class>:number lines add up to \(total), not 11")
            #expect(items.keys.contains { $0.hasSuffix(":age") }, "stats items lacks age")
            #expect(items.keys.contains { $0.hasSuffix(":evicted") }, "stats items lacks evicted")

            let slabs = try Stats.read(client, "stats slabs")
            #expect(slabs["active_slabs"].flatMap(Int.init).map { $0 >= 1 } == true, "stats slabs: \(slabs)")
            #expect(slabs["total_malloced"].flatMap(Int.init).map { $0 > 50_000 } == true, "stats slabs: \(slabs)")
            for name in slabs.keys where name.contains(":") {
                #expect(name.wholeMatch(of: /\d+:[a-z_]+/) != nil, "unexpected stats slabs line \(name)")
            }
            #expect(client.isAlive())
        }

        @Test("stats conns lists the listener and the client connections")
        func statsConns() throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            let client = try server.connect()
            let other = try server.connect()
            #expect(other.isAlive())
            let conns = try Stats.read(client, "stats conns")
            let addrs = conns.filter { $0.key.hasSuffix(":addr") }.map(\.value)
            #expect(addrs.contains("tcp:127.0.0.1:\(server.port)"), "no listener line in \(conns)")
            #expect(addrs.filter { $0.hasPrefix("tcp:127.0.0.1:") && $0 != "tcp:127.0.0.1:\(server.port)" }.count >= 2,
                    "expected both client connections in \(conns)")
            #expect(conns.keys.contains { $0.hasSuffix(":state") })
            for name in conns.keys {
                #expect(name.wholeMatch(of: /\d+:[a-z_]+/) != nil, "unexpected stats conns line \(name)")
            }
        }
    }
}

/// Parses `STAT <name> <value>` lines up to `END`.
enum Stats {
    static func read(_ client: TestClient, _ command: String) throws -> [String: String] {
        let text = try client.call("\(command)\r\n", until: "END\r\n")
        var out: [String: String] = [:]
        for line in text.split(separator: "\r\n") where line != "END" {
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2, parts[0] == "STAT" else {
                throw IntegrationError("\(command): unexpected line \(line)")
            }
            out[String(parts[1])] = parts.count == 3 ? String(parts[2]) : ""
        }
        return out
    }
}
