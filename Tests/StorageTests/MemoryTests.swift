import Dispatch
import Synchronization
import Testing
@testable import Storage

@Suite struct MemoryTests {
    /// Keys still present, checked with `me` (which does not bump).
    func present(_ store: Store, _ keys: [String]) -> [String] { keys.filter { store.debug($0) != nil } }

    @Test func lruEvictsLeastRecentlyUsedFirst() {
        let store = makeStore(memory: 8 << 10, stripes: 1, bump: 0)
        let value = String(repeating: "v", count: 100)
        let originals = (0..<20).map { "k\($0)" }
        for key in originals { #expect(store.set(key, value).isStored) }
        #expect(store.statistics().evictions == 0)
        // Touch k0, k1, k2 in the order k2, k0, k1; k5 read without bump; k7 touched.
        _ = store.get("k2")
        _ = store.get("k0")
        _ = store.get("k1")
        _ = store.get("k5", ReadOptions(bumpLRU: false))
        #expect(store.touch("k7", 0))
        let expectedOrder = originals.filter { !["k0", "k1", "k2", "k7"].contains($0) } + ["k2", "k0", "k1", "k7"]

        var fresh = 0
        while present(store, originals).count > 0 {
            store.set("n\(fresh)", value)
            fresh += 1
            let missing = originals.filter { store.debug($0) == nil }
            #expect(Set(missing) == Set(expectedOrder.prefix(missing.count)), "after \(fresh) new items")
            if fresh > 1000 { break }
        }
        let stats = store.statistics()
        #expect(stats.evictions >= 20)
        #expect(stats.evictedUnfetched >= 16)
        #expect(stats.usedMemory <= 8 << 10)
    }

    @Test func bumpIntervalLimitsLRUMoves() {
        let store = makeStore(memory: 8 << 10, stripes: 1, bump: 60)
        let value = String(repeating: "v", count: 100)
        store.set("a", value)
        store.set("b", value)
        _ = store.get("a")  // within 60 s of its store: not moved
        var i = 0
        while store.debug("a") != nil && store.debug("b") != nil {
            store.set("f\(i)", value)
            i += 1
        }
        #expect(store.debug("a") == nil && store.debug("b") != nil)

        let later = makeStore(memory: 8 << 10, stripes: 1, bump: 60)
        later.set("a", value)
        later.set("b", value)
        later.advance(seconds: 60)
        _ = later.get("a")  // 60 s later: moved to the head
        i = 0
        while later.debug("a") != nil && later.debug("b") != nil {
            later.set("f\(i)", value)
            i += 1
        }
        #expect(later.debug("a") != nil && later.debug("b") == nil)
    }

    @Test func expiredItemsAtTheTailAreReclaimedBeforeLiveOnes() {
        let store = makeStore(memory: 8 << 10, stripes: 1, evictions: false)
        let value = String(repeating: "v", count: 100)
        var stored = 0
        while store.set("k\(stored)", value, exptime: stored < 3 ? 10 : 0).isStored { stored += 1 }
        #expect(store.set("x", value) == .outOfMemory)
        #expect(store.statistics().outOfMemory == 2)  // the fill loop's last set, and x
        store.advance(seconds: 10)
        #expect(store.set("y", value).isStored)  // reclaims an expired one, evicts nothing
        let stats = store.statistics()
        #expect(stats.evictions == 0)
        #expect(stats.reclaimed >= 1)
        #expect(store.value("k5") == value)
    }

    @Test func outOfMemoryWithoutEvictionsDropsOldValueOnSet() {
        let store = makeStore(memory: 8 << 10, stripes: 1, evictions: false)
        let value = String(repeating: "v", count: 100)
        var stored = 0
        while store.set("k\(stored)", value).isStored { stored += 1 }
        #expect(stored > 10)
        let bigger = value + String(repeating: "m", count: 50)
        #expect(store.set("k1", bigger, mode: .add) == .outOfMemory)
        #expect(store.value("k1") == value)
        #expect(store.set("k0", bigger) == .outOfMemory)
        #expect(store.value("k0") == nil)  // memcached unlinks the old item of a failed set
    }

    /// Writes 3x the limit with random sizes; the charged memory never exceeds the limit and
    /// always equals the sum of the items' chunks plus the bucket arrays.
    @Test(arguments: [1, 8])
    func memoryLimitHoldsUnderThreeTimesFill(stripes: Int) {
        let limit = 1 << 20
        let store = makeStore(memory: limit, stripes: stripes)
        var generator = SplitMix(seed: 42)
        var written = 0
        var i = 0
        while written < 3 * limit {
            let length = Int(generator.next() % 4000)
            let outcome = store.set("key:\(i)", [UInt8](repeating: UInt8(i & 0xff), count: length))
            #expect(outcome.isStored)
            written += length + 60
            i += 1
            if i % 50 == 0 {
                let stats = store.statistics()
                #expect(stats.usedMemory <= limit)
                #expect(stats.usedMemory == stats.hashBytes + stats.spareBytes + stats.sizeClasses.reduce(0) { $0 + $1.memory })
            }
        }
        let stats = store.statistics()
        #expect(stats.evictions > 0)
        #expect(stats.usedMemory <= limit)
        #expect(stats.usedMemory > limit - 8_192)  // full, not over-evicting
        #expect(stats.currItems + Int(stats.evictions) == i)
    }

    @Test func memoryLimitHoldsWithConcurrentWriters() {
        let limit = 2 << 20
        let store = makeStore(memory: limit, stripes: 16)
        let maxSeen = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            var generator = SplitMix(seed: UInt64(thread))
            for i in 0..<6000 {
                let length = Int(generator.next() % 2000)
                _ = store.set("t\(thread):\(i)", [UInt8](repeating: 1, count: length))
                if i % 64 == 0 { maxSeen.max(store.statistics().usedMemory, ordering: .relaxed) }
            }
        }
        let stats = store.statistics()
        #expect(maxSeen.load(ordering: .relaxed) <= limit)
        #expect(stats.usedMemory <= limit)
        #expect(stats.evictions > 0)
        #expect(stats.usedMemory == stats.hashBytes + stats.spareBytes + stats.sizeClasses.reduce(0) { $0 + $1.memory })
    }

