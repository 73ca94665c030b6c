/// Walking the live items for the operator's dump commands (`lru_crawler metadump`,
/// `stats cachedump`). Nothing here is on the request path.

/// One live item as the dump commands list it. Valid only inside the closure it is handed to
/// (the stripe lock is held): copy out what you need, never call back into the store.
public struct ItemSummary {
    /// The key as stored (base64-decoded for a binary key).
    public let key: UnsafeRawBufferPointer
    /// Absolute unix seconds, 0 = never.
    public let exptime: Int64
    /// Absolute unix seconds of the last access.
    public let lastAccess: Int64
    public let cas: UInt64
    public let fetched: Bool
    /// memcached's size class of the item.
    public let sizeClass: Int
    /// The item's size as memcached counts it (`me size`, metadump `size=`).
    public let totalSize: Int
    public let valueLength: Int
    public let binaryKey: Bool
}

/// An `ItemSummary` copied out of the store.
public struct DumpedItem: Sendable, Equatable {
    public var key: [UInt8]
    public var exptime: Int64
    public var lastAccess: Int64
    public var valueLength: Int
    public var binaryKey: Bool

    init(_ s: borrowing ItemSummary) {
        key = Array(s.key)
        exptime = s.exptime
        lastAccess = s.lastAccess
        valueLength = s.valueLength
        binaryKey = s.binaryKey
    }
}

/// Where a dump that walks the whole table stands: the next stripe and bucket to read.
public struct DumpCursor: Sendable, Equatable {
    public var stripe = 0
    public var bucket = 0

    public init() {}
}

extension Store {
    /// Hands up to about `budget` live items (expired and flushed ones are skipped, not
    /// removed) to `body`, in table order, starting at `cursor`, and moves the cursor past them.
    /// A bucket is never split, so a call may hand over a few more than `budget`. Returns false
    /// once the whole table has been walked. Takes one stripe lock at a time; items written
    /// while a dump runs may or may not be listed, as in memcached's crawler.
    public func dumpItems(from cursor: inout DumpCursor, budget: Int, _ body: (borrowing ItemSummary) -> Void) -> Bool {
        walkLive(from: &cursor, budget: budget, tombstones: false) { body(summary(of: $0)) }
    }

    /// The table walk behind `dumpItems` and `forEachKey`: every live entry (not expired, not
    /// flushed; tombstones only with `tombstones`) to `body` under its stripe's lock, about
    /// `budget` of them from `cursor` (a bucket is never split), one stripe lock at a time.
    /// Returns false once the whole table has been walked.
    func walkLive(from cursor: inout DumpCursor, budget: Int, tombstones: Bool, _ body: (Item) -> Void) -> Bool {
        let now = currentTime
        let cutoff = flushCutoff.load(ordering: .relaxed)
        var handed = 0
        while cursor.stripe < stripeCount {
            let s = stripe(cursor.stripe)
            lock(s)
            while cursor.bucket < s.pointee.bucketCount && handed < budget {
                var raw = (s.pointee.buckets + cursor.bucket * Stripe.pointerSize).load(as: UnsafeMutableRawPointer?.self)
                while let r = raw {
                    let item = Item(r)
                    raw = item.hnext
                    guard tombstones || !item.isTombstone, deadness(item, now: now, cutoff: cutoff) == .live else { continue }
                    body(item)
                    handed += 1
                }
                cursor.bucket += 1
            }
            let finished = cursor.bucket >= s.pointee.bucketCount
            unlock(s)
            if !finished { return true }
            cursor.stripe += 1
            cursor.bucket = 0
            if handed >= budget { return cursor.stripe < stripeCount }
        }
        return false
    }

    /// memcached's `stats cachedump <class> <limit>`: the live items of one size class, most
    /// recently used first, at most `limit` (0: as many as `cap`). Our LRU is per stripe, so each
    /// stripe's most recent ones are copied out under its lock and then ordered by last access.
    public func mostRecentItems(inClass sizeClass: Int, limit: Int, cap: Int = 1 << 16) -> [DumpedItem] {
        let now = currentTime
        let cutoff = flushCutoff.load(ordering: .relaxed)
        let perStripe = limit > 0 ? min(limit, cap) : cap
        var picked: [DumpedItem] = []
        for i in 0..<stripeCount {
            let s = stripe(i)
            lock(s)
            var taken = 0
            var raw = s.pointee.head
            while let r = raw, taken < perStripe {
                let item = Item(r)
                raw = item.next
                guard item.sizeClass == sizeClass, deadness(item, now: now, cutoff: cutoff) == .live else { continue }
                picked.append(DumpedItem(summary(of: item)))
                taken += 1
            }
            unlock(s)
        }
        picked.sort { $0.lastAccess > $1.lastAccess }
        let keep = limit > 0 ? min(limit, cap) : cap
        if picked.count > keep { picked.removeLast(picked.count - keep) }
        return picked
    }

    /// memcached's size class for an item of these lengths (the watch log's `clsid`).
    public static func sizeClass(keyLength: Int, valueLength: Int, flags: UInt32) -> Int {
        SizeClasses.classID(forSize: SizeClasses.memcachedItemSize(keyLength: keyLength, valueLength: valueLength, flags: flags))
    }

    /// Size classes that exist (1...largest), for validating a class id an operator gives.
    public static var largestSizeClass: Int { SizeClasses.largestClass }

    @inline(__always) func summary(of item: Item) -> ItemSummary {
        ItemSummary(
            key: item.key, exptime: Int64(item.exptime), lastAccess: Int64(item.atime), cas: visibleCas(item.cas),
            fetched: item.has(Item.Bit.fetched), sizeClass: item.sizeClass, totalSize: item.memcachedSize,
            valueLength: item.valueLength, binaryKey: item.has(Item.Bit.binaryKey))
    }
}
