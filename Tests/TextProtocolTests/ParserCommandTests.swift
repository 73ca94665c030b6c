import Testing
@testable import TextProtocol

/// A request and the exact command (fields and spans) the parser must make of it.
struct CommandCase: Sendable, CustomTestStringConvertible {
    let request: Request
    let expected: @Sendable (Request) -> Command

    init(_ text: String, _ expected: @escaping @Sendable (Request) -> Command) {
        request = Request(text)
        self.expected = expected
    }

    var testDescription: String { String(decoding: request.bytes.prefix(80), as: UTF8.self).debugDescription }
}

func meta(_ build: (inout MetaFlags) -> Void) -> MetaFlags {
    var f = MetaFlags()
    build(&f)
    return f
}

func L(_ c: Character) -> UInt64 { MetaFlags.bit(c.asciiValue!) }

let commandCases: [CommandCase] = [
    CommandCase("get foo\r\n") { r in .retrieve(RetrievalCommand(kind: .get, exptime: 0, keys: r.span("foo"), keyCount: 1)) },
    CommandCase("get foo\n") { r in .retrieve(RetrievalCommand(kind: .get, exptime: 0, keys: r.span("foo"), keyCount: 1)) },
    CommandCase("gets a bb  ccc \r\n") { r in .retrieve(RetrievalCommand(kind: .gets, exptime: 0, keys: r.span("a bb  ccc"), keyCount: 3)) },
    CommandCase("gat -1 k1 k2\r\n") { r in .retrieve(RetrievalCommand(kind: .gat, exptime: -1, keys: r.span("k1 k2"), keyCount: 2)) },
    CommandCase("gats 2147483648 k\r\n") { r in .retrieve(RetrievalCommand(kind: .gats, exptime: -2147483648, keys: r.span("k"), keyCount: 1)) },
    CommandCase("gat 10\r\n") { r in .retrieve(RetrievalCommand(kind: .gat, exptime: 10, keys: r.empty(at: 6), keyCount: 0)) },
    CommandCase("bget x\r\n") { r in .retrieve(RetrievalCommand(kind: .get, exptime: 0, keys: r.span("x"), keyCount: 1)) },
    CommandCase("set foo 5 100 3\r\nbar\r\n") { r in
        .store(StoreCommand(kind: .set, key: r.span("foo"), flags: 5, exptime: 100, casUnique: 0, data: r.span("bar"), noreply: false))
    },
    CommandCase("set foo 4294967295 -1 3 noreply\r\nb\r\n\r\n") { r in
        .store(StoreCommand(kind: .set, key: r.span("foo"), flags: 4294967295, exptime: -1, casUnique: 0,
                            data: Span(start: r.lineLength, count: 3), noreply: true))
    },
    CommandCase("set n 18446744073709551615 4294967296 0\r\n\r\n") { r in
        .store(StoreCommand(kind: .set, key: r.span("n"), flags: 4294967295, exptime: 0, casUnique: 0,
                            data: Span(start: r.lineLength, count: 0), noreply: false))
    },
    CommandCase("add k +7 0 1\r\n\0\r\n") { r in
        .store(StoreCommand(kind: .add, key: r.span("k"), flags: 7, exptime: 0, casUnique: 0, data: Span(start: r.lineLength, count: 1), noreply: false))
    },
    CommandCase("replace k 0 0 1\r\nx\r\n") { r in
        .store(StoreCommand(kind: .replace, key: r.span("k"), flags: 0, exptime: 0, casUnique: 0, data: r.span("x"), noreply: false))
    },
    CommandCase("append k 0 0 4\r\n\r\n\r\n\r\n") { r in
        .store(StoreCommand(kind: .append, key: r.span("k"), flags: 0, exptime: 0, casUnique: 0,
                            data: Span(start: r.lineLength, count: 4), noreply: false))
    },
    CommandCase("prepend k -0 0 1 noreply\r\nx\r\n") { r in
        .store(StoreCommand(kind: .prepend, key: r.span("k"), flags: 0, exptime: 0, casUnique: 0, data: r.span("x"), noreply: true))
    },
    CommandCase("cas k 1 2 3 18446744073709551615\r\nabc\r\n") { r in
        .store(StoreCommand(kind: .cas, key: r.span("k"), flags: 1, exptime: 2, casUnique: .max, data: r.span("abc"), noreply: false))
    },
    CommandCase("cas k 1 2 3 -0 noreply\r\nabc\r\n") { r in
        .store(StoreCommand(kind: .cas, key: r.span("k"), flags: 1, exptime: 2, casUnique: 0, data: r.span("abc"), noreply: true))
    },
    CommandCase("delete k\r\n") { r in .delete(key: r.span("k"), noreply: false) },
    CommandCase("delete k 0\r\n") { r in .delete(key: r.span("k"), noreply: false) },
    CommandCase("delete k noreply\r\n") { r in .delete(key: r.span("k"), noreply: true) },
    CommandCase("delete k 0 noreply\r\n") { r in .delete(key: r.span("k"), noreply: true) },
    CommandCase("delete noreply\r\n") { r in .delete(key: r.span("noreply"), noreply: false) },
    CommandCase("incr k 18446744073709551615\r\n") { r in .arithmetic(incr: true, key: r.span("k"), delta: .max, noreply: false) },
    CommandCase("decr k 5 noreply\r\n") { r in .arithmetic(incr: false, key: r.span("k"), delta: 5, noreply: true) },
    CommandCase("incr k -18446744073709551615\r\n") { r in .arithmetic(incr: true, key: r.span("k"), delta: 1, noreply: false) },
    CommandCase("touch k 99\r\n") { r in .touch(key: r.span("k"), exptime: 99, noreply: false) },
    CommandCase("touch k -5 noreply\r\n") { r in .touch(key: r.span("k"), exptime: -5, noreply: true) },
    CommandCase("flush_all\r\n") { _ in .flushAll(delay: 0, noreply: false) },
    CommandCase("flush_all 30\r\n") { _ in .flushAll(delay: 30, noreply: false) },
    CommandCase("flush_all noreply\r\n") { _ in .flushAll(delay: 0, noreply: true) },
    CommandCase("flush_all 30 noreply\r\n") { _ in .flushAll(delay: 30, noreply: true) },
    CommandCase("version\r\n") { _ in .version },
    CommandCase("verbosity 2\r\n") { _ in .verbosity(level: 2, noreply: false) },
    CommandCase("verbosity 4294967297 noreply\r\n") { _ in .verbosity(level: 1, noreply: true) },
    CommandCase("quit\r\n") { _ in .quit },
    CommandCase("stats\r\n") { r in .stats(args: r.empty(at: 5)) },
    CommandCase("stats   \r\n") { r in .stats(args: r.empty(at: 5)) },
    CommandCase("stats items\r\n") { r in .stats(args: r.span("items")) },
    CommandCase("cluster nodes\r\n") { r in .cluster(args: r.span("nodes")) },
    CommandCase("cluster route foo\r\n") { r in .cluster(args: r.span("route foo")) },
    CommandCase("stats detail  dump \r\n") { r in .stats(args: r.span("detail  dump")) },
    CommandCase("cache_memlimit 64\r\n") { _ in .cacheMemlimit(megabytes: 64, noreply: false) },
    CommandCase("cache_memlimit 64 noreply\r\n") { _ in .cacheMemlimit(megabytes: 64, noreply: true) },
    CommandCase("shutdown\r\n") { _ in .shutdown },
    CommandCase("mn\r\n") { _ in .metaNoop },
    CommandCase("me k\r\n") { r in .metaDebug(key: r.span("k"), base64: false) },
    CommandCase("me Zm9v b\r\n") { r in .metaDebug(key: r.span("Zm9v"), base64: true) },
    CommandCase("me k bb\r\n") { r in .metaDebug(key: r.span("k"), base64: false) },
    CommandCase("mg k\r\n") { r in .metaGet(MetaCommand(key: r.span("k"), flags: meta { $0.flagText = r.empty(at: 4) })) },
    CommandCase("mg k v\r\n") { r in
        .metaGet(MetaCommand(key: r.span("k"), flags: meta { $0.letters = L("v"); $0.flagText = r.span("v") }))
    },
    CommandCase("mg Zm9v s v t f c k h l u q b\r\n") { r in
        .metaGet(MetaCommand(key: r.span("Zm9v"), flags: meta {
            $0.letters = "svtfckhluqb".reduce(0) { $0 | L($1) }
            $0.flagText = r.span("s v t f c k h l u q b")
        }))
    },
    CommandCase("mg k Oab12 T30 N-1 R5 P/x Lpath\r\n") { r in
        .metaGet(MetaCommand(key: r.span("k"), flags: meta {
            $0.letters = L("O") | L("T") | L("N") | L("R") | L("P") | L("L")
            $0.flagText = r.span("Oab12 T30 N-1 R5 P/x Lpath")
            $0.opaque = r.span("ab12")
            $0.ttl = 30
            $0.vivifyTTL = -1
            $0.recacheThreshold = 5
        }))
    },
    CommandCase("mg k O\r\n") { r in
        .metaGet(MetaCommand(key: r.span("k"), flags: meta { $0.letters = L("O"); $0.flagText = r.span("O"); $0.opaque = r.empty(at: 6) }))
    },
    CommandCase("ms k 3 F7 T-1 C99 MA I q O1 k\r\nabc\r\n") { r in
        .metaSet(MetaCommand(key: r.span("k"), flags: meta {
            $0.letters = L("F") | L("T") | L("C") | L("M") | L("I") | L("q") | L("O") | L("k")
            $0.flagText = r.span("F7 T-1 C99 MA I q O1 k")
            $0.clientFlags = 7
            $0.ttl = -1
            $0.compareCas = 99
            $0.mode = UInt8(ascii: "A")
            $0.opaque = Span(start: r.span("O1").start + 1, count: 1)
        }, data: r.span("abc")))
    },
    CommandCase("ms k 0\r\n\r\n") { r in
        .metaSet(MetaCommand(key: r.span("k"), flags: meta { $0.flagText = r.empty(at: 6) }, data: Span(start: r.lineLength, count: 0)))
    },
    CommandCase("ms k 5 F4294967296\r\na\r\nb\n\r\n") { r in
        .metaSet(MetaCommand(key: r.span("k"), flags: meta {
            $0.letters = L("F"); $0.flagText = r.span("F4294967296"); $0.clientFlags = 0
        }, data: Span(start: r.lineLength, count: 5)))
    },
    CommandCase("md k C5 I T30 q\r\n") { r in
        .metaDelete(MetaCommand(key: r.span("k"), flags: meta {
            $0.letters = L("C") | L("I") | L("T") | L("q"); $0.flagText = r.span("C5 I T30 q")
            $0.compareCas = 5; $0.ttl = 30
        }))
    },
    CommandCase("ma k N0 J10 D18446744073709551615 M- v\r\n") { r in
        .metaArithmetic(MetaCommand(key: r.span("k"), flags: meta {
            $0.letters = L("N") | L("J") | L("D") | L("M") | L("v")
            $0.flagText = r.span("N0 J10 D18446744073709551615 M- v")
            $0.vivifyTTL = 0; $0.initial = 10; $0.delta = .max; $0.mode = UInt8(ascii: "-")
        }))
    },
]

