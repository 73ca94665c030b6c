/// Replication's view of the store: an item's state with its version, read out for shipping
/// (`export`) and applied on another node if newer (`apply`).

/// A replication version: the issuer's hybrid logical clock, then its node id. Two nodes never
/// issue the same version for different changes; equal versions are the same change.
public struct ItemVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var clock: UInt64
    public var origin: UInt16

    @inlinable public init(clock: UInt64, origin: UInt16) {
        self.clock = clock
        self.origin = origin
    }

    @inlinable public static func < (a: ItemVersion, b: ItemVersion) -> Bool {
        a.clock != b.clock ? a.clock < b.clock : a.origin < b.origin
    }

    /// The lowest clock of a version issued at this unix millisecond (anti-entropy's cut-offs).
    public static func clock(atMillis millis: UInt64) -> UInt64 { HybridLogicalClock.floor(millis: millis) }

    /// `<clock>.<origin>`, as `cluster local` and the logs show it.
    public var description: String { "\(clock).\(origin)" }
}

/// Everything about an item but its key and value, as it travels between nodes.
public struct ItemState: Sendable, Equatable {
    public var version: ItemVersion
    /// The CAS unique clients see; travels with the item so a promoted backup keeps it.
    public var cas: UInt64
    public var flags: UInt32
    /// Absolute unix seconds, 0 = never (a tombstone: when it may be forgotten).
    public var exptime: UInt32
    /// A deleted key's tombstone: no value, never served.
    public var tombstone: Bool
    /// Marked stale (`md I`, `ms I`).
    public var stale: Bool
    /// Stored by `ms … b`.
    public var binaryKey: Bool

    public init(version: ItemVersion, cas: UInt64, flags: UInt32, exptime: UInt32, tombstone: Bool, stale: Bool, binaryKey: Bool) {
        self.version = version
        self.cas = cas
        self.flags = flags
        self.exptime = exptime
        self.tombstone = tombstone
        self.stale = stale
        self.binaryKey = binaryKey
    }
}

/// What `apply` did with a copy.
public enum ApplyOutcome: Sendable, Equatable {
    /// Stored: it was newer than what this node held.
    case applied
    /// This node holds this very version already.
    case same
    /// This node holds a newer version; the copy is dropped.
    case older
    /// Below the flush cut-off (a flushed change): dropped, as the flush dropped it everywhere.
    case flushed
    /// Its clock is more than `max_clock_skew` ahead of this node's wall clock: refused.
    case clockSkew
    /// No memory for it (evictions off, or nothing left to evict).
    case outOfMemory
    /// Larger than this node's item size limit.
    case tooLarge

    /// Does the sender's copy now exist here (or something newer that supersedes it)?
    public var holds: Bool {
        switch self {
        case .applied, .same, .older, .flushed: return true
        case .clockSkew, .outOfMemory, .tooLarge: return false
        }
    }
}

extension Store {
    /// The key's current state here (a live item or a tombstone) and its value, handed to
    /// `body` under the stripe lock; nil when this node holds nothing for the key. No LRU bump,
    /// no access counted. `body` must copy what it needs and not call back into the store.
    public func export<R>(_ key: UnsafeRawBufferPointer, _ body: (ItemState, UnsafeRawBufferPointer) -> R) -> R? {
        let hash = KeyHash.hash(key)
        let s = stripe(stripeIndex(hash))
        let now = currentTime
        let cutoff = flushCutoff.load(ordering: .relaxed)
        lock(s)
        defer { unlock(s) }
        guard let found = s.pointee.findLocked(hash, key), deadness(found.item, now: now, cutoff: cutoff) == .live else {
            return nil
        }
        let item = found.item
        return body(state(of: item), item.value)
    }

    @inline(__always) func state(of item: Item) -> ItemState {
        ItemState(
            version: item.itemVersion, cas: item.cas, flags: item.flags, exptime: item.exptime,
            tombstone: item.isTombstone, stale: item.has(Item.Bit.stale), binaryKey: item.has(Item.Bit.binaryKey))
    }

