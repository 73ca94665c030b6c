#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-size-class counters of one stripe (summed over stripes for `stats items`/`stats slabs`).
struct ClassCounters {
    var items = 0
    var requestedBytes = 0
    var memory = 0
    var evicted: UInt64 = 0
    var evictedNonzero: UInt64 = 0
    var evictedUnfetched: UInt64 = 0
    var expiredUnfetched: UInt64 = 0
    var reclaimed: UInt64 = 0
    var outOfMemory: UInt64 = 0
    var getHits: UInt64 = 0
    var setCommands: UInt64 = 0
    var deleteHits: UInt64 = 0
    var incrHits: UInt64 = 0
    var decrHits: UInt64 = 0
    var casHits: UInt64 = 0
    var casBadval: UInt64 = 0
    var touchHits: UInt64 = 0

    /// Zero the counters, keep what describes the items held.
    mutating func resetCounters() {
        self = ClassCounters(items: items, requestedBytes: requestedBytes, memory: memory)
    }
}

/// One stripe of the table: its mutex, its own bucket array (grows by doubling), its own LRU list
/// and its counters. Lives in memory allocated once by `Store` and never moves.
///
/// Every member except `mutex` is read or written only with `mutex` held ("locked" in the names
/// of the methods below means: the caller holds it).
struct Stripe {
    var mutex = pthread_mutex_t()
    /// `bucketMask + 1` slots of `UnsafeMutableRawPointer?`, accessed raw.
    var buckets: UnsafeMutableRawPointer
    var bucketMask: Int
    var count = 0
    /// Most recently used.
    var head: UnsafeMutableRawPointer? = nil
    /// Least recently used: eviction starts here.
    var tail: UnsafeMutableRawPointer? = nil
    var totalItems: UInt64 = 0
    /// Tombstones in the chains (not in the LRU, not in the class counters) and their charge.
    var tombstones = 0
    var tombstoneBytes = 0
    /// Live items that are copies of another node's changes (`Item.Bit.copy`), their charge, and
    /// how many of the evicted items were such copies.
    var copyItems = 0
    var copyBytes = 0
    var evictedCopies: UInt64 = 0
    var getExpired: UInt64 = 0
    var getFlushed: UInt64 = 0
    /// `SizeClasses.chunkSizes.count` entries.
    var classes: UnsafeMutablePointer<ClassCounters>
    /// Where the background sweep continues in this stripe.
    var sweepBucket = 0
    /// Unlinked blocks kept for reuse, still charged against the limit.
    var spares = SpareBlocks()

    static let pointerSize = MemoryLayout<UnsafeMutableRawPointer?>.stride

    init(bucketCount: Int) {
        buckets = UnsafeMutableRawPointer.allocate(byteCount: bucketCount * Stripe.pointerSize, alignment: 16)
        buckets.initializeMemory(as: UInt8.self, repeating: 0, count: bucketCount * Stripe.pointerSize)
        bucketMask = bucketCount - 1
        classes = .allocate(capacity: SizeClasses.chunkSizes.count)
        classes.initialize(repeating: ClassCounters(), count: SizeClasses.chunkSizes.count)
    }

    var bucketCount: Int { bucketMask + 1 }
    var bucketBytes: Int { bucketCount * Stripe.pointerSize }

    // MARK: Hash chains

    /// The address of the slot that holds bucket `index`'s first item.
    @inline(__always) func bucketSlot(_ hash: UInt64) -> UnsafeMutableRawPointer {
        buckets + (Int(truncatingIfNeeded: hash) & bucketMask) * Stripe.pointerSize
    }

    /// Finds the item with this key (live or not). `slot` is the address that points at it
    /// (a bucket slot or the previous item's `hnext`, which is at offset 0 of an item).
    @inline(__always) func findLocked(_ hash: UInt64, _ key: UnsafeRawBufferPointer) -> (item: Item, slot: UnsafeMutableRawPointer)? {
        var slot = bucketSlot(hash)
        while let raw = slot.load(as: UnsafeMutableRawPointer?.self) {
            let item = Item(raw)
            if item.keyEquals(key) { return (item, slot) }
            slot = raw
        }
        return nil
    }

    /// Finds the slot pointing at `item` by walking its chain (for unlinking an item found by
    /// LRU or sweep). The item must be linked.
    func slotLocked(of item: Item, hash: UInt64) -> UnsafeMutableRawPointer {
        var slot = bucketSlot(hash)
        while let raw = slot.load(as: UnsafeMutableRawPointer?.self) {
            if raw == item.raw { return slot }
            slot = raw
        }
        preconditionFailure("Storage: linked item missing from its hash chain")
    }

    /// Links a new item at the head of its chain and of the LRU, and counts it.
    @inline(__always) mutating func linkLocked(_ item: Item, hash: UInt64) {
        let slot = bucketSlot(hash)
        item.hnext = slot.load(as: UnsafeMutableRawPointer?.self)
        slot.storeBytes(of: item.raw, as: UnsafeMutableRawPointer?.self)
        lruPushHead(item)
        count += 1
        totalItems += 1
        countCopy(item, +1)
        let size = item.memcachedSize
        let counters = classes + item.sizeClass
        counters.pointee.items += 1
        counters.pointee.requestedBytes += size
        counters.pointee.memory += item.charge
    }

