import Testing
@testable import TextProtocol

/// Requests whose outcome depends on how the bytes arrive, with memcached 1.6.18's answers
/// for the same pieces sent with pauses between them.
struct PiecesCase: Sendable, CustomTestStringConvertible {
    let pieces: [[UInt8]]
    let expected: String
    let memcached: String

    init(_ pieces: [String], _ expected: String, mc: String) {
        self.pieces = pieces.map { Array($0.utf8) }
        self.expected = expected
        self.memcached = mc
    }

    var testDescription: String {
        pieces.map { p in "\(String(decoding: p.prefix(12), as: UTF8.self).debugDescription)+\(p.count)" }.joined(separator: " | ")
    }
}

let x3000 = rep("x", 3000)

let piecesCases: [PiecesCase] = [
    PiecesCase(["stats " + x3000 + "\r\n"], "{stats \(x3000)}", mc: "ERROR\r\n"),
    PiecesCase(["stats " + rep("x", 1000), rep("x", 1000), rep("x", 1000) + "\r\n"], "{stats \(x3000)}", mc: "ERROR\r\n"),
    PiecesCase(["stats " + rep("x", 2042), "x\r\n"], "{stats \(rep("x", 2043))}", mc: "ERROR\r\n"),
    PiecesCase(["stats " + rep("x", 2043), "x\r\n"], "<close>", mc: "<close>"),
    PiecesCase(["get " + x3000, " y\r\n"], badFormat, mc: badFormat),
    PiecesCase(["gets " + x3000, " y\r\n"], badFormat, mc: badFormat),
    PiecesCase(["gat 0 " + x3000, " y\r\n"], "<close>", mc: "<close>"),
    PiecesCase([rep(" ", 100) + "get " + x3000, " y\r\n"], badFormat, mc: badFormat),
    PiecesCase([rep(" ", 101) + "get " + x3000, " y\r\n"], "<close>", mc: "<close>"),
    PiecesCase(["get" + rep(" ", 3000), "y\r\n"], "{get y}", mc: "END\r\n"),
    PiecesCase(["getx" + rep(" ", 3000), "y\r\n"], "<close>", mc: "<close>"),
]

@Suite("Parser limits and framing")
struct ParserLimitsTests {
    @Test("long lines, as they arrive", arguments: piecesCases)
    func longLines(_ c: PiecesCase) {
        #expect(SimulatedConnection.run(pieces: c.pieces).transcript == c.expected)
    }

    @Test("exactly 2048 unread bytes without a line end wait, 2049 close")
    func threshold() {
        var p = Parser()
        let line = Array(("stats " + rep("x", 2043)).utf8)
        #expect(line.withUnsafeBytes { p.parse(UnsafeRawBufferPointer(rebasing: $0[0..<2048])) } == .needMoreData)
        #expect(line.withUnsafeBytes { p.parse($0) } == .close(response: ""))
    }

    @Test("a 128 KB multi-get line works, in pieces, and is searched for its end only once")
    func bigMultiGet() {
        let keys = (0..<20_000).map { "key\($0)" }
        let text = "get " + keys.joined(separator: " ") + "\r\n"
        let bytes = Array(text.utf8)
        #expect(bytes.count > 128 * 1024)
        var p = Parser()
        var end = 0
        while end < bytes.count - 1 {
            end = min(end + 16 * 1024, bytes.count - 1)
            let r = bytes.withUnsafeBytes { p.parse(UnsafeRawBufferPointer(rebasing: $0[0..<end])) }
            #expect(r == .needMoreData)
            // The next call resumes the search for `\n` where this one stopped.
            #expect(p.scanned == end)
        }
        let r = bytes.withUnsafeBytes { p.parse($0) }
        guard case .command(.retrieve(let get), let consumed) = r else {
            Issue.record("not a get: \(r)")
            return
        }
        #expect(consumed == bytes.count)
        #expect(get.keyCount == keys.count)
        #expect(p.scanned == 0)
        bytes.withUnsafeBytes { b in
            var it = KeyIterator(b, get.keys)
            var i = 0
            while let k = it.next() {
                #expect(SimulatedConnection.string(b, k) == keys[i])
                i += 1
            }
            #expect(i == keys.count)
        }
    }

    @Test("a 128 KB get line drip-fed one byte at a time")
    func bigMultiGetDrip() {
        let text = "get " + rep("k ", 66_000) + "\r\n"
        let c = SimulatedConnection.run(Array(text.utf8), chunk: 1)
        #expect(c.results.count == 1)
        guard case .command(.retrieve(let get), _)? = c.results.first else {
            Issue.record("not a get")
            return
        }
        #expect(get.keyCount == 66_000)
    }

