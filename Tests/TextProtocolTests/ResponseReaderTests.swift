import Testing
@testable import TextProtocol

/// Feeds answer bytes to a `ResponseReader` the way a peer link does (unread bytes in, a unit's
/// bytes dropped after it is read) in pieces of `chunk` bytes, and collects the units.
struct ReaderRun {
    var units: [(unit: ResponseUnit, bytes: [UInt8])] = []
    var invalid: StaticString? = nil
    var leftover: [UInt8] = []

    init(_ stream: [UInt8], chunk: Int?) {
        var reader = ResponseReader()
        var unread: [UInt8] = []
        let step = chunk ?? max(stream.count, 1)
        var i = 0
        outer: while i < stream.count {
            unread.append(contentsOf: stream[i..<min(i + step, stream.count)])
            i += step
            while !unread.isEmpty {
                let result = unread.withUnsafeBytes { reader.read($0) }
                switch result {
                case .needMoreData:
                    if reader.bytesAwaited > 0 { #expect(reader.bytesAwaited > unread.count) }
                    continue outer
                case .unit(let unit, let length):
                    units.append((unit, Array(unread[..<length])))
                    unread.removeFirst(length)
                case .invalid(let reason):
                    invalid = reason
                    break outer
                }
            }
        }
        leftover = unread
    }

    static let chunks: [Int?] = [nil, 1, 2, 3, 7, 64]
}

func text(_ bytes: [UInt8], _ span: Span) -> String {
    String(decoding: bytes[span.start..<span.end], as: UTF8.self)
}

@Suite struct ResponseReaderTests {
    /// One unit: its bytes, the kind, and the spans as text (key, flags, length, cas, data, rest).
    struct UnitCase: Sendable, CustomTestStringConvertible {
        let answer: String
        let kind: ResponseKind
        var key = "", flags = "", length = "", cas = "", data = "", rest = ""
        var testDescription: String { answer.debugDescription }
    }

    static let units: [UnitCase] = [
        UnitCase(answer: "VALUE foo 5 2\r\nhi\r\n", kind: .value, key: "foo", flags: "5", length: "2", data: "hi", rest: "foo 5 2"),
        UnitCase(
            answer: "VALUE foo 4294967295 3 18446744073709551615\r\na\nb\r\n", kind: .value, key: "foo", flags: "4294967295",
            length: "3", cas: "18446744073709551615", data: "a\nb", rest: "foo 4294967295 3 18446744073709551615"),
        UnitCase(answer: "VALUE e 0 0\r\n\r\n", kind: .value, key: "e", flags: "0", length: "0", rest: "e 0 0"),
        UnitCase(answer: "VALUE b 0 8\r\nx\r\nEND\r\n\r\n", kind: .value, key: "b", flags: "0", length: "8", data: "x\r\nEND\r\n", rest: "b 0 8"),
        UnitCase(answer: "END\r\n", kind: .end),
        UnitCase(answer: "STORED\r\n", kind: .stored),
        UnitCase(answer: "NOT_STORED\r\n", kind: .notStored),
        UnitCase(answer: "EXISTS\r\n", kind: .exists),
        UnitCase(answer: "NOT_FOUND\r\n", kind: .notFound),
        UnitCase(answer: "DELETED\r\n", kind: .deleted),
        UnitCase(answer: "TOUCHED\r\n", kind: .touched),
        UnitCase(answer: "OK\r\n", kind: .ok),
        UnitCase(answer: "RESET\r\n", kind: .reset),
        UnitCase(answer: "18446744073709551615\r\n", kind: .number),
        UnitCase(answer: "0\r\n", kind: .number),
        UnitCase(answer: "ERROR\r\n", kind: .error),
        UnitCase(answer: "ERROR Too many open connections\r\n", kind: .error, rest: "Too many open connections"),
        UnitCase(answer: "ERROR: shutdown not enabled\r\n", kind: .error, rest: "shutdown not enabled"),
        UnitCase(answer: "CLIENT_ERROR bad data chunk\r\n", kind: .clientError, rest: "bad data chunk"),
        UnitCase(answer: "SERVER_ERROR out of memory storing object\r\n", kind: .serverError, rest: "out of memory storing object"),
        UnitCase(answer: "VERSION 1.6.18\r\n", kind: .version, rest: "1.6.18"),
        UnitCase(answer: "STAT pid 42\r\n", kind: .stat, rest: "pid 42"),
        UnitCase(answer: "VA 2 ka O123 c1 f5 t-1\r\nhi\r\n", kind: .metaValue, length: "2", data: "hi", rest: "ka O123 c1 f5 t-1"),
        UnitCase(answer: "VA 0\r\n\r\n", kind: .metaValue, length: "0"),
        UnitCase(answer: "HD\r\n", kind: .metaHit),
        UnitCase(answer: "HD ka c7 Oxy\r\n", kind: .metaHit, rest: "ka c7 Oxy"),
        UnitCase(answer: "EN\r\n", kind: .metaMiss),
        UnitCase(answer: "NS\r\n", kind: .metaNotStored),
        UnitCase(answer: "EX c9\r\n", kind: .metaExists, rest: "c9"),
        UnitCase(answer: "NF O1\r\n", kind: .metaNotFound, rest: "O1"),
        UnitCase(answer: "MN\r\n", kind: .metaNoop),
        UnitCase(
            answer: "ME a exp=-1 la=0 cas=1 fetch=yes cls=1 size=66\r\n", kind: .metaDebug, key: "a",
            rest: "a exp=-1 la=0 cas=1 fetch=yes cls=1 size=66"),
        UnitCase(answer: "ITEM foo [2 b; 0 s]\r\n", kind: .other, rest: "foo [2 b; 0 s]"),
        UnitCase(answer: "12ab\r\n", kind: .other),
        UnitCase(answer: "\r\n", kind: .other),
        UnitCase(answer: "OK\n", kind: .ok),
    ]