    /// Unlinks an item from its chain (given the slot pointing at it) and from the LRU.
    @inline(__always) mutating func unlinkLocked(_ item: Item, slot: UnsafeMutableRawPointer) {
        slot.storeBytes(of: item.hnext, as: UnsafeMutableRawPointer?.self)
        item.hnext = nil
        lruRemove(item)
        count -= 1
        countCopy(item, -1)
        let counters = classes + item.sizeClass
        counters.pointee.items -= 1
        counters.pointee.requestedBytes -= item.memcachedSize
        counters.pointee.memory -= item.charge
    }

    /// Links a new live item whose key `lookupLocked` did not find live: a tombstone of the key
    /// (which lookups skip) is unlinked into `garbage` first, so a key is never in a chain twice.
    @inline(__always) mutating func linkReplacingTombstoneLocked(_ item: Item, hash: UInt64, garbage: inout Garbage) {
        if tombstones > 0, let old = findLocked(hash, item.key) {
            precondition(old.item.isTombstone, "Storage: linking a key that is already live")
            unlinkTombstoneLocked(old.item, slot: old.slot)
            garbage.push(old.item)
        }
        linkLocked(item, hash: hash)
    }

    /// Links a tombstone (chain only) in place of nothing.
    @inline(__always) mutating func linkTombstoneLocked(_ tombstone: Item, hash: UInt64) {
        let slot = bucketSlot(hash)
        tombstone.hnext = slot.load(as: UnsafeMutableRawPointer?.self)
        tombstone.prev = nil
        tombstone.next = nil
        slot.storeBytes(of: tombstone.raw, as: UnsafeMutableRawPointer?.self)
        count += 1
        tombstones += 1
        tombstoneBytes += tombstone.charge
    }

    /// Unlinks a tombstone from its chain.
    @inline(__always) mutating func unlinkTombstoneLocked(_ tombstone: Item, slot: UnsafeMutableRawPointer) {
        slot.storeBytes(of: tombstone.hnext, as: UnsafeMutableRawPointer?.self)
        tombstone.hnext = nil
        count -= 1
        tombstones -= 1
        tombstoneBytes -= tombstone.charge
    }

    /// Unlinks whatever `entry` is (live item or tombstone).
    @inline(__always) mutating func unlinkAnyLocked(_ entry: Item, slot: UnsafeMutableRawPointer) {
        if entry.isTombstone { unlinkTombstoneLocked(entry, slot: slot) } else { unlinkLocked(entry, slot: slot) }
    }

    /// Puts `new` where `old` was in the chain; `new` goes to the LRU head.
    @inline(__always) mutating func replaceLocked(_ old: Item, slot: UnsafeMutableRawPointer, with new: Item) {
        unlinkLocked(old, slot: slot)
        new.hnext = slot.load(as: UnsafeMutableRawPointer?.self)
        slot.storeBytes(of: new.raw, as: UnsafeMutableRawPointer?.self)
        lruPushHead(new)
        count += 1
        totalItems += 1
        countCopy(new, +1)
        let counters = classes + new.sizeClass
        counters.pointee.items += 1
        counters.pointee.requestedBytes += new.memcachedSize
        counters.pointee.memory += new.charge
    }

    @inline(__always) mutating func countCopy(_ item: Item, _ sign: Int) {
        guard item.has(Item.Bit.copy) else { return }
        copyItems += sign
        copyBytes += sign * item.charge
    }

    /// A linked item becomes this node's own (a change made here, or ownership moved here).
    @inline(__always) mutating func ownLocked(_ item: Item) {
        guard item.has(Item.Bit.copy) else { return }
        countCopy(item, -1)
        item.clear(Item.Bit.copy)
    }

    /// Should the table double? (load factor above 1.5, as memcached grows its table)
    @inline(__always) var wantsGrowth: Bool { count > bucketCount + bucketCount >> 1 }

    /// Doubles the bucket array into `newBuckets` (already allocated and zeroed by the caller, who
    /// also charged its memory). Returns the old array for the caller to free.
    mutating func growLocked(into newBuckets: UnsafeMutableRawPointer, newCount: Int) -> UnsafeMutableRawPointer {
        let newMask = newCount - 1
        for index in 0..<bucketCount {
            var raw = (buckets + index * Stripe.pointerSize).load(as: UnsafeMutableRawPointer?.self)
            while let r = raw {
                let item = Item(r)
                raw = item.hnext
                let hash = KeyHash.hash(UnsafeRawPointer(item.keyPointer), item.keyLength)
                let slot = newBuckets + (Int(truncatingIfNeeded: hash) & newMask) * Stripe.pointerSize
                item.hnext = slot.load(as: UnsafeMutableRawPointer?.self)
                slot.storeBytes(of: r, as: UnsafeMutableRawPointer?.self)
            }
        }
        let old = buckets
        buckets = newBuckets
        bucketMask = newMask
        sweepBucket = 0
        return old
    }

    // MARK: LRU

    @inline(__always) mutating func lruPushHead(_ item: Item) {
        item.prev = nil
        item.next = head
        if let h = head { Item(h).prev = item.raw } else { tail = item.raw }
        head = item.raw
    }

    @inline(__always) mutating func lruRemove(_ item: Item) {
        if let p = item.prev { Item(p).next = item.next } else { head = item.next }
        if let n = item.next { Item(n).prev = item.prev } else { tail = item.prev }
        item.prev = nil
        item.next = nil
    }

    /// Moves an item to the LRU head, at most once per `interval` seconds per item.
    @inline(__always) mutating func lruBumpLocked(_ item: Item, now: UInt32, interval: UInt32) {
        if head == item.raw { return }
        if interval != 0 && now &- item.lruTime < interval { return }
        item.lruTime = now
        lruRemove(item)
        lruPushHead(item)
    }
}