    @Test("a value of almost 1 MB in 1000-byte pieces: waits without rescanning, then one command")
    func bigValue() {
        let length = (1 << 20) - 2
        let line = Array("set big 0 0 \(length)\r\n".utf8)
        let bytes = line + [UInt8](repeating: 0x61, count: length) + Array("\r\n".utf8)
        var p = Parser()
        var end = 0
        var waited = 0
        while end < bytes.count - 1 {
            end = min(end + 1000, bytes.count - 1)
            let r = bytes.withUnsafeBytes { p.parse(UnsafeRawBufferPointer(rebasing: $0[0..<end])) }
            #expect(r == .needMoreData)
            if end >= line.count { #expect(p.bytesAwaited == bytes.count) }
            waited += 1
        }
        #expect(waited > 1000)
        let r = bytes.withUnsafeBytes { p.parse($0) }
        let expected = StoreCommand(kind: .set, key: Span(start: 4, count: 3), flags: 0, exptime: 0, casUnique: 0,
                                    data: Span(start: line.count, count: length), noreply: false)
        #expect(r == .command(.store(expected), consumed: bytes.count))
        #expect(p.bytesAwaited == 0)
    }

    @Test("too large: reject before the data, swallow length + 2, stale key only for set and ms",
          arguments: [
            ("set k 0 0 99\r\n", ErrorResponse.objectTooLarge.description, 101, "k"),
            ("set k 0 0 99 noreply\r\n", "", 101, "k"),
            ("add k 0 0 99\r\n", ErrorResponse.objectTooLarge.description, 101, nil),
            ("replace k 0 0 99\r\n", ErrorResponse.objectTooLarge.description, 101, nil),
            ("append k 0 0 99\r\n", ErrorResponse.objectTooLarge.description, 101, nil),
            ("prepend k 0 0 99\r\n", ErrorResponse.objectTooLarge.description, 101, nil),
            ("cas k 0 0 99 1\r\n", ErrorResponse.objectTooLarge.description, 101, nil),
            ("ms k 99\r\n", ErrorResponse.objectTooLarge.description, 101, "k"),
            ("ms k 99 q ME\r\n", ErrorResponse.objectTooLarge.description, 101, "k"),
            ("ms Zm9v 99 b\r\n", ErrorResponse.objectTooLarge.description, 101, "Zm9v"),
          ] as [(String, String, Int, String?)])
    func tooLarge(_ line: String, _ response: String, _ swallow: Int, _ stale: String?) {
        let bytes = Array(line.utf8)
        var p = Parser(maxItemSize: 100)
        let r = bytes.withUnsafeBytes { p.parse($0) }
        guard case .reject(let got, let consumed, let swallowed) = r else {
            Issue.record("not rejected: \(r)")
            return
        }
        #expect(got.description == response)
        #expect(consumed == bytes.count)
        #expect(swallowed == swallow)
        let key = p.staleKey.map { k in bytes.withUnsafeBytes { SimulatedConnection.string($0, k.key) } }
        #expect(key == stale)
        #expect(p.staleKey?.base64 == (stale == nil ? nil : line.contains(" b")))
        #expect(p.rejectedTooLarge)
        // The next result clears both.
        _ = Array("mn\r\n".utf8).withUnsafeBytes { p.parse($0) }
        #expect(p.staleKey == nil)
        #expect(!p.rejectedTooLarge)
    }

    @Test("the largest block that passes the parser's check is awaited")
    func justFits() {
        var p = Parser(maxItemSize: 100)
        let bytes = Array("set k 0 0 98\r\n".utf8)
        #expect(bytes.withUnsafeBytes { p.parse($0) } == .needMoreData)
        #expect(p.bytesAwaited == bytes.count + 100)
    }

    @Test("bad data chunk consumes exactly length + 2 bytes")
    func badChunkAccounting() {
        let bytes = Array("set k 0 0 3\r\nabcdefg\r\n".utf8)
        var p = Parser()
        #expect(bytes.withUnsafeBytes { p.parse($0) } == .reject(response: ErrorResponse.badDataChunk, consumed: 13 + 5, swallow: 0))
        #expect(!p.rejectedTooLarge && p.staleKey == nil)
        let quiet = Array("set k 0 0 3 noreply\r\nabcdefg\r\n".utf8)
        #expect(parseOnce(quiet) == .reject(response: "", consumed: 21 + 5, swallow: 0))
        let meta = Array("ms k 3 q\r\nabcdefg\r\n".utf8)
        #expect(parseOnce(meta) == .reject(response: ErrorResponse.badDataChunk, consumed: 10 + 5, swallow: 0))
    }

    @Test("ms errors after the datalen swallow the data block")
    func metaSetSwallow() {
        let bytes = Array("ms k 5 zz\r\nhello\r\n".utf8)
        #expect(parseOnce(bytes) == .reject(response: ErrorResponse.invalidFlag, consumed: 11, swallow: 7))
        let early = Array("ms k x\r\nhello\r\n".utf8)
        #expect(parseOnce(early) == .reject(response: ErrorResponse.badCommandLineFormat, consumed: 8, swallow: 0))
    }

    @Test("the binary protocol's magic byte closes only as a connection's first byte")
    func binaryMagic() {
        #expect(parseOnce([0x80]) == .close(response: ""))
        var p = Parser()
        let bytes = Array("mn\r\n".utf8) + [0x80] + Array("x\r\n".utf8)
        #expect(bytes.withUnsafeBytes { p.parse($0) } == .command(.metaNoop, consumed: 4))
        #expect(bytes.withUnsafeBytes { p.parse(UnsafeRawBufferPointer(rebasing: $0[4...])) }
                == .reject(response: ErrorResponse.error, consumed: 4, swallow: 0))
    }