    /// Stores a copy from another node if its version is newer than what this node holds for
    /// the key (a live item, a tombstone, or nothing). Raises this node's clock above the copy's
    /// version and CAS, so every version and CAS it issues later is higher.
    public func apply(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ incoming: ItemState) -> ApplyOutcome {
        precondition(key.count > 0 && key.count <= 250, "Storage: keys are 1...250 bytes")
        if incoming.version.clock > versions.physicalFloor &+ (maxClockSkewMillis << HybridLogicalClock.logicalBits) {
            return .clockSkew
        }
        let valueLength = incoming.tombstone ? 0 : value.count
        if !incoming.tombstone
            && SizeClasses.memcachedItemSize(keyLength: key.count, valueLength: valueLength, flags: incoming.flags) > maxItemSize
        {
            return .tooLarge
        }
        versions.observe(incoming.version.clock)
        versions.observe(incoming.cas)
        let hash = KeyHash.hash(key)
        let stripeNumber = stripeIndex(hash)
        let s = stripe(stripeNumber)
        let now = currentTime
        if incoming.version.clock < flushCutoff.load(ordering: .relaxed) { return .flushed }

        // Cheap refusal first: most repeated copies are not newer.
        lock(s)
        if let held = s.pointee.findLocked(hash, key), let verdict = compare(held.item, incoming, now: now) {
            unlock(s)
            return verdict
        }
        unlock(s)

        guard let fresh = newItem(key: key, valueLength: valueLength, flags: incoming.flags, exptime: incoming.exptime,
                                  now: UInt32(clamping: now), preferring: stripeNumber)
        else { return .outOfMemory }
        if valueLength > 0 { fresh.valuePointer.copyMemory(from: value.baseAddress!, byteCount: valueLength) }
        fresh.version = incoming.version.clock
        fresh.origin = incoming.version.origin
        fresh.cas = incoming.cas
        if incoming.tombstone { fresh.set(Item.Bit.tombstone) }
        if incoming.stale { fresh.set(Item.Bit.stale) }
        if incoming.binaryKey { fresh.set(Item.Bit.binaryKey) }
        if !incoming.tombstone { fresh.set(Item.Bit.copy) }

        var garbage = Garbage()
        lock(s)
        let held = s.pointee.findLocked(hash, key)
        if let held, let verdict = compare(held.item, incoming, now: now) {
            garbage.push(fresh)
            unlock(s, releasing: garbage)
            return verdict
        }
        if let held {
            s.pointee.unlinkAnyLocked(held.item, slot: held.slot)
            garbage.push(held.item)
        }
        if incoming.tombstone {
            s.pointee.linkTombstoneLocked(fresh, hash: hash)
        } else if Expiry.isExpired(fresh.exptime, now: now) {
            garbage.push(fresh)  // expired on the way: what it replaced is gone, nothing to serve
        } else {
            s.pointee.linkLocked(fresh, hash: hash)
            growIfNeededLocked(s, keep: fresh)
        }
        unlock(s, releasing: garbage)
        return .applied
    }

    /// nil when `incoming` should replace `held`; else why not. A dead (expired, flushed)
    /// entry is as good as none. Caller holds the lock.
    @inline(__always) private func compare(_ held: Item, _ incoming: ItemState, now: Int64) -> ApplyOutcome? {
        if deadness(held, now: now, cutoff: flushCutoff.load(ordering: .relaxed)) != .live { return nil }
        let version = held.itemVersion
        if version == incoming.version { return .same }
        if version > incoming.version { return .older }
        return nil
    }
}

extension Store {
    /// Hands the key of every live item and tombstone (not expired, not flushed) to `body`, up
    /// to about `budget` of them, in table order from `cursor`, and moves the cursor past them
    /// (a bucket is never split). Returns false once the whole table has been walked. For the
    /// repair that copies keys again after a death; one stripe lock at a time.
    public func forEachKey(from cursor: inout DumpCursor, budget: Int, _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        walkLive(from: &cursor, budget: budget, tombstones: true) { body($0.key) }
    }

    /// `forEachKey` with each entry's version: for anti-entropy's summaries. `body` runs under
    /// the stripe lock: copy what is needed, never call back into the store.
    public func forEachVersion(from cursor: inout DumpCursor, budget: Int, _ body: (UnsafeRawBufferPointer, ItemVersion) -> Void) -> Bool {
        walkLive(from: &cursor, budget: budget, tombstones: true) { body($0.key, $0.itemVersion) }
    }

    /// Live items and tombstones held (what a full walk hands out, roughly).
    public var entryCount: Int {
        var total = 0
        for i in 0..<stripeCount {
            let s = stripe(i)
            lock(s)
            total += s.pointee.count
            unlock(s)
        }
        return total
    }
}

extension Store {
    /// This node owns `key` now (a death moved it here): its copy counts as owned from now on.
    public func markOwned(_ key: UnsafeRawBufferPointer) {
        let hash = KeyHash.hash(key)
        let s = stripe(stripeIndex(hash))
        lock(s)
        if let found = s.pointee.findLocked(hash, key), !found.item.isTombstone { s.pointee.ownLocked(found.item) }
        unlock(s)
    }

    /// Removes whatever this node holds for `key` (item or tombstone) without counting it as a
    /// delete: a copy this node no longer holds in the ring. Returns whether there was one.
    @discardableResult
    public func discard(_ key: UnsafeRawBufferPointer) -> Bool {
        let hash = KeyHash.hash(key)
        let s = stripe(stripeIndex(hash))
        var garbage = Garbage()
        lock(s)
        let found = s.pointee.findLocked(hash, key)
        if let found {
            s.pointee.unlinkAnyLocked(found.item, slot: found.slot)
            garbage.push(found.item)
        }
        unlock(s, releasing: garbage)
        return found != nil
    }
}

extension Store {
    /// Drops every item and tombstone this node holds, without a flush cut-off (copies of any
    /// version are taken afterwards) and without counting deletes: a node whose death the
    /// others confirmed must not bring old data back, and is filled again like a new one.
    /// Returns how many entries it dropped.
    public func discardAll() -> Int {
        var cursor = DumpCursor()
        var dropped = 0
        var more = true
        while more {
            var keys: [[UInt8]] = []
            more = forEachKey(from: &cursor, budget: 4096) { keys.append(Array($0)) }
            for key in keys where key.withUnsafeBytes({ discard($0) }) { dropped += 1 }
        }
        return dropped
    }
}
