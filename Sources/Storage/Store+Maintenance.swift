import Synchronization

extension Store {
    // MARK: flush_all

    /// memcached 1.6.18's `flush_all [delay]`, which keeps one `oldest_live` second (items last
    /// written at or before it are flushed once that second has come) and, when that second is
    /// not in the future, also one `oldest_cas` (everything stored so far is flushed). Here both
    /// become one version cutoff, applied now or when the second comes:
    /// - no delay (or a negative one): everything stored so far; later writes live;
    /// - a delay whose `oldest_live` (its deadline - 1) is now or past: everything stored so far.
    ///   (memcached also flushes what is written until that second ends, `flush_all 1`; that
    ///   depends on where its clock's second falls, and a later `flush_all` undoes it there,
    ///   which one monotonic cutoff cannot: we do not copy it);
    /// - a later `oldest_live`: at that second, items written up to its end; until then a new
    ///   `flush_all` replaces the pending one;
    /// - an absolute time at or before memcached's `process_started` (`flush_all 2592001`):
    ///   memcached stores `oldest_live` 0, which flushes nothing and forgets a pending flush. (It
    ///   also stops hiding what earlier flushes removed; we never bring a flushed item back.)
    /// The pending flush and the cutoff change under one lock, so two racing `flush_all`s end
    /// as the later one says.
    func flush(delay: Int64) {
        let now = currentTime
        pendingFlush.withLock { pending in
            pending = (at: 0, cutoff: 0)
            pendingFlushAt.store(0, ordering: .relaxed)
            guard delay > 0 else {
                raiseFlushCutoff(to: versions.next())
                return
            }
            let deadline = Int64(Expiry.absolute(delay, now: now, expired: expiredMark))
            if deadline <= Int64(expiredMark) { return }
            let oldestLive = deadline - 1
            if oldestLive <= now {
                raiseFlushCutoff(to: versions.next())
            } else {
                pending = (at: oldestLive, cutoff: HybridLogicalClock.floor(millis: UInt64(oldestLive + 1) * 1000))
                pendingFlushAt.store(oldestLive, ordering: .relaxed)
            }
        }
    }

    func flush(toCutoff cutoff: UInt64) {
        pendingFlush.withLock { pending in
            pending = (at: 0, cutoff: 0)
            pendingFlushAt.store(0, ordering: .relaxed)
            raiseFlushCutoff(to: cutoff)
        }
    }

    func applyDueFlush(now: Int64) {
        pendingFlush.withLock { pending in
            guard pending.at != 0 && now >= pending.at else { return }
            raiseFlushCutoff(to: pending.cutoff)
            pending = (at: 0, cutoff: 0)
            pendingFlushAt.store(0, ordering: .relaxed)
        }
    }

