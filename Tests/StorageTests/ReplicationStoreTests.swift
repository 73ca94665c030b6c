import Testing
@testable import Storage

/// Versions apart from CAS, tombstones, and the export/apply pair replication is built on.
@Suite struct ReplicationStoreTests {
    func replicatingStore(tombstoneTTL: Int64 = 60, memory: Int = 64 << 20, node: UInt16 = 7) -> Store {
        let store = Store(
            config: StorageConfig(memoryLimit: memory, stripes: 4, lruBumpInterval: 0, tombstoneTTL: tombstoneTTL),
            nowSeconds: epoch, nowMillis: UInt64(epoch) * 1000)
        store.setNodeID(node)
        return store
    }

    func exported(_ store: Store, _ key: String) -> (state: ItemState, value: [UInt8])? {
        Array(key.utf8).withUnsafeBytes { k in store.export(k) { state, value in (state, Array(value)) } }
    }

    @discardableResult
    func apply(_ store: Store, _ key: String, _ value: String, _ state: ItemState) -> ApplyOutcome {
        Array(key.utf8).withUnsafeBytes { k in Array(value.utf8).withUnsafeBytes { v in store.apply(k, v, state) } }
    }

    func state(clock: UInt64, origin: UInt16 = 3, cas: UInt64? = nil, tombstone: Bool = false, exptime: UInt32 = 0) -> ItemState {
        ItemState(version: ItemVersion(clock: clock, origin: origin), cas: cas ?? clock, flags: 5, exptime: exptime,
                  tombstone: tombstone, stale: false, binaryKey: false)
    }

    /// Physical milliseconds of the test epoch, as a version clock.
    var now: UInt64 { UInt64(epoch) * 1000 << 16 }

    @Test func everyChangeIsANewVersionButTouchKeepsTheCas() throws {
        let store = replicatingStore()
        store.set("k", "1")
        let first = try #require(exported(store, "k"))
        #expect(first.state.version.origin == 7 && first.state.cas == first.state.version.clock)
        #expect(store.touch("k", 100))
        let touched = try #require(exported(store, "k"))
        #expect(touched.state.version > first.state.version)
        #expect(touched.state.cas == first.state.cas)
        _ = store.get("k", ReadOptions(touchExptime: 200))
        let gat = try #require(exported(store, "k"))
        #expect(gat.state.version > touched.state.version && gat.state.cas == first.state.cas)
        _ = store.get("k")  // a plain read changes nothing
        #expect(exported(store, "k")!.state == gat.state)
        _ = store.incr("k", 1)
        let incremented = try #require(exported(store, "k"))
        #expect(incremented.state.cas > gat.state.cas && incremented.state.cas == incremented.state.version.clock)
        #expect(incremented.value == Array("2".utf8))
    }

    @Test func deleteLeavesATombstoneThatIsNeverServedAndOutlivesOlderCopies() throws {
        let store = replicatingStore(tombstoneTTL: 60)
        store.set("k", "v")
        let live = try #require(exported(store, "k"))
        #expect(store.delete("k") == .deleted)
        #expect(store.get("k") == nil)
        #expect(store.delete("k") == .notFound)
        let tombstone = try #require(exported(store, "k"))
        #expect(tombstone.state.tombstone && tombstone.state.version > live.state.version)
        #expect(tombstone.state.exptime == UInt32(epoch + 60))
        #expect(store.statistics().tombstones == 1)
        #expect(store.statistics().currItems == 0)
        // The older live copy arriving late (re-sync, a slow backup) cannot resurrect it.
        #expect(apply(store, "k", "v", live.state) == .older)
        #expect(store.get("k") == nil)
        // A later write replaces the tombstone; no key is ever in a chain twice.
        #expect(store.set("k", "again").isStored)
        #expect(store.value("k") == "again")
        #expect(store.statistics().tombstones == 0)
        #expect(store.delete("k") == .deleted)
        // Past its grace period the tombstone goes (lookups and the sweep drop it).
        store.advance(seconds: 61)
        _ = store.sweepExpired(budget: 1 << 20)
        #expect(store.statistics().tombstones == 0)
        #expect(exported(store, "k") == nil)
    }

    @Test func aStoreRefusedAsTooLargeDropsTheOldItemWithATombstone() throws {
        let store = Store(
            config: StorageConfig(memoryLimit: 64 << 20, maxItemSize: 1024, stripes: 4, tombstoneTTL: 60),
            nowSeconds: epoch, nowMillis: UInt64(epoch) * 1000)
        store.set("k", "small")
        #expect(store.set("k", String(repeating: "x", count: 2000)) == .tooLarge)
        #expect(store.get("k") == nil)
        #expect(try #require(exported(store, "k")).state.tombstone)
    }

