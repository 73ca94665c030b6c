extension Store {
    /// `incr`, `decr`, `ma`. memcached's rules: see `DecimalValue.parse`; incr wraps at 2^64,
    /// decr stops at 0; a result that fits is written in place padded with spaces, else the
    /// item is replaced by a longer one that keeps flags and exptime.
    func arithmeticItem(_ key: UnsafeRawBufferPointer, _ request: ArithmeticRequest) -> ArithmeticOutcome {
        let hash = KeyHash.hash(key)
        let stripeNumber = stripeIndex(hash)
        let s = stripe(stripeNumber)
        let compare = request.compareCas ?? 0
        while true {
            let now = currentTime
            var garbage = Garbage()
            lock(s)
            guard let found = lookupLocked(s, hash, key, now: now, cutoff: flushCutoff.load(ordering: .relaxed), garbage: &garbage) else {
                unlock(s, releasing: garbage)
                guard request.autoCreates else { return .notFound }
                if let outcome = createForArithmetic(key, request, hash: hash, stripeNumber: stripeNumber) {
                    return outcome
                }
                continue  // created by someone else meanwhile: apply the delta to theirs.
            }
            let item = found.item
            // memcached refuses an empty value as non-numeric before it compares the CAS.
            if item.valueLength == 0 {
                unlock(s, releasing: garbage)
                return .nonNumeric
            }
            if compare != 0 && compare != visibleCas(item.cas) {
                unlock(s, releasing: garbage)
                return .exists
            }
            guard let current = DecimalValue.parse(item.value) else {
                unlock(s, releasing: garbage)
                return .nonNumeric
            }
            let result: UInt64
            if request.incr {
                result = current &+ request.delta
            } else {
                result = request.delta > current ? 0 : current - request.delta
            }
            let digits = DecimalValue.digitCount(result)
            let ttlBefore = Expiry.remaining(item.exptime, now: now)
            let counters = s.pointee.classes + item.sizeClass
            if request.incr { counters.pointee.incrHits += 1 } else { counters.pointee.decrHits += 1 }

            if digits <= item.valueLength {
                DecimalValue.write(result, to: item.valuePointer)
                if digits < item.valueLength {
                    (item.valuePointer + digits).initializeMemory(
                        as: UInt8.self, repeating: UInt8(ascii: " "), count: item.valueLength - digits)
                }
                s.pointee.ownLocked(item)
                stamp(item)
                if let ttl = request.newTTL { item.exptime = Expiry.absolute(ttl, now: now, expired: expiredMark) }
                item.atime = UInt32(clamping: now)
                s.pointee.lruBumpLocked(item, now: UInt32(clamping: now), interval: lruBumpInterval)
                let outcome = ArithmeticOutcome.value(ArithmeticResult(
                    value: result, cas: visibleCas(item.cas), ttlRemaining: Expiry.remaining(item.exptime, now: now),
                    ttlBefore: ttlBefore, created: false))
                unlock(s, releasing: garbage)
                return outcome
            }

            // A longer number: a new item, filled with no lock held, swapped in if unchanged.
            if request.incr { counters.pointee.incrHits -= 1 } else { counters.pointee.decrHits -= 1 }
            let oldVersion = item.version
            let flags = item.flags
            unlock(s, releasing: garbage)
            garbage = Garbage()
            guard let fresh = newItem(key: key, valueLength: digits, flags: flags, exptime: 0,
                                      now: UInt32(clamping: now), preferring: stripeNumber) else { return .outOfMemory }
            DecimalValue.write(result, to: fresh.valuePointer)
            lock(s)
            guard let again = lookupLocked(s, hash, key, now: now, cutoff: flushCutoff.load(ordering: .relaxed), garbage: &garbage),
                  again.item.version == oldVersion
            else {
                garbage.push(fresh)
                unlock(s, releasing: garbage)
                continue
            }
            fresh.exptime = again.item.exptime
            if let ttl = request.newTTL { fresh.exptime = Expiry.absolute(ttl, now: now, expired: expiredMark) }
            stamp(fresh)
            let freshCounters = s.pointee.classes + again.item.sizeClass
            if request.incr { freshCounters.pointee.incrHits += 1 } else { freshCounters.pointee.decrHits += 1 }
            s.pointee.replaceLocked(again.item, slot: again.slot, with: fresh)
            garbage.push(again.item)
            let outcome = ArithmeticOutcome.value(ArithmeticResult(
                value: result, cas: visibleCas(fresh.cas), ttlRemaining: Expiry.remaining(fresh.exptime, now: now),
                ttlBefore: ttlBefore, created: false))
            unlock(s, releasing: garbage)
            return outcome
        }
    }

    /// `ma N`: create the item with the initial value. nil if the key appeared meanwhile.
    private func createForArithmetic(
        _ key: UnsafeRawBufferPointer, _ request: ArithmeticRequest, hash: UInt64, stripeNumber: Int
    ) -> ArithmeticOutcome? {
        let s = stripe(stripeNumber)
        let now = currentTime
        let initial = request.autoCreateInitial ?? 0
        let digits = DecimalValue.digitCount(initial)
        guard let fresh = newItem(key: key, valueLength: digits, flags: 0, exptime: 0,
                                  now: UInt32(clamping: now), preferring: stripeNumber) else { return .outOfMemory }
        DecimalValue.write(initial, to: fresh.valuePointer)
        let vivify = Expiry.absolute(request.autoCreateTTL ?? 0, now: now, expired: expiredMark)
        if let ttl = request.newTTL, request.touchAfterVivify {
            fresh.exptime = Expiry.absolute(ttl, now: now, expired: expiredMark)
        } else {
            fresh.exptime = vivify
        }
        var garbage = Garbage()
        lock(s)
        if lookupLocked(s, hash, key, now: now, cutoff: flushCutoff.load(ordering: .relaxed), garbage: &garbage) != nil {
            garbage.push(fresh)
            unlock(s, releasing: garbage)
            return nil
        }
        stamp(fresh)
        let outcome = ArithmeticOutcome.value(ArithmeticResult(
            value: initial, cas: visibleCas(fresh.cas), ttlRemaining: Expiry.remaining(fresh.exptime, now: now),
            ttlBefore: -1, created: true))
        if Expiry.isExpired(fresh.exptime, now: now) {
            s.pointee.totalItems += 1
            garbage.push(fresh)
        } else {
            s.pointee.linkReplacingTombstoneLocked(fresh, hash: hash, garbage: &garbage)
            growIfNeededLocked(s, keep: fresh)
        }
        unlock(s, releasing: garbage)
        return outcome
    }
}
