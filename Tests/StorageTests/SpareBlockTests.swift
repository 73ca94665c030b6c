import Testing
@testable import Storage

/// Unlinked item blocks kept per stripe for the next item of the same size (`SpareBlocks`).
@Suite struct SpareBlockTests {
    func charge(key: String, valueLength: Int) -> Int {
        MemoryCharge.chunk(forRequest: Item.blockSize(keyLength: key.utf8.count, valueLength: valueLength))
    }

    func checkAccounting(_ store: Store) {
        let stats = store.statistics()
        #expect(stats.usedMemory == stats.hashBytes + stats.spareBytes + stats.sizeClasses.reduce(0) { $0 + $1.memory })
    }

    @Test func replacingAnItemReusesTheOldBlock() {
        let store = makeStore(stripes: 1)
        let value = String(repeating: "a", count: 100)
        #expect(store.set("key", value).isStored)
        #expect(store.statistics().spareBytes == 0)
        // The replaced block becomes the spare; the next replace takes it and leaves its own.
        #expect(store.set("key", String(repeating: "b", count: 100)).isStored)
        let oneBlock = charge(key: "key", valueLength: 100)
        #expect(store.statistics().spareBytes == oneBlock)
        let used = store.statistics().usedMemory
        for round in 0..<50 {
            let fill = Character(UnicodeScalar(UInt8(ascii: "c") + UInt8(round % 20)))
            #expect(store.set("key", String(repeating: fill, count: 100)).isStored)
            #expect(store.get("key")?.string == String(repeating: fill, count: 100))
        }
        #expect(store.statistics().spareBytes == oneBlock)
        #expect(store.statistics().usedMemory == used)
        checkAccounting(store)
    }

    @Test func aReusedBlockHoldsExactlyTheNewItem() {
        let store = makeStore(stripes: 1)
        // Same charge, different split between key and value, different flags.
        #expect(store.set("a-longer-key", String(repeating: "x", count: 96), flags: 7).isStored)
        #expect(store.delete("a-longer-key") == .deleted)
        #expect(charge(key: "k2", valueLength: 106) == charge(key: "a-longer-key", valueLength: 96))
        #expect(store.statistics().spareBytes > 0)
        #expect(store.set("k2", String(repeating: "y", count: 106)).isStored)
        #expect(store.statistics().spareBytes == 0)
        let fetched = store.get("k2")
        #expect(fetched?.string == String(repeating: "y", count: 106))
        #expect(fetched?.flags == 0)
        #expect(store.get("a-longer-key") == nil)
        #expect(store.debug("k2")?.fetched == true)
        checkAccounting(store)
    }

    @Test func sparesPerStripeAreBounded() {
        let store = makeStore(stripes: 1)
        for i in 0..<100 { #expect(store.set("k\(i)", String(repeating: "v", count: 100 + 16 * i)).isStored) }
        for i in 0..<100 { #expect(store.delete("k\(i)") == .deleted) }
        let stats = store.statistics()
        #expect(stats.currItems == 0)
        // Only the last `capacity` deleted blocks are kept; the others went back to malloc.
        let kept = (100 - SpareBlocks.capacity..<100).reduce(0) { $0 + charge(key: "k\($1)", valueLength: 100 + 16 * $1) }
        #expect(stats.spareBytes == kept)
        checkAccounting(store)
    }

    @Test func largeBlocksAreNotKept() {
        let store = makeStore(stripes: 1)
        #expect(store.set("big", String(repeating: "v", count: SpareBlocks.largestCharge)).isStored)
        #expect(store.delete("big") == .deleted)
        #expect(store.statistics().spareBytes == 0)
        checkAccounting(store)
    }

    @Test func evictionTakesSparesBeforeLiveItems() {
        let limit = 64 << 10
        let store = makeStore(memory: limit, stripes: 1)
        var keys: [String] = []
        var i = 0
        // Fill to the limit with 200-byte values (evicting once full).
        while store.statistics().evictions == 0 {
            keys.append("k\(i)")
            #expect(store.set("k\(i)", String(repeating: "v", count: 200)).isStored)
            i += 1
        }
        let live = keys.filter { store.debug($0) != nil }
        // Delete a few: their blocks become spares, still charged.
        for key in live.prefix(4) { #expect(store.delete(key) == .deleted) }
        let before = store.statistics()
        #expect(before.spareBytes > 0)
        // A bigger item can't use a spare block, but the spares' memory goes before any live item.
        #expect(store.set("bigger", String(repeating: "w", count: 500)).isStored)
        let after = store.statistics()
        #expect(after.evictions == before.evictions)
        #expect(live.dropFirst(4).allSatisfy { store.debug($0) != nil })
        #expect(after.usedMemory <= limit)
        checkAccounting(store)
    }

    @Test func lruEvictionReusesTheEvictedBlock() {
        let limit = 32 << 10
        let store = makeStore(memory: limit, stripes: 1)
        for i in 0..<2000 { #expect(store.set("k\(i)", String(repeating: "v", count: 100)).isStored) }
        let stats = store.statistics()
        #expect(stats.evictions > 1000)
        #expect(stats.usedMemory <= limit)
        #expect(stats.usedMemory > limit - 1024)
        #expect(store.get("k1999")?.string == String(repeating: "v", count: 100))
        checkAccounting(store)
    }

    @Test func loweringTheLimitFreesSpares() {
        let store = makeStore(memory: 1 << 20, stripes: 1)
        for i in 0..<8 { #expect(store.set("k\(i)", String(repeating: "v", count: 1000)).isStored) }
        for i in 0..<8 { #expect(store.delete("k\(i)") == .deleted) }
        #expect(store.statistics().spareBytes > 0)
        store.setMemoryLimit(store.statistics().hashBytes + 64)
        let stats = store.statistics()
        #expect(stats.spareBytes == 0)
        #expect(stats.usedMemory == stats.hashBytes)
    }
}