    /// Each unit alone and followed by another, whole and in small pieces.
    @Test(arguments: units)
    func readsOneUnit(_ c: UnitCase) {
        let bytes = Array(c.answer.utf8)
        let stream = bytes + Array("END\r\n".utf8)
        for chunk in ReaderRun.chunks {
            let run = ReaderRun(stream, chunk: chunk)
            #expect(run.invalid == nil)
            guard run.units.count == 2 else {
                Issue.record("chunk \(String(describing: chunk)): \(run.units.count) units")
                continue
            }
            let (u, unitBytes) = run.units[0]
            #expect(unitBytes == bytes, "chunk \(String(describing: chunk))")
            #expect(u.kind == c.kind)
            #expect(text(unitBytes, u.key) == c.key)
            #expect(text(unitBytes, u.flags) == c.flags)
            #expect(text(unitBytes, u.length) == c.length)
            #expect(text(unitBytes, u.cas) == c.cas)
            #expect(text(unitBytes, u.data) == c.data)
            #expect(text(unitBytes, u.rest) == c.rest)
            #expect(run.units[1].unit.kind == .end)
        }
    }

    static let invalid: [(String, String)] = [
        ("VALUE foo 5\r\n", "too few fields"),
        ("VALUE foo 5 2 3 4\r\n", "too many fields"),
        ("VALUE foo x 2\r\nhi\r\n", "bad number"),
        ("VALUE foo 4294967296 2\r\nhi\r\n", "bad number"),
        ("VALUE foo 5 -2\r\nhi\r\n", "bad number"),
        ("VALUE foo 5 2 abc\r\nhi\r\n", "bad cas"),
        ("VALUE foo 5 2\r\nhiX\r\n", "not followed by"),
        ("VA x\r\n", "without a valid size"),
        ("VA\r\n", "without a valid size"),
        ("VA 2 f1\r\nhi\n\n", "not followed by"),
        (String(repeating: "x", count: 9000), "too long"),
        (String(repeating: "x", count: 8200) + "\r\n", "too long"),
    ]

    /// A stream that is not memcached's ends the link, in any piece size.
    @Test(arguments: invalid)
    func refusesWhatIsNotAnAnswer(_ c: (String, String)) {
        for chunk in ReaderRun.chunks {
            let run = ReaderRun(Array(c.0.utf8), chunk: chunk)
            guard let reason = run.invalid else {
                Issue.record("accepted \(c.0.prefix(40).debugDescription) (chunk \(String(describing: chunk)))")
                continue
            }
            #expect(reason.description.contains(c.1), "reason: \(reason)")
        }
    }