@Suite("Parser commands")
struct ParserCommandTests {
    @Test("whole", arguments: commandCases)
    func whole(_ c: CommandCase) {
        let result = parseOnce(c.request.bytes)
        #expect(result == .command(c.expected(c.request), consumed: c.request.bytes.count))
    }

    /// Growing prefixes through one parser: needMoreData until the last byte, then the same
    /// command as parsed whole.
    @Test("growing prefixes", arguments: commandCases)
    func prefixes(_ c: CommandCase) {
        var p = Parser()
        let bytes = c.request.bytes
        for n in 1..<bytes.count {
            let r = bytes.withUnsafeBytes { p.parse(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            #expect(r == .needMoreData, "prefix \(n)")
        }
        let r = bytes.withUnsafeBytes { p.parse($0) }
        #expect(r == .command(c.expected(c.request), consumed: bytes.count))
    }

    /// Every case in one buffer: each parses as it does alone (spans are relative to the
    /// buffer passed in, which starts at the command).
    @Test("pipelined")
    func pipelined() {
        let all = commandCases.filter { $0.expected($0.request) != .quit }
        let bytes = all.flatMap(\.request.bytes)
        var p = Parser()
        var offset = 0
        for c in all {
            let r = bytes.withUnsafeBytes { p.parse(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            #expect(r == .command(c.expected(c.request), consumed: c.request.bytes.count), "\(c.testDescription)")
            offset += c.request.bytes.count
        }
        #expect(offset == bytes.count)
    }

    @Test("the buffer may move between calls: positions are offsets")
    func movedBuffer() {
        let text = Array("set k 0 0 5\r\nhello\r\n".utf8)
        var p = Parser()
        let first = Array(text[0..<15])
        #expect(first.withUnsafeBytes { p.parse($0) } == .needMoreData)
        #expect(p.bytesAwaited == text.count)
        let copy = [UInt8](repeating: 0, count: 64) + text
        let r = copy.withUnsafeBytes { p.parse(UnsafeRawBufferPointer(rebasing: $0[64...])) }
        #expect(r == .command(.store(StoreCommand(kind: .set, key: Span(start: 4, count: 1), flags: 0, exptime: 0, casUnique: 0,
                                                  data: Span(start: 13, count: 5), noreply: false)), consumed: text.count))
        #expect(p.bytesAwaited == 0)
    }

    @Test("a 250-byte key is fine everywhere, 251 is not")
    func keyLength() {
        let k250 = rep("k", 250)
        for line in ["get \(k250)", "gets a \(k250)", "gat 0 \(k250)", "delete \(k250)", "incr \(k250) 1", "touch \(k250) 1",
                     "mg \(k250)", "md \(k250)", "ma \(k250)", "me \(k250)"] {
            guard case .command = parseOnce(Array((line + "\r\n").utf8)) else {
                Issue.record("\(line.prefix(10)) rejected")
                continue
            }
            let long = line.replacingOccurrences(of: k250, with: k250 + "k")
            #expect(parseOnce(Array((long + "\r\n").utf8))
                    == .reject(response: ErrorResponse.badCommandLineFormat, consumed: long.utf8.count + 2, swallow: 0))
        }
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        var out = ""
        var rest = self[...]
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound] + replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
