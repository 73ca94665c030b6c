extension Store {
    /// `set add replace append prepend cas`, `ms`.
    func storeItem(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ request: StoreRequest) -> StoreOutcome {
        let hash = KeyHash.hash(key)
        let stripeNumber = stripeIndex(hash)
        let s = stripe(stripeNumber)
        let size = SizeClasses.memcachedItemSize(keyLength: key.count, valueLength: value.count, flags: request.flags)

        // memcached first allocates an item for the data alone, so these fail in every mode.
        if size > maxItemSize {
            failStore(key, hash: hash, drop: request.dropExistingOnFailure, sizeClass: SizeClasses.largestClass, countOOM: false)
            return .tooLarge
        }
        if request.mode == .append || request.mode == .prepend {
            return appendOrPrepend(key, value, request, hash: hash, stripeNumber: stripeNumber)
        }
        let charge = MemoryCharge.chunk(forRequest: Item.blockSize(keyLength: key.count, valueLength: value.count))
        let now = currentTime
        let exptime = Expiry.absolute(request.exptime, now: now, expired: expiredMark)
        @inline(__always) func fill(_ item: Item) {
            if value.count > 0 { item.valuePointer.copyMemory(from: value.baseAddress!, byteCount: value.count) }
            if request.binaryKey { item.set(Item.Bit.binaryKey) }
        }

        // The common case takes a spare block of this stripe under the lock it needs anyway and
        // fills it there (spares are at most 16 KiB); else allocate and fill with no lock held.
        let item: Item
        lock(s)
        if SpareBlocks.keeps(charge: charge), let spare = s.pointee.spares.take(charge: charge) {
            item = Item.initialize(spare, key: key, valueLength: value.count, flags: request.flags, exptime: exptime, now: UInt32(clamping: now))
            fill(item)
        } else {
            unlock(s)
            // This stripe's spares were just looked at: go straight to malloc or eviction.
            guard let block = allocateBlock(Item.blockSize(keyLength: key.count, valueLength: value.count),
                                            charge: charge, preferring: stripeNumber) else {
                failStore(key, hash: hash, drop: request.dropExistingOnFailure, sizeClass: SizeClasses.classID(forSize: size), countOOM: true)
                return .outOfMemory
            }
            let fresh = Item.initialize(block, key: key, valueLength: value.count, flags: request.flags, exptime: exptime, now: UInt32(clamping: now))
            fill(fresh)
            item = fresh
            lock(s)
        }

        var mode = request.mode
        if request.compareCas != nil && (mode == .set || mode == .replace) { mode = .cas }
        let compare = request.compareCas ?? 0

        var garbage = Garbage()
        var outcome: StoreOutcome
        var link = false
        let found = lookupLocked(s, hash, key, now: now, cutoff: flushCutoff.load(ordering: .relaxed), garbage: &garbage)
        let counters = s.pointee.classes + item.sizeClass
        counters.pointee.setCommands += 1
        switch mode {
        case .set:
            link = true
        case .add:
            if let old = found?.item {
                // add on an existing item only bumps it (memcached's do_item_update).
                old.atime = UInt32(clamping: now)
                s.pointee.lruBumpLocked(old, now: UInt32(clamping: now), interval: lruBumpInterval)
            } else {
                link = true
            }
        case .replace:
            link = found != nil
        case .cas:
            if let old = found?.item {
                let oldCounters = s.pointee.classes + old.sizeClass
                let oldCas = visibleCas(old.cas)  // 0 under -C: no compare matches, as in memcached
                if compare != 0 && compare == oldCas {
                    oldCounters.pointee.casHits += 1
                    link = true
                } else if request.invalidate && compare != 0 && compare < oldCas {
                    // ms I with an older cas: store, but stale, keeping TTL and win token.
                    oldCounters.pointee.casHits += 1
                    item.exptime = old.exptime
                    item.set(Item.Bit.stale)
                    if old.has(Item.Bit.tokenSent) { item.set(Item.Bit.tokenSent) }
                    link = true
                } else {
                    oldCounters.pointee.casBadval += 1
                }
            }
        case .append, .prepend:
            preconditionFailure("handled above")
        }

        if link {
            let cas = stamp(item)
            outcome = .stored(cas: visibleCas(cas))
            if Expiry.isExpired(item.exptime, now: now) {
                // Stored already expired (negative exptime): the old item goes, nothing is visible.
                if let found {
                    s.pointee.unlinkLocked(found.item, slot: found.slot)
                    garbage.push(found.item)
                }
                s.pointee.totalItems += 1
                garbage.push(item)
            } else if let found {
                s.pointee.replaceLocked(found.item, slot: found.slot, with: item)
                garbage.push(found.item)
            } else {
                s.pointee.linkReplacingTombstoneLocked(item, hash: hash, garbage: &garbage)
                growIfNeededLocked(s, keep: item)
            }
        } else {
            switch mode {
            case .cas: outcome = found == nil ? .notFound : .exists
            default: outcome = .notStored
            }
            garbage.push(item)
        }
        unlock(s, releasing: garbage)
        return outcome
    }

    /// A store that could not allocate: count it, and (memcached's `set`, every `ms`) delete the
    /// key's current item so stale data does not persist.
    private func failStore(_ key: UnsafeRawBufferPointer, hash: UInt64, drop: Bool, sizeClass: Int, countOOM: Bool) {
        let s = stripe(stripeIndex(hash))
        let now = currentTime
        // In a cluster the dropped item leaves a tombstone, so its backups drop it too.
        let tombstone = drop && tombstoneTTL > 0
            ? newItem(key: key, valueLength: 0, flags: 0, exptime: UInt32(clamping: now + tombstoneTTL),
                      now: UInt32(clamping: now), preferring: stripeIndex(hash))
            : nil
        var garbage = Garbage()
        lock(s)
        let counters = s.pointee.classes + sizeClass
        counters.pointee.setCommands += 1
        if countOOM { counters.pointee.outOfMemory += 1 }
        var used = false
        if drop, let found = s.pointee.findLocked(hash, key), !found.item.isTombstone {
            s.pointee.unlinkLocked(found.item, slot: found.slot)
            garbage.push(found.item)
            if let tombstone {
                tombstone.set(Item.Bit.tombstone)
                stamp(tombstone, cas: false)
                s.pointee.linkTombstoneLocked(tombstone, hash: hash)
                used = true
            }
        }
        if let tombstone, !used { garbage.push(tombstone) }
        unlock(s, releasing: garbage)
    }

    /// append/prepend: the new size is known only from the old item, so look, drop the lock,
    /// reserve and fill, then re-check under the lock that the item is the same (same cas) and
    /// copy its value in. Retries if it changed meanwhile.
    private func appendOrPrepend(
        _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ request: StoreRequest,
        hash: UInt64, stripeNumber: Int
    ) -> StoreOutcome {
        let s = stripe(stripeNumber)
        let compare = request.compareCas ?? 0
        while true {
            let now = currentTime
            var garbage = Garbage()
            lock(s)
            guard let old = lookupLocked(s, hash, key, now: now, cutoff: flushCutoff.load(ordering: .relaxed), garbage: &garbage)?.item else {
                (s.pointee.classes + SizeClasses.classID(forSize: SizeClasses.memcachedItemSize(
                    keyLength: key.count, valueLength: value.count, flags: request.flags))).pointee.setCommands += 1
                unlock(s, releasing: garbage)
                return .notStored
            }
            // Under -C memcached has no CAS to compare an append with, and appends anyway.
            if casEnabled && compare != 0 && compare != old.cas {
                (s.pointee.classes + old.sizeClass).pointee.setCommands += 1
                unlock(s, releasing: garbage)
                return .exists
            }
            let oldVersion = old.version
            let oldLength = old.valueLength
            let oldFlags = old.flags
            unlock(s, releasing: garbage)
            garbage = Garbage()

            let newLength = oldLength + value.count
            if SizeClasses.memcachedItemSize(keyLength: key.count, valueLength: newLength, flags: oldFlags) > maxItemSize {
                return .notStored
            }
            guard let item = newItem(key: key, valueLength: newLength, flags: oldFlags, exptime: 0,
                                     now: UInt32(clamping: now), preferring: stripeNumber) else { return .notStored }
            let newDataOffset = request.mode == .append ? oldLength : 0
            if value.count > 0 {
                (item.valuePointer + newDataOffset).copyMemory(from: value.baseAddress!, byteCount: value.count)
            }

            lock(s)
            guard let again = lookupLocked(s, hash, key, now: now, cutoff: flushCutoff.load(ordering: .relaxed), garbage: &garbage),
                  again.item.version == oldVersion
            else {
                garbage.push(item)
                unlock(s, releasing: garbage)
                continue
            }
            let current = again.item
            let oldDataOffset = request.mode == .append ? 0 : value.count
            (item.valuePointer + oldDataOffset).copyMemory(from: current.valuePointer, byteCount: oldLength)
            item.exptime = current.exptime
            let cas = stamp(item)
            (s.pointee.classes + item.sizeClass).pointee.setCommands += 1
            s.pointee.replaceLocked(current, slot: again.slot, with: item)
            garbage.push(current)
            unlock(s, releasing: garbage)
            return .stored(cas: visibleCas(cas))
        }
    }

    /// `delete`, `md`.
    func deleteItem(_ key: UnsafeRawBufferPointer, _ request: DeleteRequest) -> DeleteOutcome {
        let hash = KeyHash.hash(key)
        let s = stripe(stripeIndex(hash))
        let now = currentTime
        var garbage = Garbage()
        var outcome: DeleteOutcome
        // A delete leaves a tombstone (a block of the key alone), allocated before the lock as
        // every new block is; a delete that finds nothing gives it back.
        let tombstone = tombstoneTTL > 0 && !request.invalidate
            ? newItem(key: key, valueLength: 0, flags: 0, exptime: UInt32(clamping: now + tombstoneTTL),
                      now: UInt32(clamping: now), preferring: stripeIndex(hash))
            : nil
        if let tombstone { tombstone.set(Item.Bit.tombstone) }
        var usedTombstone = false
        defer { if let tombstone, !usedTombstone { releaseItem(tombstone) } }
        lock(s)
        if let found = lookupLocked(s, hash, key, now: now, cutoff: flushCutoff.load(ordering: .relaxed), garbage: &garbage) {
            let item = found.item
            if let compare = request.compareCas, compare != visibleCas(item.cas) {
                outcome = .exists
            } else if request.invalidate {
                // md I: keep the item, mark it stale, new cas, and let the next reader win again.
                if let ttl = request.ttl { item.exptime = Expiry.absolute(ttl, now: now, expired: expiredMark) }
                item.set(Item.Bit.stale)
                item.clear(Item.Bit.tokenSent)
                s.pointee.ownLocked(item)
                stamp(item)
                outcome = .deleted
            } else {
                (s.pointee.classes + item.sizeClass).pointee.deleteHits += 1
                s.pointee.unlinkLocked(item, slot: found.slot)
                garbage.push(item)
                if let tombstone {
                    stamp(tombstone, cas: false)
                    s.pointee.linkTombstoneLocked(tombstone, hash: hash)
                    usedTombstone = true
                }
                outcome = .deleted
            }
        } else {
            outcome = .notFound
        }
        unlock(s, releasing: garbage)
        return outcome
    }
}
