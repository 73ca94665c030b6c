import Testing
@testable import TextProtocol

func withToken<R>(_ text: String, _ body: (UnsafeRawPointer, Span) -> R) -> R {
    let bytes = Array(text.utf8) + [0x20]
    return bytes.withUnsafeBytes { body($0.baseAddress!, Span(start: 0, count: bytes.count - 1)) }
}

/// Each value was checked against memcached 1.6.18 where a command shows it (flags of a `set`
/// read back with `get`, data lengths, exptimes that expire at once, deltas of `incr`).
@Suite("memcached number rules")
struct NumberParsingTests {
    @Test("safe_strtoull", arguments: [
        ("0", 0), ("05", 5), ("+5", 5), ("-0", 0), ("-1", nil), ("-9223372036854775808", nil),
        ("18446744073709551615", UInt64.max), ("18446744073709551616", nil), ("-18446744073709551615", 1),
        ("\t5", 5), ("\r5", 5), ("5\t", 5), ("5\tx", 5), ("5\r", 5), ("5x", nil), ("0x5", nil), ("", nil), ("+", nil),
        ("-", nil), ("\t", nil), ("1 ", 1),
    ] as [(String, UInt64?)])
    func uint64(_ text: String, _ expected: UInt64?) {
        #expect(withToken(text) { NumberParsing.uint64($0, $1) } == expected)
    }

    @Test("safe_strtoul into uint32_t (flags truncate)", arguments: [
        ("4294967295", 4294967295), ("4294967296", 0), ("18446744073709551615", 4294967295), ("-1", nil), ("-0", 0),
        ("4294967304", 8),
    ] as [(String, UInt32?)])
    func uint32(_ text: String, _ expected: UInt32?) {
        #expect(withToken(text) { NumberParsing.uint32($0, $1) } == expected)
    }

    @Test("safe_strtol into int32_t (truncates, no range check)", arguments: [
        ("0", 0), ("-1", -1), ("+1", 1), ("2147483647", Int32.max), ("2147483648", Int32.min), ("4294967297", 1),
        ("-4294967295", 1), ("-2147483649", Int32.max), ("99999999999", 1215752191),
        ("9223372036854775807", -1), ("9223372036854775808", nil), ("-9223372036854775808", 0),
        ("-9223372036854775809", nil), ("99999999999999999999", nil), ("1x", nil), ("", nil),
    ] as [(String, Int32?)])
    func int32(_ text: String, _ expected: Int32?) {
        #expect(withToken(text) { NumberParsing.int32($0, $1) } == expected)
    }
}

@Suite("Base64 as memcached decodes it")
struct Base64Tests {
    static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        var out = [UInt8](repeating: 0, count: Base64.decodedCapacity(input.count) + 1)
        let n = input.withUnsafeBytes { i in out.withUnsafeMutableBytes { Base64.decode(i, into: $0.baseAddress!) } }
        let counted = input.withUnsafeBytes { Base64.decodedCount($0) }
        #expect(n == counted)
        return n.map { Array(out[0..<$0]) }
    }

    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8](repeating: 0, count: Base64.encodedCount(bytes.count))
        let n = bytes.withUnsafeBytes { i in out.withUnsafeMutableBytes { Base64.encode(i, into: $0.baseAddress!) } }
        #expect(n == out.count)
        return String(decoding: out, as: UTF8.self)
    }

    // memcached's answers: `mg <key> b k` echoes the decoded key re-encoded, or errors.
    @Test("decode", arguments: [
        ("Zm9v", Array("foo".utf8)), ("Zm9v!", Array("foo".utf8)), ("!Zm9v", Array("foo".utf8)), ("Zm9", nil),
        ("Zm8=", Array("fo".utf8)), ("Zg==", Array("f".utf8)), ("Zg=x", [0x66, 0x00]), ("Zg==Zm9v", Array("f".utf8)),
        ("====", nil), ("A===", nil), ("", nil), ("!!!!", nil), ("foo", nil), ("nokey", nil), ("dA==", Array("t".utf8)),
        ("Zm9vYmFy", Array("foobar".utf8)), ("Zm 9v", Array("foo".utf8)), ("Zm\t9v", Array("foo".utf8)),
    ] as [(String, [UInt8]?)])
    func decode(_ text: String, _ expected: [UInt8]?) {
        #expect(Self.decode(text) == expected)
    }

    @Test("encode", arguments: [
        ([], ""), (Array("f".utf8), "Zg=="), (Array("fo".utf8), "Zm8="), (Array("foo".utf8), "Zm9v"), ([0x66, 0x00], "ZgA="),
        ([0xFB, 0xFF], "+/8="),
    ] as [([UInt8], String)])
    func encode(_ bytes: [UInt8], _ expected: String) {
        #expect(Self.encode(bytes) == expected)
    }

    @Test("a 186-byte binary key, as memcached printed it (no line breaks)")
    func longKey() {
        let key = (1...186).map { UInt8($0) }
        let text = Self.encode(key)
        #expect(text == "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTlJWWl5iZmpucnZ6foKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6")
        #expect(Self.decode(text) == key)
    }

    @Test("round trip of every length up to 190")
    func roundTrip() {
        for n in 1...190 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ n) }
            #expect(Self.decode(Self.encode(bytes)) == bytes)
        }
    }
}

@Suite("MetaFlags storage")
struct MetaFlagsTests {
    @Test("every optional field reads back what was set, and nil")
    func roundTrip() {
        var f = MetaFlags()
        #expect(f.opaque == nil && f.ttl == nil && f.vivifyTTL == nil && f.recacheThreshold == nil && f.compareCas == nil)
        #expect(f.clientFlags == nil && f.delta == nil && f.initial == nil && f.mode == nil)
        f.opaque = Span(start: 7, count: 3)
        f.ttl = Int64.min
        f.vivifyTTL = -1
        f.recacheThreshold = Int64.max
        f.compareCas = UInt64.max
        f.clientFlags = UInt32.max
        f.delta = 0
        f.initial = 42
        f.mode = UInt8(ascii: "E")
        #expect(f.opaque == Span(start: 7, count: 3))
        #expect(f.ttl == Int64.min && f.vivifyTTL == -1 && f.recacheThreshold == Int64.max)
        #expect(f.compareCas == UInt64.max && f.clientFlags == UInt32.max && f.delta == 0 && f.initial == 42)
        #expect(f.mode == UInt8(ascii: "E"))
        var g = f
        #expect(g == f)
        g.delta = nil
        #expect(g.delta == nil && g != f)
        g.delta = 0
        #expect(g == f)
        f.opaque = nil
        f.ttl = nil
        f.mode = nil
        #expect(f.opaque == nil && f.ttl == nil && f.mode == nil && f.vivifyTTL == -1)
    }

    @Test("a command stays small enough to move without memcpy")
    func size() {
        #expect(MemoryLayout<Command>.size <= 120)
        #expect(MemoryLayout<ParseResult>.size <= 128)
    }
}
