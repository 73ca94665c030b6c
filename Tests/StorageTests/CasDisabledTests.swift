import Testing
@testable import Storage

/// `-C` (`StorageConfig.casEnabled = false`): the answers memcached 1.6.18 gives with `-C`,
/// checked by hand against it: every CAS shown is 0, `cas`/`ms C` never match an existing item
/// (EXISTS, counted as cas_badval), `ma`/`md` with `C0` match and with any other CAS do not,
/// `ms MA/MP C<n>` appends anyway; and the store still works underneath (flush, re-checks).
@Suite struct CasDisabledTests {
    func store() -> Store {
        Store(
            config: StorageConfig(memoryLimit: 64 << 20, stripes: 4, lruBumpInterval: 0, casEnabled: false),
            nowSeconds: epoch, nowMillis: UInt64(epoch) * 1000)
    }

    @Test func everyCasShownIsZero() {
        let s = store()
        #expect(s.set("a", "1") == .stored(cas: 0))
        #expect(s.set("a", "2", mode: .replace) == .stored(cas: 0))
        #expect(s.set("a", "3", mode: .append) == .stored(cas: 0))
        #expect(s.get("a")?.cas == 0)
        #expect(s.meta("a")?.cas == 0)
        #expect(s.debug("a")?.cas == 0)
        guard case .value(let r) = s.arith("n", ArithmeticRequest(incr: true, delta: 1, autoCreateInitial: 5, autoCreateTTL: 0)) else {
            Issue.record("ma N did not create")
            return
        }
        #expect(r.cas == 0)
        guard case .value(let r2) = s.arith("n", ArithmeticRequest(incr: true, delta: 1)) else {
            Issue.record("incr failed")
            return
        }
        #expect(r2.cas == 0 && r2.value == 6)
        // A vivified item (mg N) shows 0 too.
        #expect(s.meta("v", ReadOptions(vivifyTTL: 30))?.cas == 0)
    }

    @Test func casCompareNeverMatchesAnExistingItem() {
        let s = store()
        #expect(s.set("x", "v", mode: .cas, cas: 5) == .notFound)
        #expect(s.set("x", "v", mode: .cas, cas: 0) == .notFound)
        s.set("x", "v")
        #expect(s.set("x", "w", mode: .cas, cas: 0) == .exists)
        #expect(s.set("x", "w", mode: .cas, cas: 1) == .exists)
        #expect(s.set("x", "w", mode: .set, cas: 0) == .exists)  // ms C0
        #expect(s.set("x", "w", mode: .set, cas: 5, invalidate: true) == .exists)  // ms I C5
        #expect(s.value("x") == "v")
        let stats = s.statistics()
        #expect(stats.sizeClasses.reduce(0) { $0 + $1.casHits } == 0)
        #expect(stats.sizeClasses.reduce(0) { $0 + $1.casBadval } == 4)
    }

    @Test func appendWithACasAppendsAnyway() {
        let s = store()
        s.set("q", "z")
        #expect(s.set("q", "a", mode: .append, cas: 5) == .stored(cas: 0))
        #expect(s.set("q", "p", mode: .prepend, cas: 7) == .stored(cas: 0))
        #expect(s.value("q") == "pza")
    }

    @Test func arithmeticAndDeleteMatchOnlyCasZero() {
        let s = store()
        s.set("n", "7")
        #expect(s.arith("n", ArithmeticRequest(incr: true, delta: 1, compareCas: 3)) == .exists)
        guard case .value(let r) = s.arith("n", ArithmeticRequest(incr: true, delta: 1, compareCas: 0)) else {
            Issue.record("ma C0 did not apply")
            return
        }
        #expect(r.value == 8)
        #expect(s.delete("n", DeleteRequest(compareCas: 5)) == .exists)
        #expect(s.delete("n", DeleteRequest(compareCas: 0)) == .deleted)
        #expect(s.value("n") == nil)
    }

    /// Versions stay inside the store: a flush removes what was stored before it and nothing
    /// stored after it (were every item's version 0, items stored after a flush would vanish).
    @Test func flushStillSeparatesBeforeFromAfter() {
        let s = store()
        s.set("old", "1")
        s.flushAll()
        #expect(s.value("old") == nil)
        s.set("new", "2")
        #expect(s.value("new") == "2")
        s.flushAll(delay: 10)
        s.set("newer", "3")
        s.advance(seconds: 11)
        #expect(s.value("new") == nil)
        #expect(s.value("newer") == nil)
        s.set("after", "4")
        #expect(s.value("after") == "4")
    }

    @Test func enabledByDefault() {
        #expect(StorageConfig().casEnabled)
        let s = makeStore()
        #expect(s.set("a", "1").cas! > 0)
    }
}
