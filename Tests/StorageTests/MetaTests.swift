import Testing
@testable import Storage

@Suite struct MetaTests {
    @Test func vivifyOnMissThenZ() {
        let store = makeStore()
        let first = store.meta("v1", ReadOptions(vivifyTTL: 30))!
        #expect(first.vivified && first.viewSaidVivified && first.won && !first.alreadyWon && !first.stale)
        #expect(first.value == "" && first.ttl == 30 && first.ttlBefore == -1 && !first.fetchedBefore)
        let second = store.meta("v1", ReadOptions(vivifyTTL: 30))!
        #expect(!second.vivified && !second.viewSaidVivified && !second.won && second.alreadyWon && !second.stale)
        #expect(second.fetchedBefore)  // the creating read counted as a fetch (memcached: h1)
        #expect(store.value("v1") == "")
        // Plain reads see Z too (memcached prints Z for any mg of it).
        #expect(store.meta("v1")!.alreadyWon)
        // A real set replaces the stub; the token is gone.
        store.set("v1", "data")
        let after = store.meta("v1", ReadOptions(vivifyTTL: 30))!
        #expect(!after.won && !after.alreadyWon && after.value == "data")
    }

    @Test func vivifyTTLOrderWithTouch() {
        let store = makeStore()
        #expect(store.meta("a", ReadOptions(touchExptime: 60, vivifyTTL: 30))!.ttl == 60)  // N30 T60
        #expect(store.meta("b", ReadOptions(touchExptime: 60, vivifyTTL: 30, touchAfterVivify: false))!.ttl == 30)
        #expect(store.remainingTTL(forExptime: 60) == 60)
        #expect(store.remainingTTL(forExptime: 0) == -1)
    }

    @Test func recacheWinsOnceWhenTTLBelowThreshold() {
        let store = makeStore()
        store.set("r", "hi", exptime: 100)
        let early = store.meta("r", ReadOptions(recacheThreshold: 30))!
        #expect(!early.won && !early.alreadyWon && early.ttl == 100)
        store.advance(seconds: 80)
        let win = store.meta("r", ReadOptions(recacheThreshold: 30))!
        #expect(win.won && !win.alreadyWon)
        let after = store.meta("r", ReadOptions(recacheThreshold: 30))!
        #expect(!after.won && after.alreadyWon)
        // No expiry: never wins.
        store.set("forever", "x")
        #expect(!store.meta("forever", ReadOptions(recacheThreshold: 1_000))!.won)
    }

    @Test func recacheComparesAgainstTouchedTTLInFlagOrder() {
        let store = makeStore()
        store.set("r2", "hi", exptime: 100)
        let touchedFirst = store.meta("r2", ReadOptions(touchExptime: 10, recacheThreshold: 30))!  // T10 R30
        #expect(touchedFirst.won && touchedFirst.ttl == 10 && touchedFirst.ttlBefore == 100)
        store.set("r3", "hi", exptime: 100)
        let recacheFirst = store.meta("r3", ReadOptions(touchExptime: 10, recacheThreshold: 30, touchBeforeRecache: false))!
        #expect(!recacheFirst.won && recacheFirst.ttl == 10)
    }

    @Test func invalidateMarksStaleAndFirstReaderWins() {
        let store = makeStore()
        let cas = store.set("s", "hi", exptime: 100).cas!
        #expect(store.delete("s", DeleteRequest(compareCas: cas + 1, invalidate: true)) == .exists)
        #expect(store.delete("s", DeleteRequest(compareCas: 0)) == .exists)  // C0 compares exactly
        #expect(store.delete("s", DeleteRequest(invalidate: true, ttl: 30)) == .deleted)
        let first = store.meta("s")!
        #expect(first.stale && first.won && !first.alreadyWon && first.ttl == 30 && first.value == "hi")
        #expect(first.cas > cas)
        let second = store.meta("s")!
        #expect(second.stale && !second.won && second.alreadyWon)
        #expect(store.value("s") == "hi")
        // Invalidating again: new cas, token cleared, next reader wins again.
        #expect(store.delete("s", DeleteRequest(invalidate: true)) == .deleted)
        let third = store.meta("s")!
        #expect(third.cas > first.cas && third.won && !third.alreadyWon && third.ttl == 30)
        // A normal set makes it fresh.
        store.set("s", "new")
        let fresh = store.meta("s")!
        #expect(!fresh.stale && !fresh.won && !fresh.alreadyWon)
        #expect(store.delete("missing", DeleteRequest(invalidate: true)) == .notFound)
    }

    @Test func metaSetInvalidateStoresStaleWithLowerCas() {
        let store = makeStore()
        let cas = store.set("c1", "A", exptime: 100).cas!
        #expect(store.set("c1", "B", mode: .set, cas: cas + 5, invalidate: true) == .exists)
        #expect(store.set("c1", "B", mode: .set, cas: cas - 1) == .exists)
        store.advance(seconds: 10)
        let stored = store.set("c1", "B", exptime: 500, mode: .set, cas: cas - 1, invalidate: true)
        #expect(stored.isStored)
        let read = store.meta("c1")!
        #expect(read.value == "B" && read.stale && read.won && read.ttl == 90)  // keeps the old TTL
        #expect(read.cas == stored.cas)
        // Stale + token sent carries over to the next stale store.
        let again = store.set("c1", "C", mode: .set, cas: 1, invalidate: true)
        #expect(again.isStored)
        let next = store.meta("c1")!
        #expect(next.stale && !next.won && next.alreadyWon && next.value == "C")
    }

    @Test func noBumpReadLeavesFetchAndAccessTime() {
        let store = makeStore()
        store.set("h", "x")
        store.advance(seconds: 5)
        let quiet = store.meta("h", ReadOptions(bumpLRU: false))!
        #expect(!quiet.fetchedBefore && quiet.lastAccessAgo == 5)
        let first = store.meta("h")!
        #expect(!first.fetchedBefore && first.lastAccessAgo == 5)
        let second = store.meta("h")!
        #expect(second.fetchedBefore && second.lastAccessAgo == 0)
        #expect(store.debug("h")!.fetched)
    }

    @Test func expiredByThisReadIsGoneAfterwards() {
        let store = makeStore()
        store.set("x", "v", exptime: 100)
        #expect(store.meta("x", ReadOptions(touchExptime: -1)) != nil)
        #expect(store.meta("x") == nil)
    }

    /// Verified against memcached 1.6.18 (`ms YQ== 1 b` then the command, then `mg a k`).
    @Test func binaryKeyMarkFollowsMemcached() {
        let store = makeStore()
        func marked() -> Bool { store.meta("a")!.binaryKey }
        store.set("a", "9", binaryKey: true)
        #expect(marked() && store.debug("a")!.binaryKey)
        store.set("a", "x", mode: .append)
        #expect(!marked())  // append makes a new, unmarked item
        store.set("a", "9", binaryKey: true)
        _ = store.decr("a", 1)
        #expect(marked())  // in place
        store.set("a", "9", binaryKey: true)
        _ = store.incr("a", 1)
        #expect(!marked())  // "10" needed a longer item
        store.set("a", "9", binaryKey: true)
        store.delete("a", DeleteRequest(invalidate: true))
        #expect(marked())
        store.set("a", "z", mode: .set, cas: 1, invalidate: true)
        #expect(!marked())  // the stale store is a new item from a request without b
        store.set("a", "9", binaryKey: true)
        store.set("a", "z")
        #expect(!marked())
        _ = store.meta("b", ReadOptions(vivifyTTL: 30))
        #expect(!store.meta("b")!.binaryKey)
    }
}
