#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Items unlinked under a stripe lock, freed after it is released.
struct Garbage {
    var head: UnsafeMutableRawPointer? = nil

    @inline(__always) mutating func push(_ item: Item) {
        item.hnext = head
        head = item.raw
    }
}

/// Why an item found in the table is not visible.
enum Deadness: UInt8 {
    case live, expired, flushed
}

extension Store {
    // MARK: Stripes and locks

    @inline(__always) func stripe(_ index: Int) -> UnsafeMutablePointer<Stripe> {
        (stripeBase + index &* stripeStride).assumingMemoryBound(to: Stripe.self)
    }

    /// Stripe from the hash's high bits (the bucket uses the low bits).
    @inline(__always) func stripeIndex(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: hash.multipliedFullWidth(by: UInt64(stripeCount)).high)
    }

    @inline(__always) func mutex(_ s: UnsafeMutablePointer<Stripe>) -> UnsafeMutablePointer<pthread_mutex_t> {
        (UnsafeMutableRawPointer(s) + mutexOffset).assumingMemoryBound(to: pthread_mutex_t.self)
    }

    @inline(__always) func lock(_ s: UnsafeMutablePointer<Stripe>) { pthread_mutex_lock(mutex(s)) }
    @inline(__always) func unlock(_ s: UnsafeMutablePointer<Stripe>) { pthread_mutex_unlock(mutex(s)) }

    @inline(__always) var now32: UInt32 { UInt32(clamping: currentTime) }

    // MARK: Liveness

    @inline(__always) func deadness(_ item: Item, now: Int64, cutoff: UInt64) -> Deadness {
        if Expiry.isExpired(item.exptime, now: now) { return .expired }
        if item.version < cutoff { return .flushed }
        return .live
    }

    /// Finds a live item; a dead one found on the way is unlinked into `garbage` and counted
    /// (get_expired / get_flushed, reclaimed, expired_unfetched). Caller holds the lock.
    @inline(__always) func lookupLocked(
        _ s: UnsafeMutablePointer<Stripe>, _ hash: UInt64, _ key: UnsafeRawBufferPointer,
        now: Int64, cutoff: UInt64, garbage: inout Garbage
    ) -> (item: Item, slot: UnsafeMutableRawPointer)? {
        guard let found = s.pointee.findLocked(hash, key) else { return nil }
        if found.item.isTombstone {
            // Never served; gone once its grace period (or a flush) is over.
            if deadness(found.item, now: now, cutoff: cutoff) != .live {
                s.pointee.unlinkTombstoneLocked(found.item, slot: found.slot)
                garbage.push(found.item)
            }
            return nil
        }
        switch deadness(found.item, now: now, cutoff: cutoff) {
        case .live:
            return found
        case .expired:
            s.pointee.getExpired += 1
        case .flushed:
            s.pointee.getFlushed += 1
        }
        reclaimLocked(s, found.item, slot: found.slot, garbage: &garbage)
        return nil
    }

    /// Removes a dead item and counts it as reclaimed. Caller holds the lock.
    @inline(__always) func reclaimLocked(
        _ s: UnsafeMutablePointer<Stripe>, _ item: Item, slot: UnsafeMutableRawPointer, garbage: inout Garbage
    ) {
        let counters = s.pointee.classes + item.sizeClass
        counters.pointee.reclaimed += 1
        if !item.has(Item.Bit.fetched) { counters.pointee.expiredUnfetched += 1 }
        s.pointee.unlinkLocked(item, slot: slot)
        garbage.push(item)
    }

    /// Unlocks the stripe and disposes of what was unlinked under it: blocks small enough become
    /// the stripe's spares (put there while the lock is still held), the rest, and any spare a
    /// full set of slots gives up, are freed after the unlock.
    @inline(__always) func unlock(_ s: UnsafeMutablePointer<Stripe>, releasing garbage: consuming Garbage) {
        var raw = garbage.head
        var rest = Garbage()
        while let r = raw {
            let item = Item(r)
            raw = item.hnext
            let charge = item.charge
            if SpareBlocks.keeps(charge: charge) {
                if let displaced = s.pointee.spares.put(r, charge: charge) { rest.push(Item(displaced)) }
            } else {
                rest.push(item)
            }
        }
        unlock(s)
        release(rest)
    }

    /// Frees what was collected and gives back its charge. Call with no lock held.
    @inline(__always) func release(_ garbage: consuming Garbage) {
        var raw = garbage.head
        guard raw != nil else { return }
        var charged = 0
        while let r = raw {
            let item = Item(r)
            raw = item.hnext
            charged += item.charge
            item.deallocate()
        }
        usedMemory.subtract(charged, ordering: .relaxed)
    }

    /// Frees one unlinked item and gives back its charge.
    @inline(__always) func releaseItem(_ item: Item) {
        let charged = item.charge
        item.deallocate()
        usedMemory.subtract(charged, ordering: .relaxed)
    }

    // MARK: Reservation and eviction

    /// Charges `bytes` against the limit if it fits now, without evicting.
    @inline(__always) func tryReserve(_ bytes: Int) -> Bool {
        var current = usedMemory.load(ordering: .relaxed)
        while true {
            if current + bytes > memoryLimit.load(ordering: .relaxed) { return false }
            let (exchanged, original) = usedMemory.compareExchange(
                expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    /// A new item with its memory charged: a spare block of stripe `preferred` if one has the same
    /// charge, else malloc within the limit, making room by eviction (stripe `preferred` first);
    /// an evicted block of the same charge is used as it is, as memcached reuses the chunk it
    /// evicts. nil if the memory can't be had. Call with no lock held.
    func newItem(
        key: UnsafeRawBufferPointer, valueLength: Int, flags: UInt32, exptime: UInt32, now: UInt32,
        preferring preferred: Int
    ) -> Item? {
        let bytes = Item.blockSize(keyLength: key.count, valueLength: valueLength)
        let charge = MemoryCharge.chunk(forRequest: bytes)
        guard let raw = takeSpare(charge, from: stripe(preferred)) ?? allocateBlock(bytes, charge: charge, preferring: preferred)
        else { return nil }
        return Item.initialize(raw, key: key, valueLength: valueLength, flags: flags, exptime: exptime, now: now)
    }

    /// A spare block of exactly `charge` from this stripe, taking and dropping its lock.
    @inline(__always) func takeSpare(_ charge: Int, from s: UnsafeMutablePointer<Stripe>) -> UnsafeMutableRawPointer? {
        guard SpareBlocks.keeps(charge: charge) else { return nil }
        lock(s)
        let block = s.pointee.spares.take(charge: charge)
        unlock(s)
        return block
    }

    /// A block for `bytes`, charged: malloc within the limit, evicting until it fits.
    func allocateBlock(_ bytes: Int, charge: Int, preferring preferred: Int) -> UnsafeMutableRawPointer? {
        if charge > memoryLimit.load(ordering: .relaxed) { return nil }
        while !tryReserve(charge) {
            guard let evicted = evictBlock(preferring: preferred) else {
                if tryReserve(charge) { break }
                return nil
            }
            if evicted.charge == charge && SpareBlocks.keeps(charge: charge) { return evicted.block }
            free(evicted.block)
            usedMemory.subtract(evicted.charge, ordering: .relaxed)
        }
        if let raw = malloc(MemoryCharge.request(bytes)) { return raw }
        usedMemory.subtract(charge, ordering: .relaxed)
        return nil
    }

    /// Removes one block from a stripe and frees it (see `evictBlock`). False if there was none.
    func evictOne(preferring preferred: Int) -> Bool {
        guard let evicted = evictBlock(preferring: preferred) else { return false }
        free(evicted.block)
        usedMemory.subtract(evicted.charge, ordering: .relaxed)
        return true
    }

    /// Takes one block, still charged, for the caller to reuse or free: a spare if the stripe has
    /// one, else an item from the LRU tail (a dead one among the last few if there is one, else,
    /// with evictions enabled, the tail itself). Tries `preferred` first, then the other stripes,
    /// one lock at a time. nil if nothing could be removed.
    func evictBlock(preferring preferred: Int) -> (block: UnsafeMutableRawPointer, charge: Int)? {
        let now = currentTime
        let cutoff = flushCutoff.load(ordering: .relaxed)
        for step in 0..<stripeCount {
            let s = stripe((preferred + step) & (stripeCount - 1))
            lock(s)
            if let spare = s.pointee.spares.takeAny() {
                unlock(s)
                return spare
            }
            let victim = evictFromTailLocked(s, now: now, cutoff: cutoff)
            unlock(s)
            if let victim { return (victim.raw, victim.charge) }
        }
        return nil
    }

    /// Unlinks and returns the item eviction takes from this stripe, or nil. Caller holds the lock.
    func evictFromTailLocked(_ s: UnsafeMutablePointer<Stripe>, now: Int64, cutoff: UInt64) -> Item? {
        // Dead items near the tail go first, as memcached's tail search does (5 tries).
        var candidate = s.pointee.tail
        var tries = 0
        while let raw = candidate, tries < 5 {
            let item = Item(raw)
            if deadness(item, now: now, cutoff: cutoff) != .live {
                let slot = s.pointee.slotLocked(of: item, hash: KeyHash.hash(UnsafeRawPointer(item.keyPointer), item.keyLength))
                let counters = s.pointee.classes + item.sizeClass
                counters.pointee.reclaimed += 1
                if !item.has(Item.Bit.fetched) { counters.pointee.expiredUnfetched += 1 }
                s.pointee.unlinkLocked(item, slot: slot)
                return item
            }
            candidate = item.prev
            tries += 1
        }
        guard evictionsEnabled, let raw = s.pointee.tail else { return nil }
        let item = Item(raw)
        let slot = s.pointee.slotLocked(of: item, hash: KeyHash.hash(UnsafeRawPointer(item.keyPointer), item.keyLength))
        let counters = s.pointee.classes + item.sizeClass
        counters.pointee.evicted += 1
        if item.exptime != 0 { counters.pointee.evictedNonzero += 1 }
        if !item.has(Item.Bit.fetched) { counters.pointee.evictedUnfetched += 1 }
        if let evictionObserver { evictionObserver(summary(of: item)) }
        if item.has(Item.Bit.copy) { s.pointee.evictedCopies += 1 }
        s.pointee.unlinkLocked(item, slot: slot)
        return item
    }

    /// After linking: doubles the stripe's bucket array when its load factor passed 1.5, if the
    /// memory for it can be had — by evicting from this same stripe only (its lock is held).
    /// Without the memory the table simply stays at a higher load factor.
    @inline(__always) func growIfNeededLocked(_ s: UnsafeMutablePointer<Stripe>, keep: Item) {
        guard s.pointee.wantsGrowth else { return }
        growLocked(s, keep: keep)
    }

    func growLocked(_ s: UnsafeMutablePointer<Stripe>, keep: Item) {
        let oldBytes = s.pointee.bucketBytes
        let newCount = s.pointee.bucketCount * 2
        let newBytes = newCount * Stripe.pointerSize
        let now = currentTime
        let cutoff = flushCutoff.load(ordering: .relaxed)
        while !tryReserve(newBytes) {
            if let spare = s.pointee.spares.takeAny() {
                free(spare.block)
                usedMemory.subtract(spare.charge, ordering: .relaxed)
                continue
            }
            guard s.pointee.tail != keep.raw, s.pointee.tail != nil,
                  let victim = evictFromTailLocked(s, now: now, cutoff: cutoff) else { return }
            releaseItem(victim)
        }
        let newBuckets = UnsafeMutableRawPointer.allocate(byteCount: newBytes, alignment: 16)
        newBuckets.initializeMemory(as: UInt8.self, repeating: 0, count: newBytes)
        let old = s.pointee.growLocked(into: newBuckets, newCount: newCount)
        old.deallocate()
        usedMemory.subtract(oldBytes, ordering: .relaxed)
    }
}
