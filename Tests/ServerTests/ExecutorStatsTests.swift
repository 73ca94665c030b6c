import Storage
import TextProtocol
import Testing

@testable import Server

@Suite struct ExecutorStatsTests {
    /// memcached 1.6.18's general stats, in its order, that ringcached reports.
    static let generalNames = [
        "pid", "uptime", "time", "version", "libevent", "pointer_size", "rusage_user", "rusage_system",
        "max_connections", "curr_connections", "total_connections", "rejected_connections",
        "connection_structures", "cmd_get", "cmd_set", "cmd_flush", "cmd_touch", "cmd_meta", "get_hits",
        "get_misses", "get_expired", "get_flushed", "delete_misses", "delete_hits", "incr_misses", "incr_hits",
        "decr_misses", "decr_hits", "cas_misses", "cas_hits", "cas_badval", "touch_hits", "touch_misses",
        "store_too_large", "store_no_memory", "auth_cmds", "auth_errors", "bytes_read", "bytes_written",
        "limit_maxbytes", "accepting_conns", "listen_disabled_num", "time_in_listen_disabled_us", "threads",
        "conn_yields", "hash_power_level", "hash_bytes", "hash_is_expanding", "lru_crawler_running", "lru_crawler_starts",
        "log_worker_dropped", "log_worker_written", "log_watcher_skipped", "log_watcher_sent", "log_watchers",
        "bytes", "curr_items", "total_items",
        "expired_unfetched", "evicted_unfetched", "evictions", "reclaimed", "crawler_reclaimed", "crawler_items_checked",
    ]

    @Test func generalStatsHaveMemcachedsNamesInOrderAndNumbers() {
        let session = ExecutorSession()
        let lines = session.statsLines()
        let names = lines.map(\.0)
        // memcached's names first, in its order, then the server's own extras.
        #expect(Array(names.prefix(Self.generalNames.count)) == Self.generalNames)
        #expect(names.dropFirst(Self.generalNames.count).elementsEqual(["output_overflows"]))
        for (name, value) in lines {
            switch name {
            case "version":
                #expect(value == "1.6.18-ringcache-\(RingcacheVersion.semver)")
            case "libevent":
                #expect(value == "2.1.12-stable")
            case "rusage_user", "rusage_system":
                let parts = value.split(separator: ".")
                #expect(parts.count == 2 && UInt64(parts[0]) != nil && parts[1].count == 6 && UInt64(parts[1]) != nil, "\(name) \(value)")
            default:
                #expect(Int64(value) != nil, "\(name) \(value) is not a number")
            }
        }
        let stats = session.generalStats()
        #expect(stats["pid"] == "4242")
        #expect(stats["uptime"] == "100")
        #expect(stats["time"] == "\(testEpoch)")
        #expect(stats["rusage_user"] == "0.007223")
        #expect(stats["rusage_system"] == "1.234567")
        #expect(stats["pointer_size"] == "64")
        #expect(stats["limit_maxbytes"] == "\(64 << 20)")
        #expect(stats["accepting_conns"] == "1")
    }