    @Test func largeDataBlockIsAwaitedWithoutRescanning() {
        let value = String(repeating: "v", count: 100_000)
        let stream = Array("VALUE big 1 100000 77\r\n\(value)\r\nEND\r\n".utf8)
        var reader = ResponseReader()
        // Only the header: the reader asks for the whole unit.
        let header = stream.firstIndex(of: UInt8(ascii: "\n"))! + 1
        #expect(stream[..<(header + 10)].withUnsafeBytes { reader.read($0) } == .needMoreData)
        #expect(reader.bytesAwaited == header + 100_002)
        let result = stream.withUnsafeBytes { reader.read($0) }
        guard case .unit(let unit, let length) = result else {
            Issue.record("got \(result)")
            return
        }
        #expect(length == header + 100_002)
        #expect(unit.data == Span(start: header, count: 100_000))
        #expect(text(stream, unit.cas) == "77")
        #expect(reader.bytesAwaited == 0)
    }

    @Test func resetForgetsAPartialUnit() {
        var reader = ResponseReader()
        #expect(Array("VALUE k 0 5\r\nab".utf8).withUnsafeBytes { reader.read($0) } == .needMoreData)
        reader.reset()
        let result = Array("STORED\r\n".utf8).withUnsafeBytes { reader.read($0) }
        guard case .unit(let unit, 8) = result else {
            Issue.record("got \(result)")
            return
        }
        #expect(unit.kind == .stored)
    }

    @Test func metaFlagLookup() {
        let bytes = Array("VA 2 ka O123 c1 f5 t-1\r\nhi\r\n".utf8)
        let result = bytes.withUnsafeBytes { ResponseReader().readOnce($0) }
        guard case .unit(let unit, _) = result else {
            Issue.record("got \(result)")
            return
        }
        bytes.withUnsafeBytes { b in
            #expect(unit.metaFlag(UInt8(ascii: "O"), in: b).map { text(bytes, $0) } == "123")
            #expect(unit.metaFlag(UInt8(ascii: "k"), in: b).map { text(bytes, $0) } == "a")
            #expect(unit.metaFlag(UInt8(ascii: "t"), in: b).map { text(bytes, $0) } == "-1")
            #expect(unit.metaFlag(UInt8(ascii: "s"), in: b) == nil)
        }
    }

    // MARK: - Relaying a pipeline: units grouped into each command's answer

    /// A command sent to memcached 1.6.18, the shape of its answer, and its answer.
    struct Exchange: Sendable {
        let request: String
        let shape: ResponseReader.AnswerShape
        let answer: [String]  // lines, joined with \r\n (a data block may hold \r\n too)

        init(_ request: String, _ shape: ResponseReader.AnswerShape, _ answer: [String]) {
            self.request = request
            self.shape = shape
            self.answer = answer
        }

        var answerText: String { answer.isEmpty ? "" : answer.joined(separator: "\r\n") + "\r\n" }
    }

    static let k251 = String(repeating: "k", count: 251)