    @Test func loweringTheLimitEvictsDownToIt() {
        let store = makeStore(memory: 1 << 20, stripes: 4)
        for i in 0..<2000 { store.set("k\(i)", String(repeating: "x", count: 300)) }
        #expect(store.statistics().usedMemory > 600_000)
        store.setMemoryLimit(256 << 10)
        let stats = store.statistics()
        #expect(stats.usedMemory <= 256 << 10)
        #expect(stats.limitMaxbytes == 256 << 10)
        #expect(store.config.memoryLimit == 256 << 10)
        #expect(store.set("new", "value").isStored)
    }

    @Test func tableGrowsAndKeepsEveryItem() {
        let store = makeStore(memory: 8 << 20, stripes: 2)
        let before = store.statistics().hashBuckets
        for i in 0..<50_000 { store.set("key-\(i)", "\(i)") }
        let stats = store.statistics()
        #expect(stats.hashBuckets > before)
        #expect(stats.currItems == 50_000)
        #expect(stats.evictions == 0)
        #expect(Double(stats.currItems) / Double(stats.hashBuckets) <= 1.5)
        for i in stride(from: 0, to: 50_000, by: 7) { #expect(store.value("key-\(i)") == "\(i)") }
    }

    /// Writes 4x the limit (RINGCACHE_RSS_FACTOR to change) from 4 threads and reports the process's resident memory. Process-wide
    /// RSS is meaningless while other tests run, so it runs only on request:
    /// `RINGCACHE_RSS_TEST=1 swift test --filter residentMemory`.
    @Test(.enabled(if: Environment.rssTestRequested))
    func residentMemoryStaysNearTheLimit() {
        let limit = 64 << 20
        let store = makeStore(memory: limit, stripes: 64)
        let baseline = Environment.residentBytes()
        let peak = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            var generator = SplitMix(seed: UInt64(thread) &+ 99)
            var written = 0
            var i = 0
            while written < limit * Environment.rssWriteFactor / 4 {
                // Mixed sizes: mostly small, some large, so freed chunks don't fit new ones.
                let length = generator.next() % 10 == 0 ? Int(generator.next() % 60_000) : Int(generator.next() % 1_500)
                _ = store.set("t\(thread):\(i)", [UInt8](repeating: 7, count: length))
                written += length + 80
                i += 1
                if i % 256 == 0 { peak.max(Environment.residentBytes(), ordering: .relaxed) }
                if thread == 0 && i % 4096 == 0 && Environment.trimRequested { Environment.trim() }
            }
        }
        let stats = store.statistics()
        let overhead = peak.load(ordering: .relaxed) - baseline
        print("RSS baseline \(baseline >> 20) MiB, peak growth \(overhead >> 20) MiB for limit \(limit >> 20) MiB; used \(stats.usedMemory >> 20) MiB, items \(stats.currItems)")
        #expect(stats.usedMemory <= limit)
        #expect(overhead < limit + limit / 2)
    }
}

/// A small deterministic generator for tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
