import Testing
@testable import Storage

@Suite struct ArithmeticTests {
    /// Each row verified against memcached 1.6.18: stored value, incr?, delta, answer (nil =
    /// non-numeric), what `get` returns afterwards.
    @Test(arguments: [
        ("10", false, UInt64(1), UInt64?(9), "9 "),
        ("9 ", true, 91, 100, "100"),
        ("100", true, 1, 101, "101"),
        ("18446744073709551615", true, 1, 0, "0" + String(repeating: " ", count: 19)),
        ("18446744073709551616", true, 1, nil, "18446744073709551616"),
        ("-5 ", true, 1, nil, "-5 "),
        ("-0", true, 1, 1, "1 "),
        ("-18446744073709551615", true, 1, 2, "2" + String(repeating: " ", count: 20)),
        (" 5 x", true, 1, 6, "6   "),
        ("+5x", true, 1, nil, "+5x"),
        ("+5\0", true, 1, 6, "6  "),
        ("", true, 1, nil, ""),
        ("   ", true, 1, nil, "   "),
        ("0000000000000000000000007", true, 1, 8, "8" + String(repeating: " ", count: 24)),
        ("5\t", true, 1, 6, "6 "),
        ("12\r\n34", true, 1, 13, "13    "),
        ("99", true, 1, 100, "100"),
        ("5", false, 100, 0, "0"),
        ("x", true, 1, nil, "x"),
        ("0x10", true, 1, nil, "0x10"),
        ("18446744073709551615", false, 18446744073709551615, 0, "0" + String(repeating: " ", count: 19)),
        ("1", true, 18446744073709551615, 0, "0"),
    ])
    func incrDecrLikeMemcached(stored: String, incr: Bool, delta: UInt64, answer: UInt64?, after: String) {
        let store = makeStore()
        store.set("n", stored)
        let outcome = store.arith("n", ArithmeticRequest(incr: incr, delta: delta))
        if let answer {
            guard case .value(let result) = outcome else {
                Issue.record("expected a value, got \(outcome)")
                return
            }
            #expect(result.value == answer)
            #expect(!result.created)
        } else {
            #expect(outcome == .nonNumeric)
        }
        #expect(store.value("n") == after)
    }

    @Test func growthKeepsFlagsAndExptimeWithNewCas() {
        let store = makeStore()
        let cas = store.set("b", "9", flags: 5, exptime: 100).cas!
        #expect(store.incr("b", 1) == 10)
        let item = store.get("b")!
        #expect(item.flags == 5)
        #expect(item.cas > cas)
        #expect(store.debug("b")!.exp == -100)
        #expect(store.decr("b", 100) == 0)
        #expect(store.value("b") == "0 ")
    }

    @Test func missCompareAndAutoCreate() {
        let store = makeStore()
        #expect(store.arith("no", ArithmeticRequest(incr: true, delta: 1)) == .notFound)
        #expect(store.arith("no", ArithmeticRequest(incr: true, delta: 1, compareCas: 5)) == .notFound)
        guard case .value(let created) = store.arith("a", ArithmeticRequest(incr: true, delta: 1, autoCreateInitial: 13, autoCreateTTL: 0)) else {
            Issue.record("not created")
            return
        }
        #expect(created.value == 13 && created.created && created.ttlRemaining == -1 && created.ttlBefore == -1)
        #expect(store.value("a") == "13")
        guard case .value(let next) = store.arith("a", ArithmeticRequest(incr: true, delta: 1, autoCreateInitial: 13, autoCreateTTL: 0)) else {
            Issue.record("no value")
            return
        }
        #expect(next.value == 14 && !next.created && next.cas > created.cas)
        #expect(store.arith("a", ArithmeticRequest(incr: true, delta: 1, compareCas: next.cas + 1)) == .exists)
        #expect(store.incr("a", 0) == 14)
        if case .value(let r) = store.arith("a", ArithmeticRequest(incr: true, delta: 1, compareCas: 0)) {
            #expect(r.value == 15)  // 0 = no compare
        } else {
            Issue.record("C0 should not compare")
        }
        let cas = store.get("a")!.cas
        if case .value(let r) = store.arith("a", ArithmeticRequest(incr: false, delta: 5, compareCas: cas, newTTL: 20)) {
            #expect(r.value == 10 && r.ttlRemaining == 20 && r.ttlBefore == -1)
        } else {
            Issue.record("C match should apply")
        }
        // N and T on a created item: the later flag wins (memcached's flag loop).
        if case .value(let r) = store.arith("c", ArithmeticRequest(incr: true, delta: 1, autoCreateTTL: 50, newTTL: 20)) {
            #expect(r.value == 0 && r.ttlRemaining == 20)
        }
        if case .value(let r) = store.arith("d", ArithmeticRequest(incr: true, delta: 1, autoCreateTTL: 50, newTTL: 20, touchAfterVivify: false)) {
            #expect(r.ttlRemaining == 50)
        }
    }

    @Test func decimalParserEdges() {
        func parse(_ s: String) -> UInt64? { Array(s.utf8).withUnsafeBytes { DecimalValue.parse($0) } }
        #expect(parse("0") == 0)
        #expect(parse("18446744073709551615") == UInt64.max)
        #expect(parse("18446744073709551616") == nil)
        #expect(parse("-9223372036854775808") == nil)  // negates to 2^63: top bit set
        #expect(parse("-9223372036854775809") == 9_223_372_036_854_775_807)
        #expect(parse("\n\r\t\u{0B}\u{0C} 7") == 7)
        #expect(parse("-") == nil)
        #expect(parse("+") == nil)
        #expect(parse("7-") == nil)
    }
}