    /// What each command adds to the general counters, as measured on memcached 1.6.18 (only the
    /// counters that change are listed; every other one must stay put).
    static let counterCases: [(setup: String, command: String, changes: [String: Int64])] = [
        ("", "flush_all\r\n", ["cmd_flush": 1]),
        ("", "set a 0 0 1\r\n1\r\n", ["cmd_set": 1, "curr_items": 1, "total_items": 1]),
        ("set a 0 0 1\r\n1\r\n", "get a b c\r\n", ["cmd_get": 3, "get_hits": 1, "get_misses": 2]),
        ("set a 0 0 1\r\n1\r\n", "gets a\r\n", ["cmd_get": 1, "get_hits": 1]),
        ("set a 0 0 1\r\n1\r\n", "gat 10 a b\r\n", ["cmd_touch": 2, "touch_hits": 1, "touch_misses": 1]),
        ("set a 0 0 1\r\n1\r\n", "gats 10 a\r\n", ["cmd_touch": 1, "touch_hits": 1]),
        ("set a 0 0 1\r\n1\r\n", "touch a 10\r\n", ["cmd_touch": 1, "touch_hits": 1]),
        ("", "touch b 10\r\n", ["cmd_touch": 1, "touch_misses": 1]),
        ("", "delete b\r\n", ["delete_misses": 1]),
        ("set a 0 0 1\r\n1\r\n", "delete a\r\n", ["delete_hits": 1, "curr_items": -1]),
        ("set a 0 0 1\r\n1\r\n", "incr a 1\r\n", ["incr_hits": 1]),
        ("", "incr b 1\r\n", ["incr_misses": 1]),
        ("set a 0 0 1\r\n1\r\n", "decr a 1\r\n", ["decr_hits": 1]),
        ("", "decr b 1\r\n", ["decr_misses": 1]),
        ("set a 0 0 1\r\nx\r\n", "incr a 1\r\n", [:]),
        ("set a 0 0 1\r\n1\r\n", "cas a 0 0 1 1\r\n1\r\n", ["cmd_set": 1, "cas_badval": 1]),
        ("", "cas b 0 0 1 1\r\n1\r\n", ["cmd_set": 1, "cas_misses": 1]),
        ("set a 0 0 1\r\n1\r\n", "add a 0 0 1\r\n1\r\n", ["cmd_set": 1]),
        ("set a 0 0 1\r\n1\r\n", "mg a\r\n", ["cmd_get": 1, "get_hits": 1]),
        ("", "mg b v\r\n", ["cmd_get": 1, "get_misses": 1]),
        ("set a 0 0 1\r\n1\r\n", "mg a T10\r\n", ["cmd_touch": 1, "touch_hits": 1]),
        ("", "mg b T10\r\n", ["cmd_get": 1, "get_misses": 1]),
        ("set a 0 0 1\r\n1\r\n", "mg a t u\r\n", ["cmd_get": 1, "get_hits": 1]),
        ("", "mg c N10\r\n", ["cmd_get": 1, "get_hits": 1, "curr_items": 1, "total_items": 1]),
        ("set a 0 0 1\r\n1\r\n", "ms a 1\r\n1\r\n", ["cmd_set": 1, "total_items": 1]),
        ("set a 0 0 1\r\n1\r\n", "ms a 1 C1\r\n1\r\n", ["cmd_set": 1, "cas_badval": 1]),
        ("", "ms q 1 C1\r\n1\r\n", ["cmd_set": 1, "cas_misses": 1]),
        ("set a 0 0 1\r\n1\r\n", "ms a 1 ME\r\n1\r\n", ["cmd_set": 1]),
        ("set a 0 0 1\r\n1\r\n", "md a C1\r\n", ["delete_misses": 1]),
        ("set a 0 0 1\r\n1\r\n", "md a\r\n", ["delete_hits": 1, "curr_items": -1]),
        ("", "md a\r\n", ["delete_misses": 1]),
        ("set a 0 0 1\r\n1\r\n", "md a I\r\n", [:]),
        ("", "ma a N0\r\n", ["curr_items": 1, "total_items": 1]),
        ("set a 0 0 1\r\n1\r\n", "ma a\r\n", ["incr_hits": 1]),
        ("set a 0 0 1\r\n1\r\n", "ma a MD\r\n", ["decr_hits": 1]),
        ("", "ma b MD\r\n", ["decr_misses": 1]),
        ("set a 0 0 1\r\n1\r\n", "ma a C1\r\n", [:]),
        ("", "mn\r\n", [:]),
        ("set a 0 0 1\r\n1\r\n", "me a\r\n", ["cmd_meta": 1]),
        ("", "me a\r\n", ["cmd_meta": 1]),
    ]

    /// Counters that move on their own or depend on item sizes; left out of the comparison.
    static let unstable: Set<String> = ["bytes", "rusage_user", "rusage_system", "time", "uptime", "version", "libevent"]

    @Test(arguments: counterCases)
    func countersMoveAsInMemcached(setup: String, command: String, changes: [String: Int64]) {
        let session = ExecutorSession()
        if !setup.isEmpty { _ = session.send(setup) }
        let before = session.generalStats()
        _ = session.send(command)
        let after = session.generalStats()
        for (name, value) in after where !Self.unstable.contains(name) {
            guard let a = Int64(value), let b = before[name].flatMap({ Int64($0) }) else { continue }
            #expect(a - b == changes[name] ?? 0, "\(name) changed by \(a - b) after \(command.debugDescription)")
        }
    }