    @Test func aStandaloneStoreKeepsNoTombstones() {
        let store = replicatingStore(tombstoneTTL: 0)
        store.set("k", "v")
        #expect(store.delete("k") == .deleted)
        #expect(exported(store, "k") == nil)
        #expect(store.statistics().tombstones == 0)
    }

    @Test func applyKeepsTheNewerVersionAndCarriesTheCas() throws {
        let store = replicatingStore()
        #expect(apply(store, "k", "one", state(clock: now + 10, cas: now + 5)) == .applied)
        #expect(store.get("k") == Fetched(value: Array("one".utf8), flags: 5, cas: now + 5))
        #expect(apply(store, "k", "one", state(clock: now + 10, cas: now + 5)) == .same)
        #expect(apply(store, "k", "old", state(clock: now + 9)) == .older)
        // Same clock, higher node id: newer.
        #expect(apply(store, "k", "two", state(clock: now + 10, origin: 4)) == .applied)
        #expect(store.value("k") == "two")
        #expect(apply(store, "k", "gone", state(clock: now + 11, tombstone: true, exptime: UInt32(epoch + 60))) == .applied)
        #expect(store.get("k") == nil)
        #expect(exported(store, "k")!.state.tombstone)
        // A version and CAS this node issues later are above what it received.
        let big = now + 5_000 << 16
        #expect(apply(store, "j", "x", state(clock: now + 20, cas: big)) == .applied)
        #expect(store.set("j", "y").cas! > big)
    }

    @Test func aVersionTooFarAheadIsRefused() {
        let store = replicatingStore()
        #expect(apply(store, "k", "v", state(clock: now + 2_000 << 16)) == .clockSkew)
        #expect(store.get("k") == nil)
        #expect(apply(store, "k", "v", state(clock: now + 500 << 16)) == .applied)
    }

    @Test func aFlushedChangeNeverComesBack() {
        let store = replicatingStore()
        store.set("x", "written before the flush")
        let before = exported(store, "x")!.state.version.clock
        store.flushAll()
        #expect(apply(store, "k", "v", state(clock: before)) == .flushed)
        #expect(store.get("k") == nil)
        #expect(store.set("k", "after").isStored)
        #expect(store.value("k") == "after")
    }

    @Test func expiryTravelsWithTheCopy() {
        let store = replicatingStore()
        #expect(apply(store, "k", "v", state(clock: now + 1, exptime: UInt32(epoch + 10))) == .applied)
        #expect(store.value("k") == "v")
        store.advance(seconds: 11)
        #expect(store.get("k") == nil)
    }

    @Test func copiesAreCountedApartFromOwnedItemsUntilChangedHereOrOwned() {
        let store = replicatingStore(memory: 1 << 20)
        #expect(apply(store, "c1", "v", state(clock: now + 1)) == .applied)
        #expect(apply(store, "c2", "v", state(clock: now + 2)) == .applied)
        store.set("own", "v")
        var stats = store.statistics()
        #expect(stats.currItems == 3 && stats.copyItems == 2 && stats.copyBytes > 0)
        store.set("c1", "mine now")  // a change made here
        #expect(store.touch("c2", 100))
        #expect(store.statistics().copyItems == 0)
        #expect(apply(store, "c3", "v", state(clock: now + 3)) == .applied)
        #expect(store.statistics().copyItems == 1)
        Array("c3".utf8).withUnsafeBytes { store.markOwned($0) }
        stats = store.statistics()
        #expect(stats.copyItems == 0 && stats.copyBytes == 0)
        // Evicted copies are counted as such.
        let value = String(repeating: "x", count: 1000)
        for i in 0..<2000 { #expect(apply(store, "e\(i)", value, state(clock: now + 10 + UInt64(i))) == .applied) }
        stats = store.statistics()
        let ownedLeft = ["c1", "c2", "c3", "own"].filter { store.debug($0) != nil }.count
        #expect(stats.evictedCopies > 0 && stats.evictedCopies <= stats.evictions)
        #expect(stats.evictions - stats.evictedCopies == UInt64(4 - ownedLeft))
        #expect(stats.copyItems == stats.currItems - ownedLeft)
    }

    @Test func evictionNeverTakesATombstone() {
        let store = replicatingStore(tombstoneTTL: 60, memory: 1 << 20)
        for i in 0..<100 { store.set("dead\(i)", "v") }
        for i in 0..<100 { #expect(store.delete("dead\(i)") == .deleted) }
        let value = String(repeating: "x", count: 1000)
        for i in 0..<3000 { store.set("fill\(i)", value) }
        let stats = store.statistics()
        #expect(stats.evictions > 0)
        #expect(stats.tombstones == 100)
        #expect(apply(store, "dead5", "v", state(clock: 1)) == .older)
    }
}
