import Storage
import TextProtocol
import Testing

@testable import Server

/// A named list of request/answer pairs run in order on a fresh store. The answers are what
/// memcached 1.6.18 sent for the same bytes (CAS uniques differ: `#` matches any number and
/// captures it as `$1`, `$2`, ...).
struct ExchangeCase: CustomTestStringConvertible, Sendable {
    let name: String
    let steps: [Step]

    struct Step: Sendable {
        let request: String
        let answer: String
    }

    init(_ name: String, _ steps: [(String, String)]) {
        self.name = name
        self.steps = steps.map { Step(request: $0.0, answer: $0.1) }
    }

    var testDescription: String { name }

    func run(in session: ExecutorSession = ExecutorSession(), sourceLocation: SourceLocation = #_sourceLocation) {
        for step in steps { session.expect(step.request, step.answer, sourceLocation: sourceLocation) }
    }
}

@Suite struct ExecutorClassicTests {
    static let cases: [ExchangeCase] = [
        ExchangeCase("get, gets, gat, gats", [
            ("set a 5 0 3\r\nabc\r\n", "STORED\r\n"),
            ("get a b a\r\n", "VALUE a 5 3\r\nabc\r\nVALUE a 5 3\r\nabc\r\nEND\r\n"),
            ("gets a\r\n", "VALUE a 5 3 #\r\nabc\r\nEND\r\n"),
            ("gat 100 a\r\n", "VALUE a 5 3\r\nabc\r\nEND\r\n"),
            // gat keeps the CAS unique.
            ("gats 100 a b\r\n", "VALUE a 5 3 $1\r\nabc\r\nEND\r\n"),
            ("get zz\r\n", "END\r\n"),
            ("get zz yy\r\n", "END\r\n"),
        ]),
        ExchangeCase("add replace append prepend", [
            ("set a 5 0 3\r\nabc\r\n", "STORED\r\n"),
            ("add a 0 0 1\r\nx\r\n", "NOT_STORED\r\n"),
            ("add b 0 0 1\r\nx\r\n", "STORED\r\n"),
            ("replace c 0 0 1\r\nx\r\n", "NOT_STORED\r\n"),
            ("replace b 1 0 2\r\nxy\r\n", "STORED\r\n"),
            // append/prepend keep the item's flags.
            ("append b 7 0 2\r\nzz\r\n", "STORED\r\n"),
            ("prepend b 8 0 2\r\naa\r\n", "STORED\r\n"),
            ("get b\r\n", "VALUE b 1 6\r\naaxyzz\r\nEND\r\n"),
            ("append zz 0 0 1\r\nx\r\n", "NOT_STORED\r\n"),
            ("prepend zz 0 0 1\r\nx\r\n", "NOT_STORED\r\n"),
        ]),
        ExchangeCase("cas", [
            ("set a 0 0 3\r\nabc\r\n", "STORED\r\n"),
            ("gets a\r\n", "VALUE a 0 3 #\r\nabc\r\nEND\r\n"),
            ("cas a 0 0 1 999\r\nx\r\n", "EXISTS\r\n"),
            ("cas a 0 0 1 $1\r\ny\r\n", "STORED\r\n"),
            ("cas a 0 0 1 $1\r\nz\r\n", "EXISTS\r\n"),
            ("cas zz 0 0 1 5\r\nx\r\n", "NOT_FOUND\r\n"),
            ("get a\r\n", "VALUE a 0 1\r\ny\r\nEND\r\n"),
        ]),
        ExchangeCase("incr decr", [
            ("set n 0 0 2\r\n10\r\n", "STORED\r\n"),
            ("incr n 5\r\n", "15\r\n"),
            ("decr n 100\r\n", "0\r\n"),
            ("incr n 18446744073709551615\r\n", "18446744073709551615\r\n"),
            ("incr n 2\r\n", "1\r\n"),
            ("incr zz 1\r\n", "NOT_FOUND\r\n"),
            ("decr zz 1\r\n", "NOT_FOUND\r\n"),
            ("set a 0 0 3\r\nabc\r\n", "STORED\r\n"),
            ("incr a 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
            ("decr a 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
        ]),
        ExchangeCase("delete", [
            ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("delete a\r\n", "DELETED\r\n"),
            ("delete a\r\n", "NOT_FOUND\r\n"),
            ("get a\r\n", "END\r\n"),
        ]),
        ExchangeCase("touch", [
            ("set n 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("touch n 10\r\n", "TOUCHED\r\n"),
            ("touch zz 10\r\n", "NOT_FOUND\r\n"),
            ("mg n t\r\n", "HD t10\r\n"),
        ]),
        ExchangeCase("flush_all", [
            ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("flush_all\r\n", "OK\r\n"),
            ("get a\r\n", "END\r\n"),
            ("flush_all -1\r\n", "OK\r\n"),
        ]),
        ExchangeCase("version, verbosity, mn, shutdown", [
            ("version\r\n", "VERSION 1.6.18-ringcache-\(RingcacheVersion.semver)\r\n"),
            ("verbosity 1\r\n", "OK\r\n"),
            ("mn\r\n", "MN\r\n"),
            ("shutdown\r\n", "ERROR: shutdown not enabled\r\n"),
        ]),
        ExchangeCase("cache_memlimit", [
            ("cache_memlimit 100\r\n", "OK\r\n"),
            ("cache_memlimit 7\r\n", "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n"),
            ("cache_memlimit 0\r\n", "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n"),
            ("cache_memlimit 8\r\n", "OK\r\n"),
        ]),
        ExchangeCase("pipelined commands in one packet", [
            ("set a 0 0 1\r\n1\r\nget a\r\nincr a 1\r\nget a\r\ndelete a\r\n",
             "STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n2\r\nVALUE a 0 1\r\n2\r\nEND\r\nDELETED\r\n"),
        ]),
        ExchangeCase("binary values", [
            ("set b 0 0 6\r\na\r\n\0\r\n\r\n", "STORED\r\n"),
            ("get b\r\n", "VALUE b 0 6\r\na\r\n\0\r\n\r\nEND\r\n"),
        ]),
    ]

    @Test(arguments: cases)
    func exchange(_ c: ExchangeCase) {
        c.run()
    }

    /// With `noreply` memcached sends nothing at all, not even the store's errors; the `mn`
    /// afterwards proves nothing was written.
    static let noreplyCases: [(setup: String, command: String)] = [
        ("", "set a 0 0 1 noreply\r\nx\r\n"),
        ("set a 0 0 1\r\n1\r\n", "add a 0 0 1 noreply\r\nx\r\n"),
        ("", "add a 0 0 1 noreply\r\nx\r\n"),
        ("", "replace zz 0 0 1 noreply\r\nx\r\n"),
        ("", "append zz 0 0 1 noreply\r\nx\r\n"),
        ("", "prepend zz 0 0 1 noreply\r\nx\r\n"),
        ("set a 0 0 1\r\n1\r\n", "cas a 0 0 1 1 noreply\r\nx\r\n"),
        ("", "cas zz 0 0 1 1 noreply\r\nx\r\n"),
        ("set a 0 0 1\r\nx\r\n", "incr a 1 noreply\r\n"),
        ("", "incr zz 1 noreply\r\n"),
        ("set n 0 0 1\r\n5\r\n", "incr n 1 noreply\r\n"),
        ("set n 0 0 1\r\n5\r\n", "decr n 1 noreply\r\n"),
        ("", "decr zz 1 noreply\r\n"),
        ("set a 0 0 1\r\n1\r\n", "delete a noreply\r\n"),
        ("", "delete zz noreply\r\n"),
        ("set a 0 0 1\r\n1\r\n", "touch a 1 noreply\r\n"),
        ("", "touch zz 1 noreply\r\n"),
        ("", "flush_all noreply\r\n"),
        ("", "flush_all 0 noreply\r\n"),
        ("", "verbosity 1 noreply\r\n"),
        ("", "cache_memlimit 100 noreply\r\n"),
        ("", "cache_memlimit 0 noreply\r\n"),
    ]

    @Test(arguments: noreplyCases)
    func noreplySendsNothing(setup: String, command: String) {
        let session = ExecutorSession()
        if !setup.isEmpty { _ = session.send(setup) }
        session.expect(command + "mn\r\n", "MN\r\n")
    }

    @Test func noreplyStillExecutes() {
        let session = ExecutorSession()
        session.run([
            ("set n 0 0 1 noreply\r\n5\r\n", ""),
            ("incr n 10 noreply\r\n", ""),
            ("get n\r\n", "VALUE n 0 2\r\n15\r\nEND\r\n"),
            ("delete n noreply\r\n", ""),
            ("get n\r\n", "END\r\n"),
        ])
    }

    /// The same pipeline fed whole and one byte at a time gives the same answer bytes.
    @Test func dripFedPipelineAnswersTheSame() {
        let pipeline = Array(
            "set a 1 0 5\r\nhello\r\nget a zz a\r\nms b 3 T0 F2\r\nxyz\r\nmg b v f k O9\r\nincr a 1\r\nset n 0 0 1\r\n7\r\nincr n 3\r\nmg zz q\r\nmn\r\n".utf8)
        let whole = ExecutorSession().send(pipeline)
        let drip = ExecutorSession()
        var answer: [UInt8] = []
        for byte in pipeline { answer += drip.send([byte]) }
        #expect(answer == whole)
        #expect(String(decoding: whole, as: UTF8.self) == """
            STORED\r
            VALUE a 1 5\r
            hello\r
            VALUE a 1 5\r
            hello\r
            END\r
            HD\r
            VA 3 f2 kb O9\r
            xyz\r
            CLIENT_ERROR cannot increment or decrement non-numeric value\r
            STORED\r
            10\r
            MN\r\n
            """)
    }

    @Test func largeValueRoundTrips() {
        let session = ExecutorSession()
        let value = (0..<500_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(session.send(Array("set big 0 0 500000\r\n".utf8) + value + Array("\r\n".utf8)) == Array("STORED\r\n".utf8))
        let answer = session.send(Array("get big\r\n".utf8))
        #expect(answer == Array("VALUE big 0 500000\r\n".utf8) + value + Array("\r\nEND\r\n".utf8))
    }

    @Test func gatChangesTheTTL() {
        let session = ExecutorSession()
        session.run([
            ("set a 0 100 1\r\n1\r\n", "STORED\r\n"),
            ("gat 10 a\r\n", "VALUE a 0 1\r\n1\r\nEND\r\n"),
            ("mg a t\r\n", "HD t10\r\n"),
        ])
        session.advance(seconds: 11)
        session.expect("get a\r\n", "END\r\n")
    }

    @Test func delayedFlush() {
        let session = ExecutorSession()
        session.run([
            ("flush_all 10\r\n", "OK\r\n"),
            ("set b 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("get b\r\n", "VALUE b 0 1\r\n1\r\nEND\r\n"),
        ])
        session.advance(seconds: 11)
        session.expect("get b\r\n", "END\r\n")
    }

    @Test func verbosityReachesTheServer() {
        let session = ExecutorSession()
        session.expect("verbosity 2\r\n", "OK\r\n")
        #expect(session.context.verbosity == 2)
    }

    @Test func quitClosesAfterEarlierAnswersAndRunsNothingAfter() {
        let session = ExecutorSession()
        session.expect("set a 0 0 1\r\n1\r\nquit\r\nget a\r\n", "STORED\r\n")
        #expect(session.closed)
    }

    @Test func shutdownWhenEnabledStopsTheServerWithoutAnswer() {
        let session = ExecutorSession(shutdownEnabled: true)
        session.expect("shutdown\r\n", "")
        #expect(session.closed)
        #expect(session.context.shutdownRequests == 1)
    }

    @Test func cacheMemlimitSetsTheStoreLimit() {
        let session = ExecutorSession()
        session.expect("cache_memlimit 100\r\n", "OK\r\n")
        #expect(session.store.config.memoryLimit == 100 << 20)
        #expect(session.generalStats()["limit_maxbytes"] == "\(100 << 20)")
    }

    // MARK: - Store failures

    /// The store refuses an item over `-I` (the parser here lets it through): memcached answers
    /// SERVER_ERROR, drops the old value for `set` (not for `add`), and says nothing with noreply.
    @Test func tooLarge() {
        let session = ExecutorSession(config: StorageConfig(maxItemSize: 2048, lruBumpInterval: 0), parserMaxItemSize: 1 << 20)
        let big = String(repeating: "x", count: 4000)
        session.run([
            ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("add a 0 0 4000\r\n\(big)\r\n", "SERVER_ERROR object too large for cache\r\n"),
            ("get a\r\n", "VALUE a 0 1\r\n1\r\nEND\r\n"),
            ("set a 0 0 4000\r\n\(big)\r\n", "SERVER_ERROR object too large for cache\r\n"),
            ("get a\r\n", "END\r\n"),
            ("set a 0 0 4000 noreply\r\n\(big)\r\nmn\r\n", "MN\r\n"),
            ("ms a 4000 q\r\n\(big)\r\nmn\r\n", "SERVER_ERROR object too large for cache\r\nMN\r\n"),
            ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("ms a 4000 MA\r\n\(big)\r\n", "SERVER_ERROR object too large for cache\r\n"),
            ("get a\r\n", "END\r\n"),
        ])
        let stats = session.generalStats()
        #expect(stats["store_too_large"] == "5")
        #expect(stats["cmd_set"] == "2")
    }

    /// The parser refuses a data block over `-I` before reading it; the executor still drops the
    /// old value for `set` and `ms` and counts it.
    @Test func tooLargeRejectedByTheParser() {
        let session = ExecutorSession(config: StorageConfig(maxItemSize: 2048, lruBumpInterval: 0), parserMaxItemSize: 2048)
        let big = String(repeating: "x", count: 4000)
        session.run([
            ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("add a 0 0 4000\r\n\(big)\r\n", "SERVER_ERROR object too large for cache\r\n"),
            ("get a\r\n", "VALUE a 0 1\r\n1\r\nEND\r\n"),
            ("set a 0 0 4000\r\n\(big)\r\n", "SERVER_ERROR object too large for cache\r\n"),
            ("get a\r\n", "END\r\n"),
            ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("set a 0 0 4000 noreply\r\n\(big)\r\nmn\r\n", "MN\r\n"),
            ("get a\r\n", "END\r\n"),
            ("ms YQ== 1 b\r\n1\r\n", "HD\r\n"),
            ("ms YQ== 4000 b MA q\r\n\(big)\r\nmn\r\n", "SERVER_ERROR object too large for cache\r\nMN\r\n"),
            ("get a\r\n", "END\r\n"),
        ])
        #expect(session.generalStats()["store_too_large"] == "4")
    }

    /// With evictions off (-M) a full store answers memcached's out-of-memory error; noreply hides
    /// it for classic commands, meta `q` does not.
    @Test func outOfMemory() {
        let session = ExecutorSession(config: StorageConfig(memoryLimit: 1 << 20, evictionsEnabled: false, lruBumpInterval: 0))
        let value = String(repeating: "v", count: 1000)
        var answer = ""
        var stored = 0
        for i in 0..<5000 {
            answer = session.send("set k\(i) 0 0 1000\r\n\(value)\r\n")
            if answer != "STORED\r\n" { break }
            stored += 1
        }
        #expect(answer == "SERVER_ERROR out of memory storing object\r\n")
        #expect(stored > 0)
        session.run([
            ("set z 0 0 1000 noreply\r\n\(value)\r\nmn\r\n", "MN\r\n"),
            ("ms z 1000 q\r\n\(value)\r\nmn\r\n", "SERVER_ERROR out of memory storing object\r\nMN\r\n"),
            ("get z\r\n", "END\r\n"),
        ])
        #expect(session.generalStats()["store_no_memory"] == "3")
    }
}