    /// Sent pipelined on one connection to Debian's memcached 1.6.18, each `.zeroOrOne` command
    /// followed by the fence `mn\r\n` as a relay would send it; `recorded` is what came back.
    static let exchanges: [Exchange] = [
        Exchange("set a 5 0 2\r\nhi\r\n", .one, ["STORED"]),
        Exchange("set b 0 0 8\r\nx\r\nEND\r\n\r\n", .one, ["STORED"]),
        Exchange("set n 0 0 2\r\n10\r\n", .one, ["STORED"]),
        Exchange("get a b zz a\r\n", .throughEnd, ["VALUE a 5 2", "hi", "VALUE b 0 8", "x", "END", "", "VALUE a 5 2", "hi", "END"]),
        Exchange("gets a\r\n", .throughEnd, ["VALUE a 5 2 1", "hi", "END"]),
        Exchange("gat 100 b nope\r\n", .throughEnd, ["VALUE b 0 8", "x", "END", "", "END"]),
        // An error ends a retrieval answer without END (and drops the hits before it).
        Exchange("get a \(k251)\r\n", .throughEnd, ["CLIENT_ERROR bad command line format"]),
        Exchange("add a 0 0 1\r\nz\r\n", .one, ["NOT_STORED"]),
        Exchange("cas a 0 0 1 999\r\nz\r\n", .one, ["EXISTS"]),
        Exchange("incr n 5\r\n", .one, ["15"]),
        Exchange("decr n 100\r\n", .one, ["0"]),
        Exchange("incr a 1\r\n", .one, ["CLIENT_ERROR cannot increment or decrement non-numeric value"]),
        Exchange("touch a 100\r\n", .one, ["TOUCHED"]),
        Exchange("delete nope\r\n", .one, ["NOT_FOUND"]),
        Exchange("delete n noreply\r\n", .zeroOrOne, []),
        Exchange("mg a v k O123 c f t\r\n", .one, ["VA 2 ka O123 c1 f5 t100", "hi"]),
        Exchange("mg a k q\r\n", .zeroOrOne, ["HD ka"]),  // q hides only a miss's EN
        Exchange("mg zz v q\r\n", .zeroOrOne, []),
        Exchange("mg zz v\r\n", .one, ["EN"]),
        Exchange("mn\r\n", .one, ["MN"]),  // the client's own mn is relayed
        Exchange("ms k 2 q\r\nhi\r\n", .zeroOrOne, []),
        Exchange("ms k 2 q ME\r\nhi\r\n", .zeroOrOne, ["NS"]),
        Exchange("md zz q\r\n", .zeroOrOne, ["NF"]),
        Exchange("ma zz\r\n", .one, ["NF"]),
        Exchange("me a\r\n", .one, ["ME a exp=-100 la=0 cas=1 fetch=yes cls=1 size=66"]),
        Exchange("me zz\r\n", .one, ["EN"]),
        Exchange("bogus\r\n", .one, ["ERROR"]),
        Exchange("version\r\n", .one, ["VERSION 1.6.18"]),
        Exchange("stats detail on\r\n", .one, ["OK"]),
        Exchange("stats reset\r\n", .one, ["RESET"]),
        Exchange("stats items\r\n", .throughEnd, statsItems + ["END"]),
        Exchange("set q 0 0 1 noreply\r\nz\r\n", .zeroOrOne, []),
        Exchange("incr a 1 noreply\r\n", .zeroOrOne, []),  // noreply silences its error too
        Exchange("flush_all 0\r\n", .one, ["OK"]),
        Exchange("flush_all noreply\r\n", .zeroOrOne, []),
        Exchange("mn\r\n", .one, ["MN"]),
    ]

    static let statsItems = [
        "number 3", "number_hot 3", "number_warm 0", "number_cold 0", "age_hot 0", "age_warm 0", "age 0",
        "mem_requested 196", "evicted 0", "evicted_nonzero 0", "evicted_time 0", "outofmemory 0", "tailrepairs 0",
        "reclaimed 0", "expired_unfetched 0", "evicted_unfetched 0", "evicted_active 0", "crawler_reclaimed 0",
        "crawler_items_checked 0", "lrutail_reflocked 0", "moves_to_cold 0", "moves_to_warm 0", "moves_within_lru 0",
        "direct_reclaims 0", "hits_to_hot 0", "hits_to_warm 0", "hits_to_cold 0", "hits_to_temp 0",
    ].map { "STAT items:1:" + $0 }

    /// memcached's bytes for the fenced pipeline of `exchanges`, as recorded.
    static let recorded: String =
        ([
            "STORED", "STORED", "STORED", "VALUE a 5 2", "hi", "VALUE b 0 8", "x", "END", "", "VALUE a 5 2", "hi", "END",
            "VALUE a 5 2 1", "hi", "END", "VALUE b 0 8", "x", "END", "", "END", "CLIENT_ERROR bad command line format",
            "NOT_STORED", "EXISTS", "15", "0", "CLIENT_ERROR cannot increment or decrement non-numeric value", "TOUCHED",
            "NOT_FOUND", "MN", "VA 2 ka O123 c1 f5 t100", "hi", "HD ka", "MN", "MN", "EN", "MN", "MN", "NS", "MN", "NF", "MN",
            "NF", "ME a exp=-100 la=0 cas=1 fetch=yes cls=1 size=66", "EN", "ERROR", "VERSION 1.6.18", "OK", "RESET",
        ] + statsItems + ["END", "MN", "MN", "OK", "MN", "MN"]).joined(separator: "\r\n") + "\r\n"