    @Test func resetZeroesCountersAndTellsTheServer() {
        let session = ExecutorSession()
        _ = session.send("set a 0 0 1\r\n1\r\nget a\r\nget b\r\n")
        session.stats.addBytesRead(100)
        #expect(session.generalStats()["cmd_get"] == "2")
        session.expect("stats reset\r\n", "RESET\r\n")
        let stats = session.generalStats()
        for name in ["cmd_get", "get_hits", "get_misses", "cmd_set", "bytes_read", "total_items"] {
            #expect(stats[name] == "0", "\(name) after reset")
        }
        #expect(stats["curr_items"] == "1")
        #expect(session.context.resets == 1)
        // Counting goes on from zero.
        _ = session.send("get a\r\n")
        #expect(session.generalStats()["get_hits"] == "1")
        // Only the first word counts, as in memcached.
        session.expect("stats reset now\r\n", "RESET\r\n")
    }

    @Test func settingsComeFromTheServer() {
        let session = ExecutorSession()
        session.expect("stats settings\r\n", "STAT maxbytes 67108864\r\nSTAT maxconns 1024\r\nSTAT evictions on\r\nEND\r\n")
    }

    @Test func conns() {
        let session = ExecutorSession()
        session.expect("stats conns\r\n", """
            STAT 23:addr tcp:127.0.0.1:11211\r
            STAT 23:state conn_listening\r
            STAT 23:secs_since_last_cmd 4\r
            STAT 25:addr tcp:127.0.0.1:36852\r
            STAT 25:listen_addr tcp:127.0.0.1:11211\r
            STAT 25:state conn_parse_cmd\r
            STAT 25:secs_since_last_cmd 0\r
            END\r\n
            """)
    }

    @Test func itemsAndSlabsDescribeTheSizeClasses() {
        let session = ExecutorSession()
        session.expect("stats items\r\n", "END\r\n")
        _ = session.send("set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nget a\r\n")
        let items = Dictionary(session.statsLines("items").map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        #expect(items["items:1:number"] == "2")
        #expect(items["items:1:mem_requested"] == "122")
        for (name, value) in items {
            #expect(name.hasPrefix("items:1:"))
            #expect(UInt64(value) != nil, "\(name) \(value)")
        }
        let slabs = session.statsLines("slabs")
        let slabMap = Dictionary(slabs.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        #expect(slabMap["1:chunk_size"] == "96")
        #expect(slabMap["1:used_chunks"] == "2")
        #expect(slabMap["1:cmd_set"] == "2")
        #expect(slabMap["1:get_hits"] == "1")
        #expect(slabMap["active_slabs"] == "1")
        #expect(slabs.suffix(2).map(\.0) == ["active_slabs", "total_malloced"])
        #expect(Int(slabMap["total_malloced"] ?? "") ?? 0 > 0)
    }

    static let subcommandCases: [(String, String)] = [
        ("stats sizes\r\n", "STAT sizes_status disabled\r\nEND\r\n"),
        ("stats detail\r\n", "CLIENT_ERROR usage: stats detail on|off|dump\r\n"),
        ("stats detail dump\r\n", "END\r\n"),
        ("stats foo\r\n", "ERROR\r\n"),
        ("stats RESET\r\n", "ERROR\r\n"),
    ]

    @Test(arguments: subcommandCases)
    func otherSubcommands(request: String, answer: String) {
        ExecutorSession().expect(request, answer)
    }

    @Test func statsWithOnlySpacesIsTheGeneralReport() {
        let session = ExecutorSession()
        #expect(session.send("stats  \r\n").hasPrefix("STAT pid 4242\r\n"))
    }

    @Test func workerStatsSumOverWorkers() {
        var a = WorkerStatsSnapshot()
        a.cmdGet = 3
        a.bytesRead = 10
        var b = WorkerStatsSnapshot()
        b.cmdGet = 4
        b.getHits = 1
        let sum = a.adding(b)
        #expect(sum.cmdGet == 7 && sum.getHits == 1 && sum.bytesRead == 10)
    }

    @Test func workerStatsResetKeepsCountingFromZero() {
        let stats = WorkerStats()
        stats.cmdGet.bump()
        stats.addBytesWritten(42)
        stats.countConnYield()
        #expect(stats.snapshot().cmdGet == 1 && stats.snapshot().bytesWritten == 42 && stats.snapshot().connYields == 1)
        stats.reset()
        #expect(stats.snapshot() == WorkerStatsSnapshot())
        stats.cmdGet.bump(by: 5)
        #expect(stats.snapshot().cmdGet == 5)
    }

    @Test(arguments: [(0, "0.000000"), (7_223, "0.007223"), (1_234_567, "1.234567"), (60_000_000, "60.000000")])
    func rusageFormat(micros: Int64, text: String) {
        #expect(StatsReport.seconds(micros: micros) == text)
    }
}
