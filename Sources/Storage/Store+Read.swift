extension Store {
    /// `get`/`gets`/`gat`/`gats`/`mg`. See `ReadOptions` for the flags it applies.
    /// Not generic on purpose: see `Store.read`.
    @usableFromInline
    func readItem(_ key: UnsafeRawBufferPointer, _ options: ReadOptions, _ body: (borrowing ItemView) -> Void) -> ReadStatus {
        let hash = KeyHash.hash(key)
        let stripeNumber = stripeIndex(hash)
        let s = stripe(stripeNumber)
        let now = currentTime
        var garbage = Garbage()
        lock(s)
        let cutoff = flushCutoff.load(ordering: .relaxed)
        var created = false
        var found = lookupLocked(s, hash, key, now: now, cutoff: cutoff, garbage: &garbage)
        if found == nil {
            guard options.vivifyTTL != nil else {
                unlock(s, releasing: garbage)
                return .miss
            }
            // mg N: create an empty item. Reserve memory with no lock held, then look again.
            unlock(s, releasing: garbage)
            garbage = Garbage()
            guard let fresh = newItem(key: key, valueLength: 0, flags: 0, exptime: 0, now: now32,
                                      preferring: stripeNumber) else { return .miss }
            lock(s)
            found = lookupLocked(s, hash, key, now: now, cutoff: flushCutoff.load(ordering: .relaxed), garbage: &garbage)
            if found == nil {
                // memcached creates it with exptime 0 and applies N (and T) in flag order below.
                stamp(fresh)
                s.pointee.linkReplacingTombstoneLocked(fresh, hash: hash, garbage: &garbage)
                growIfNeededLocked(s, keep: fresh)
                found = s.pointee.findLocked(hash, key)
                created = true
            } else {
                garbage.push(fresh)  // someone else created it meanwhile: a plain hit.
            }
        }
        let item = found!.item

        // State as it was before this read.
        let ttlBefore = Expiry.remaining(item.exptime, now: now)
        let fetchedBefore = item.has(Item.Bit.fetched)
        let lastAccessAgo = now - Int64(item.atime)
        let tokenSentBefore = item.has(Item.Bit.tokenSent)

        var won = false
        // T / N / R in the client's order (see ReadOptions).
        let touch = options.touchExptime.map { Expiry.absolute($0, now: now, expired: expiredMark) }
        if created {
            let vivify = Expiry.absolute(options.vivifyTTL!, now: now, expired: expiredMark)
            if let touch {
                item.exptime = options.touchAfterVivify ? touch : vivify
            } else {
                item.exptime = vivify
            }
            won = true
        } else {
            if let threshold = options.recacheThreshold {
                if let touch, options.touchBeforeRecache { item.exptime = touch }
                let limit = Int64(Expiry.absolute(threshold, now: now, expired: expiredMark))
                if !tokenSentBefore && item.exptime != 0 && Int64(item.exptime) < limit { won = true }
                if let touch, !options.touchBeforeRecache { item.exptime = touch }
            } else if let touch {
                item.exptime = touch
            }
            // A touch is a change to replicate; the CAS stays, as in memcached.
            if touch != nil {
                s.pointee.ownLocked(item)
                stamp(item, cas: false)
            }
        }
        let stale = item.has(Item.Bit.stale)
        if stale && !tokenSentBefore { won = true }
        if won { item.set(Item.Bit.tokenSent) }

        let counters = s.pointee.classes + item.sizeClass
        if options.touchExptime != nil { counters.pointee.touchHits += 1 } else { counters.pointee.getHits += 1 }

        let view = ItemView(
            key: item.key, value: item.value, flags: item.flags, cas: visibleCas(item.cas),
            exptime: Int64(item.exptime), ttlRemaining: Expiry.remaining(item.exptime, now: now),
            ttlBefore: created ? -1 : ttlBefore, lastAccessAgo: created ? 0 : lastAccessAgo,
            fetchedBefore: created ? false : fetchedBefore, stale: stale, won: won,
            alreadyWon: tokenSentBefore && !created, sizeClass: item.sizeClass, totalSize: item.memcachedSize,
            vivified: created, binaryKey: item.has(Item.Bit.binaryKey))
        body(view)

        if options.bumpLRU {
            item.set(Item.Bit.fetched)
            item.atime = UInt32(clamping: now)
            s.pointee.lruBumpLocked(item, now: UInt32(clamping: now), interval: lruBumpInterval)
        }
        unlock(s, releasing: garbage)
        return created ? .vivified : .hit
    }

    /// `touch <key> <exptime>`.
    func touchItem(_ key: UnsafeRawBufferPointer, exptime: Int64) -> Bool {
        let hash = KeyHash.hash(key)
        let s = stripe(stripeIndex(hash))
        let now = currentTime
        var garbage = Garbage()
        lock(s)
        let found = lookupLocked(s, hash, key, now: now, cutoff: flushCutoff.load(ordering: .relaxed), garbage: &garbage)
        if let item = found?.item {
            item.exptime = Expiry.absolute(exptime, now: now, expired: expiredMark)
            s.pointee.ownLocked(item)
            stamp(item, cas: false)
            item.set(Item.Bit.fetched)
            item.atime = UInt32(clamping: now)
            s.pointee.lruBumpLocked(item, now: UInt32(clamping: now), interval: lruBumpInterval)
            (s.pointee.classes + item.sizeClass).pointee.touchHits += 1
        }
        unlock(s, releasing: garbage)
        return found != nil
    }

    /// `me <key>`: no bump, no fetch mark.
    func debugItem(_ key: UnsafeRawBufferPointer) -> DebugInfo? {
        let hash = KeyHash.hash(key)
        let s = stripe(stripeIndex(hash))
        let now = currentTime
        var garbage = Garbage()
        lock(s)
        var info: DebugInfo? = nil
        if let item = lookupLocked(s, hash, key, now: now, cutoff: flushCutoff.load(ordering: .relaxed), garbage: &garbage)?.item {
            // memcached prints current_time - exptime here (negative for a future expiry).
            info = DebugInfo(
                exp: item.exptime == 0 ? -1 : now - Int64(item.exptime),
                lastAccessAgo: now - Int64(item.atime), cas: visibleCas(item.cas),
                fetched: item.has(Item.Bit.fetched), sizeClass: item.sizeClass, size: item.memcachedSize,
                binaryKey: item.has(Item.Bit.binaryKey))
        }
        unlock(s, releasing: garbage)
        return info
    }
}