    /// The shapes `answerShape(of:in:)` gives agree with the table, for every request the parser
    /// hands on as a command (the 251-byte key and `bogus` it answers itself).
    @Test func answerShapesMatchMemcached() {
        for e in Self.exchanges {
            let bytes = Array(e.request.utf8)
            var parser = Parser()
            let result = bytes.withUnsafeBytes { parser.parse($0) }
            guard case .command(let command, _) = result else { continue }
            let shape = bytes.withUnsafeBytes { ResponseReader.answerShape(of: command, in: $0) }
            #expect(shape == e.shape, "\(e.request.prefix(30).debugDescription)")
        }
        // quit is never forwarded.
        let quit = Array("quit\r\n".utf8)
        var parser = Parser()
        if case .command(let command, _) = quit.withUnsafeBytes({ parser.parse($0) }) {
            #expect(quit.withUnsafeBytes { ResponseReader.answerShape(of: command, in: $0) } == ResponseReader.AnswerShape.none)
        }
    }

    /// The recorded request really is the table with fences (so `recorded` answers it).
    @Test func fencedRequestIsTheTable() {
        let fenced = Self.exchanges.map { $0.request + ($0.shape == .zeroOrOne ? "mn\r\n" : "") }.joined()
        #expect(fenced.contains("delete n noreply\r\nmn\r\nmg a v k"))
        #expect(fenced.hasSuffix("flush_all noreply\r\nmn\r\nmn\r\n"))
    }

    /// A relay splits the recorded stream into each command's answer by shape, dropping the
    /// fences' MN, however the bytes arrive.
    @Test(arguments: ReaderRun.chunks)
    func relaySplitsAPipelineIntoAnswers(_ chunk: Int?) {
        let run = ReaderRun(Array(Self.recorded.utf8), chunk: chunk)
        #expect(run.invalid == nil)
        #expect(run.leftover.isEmpty)
        var units = run.units[...]
        for e in Self.exchanges {
            var answer: [UInt8] = []
            switch e.shape {
            case .one:
                guard let u = units.popFirst() else { Issue.record("stream ended early at \(e.request)"); return }
                answer = u.bytes
            case .throughEnd:
                while let u = units.popFirst() {
                    answer += u.bytes
                    if u.unit.endsMultiLineAnswer { break }
                }
            case .zeroOrOne:
                while let u = units.popFirst() {
                    if u.unit.kind == .metaNoop { break }  // our fence: not the client's
                    answer += u.bytes
                }
            case .none:
                break
            }
            #expect(String(decoding: answer, as: UTF8.self) == e.answerText, "\(e.request.prefix(30).debugDescription)")
        }
        #expect(units.isEmpty)
    }

    @Test func retrievalAnswerEndsAtEndOrError() {
        for (line, ends) in [("END", true), ("ERROR", true), ("CLIENT_ERROR x", true), ("SERVER_ERROR y", true), ("STORED", false), ("EN", false)] {
            let bytes = Array((line + "\r\n").utf8)
            guard case .unit(let unit, _) = bytes.withUnsafeBytes({ ResponseReader().readOnce($0) }) else {
                Issue.record("no unit for \(line)")
                continue
            }
            #expect(unit.endsMultiLineAnswer == ends, "\(line)")
            #expect(unit.isError == (ends && line != "END"), "\(line)")
        }
    }
}

extension ResponseReader {
    /// One read with a fresh reader (for tests that need a single unit).
    func readOnce(_ buffer: UnsafeRawBufferPointer) -> ResponseReadResult {
        var copy = self
        return copy.read(buffer)
    }
}