    private func raiseFlushCutoff(to cutoff: UInt64) {
        var current = flushCutoff.load(ordering: .relaxed)
        while current < cutoff {
            let (exchanged, original) = flushCutoff.compareExchange(expected: current, desired: cutoff, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    // MARK: Background sweep

    /// What one step of the sweep did: items looked at, and dead ones removed.
    public struct SweepResult: Sendable, Equatable {
        public var itemsChecked = 0
        public var removed = 0
    }

    func sweep(budget: Int) -> SweepResult {
        let now = currentTime
        let cutoff = flushCutoff.load(ordering: .relaxed)
        var examined = 0
        var removed = 0
        var checked = 0
        var stripesFinished = 0
        while examined < budget && stripesFinished < stripeCount {
            let index = sweepStripe.load(ordering: .relaxed) & (stripeCount - 1)
            let s = stripe(index)
            var garbage = Garbage()
            lock(s)
            var bucket = s.pointee.sweepBucket
            while bucket < s.pointee.bucketCount && examined < budget {
                var slot = s.pointee.buckets + bucket * Stripe.pointerSize
                while let raw = slot.load(as: UnsafeMutableRawPointer?.self) {
                    let item = Item(raw)
                    examined += 1
                    checked += 1
                    if deadness(item, now: now, cutoff: cutoff) != .live {
                        // The slot now holds the next entry.
                        if item.isTombstone {
                            s.pointee.unlinkTombstoneLocked(item, slot: slot)
                            garbage.push(item)
                        } else {
                            reclaimLocked(s, item, slot: slot, garbage: &garbage)
                            removed += 1
                        }
                    } else {
                        slot = raw
                    }
                }
                examined += 1
                bucket += 1
            }
            let finished = bucket >= s.pointee.bucketCount
            s.pointee.sweepBucket = finished ? 0 : bucket
            unlock(s, releasing: garbage)
            if finished {
                sweepStripe.store((index + 1) & (stripeCount - 1), ordering: .relaxed)
                stripesFinished += 1
            }
        }
        return SweepResult(itemsChecked: checked, removed: removed)
    }

    // MARK: cache_memlimit

    func changeMemoryLimit(_ bytes: Int) {
        memoryLimit.store(bytes, ordering: .relaxed)
        guard evictionsEnabled else { return }
        while usedMemory.load(ordering: .relaxed) > memoryLimit.load(ordering: .relaxed) {
            let start = evictCursor.add(1, ordering: .relaxed).newValue & (stripeCount - 1)
            if !evictOne(preferring: start) { break }
        }
    }

    // MARK: Statistics

    func collectStatistics() -> StoreStatistics {
        let now = currentTime
        var stats = StoreStatistics()
        var classes = (0..<SizeClasses.chunkSizes.count).map { SizeClassStatistics(id: $0, chunkSize: SizeClasses.chunkSizes[$0]) }
        var bucketBytes = 0
        for i in 0..<stripeCount {
            let s = stripe(i)
            lock(s)
            stats.totalItems += s.pointee.totalItems
            stats.getExpired += s.pointee.getExpired
            stats.getFlushed += s.pointee.getFlushed
            stats.hashBuckets += s.pointee.bucketCount
            bucketBytes += s.pointee.bucketBytes
            stats.spareBytes += s.pointee.spares.bytes
            stats.tombstones += s.pointee.tombstones
            stats.tombstoneBytes += s.pointee.tombstoneBytes
            stats.copyItems += s.pointee.copyItems
            stats.copyBytes += s.pointee.copyBytes
            stats.evictedCopies += s.pointee.evictedCopies
            if let tail = s.pointee.tail { stats.oldestItemAge = max(stats.oldestItemAge, now - Int64(Item(tail).atime)) }
            for c in 1..<SizeClasses.chunkSizes.count {
                let counters = s.pointee.classes[c]
                classes[c].items += counters.items
                classes[c].requestedBytes += counters.requestedBytes
                classes[c].memory += counters.memory
                classes[c].evicted += counters.evicted
                classes[c].evictedNonzero += counters.evictedNonzero
                classes[c].evictedUnfetched += counters.evictedUnfetched
                classes[c].expiredUnfetched += counters.expiredUnfetched
                classes[c].reclaimed += counters.reclaimed
                classes[c].outOfMemory += counters.outOfMemory
                classes[c].getHits += counters.getHits
                classes[c].setCommands += counters.setCommands
                classes[c].deleteHits += counters.deleteHits
                classes[c].incrHits += counters.incrHits
                classes[c].decrHits += counters.decrHits
                classes[c].casHits += counters.casHits
                classes[c].casBadval += counters.casBadval
                classes[c].touchHits += counters.touchHits
            }
            unlock(s)
        }
        for c in classes.dropFirst() {
            stats.currItems += c.items
            stats.bytes += c.requestedBytes
            stats.evictions += c.evicted
            stats.evictedUnfetched += c.evictedUnfetched
            stats.expiredUnfetched += c.expiredUnfetched
            stats.reclaimed += c.reclaimed
            stats.outOfMemory += c.outOfMemory
            let zero = SizeClassStatistics(id: c.id, chunkSize: c.chunkSize)
            if c != zero { stats.sizeClasses.append(c) }
        }
        stats.hashBytes = bucketBytes
        stats.usedMemory = usedMemory.load(ordering: .relaxed)
        stats.limitMaxbytes = memoryLimit.load(ordering: .relaxed)
        stats.stripes = stripeCount
        return stats
    }

    func zeroStatistics() {
        for i in 0..<stripeCount {
            let s = stripe(i)
            lock(s)
            s.pointee.totalItems = 0
            s.pointee.getExpired = 0
            s.pointee.getFlushed = 0
            s.pointee.evictedCopies = 0
            for c in 0..<SizeClasses.chunkSizes.count { s.pointee.classes[c].resetCounters() }
            unlock(s)
        }
    }
}