    @Test("an empty buffer needs more data")
    func empty() {
        var p = Parser()
        #expect(p.parse(UnsafeRawBufferPointer(start: nil, count: 0)) == .needMoreData)
    }

    @Test("reset forgets a pending data block")
    func reset() {
        var p = Parser()
        let bytes = Array("set k 0 0 5\r\nhel".utf8)
        #expect(bytes.withUnsafeBytes { p.parse($0) } == .needMoreData)
        #expect(p.bytesAwaited > 0)
        p.reset()
        #expect(p.bytesAwaited == 0)
        let next = Array("mn\r\n".utf8)
        #expect(next.withUnsafeBytes { p.parse($0) } == .command(.metaNoop, consumed: 4))
    }
}

/// Every flag byte after a key, against memcached 1.6.18's answer (`mg foo X`, `ms nokey 1 X`,
/// `md nokey X`, `ma nokey X`; flags that need a token get none, so those answer their token error).
@Suite("Meta flag bytes")
struct MetaFlagByteTests {
    static let accepted = Set("ILOPcfhklqstuv".utf8)

    static func mgAnswer(_ c: UInt8) -> String? {
        if accepted.contains(c) { return nil }
        switch c {
        case UInt8(ascii: "C"), UInt8(ascii: "N"), UInt8(ascii: "R"), UInt8(ascii: "T"): return "CLIENT_ERROR bad token in command line format\r\n"
        case UInt8(ascii: "D"): return "CLIENT_ERROR invalid numeric delta value\r\n"
        case UInt8(ascii: "F"): return "CLIENT_ERROR bad command line format\r\n"
        case UInt8(ascii: "J"): return "CLIENT_ERROR invalid numeric initial value\r\n"
        case UInt8(ascii: "M"): return "CLIENT_ERROR incorrect length for M token\r\n"
        case UInt8(ascii: "b"): return "CLIENT_ERROR error decoding key\r\n"
        default: return "CLIENT_ERROR invalid flag\r\n"
        }
    }

    @Test("mg and ms", arguments: Array(UInt8(33)..<UInt8(127)))
    func getAndSet(_ c: UInt8) {
        let get = Array("mg foo ".utf8) + [c] + Array("\r\n".utf8)
        let set = Array("ms nokey 1 ".utf8) + [c] + Array("\r\nx\r\n".utf8)
        if let answer = Self.mgAnswer(c) {
            #expect(SimulatedConnection.run(get).transcript == answer)
            #expect(SimulatedConnection.run(set).transcript == answer)
        } else {
            #expect(SimulatedConnection.run(get).transcript == "{mg foo}")
            #expect(SimulatedConnection.run(set).transcript == "{ms nokey x}")
        }
    }

    @Test("md and ma", arguments: Array(UInt8(33)..<UInt8(127)))
    func deleteAndArithmetic(_ c: UInt8) {
        let delete = Array("md nokey ".utf8) + [c] + Array("\r\n".utf8)
        let arithmetic = Array("ma nokey ".utf8) + [c] + Array("\r\n".utf8)
        if Self.accepted.contains(c) {
            #expect(SimulatedConnection.run(delete).transcript == "{md nokey}")
            #expect(SimulatedConnection.run(arithmetic).transcript == "{ma nokey}")
        } else {
            #expect(SimulatedConnection.run(delete).transcript == invalidOrDup)
            #expect(SimulatedConnection.run(arithmetic).transcript == invalidOrDup)
        }
    }
}
