import Testing
@testable import Storage

@Suite struct ExpiryTests {
    /// (exptime as written, seconds later, still visible?)
    @Test(arguments: [
        (Int64(0), Int64(10_000_000), true),         // never
        (10, 9, true), (10, 10, false),              // relative
        (-1, 0, false),                              // negative: already expired
        (2_592_000, 2_591_999, true),                // 30 days is still relative
        (2_592_000, 2_592_000, false),
        (2_592_001, 0, false),                       // one more second: absolute, long past
        (epoch + 100, 99, true), (epoch + 100, 100, false),  // absolute
        (epoch, 0, false),
    ])
    func exptimeRules(exptime: Int64, later: Int64, visible: Bool) {
        let store = makeStore()
        #expect(store.set("k", "v", exptime: exptime).isStored)
        store.advance(seconds: later)
        #expect((store.value("k") != nil) == visible)
    }

    @Test func negativeExptimeReplacesAndHides() {
        let store = makeStore()
        store.set("neg", "x")
        #expect(store.set("neg", "y", exptime: -1).isStored)
        #expect(store.value("neg") == nil)
        #expect(store.set("neg", "x", exptime: -1, mode: .add).isStored)
        #expect(store.set("neg", "z", mode: .add).isStored)
        #expect(store.value("neg") == "z")
    }

    @Test func touchAndGatChangeExpiry() {
        let store = makeStore()
        store.set("t", "v", exptime: 10)
        #expect(store.touch("t", 100))
        store.advance(seconds: 50)
        #expect(store.value("t") == "v")
        _ = store.get("t", ReadOptions(touchExptime: 5))
        store.advance(seconds: 5)
        #expect(store.value("t") == nil)
        #expect(!store.touch("t", 100))
        store.set("u", "v")
        #expect(store.touch("u", -1))
        #expect(store.value("u") == nil)
    }

    @Test func lazyExpiryCountsGetExpiredAndReclaimed() {
        let store = makeStore()
        store.set("a", "1", exptime: 5)
        store.set("b", "2", exptime: 5)
        _ = store.get("b")
        store.advance(seconds: 5)
        #expect(store.value("a") == nil)
        #expect(store.value("b") == nil)
        let stats = store.statistics()
        #expect(stats.getExpired == 2)
        #expect(stats.reclaimed == 2)
        #expect(stats.expiredUnfetched == 1)
        #expect(stats.currItems == 0)
    }

    @Test func sweepRemovesExpiredItemsInSteps() {
        let store = makeStore(stripes: 8)
        for i in 0..<1000 { store.set("k\(i)", "v", exptime: i % 2 == 0 ? 10 : 0) }
        store.advance(seconds: 10)
        var removed = 0
        var steps = 0
        while removed < 500 && steps < 10_000 {
            removed += store.sweepExpired(budget: 50)
            steps += 1
        }
        #expect(removed == 500)
        #expect(steps > 1)
        let stats = store.statistics()
        #expect(stats.currItems == 500)
        #expect(stats.reclaimed == 500)
        #expect(stats.getExpired == 0)
        #expect(store.sweepExpired(budget: 100_000) == 0)
    }

    @Test func flushAllNow() {
        let store = makeStore()
        store.set("a", "1")
        store.set("b", "2")
        store.flushAll()
        #expect(store.value("a") == nil)
        store.set("c", "3")
        #expect(store.value("c") == "3")
        #expect(store.value("b") == nil)
        #expect(store.statistics().getFlushed == 2)
        // A flushed item does not block add.
        store.set("d", "4")
        store.flushAll(delay: 0)
        #expect(store.set("d", "5", mode: .add).isStored)
    }

    /// memcached's `oldest_live` is the deadline - 1: at that second items written up to its end
    /// are flushed, those written in it afterwards too; from the next second on writes live.
    @Test func flushAllWithDelay() {
        let store = makeStore()
        store.set("a", "1")
        store.flushAll(delay: 10)
        store.advance(seconds: 8)
        #expect(store.value("a") == "1")
        store.set("b", "2")
        store.advance(seconds: 1)
        #expect(store.value("a") == nil)
        #expect(store.value("b") == nil)
        store.advance(seconds: 1)
        store.set("d", "4")
        store.advance(seconds: 100)
        #expect(store.value("d") == "4")
    }

    /// `flush_all 1` acts at once (memcached's deadline - 1 is now); later writes live.
    @Test func flushAllOneSecondActsAtOnce() {
        let store = makeStore()
        store.set("a", "1")
        store.flushAll(delay: 1)
        #expect(store.value("a") == nil)
        store.set("b", "2")
        #expect(store.value("b") == "2")
    }

    /// An absolute time at or before memcached's process start flushes nothing and drops a
    /// pending flush; an absolute time in the past after it flushes what is stored now.
    @Test func flushAllAtAnAbsoluteTimeInThePast() {
        let store = makeStore()
        store.set("a", "1")
        store.flushAll(delay: 2_592_001)
        #expect(store.value("a") == "1")
        store.flushAll(delay: 100)
        store.flushAll(delay: 2_592_001)
        store.advance(seconds: 200)
        #expect(store.value("a") == "1")
        store.flushAll(delay: store.currentTime - 10)
        #expect(store.value("a") == nil)
        store.set("b", "2")
        #expect(store.value("b") == "2")
    }

    /// A TTL already over (negative, or absolute before memcached's process start) makes `t`
    /// print memcached's unsigned wrap-around, not a negative number.
    @Test func pastExptimeReadsAsMemcachedsUnsignedRemainder() {
        let store = makeStore()
        let started = store.currentTime - 62
        #expect(store.remainingTTL(forExptime: -1) == Int64(UInt32(truncatingIfNeeded: started + 1 - store.currentTime)))
        #expect(store.remainingTTL(forExptime: 2_592_001) == 4_294_967_296 - 61)
        store.advance(seconds: 10)
        #expect(store.remainingTTL(forExptime: -5) == 4_294_967_296 - 71)
    }

    @Test func laterFlushReplacesPendingOne() {
        let store = makeStore()
        store.set("a", "1")
        store.flushAll(delay: 2)
        store.flushAll(delay: 100)
        store.advance(seconds: 50)
        #expect(store.value("a") == "1")
        store.advance(seconds: 50)
        #expect(store.value("a") == nil)

        // An immediate flush drops the pending delayed one.
        store.set("b", "1")
        store.flushAll(delay: 10)
        store.flushAll()
        #expect(store.value("b") == nil)
        store.set("c", "1")
        store.advance(seconds: 20)
        #expect(store.value("c") == "1")
    }

    @Test func flushedItemsAreSwept() {
        let store = makeStore()
        for i in 0..<100 { store.set("k\(i)", "v") }
        store.flushAll()
        #expect(store.sweepExpired(budget: 100_000) == 100)
        #expect(store.statistics().currItems == 0)
    }
}
