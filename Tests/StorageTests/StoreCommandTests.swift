import Testing
@testable import Storage

@Suite struct StoreCommandTests {
    @Test func setGetReplaceAdd() {
        let store = makeStore()
        #expect(store.value("a") == nil)
        #expect(store.set("a", "1").isStored)
        #expect(store.value("a") == "1")
        #expect(store.set("a", "2", mode: .add) == .notStored)
        #expect(store.set("b", "2", mode: .add).isStored)
        #expect(store.set("c", "3", mode: .replace) == .notStored)
        #expect(store.value("c") == nil)
        #expect(store.set("a", "3", flags: 7, mode: .replace).isStored)
        #expect(store.get("a") == Fetched(value: Array("3".utf8), flags: 7, cas: store.get("a")!.cas))
        #expect(store.delete("a") == .deleted)
        #expect(store.delete("a") == .notFound)
        #expect(store.value("a") == nil)
    }

    @Test func everyModificationGetsANewCasButTouchDoesNot() {
        let store = makeStore()
        var seen: [UInt64] = []
        seen.append(store.set("k", "1").cas!)
        seen.append(store.set("k", "2").cas!)
        seen.append(store.set("k", "3", mode: .replace).cas!)
        seen.append(store.set("k", "4", mode: .append).cas!)
        seen.append(store.set("k", "0", mode: .prepend).cas!)
        seen.append(store.set("k", "5", mode: .cas, cas: seen.last!).cas!)
        _ = store.incr("k", 1)
        seen.append(store.get("k")!.cas)
        _ = store.decr("k", 1)
        seen.append(store.get("k")!.cas)
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0 < $1 })
        let before = store.get("k")!.cas
        #expect(store.touch("k", 100))
        _ = store.get("k", ReadOptions(touchExptime: 200))
        #expect(store.get("k")!.cas == before)
    }

    @Test func casOutcomes() {
        let store = makeStore()
        #expect(store.set("x", "v", mode: .cas, cas: 5) == .notFound)
        #expect(store.set("x", "v", mode: .cas, cas: 0) == .notFound)
        let cas = store.set("x", "v").cas!
        #expect(store.set("x", "w", mode: .cas, cas: cas + 1) == .exists)
        #expect(store.set("x", "w", mode: .cas, cas: 0) == .exists)
        #expect(store.value("x") == "v")
        let newCas = store.set("x", "w", mode: .cas, cas: cas).cas!
        #expect(newCas > cas)
        #expect(store.value("x") == "w")
        #expect(store.set("x", "z", mode: .cas, cas: cas) == .exists)
        // ms C with set/replace mode means cas; with add it is an add.
        #expect(store.set("x", "z", mode: .set, cas: 1) == .exists)
        #expect(store.set("nokey", "z", mode: .replace, cas: 0) == .notFound)
        #expect(store.set("nokey", "z", mode: .add, cas: 0).isStored)
        let stats = store.statistics()
        #expect(stats.sizeClasses.reduce(0) { $0 + $1.casHits } == 1)
        #expect(stats.sizeClasses.reduce(0) { $0 + $1.casBadval } == 4)
    }

    @Test func appendPrependKeepFlagsAndExptimeAndRespectCas() {
        let store = makeStore()
        #expect(store.set("e", "x", mode: .append) == .notStored)
        #expect(store.set("e", "x", mode: .prepend) == .notStored)
        store.set("e", "x", flags: 7, exptime: 1000)
        #expect(store.set("e", "yz", flags: 9, exptime: 5, mode: .append).isStored)
        #expect(store.set("e", "ab", flags: 9, exptime: 5, mode: .prepend).isStored)
        let item = store.get("e")!
        #expect(item.string == "abxyz")
        #expect(item.flags == 7)
        #expect(store.debug("e")!.exp == -1000)
        #expect(store.set("e", "!", mode: .append, cas: item.cas + 1) == .exists)
        #expect(store.set("e", "!", mode: .append, cas: 0).isStored)  // 0 = no compare
        let cas = store.get("e")!.cas
        #expect(store.set("e", "?", mode: .append, cas: cas).isStored)
        #expect(store.value("e") == "abxyz!?")
    }

    @Test func binarySafeKeysAndValues() {
        let store = makeStore()
        let key: [UInt8] = [0x00, 0x01, 0x0d, 0x0a, 0xff, 0x20]
        let value: [UInt8] = Array("a\r\nb\0c\r\n".utf8) + [0, 0xff, 0x0d]
        let request = StoreRequest(mode: .set)
        let stored = key.withUnsafeBytes { k in value.withUnsafeBytes { v in store.store(k, v, request) } }
        #expect(stored.isStored)
        let back: [UInt8]? = key.withUnsafeBytes { k in
            if case .hit(let v) = store.read(k, .get, { Array($0.value) }) { return v }
            return nil
        }
        #expect(back == value)
        let empty: [UInt8] = []
        #expect(store.set("empty", empty).isStored)
        #expect(store.get("empty")?.value == [])
        let longKey = String(repeating: "k", count: 250)
        #expect(store.set(longKey, "v").isStored)
        #expect(store.value(longKey) == "v")
        #expect(store.value(String(repeating: "k", count: 249)) == nil)
    }

    // memcached 1.6.18 with -I 1m: key "k" stores 1048516 bytes (flags 0) / 1048512 (flags 1).
    @Test(arguments: [(1_048_516, UInt32(0), true), (1_048_517, 0, false), (1_048_512, 1, true), (1_048_513, 1, false)])
    func itemSizeLimitMatchesMemcached(length: Int, flags: UInt32, fits: Bool) {
        let store = makeStore(memory: 8 << 20)
        let outcome = store.set("k", [UInt8](repeating: 0x78, count: length), flags: flags)
        #expect(outcome.isStored == fits)
        if !fits { #expect(outcome == .tooLarge) }
    }

    @Test func failedSetDropsTheOldItemLikeMemcached() {
        let store = makeStore(memory: 8 << 20)
        let huge = [UInt8](repeating: 1, count: 1 << 20)
        store.set("big", "x")
        #expect(store.set("big", huge) == .tooLarge)
        #expect(store.value("big") == nil)
        store.set("big", "x")
        #expect(store.set("big", huge, mode: .add) == .tooLarge)
        #expect(store.set("big", huge, mode: .append) == .tooLarge)
        #expect(store.value("big") == "x")
        // ms drops in every mode.
        let request = StoreRequest(mode: .append, dropExistingOnFailure: true)
        let outcome = Array("big".utf8).withUnsafeBytes { k in huge.withUnsafeBytes { store.store(k, $0, request) } }
        #expect(outcome == .tooLarge)
        #expect(store.value("big") == nil)
        // A combined append over the limit is NOT_STORED and keeps the item.
        store.set("big", "x")
        #expect(store.set("big", [UInt8](repeating: 1, count: 1_048_510), mode: .append).isStored)
        #expect(store.set("big", [UInt8](repeating: 1, count: 100), mode: .append) == .notStored)
        #expect(store.get("big")?.value.count == 1_048_511)
    }

    @Test func debugInfoMatchesMemcachedSizesAndClasses() {
        let store = makeStore()
        store.set("w6", "abc")
        #expect(store.debug("w6") == DebugInfo(exp: -1, lastAccessAgo: 0, cas: store.debug("w6")!.cas, fetched: false, sizeClass: 1, size: 64))
        store.set("w5", "abc", flags: 5)
        #expect(store.debug("w5")!.size == 68)
        _ = store.get("w6")
        #expect(store.debug("w6")!.fetched)
        store.set("e", "x", exptime: 1000)
        store.advance(seconds: 3)
        #expect(store.debug("e")!.exp == -997)  // memcached prints now - exptime
        #expect(store.debug("e")!.lastAccessAgo == 3)
        #expect(store.debug("nothing") == nil)
        store.set("big", [UInt8](repeating: 1, count: 1_048_511))
        #expect(store.debug("big")!.sizeClass == 39)
        #expect(store.debug("big")!.size == 1_048_573)
    }

    /// The table `memcached -vv` prints at start (1.6.18, -n 48 -f 1.25).
    @Test func sizeClassTableIsMemcachedsTable() {
        let memcached = [
            96, 120, 152, 192, 240, 304, 384, 480, 600, 752, 944, 1184, 1480, 1856, 2320, 2904, 3632, 4544,
            5680, 7104, 8880, 11104, 13880, 17352, 21696, 27120, 33904, 42384, 52984, 66232, 82792, 103496,
            129376, 161720, 202152, 252696, 315872, 394840, 524288,
        ]
        #expect(Array(SizeClasses.chunkSizes.dropFirst()) == memcached)
        #expect(SizeClasses.classID(forSize: 96) == 1)
        #expect(SizeClasses.classID(forSize: 97) == 2)
        #expect(SizeClasses.classID(forSize: 1) == 1)
        #expect(SizeClasses.classID(forSize: 600_000) == 39)
    }

    @Test func statisticsCountItemsAndReset() {
        let store = makeStore()
        store.set("a", "1")
        store.set("b", "22")
        store.set("a", "3")
        _ = store.get("a")
        var stats = store.statistics()
        #expect(stats.currItems == 2)
        #expect(stats.totalItems == 3)
        #expect(stats.bytes == 61 + 62)  // memcached sizes: 56 + key+1 + value+2
        #expect(stats.sizeClasses.first?.getHits == 1)
        #expect(stats.sizeClasses.first?.setCommands == 3)
        #expect(stats.usedMemory == stats.hashBytes + stats.spareBytes + stats.sizeClasses.reduce(0) { $0 + $1.memory })
        store.resetStatistics()
        stats = store.statistics()
        #expect(stats.currItems == 2)
        #expect(stats.totalItems == 0)
        #expect(stats.sizeClasses.first?.getHits == 0)
        #expect(stats.bytes == 61 + 62)  // memcached sizes: 56 + key+1 + value+2
    }

    @Test func hashSpreadsKeysOverStripesAndBuckets() {
        var stripes = [Int](repeating: 0, count: 64)
        var buckets = [Int](repeating: 0, count: 1024)
        for i in 0..<64_000 {
            let h = Array("key:\(i)".utf8).withUnsafeBytes { KeyHash.hash($0) }
            stripes[Int(h.multipliedFullWidth(by: 64).high)] += 1
            buckets[Int(truncatingIfNeeded: h) & 1023] += 1
        }
        #expect(stripes.min()! > 850 && stripes.max()! < 1150)
        #expect(buckets.min()! > 30 && buckets.max()! < 100)
    }
}
