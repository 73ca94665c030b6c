#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The public face of the storage engine: configuration, request and outcome types, and `Store`.
///
/// Pure module: no I/O, no clock reads, no logging. Time is pushed in with `Store.setClock`.

/// What the server configures the store with (`-m`, `-I`, `-M`, stripes).
public struct StorageConfig: Sendable, Equatable {
    /// Bytes; a hard limit that counts item overhead (malloc chunk, header, hash buckets). `-m`.
    public var memoryLimit: Int
    /// Bytes, header included, as memcached counts it (`-I`, default 1 MiB).
    public var maxItemSize: Int
    /// `false` with `-M`: answer `.outOfMemory` instead of evicting live items.
    public var evictionsEnabled: Bool
    /// Number of lock stripes; rounded up to a power of two. Default 64.
    public var stripes: Int
    /// An item is moved to the head of its LRU at most once per this many seconds
    /// (memcached's ITEM_UPDATE_INTERVAL is 60). 0 = on every access (exact LRU, for tests).
    public var lruBumpInterval: Int64
    /// `false` with `-C`: every CAS a caller sees is 0 (`gets`, `mg c`, `me cas=`, results), a
    /// `cas` or `ms C` compare never matches, `ma`/`md C` match only `C0`, and `ms MA/MP C` ignore
    /// the compare — memcached 1.6.18's answers. Items still carry their versions inside the store
    /// (flush cutoffs and the same-item re-checks need them); they are just never shown.
    public var casEnabled: Bool
    /// Seconds a deleted key's tombstone (its version) is kept, so an older copy arriving later
    /// cannot bring the key back. 0: no tombstones (a standalone node, as memcached).
    public var tombstoneTTL: Int64
    /// A received version whose clock is more than this many milliseconds ahead of this node's
    /// wall clock is refused (`apply` answers `.clockSkew`).
    public var maxClockSkewMillis: UInt64

    public init(
        memoryLimit: Int = 64 << 20, maxItemSize: Int = 1 << 20, evictionsEnabled: Bool = true,
        stripes: Int = 64, lruBumpInterval: Int64 = 60, casEnabled: Bool = true,
        tombstoneTTL: Int64 = 0, maxClockSkewMillis: UInt64 = 1000
    ) {
        self.tombstoneTTL = tombstoneTTL
        self.maxClockSkewMillis = maxClockSkewMillis
        self.memoryLimit = memoryLimit
        self.maxItemSize = maxItemSize
        self.evictionsEnabled = evictionsEnabled
        self.stripes = stripes
        self.lruBumpInterval = lruBumpInterval
        self.casEnabled = casEnabled
    }
}

/// How a read treats the item (`get`, `gat`, `mg` flags).
public struct ReadOptions: Sendable, Equatable {
    /// `gat`/`gats` exptime or `mg T`: set the item's exptime (memcached's exptime rules).
    public var touchExptime: Int64?
    /// `false` for `mg u`: don't bump the LRU, don't mark fetched, don't update last access.
    public var bumpLRU: Bool
    /// `mg N<ttl>`: on a miss create an empty item with this TTL; the caller gets `won`.
    public var vivifyTTL: Int64?
    /// `mg R<token>`: win if the item's remaining TTL is below this (and no token was sent yet).
    public var recacheThreshold: Int64?
    /// memcached applies `T`, `N`, `R` in the order the client wrote them. These two say
    /// the order when it matters: `T` written after `N` (a vivified item gets the `T` TTL),
    /// and `T` written before `R` (`R` compares against the touched TTL). Defaults: both true.
    public var touchAfterVivify: Bool
    public var touchBeforeRecache: Bool

    public init(
        touchExptime: Int64? = nil, bumpLRU: Bool = true, vivifyTTL: Int64? = nil,
        recacheThreshold: Int64? = nil, touchAfterVivify: Bool = true, touchBeforeRecache: Bool = true
    ) {
        self.touchExptime = touchExptime
        self.bumpLRU = bumpLRU
        self.vivifyTTL = vivifyTTL
        self.recacheThreshold = recacheThreshold
        self.touchAfterVivify = touchAfterVivify
        self.touchBeforeRecache = touchBeforeRecache
    }

    /// Plain `get`/`gets`.
    public static let get = ReadOptions()
}

/// An item as a read sees it, valid only inside the `read` closure (the stripe lock is held).
/// Copy what you need out; never call back into the `Store` from the closure.
public struct ItemView {
    /// The key bytes as stored.
    public let key: UnsafeRawBufferPointer
    /// The value bytes (no trailing `\r\n`). `mg s` reports `value.count`.
    public let value: UnsafeRawBufferPointer
    /// Client flags.
    public let flags: UInt32
    /// CAS unique (the item's version).
    public let cas: UInt64
    /// Absolute unix seconds, 0 = never (after this read's `T`/`N`).
    public let exptime: Int64
    /// Seconds to live after this read's `T`/`N`, -1 = unlimited (`mg t`, `ma t`).
    public let ttlRemaining: Int64
    /// Seconds to live before this read changed anything, -1 = unlimited; for a vivified
    /// item -1 (memcached creates it with exptime 0 and applies `N` in its flag loop).
    public let ttlBefore: Int64
    /// Seconds since last access, as before this read (`mg l`).
    public let lastAccessAgo: Int64
    /// Was the item fetched before this read (`mg h`).
    public let fetchedBefore: Bool
    /// The item is marked stale (`md I`, `ms I`): answer `X`.
    public let stale: Bool
    /// This caller won the right to recache: answer `W`.
    public let won: Bool
    /// Another caller already got the win token: answer `Z`.
    public let alreadyWon: Bool
    /// memcached's size class of the item (`me cls`).
    public let sizeClass: Int
    /// The item's total size as memcached counts it (`me size`).
    public let totalSize: Int
    /// This read's `N` created the item (also told by `ReadResult.vivified`, but only after the
    /// closure ran).
    public let vivified: Bool
    /// The item was stored by `ms <base64 key> b` (memcached's ITEM_KEY_BINARY): `mg k` echoes the
    /// key base64-encoded with ` b`, and `me` prints it base64-encoded.
    public let binaryKey: Bool

    /// `mg s`: the value's length.
    @inlinable public var size: Int { value.count }
}

/// The answer of `Store.read`.
public enum ReadResult<R> {
    case hit(R)
    case miss
    /// `N` created an empty item; the caller won (`W`). `R` is what the closure returned.
    case vivified(R)
}

extension ReadResult: Sendable where R: Sendable {}

/// What the non-generic read core did; `Store.read` turns it into a `ReadResult`.
@usableFromInline enum ReadStatus {
    case hit, miss, vivified
}

/// Storage command mode.
public enum StoreMode: UInt8, Sendable {
    case set, add, replace, append, prepend, cas
}

/// One storage request (`set add replace append prepend cas`, `ms`).
public struct StoreRequest: Sendable, Equatable {
    public var mode: StoreMode
    public var flags: UInt32
    /// As the client wrote it; memcached's rules (0 never, negative expired, ≤ 30 days relative,
    /// else absolute unix seconds).
    public var exptime: Int64
    /// The `cas` command's unique or `ms C<token>`. With `.set`/`.replace` a compare CAS turns the
    /// request into `.cas` (memcached's `ms`). For `.append`/`.prepend` 0 means "no compare".
    public var compareCas: UInt64?
    /// `ms I`: a compare CAS lower than the item's stores the value marked stale (keeps TTL).
    public var invalidate: Bool
    /// On `.tooLarge`/`.outOfMemory`, delete the key's current item (memcached does this for
    /// `set`, and for every `ms`). Defaults to `mode == .set`.
    public var dropExistingOnFailure: Bool
    /// `ms ... b`: mark the item's key as binary (see `ItemView.binaryKey`). memcached keeps the
    /// mark only on items a set/add/replace/cas creates: append/prepend, and an incr/decr that
    /// needs a longer value, make an unmarked item; an in-place incr/decr and `md I` keep it.
    public var binaryKey: Bool

    public init(
        mode: StoreMode, flags: UInt32 = 0, exptime: Int64 = 0, compareCas: UInt64? = nil,
        invalidate: Bool = false, dropExistingOnFailure: Bool? = nil, binaryKey: Bool = false
    ) {
        self.mode = mode
        self.flags = flags
        self.exptime = exptime
        self.compareCas = compareCas
        self.invalidate = invalidate
        self.dropExistingOnFailure = dropExistingOnFailure ?? (mode == .set)
        self.binaryKey = binaryKey
    }
}

public enum StoreOutcome: Sendable, Equatable {
    /// `STORED` / `HD`, with the item's new CAS unique.
    case stored(cas: UInt64)
    /// `NOT_STORED` / `NS`.
    case notStored
    /// `EXISTS` / `EX`.
    case exists
    /// `NOT_FOUND` / `NF`.
    case notFound
    /// `SERVER_ERROR object too large for cache`.
    case tooLarge
    /// `SERVER_ERROR out of memory storing object`.
    case outOfMemory
}

/// `delete` / `md`.
public struct DeleteRequest: Sendable, Equatable {
    /// `md C<token>`: delete (or invalidate) only if the item's CAS equals this exactly.
    public var compareCas: UInt64?
    /// `md I`: keep the item, mark it stale, give it a new CAS, clear its win token.
    public var invalidate: Bool
    /// `md I T<ttl>`: new TTL for the stale item (ignored without `invalidate`).
    public var ttl: Int64?

    public init(compareCas: UInt64? = nil, invalidate: Bool = false, ttl: Int64? = nil) {
        self.compareCas = compareCas
        self.invalidate = invalidate
        self.ttl = ttl
    }

    public static let plain = DeleteRequest()
}

public enum DeleteOutcome: Sendable, Equatable {
    case deleted, notFound, exists
}

/// `incr` / `decr` / `ma`.
public struct ArithmeticRequest: Sendable, Equatable {
    public var incr: Bool
    public var delta: UInt64
    /// `ma C<token>`; 0 means "no compare" (memcached).
    public var compareCas: UInt64?
    /// `ma N<ttl>` with `J<initial>`: create the item on a miss.
    public var autoCreateInitial: UInt64?
    public var autoCreateTTL: Int64?
    /// `ma T<ttl>`: new TTL on success.
    public var newTTL: Int64?
    /// When the item is created and both N and T are given, the later flag wins in memcached:
    /// true = T was written after N (T's TTL), false = N's TTL.
    public var touchAfterVivify: Bool

    public init(
        incr: Bool, delta: UInt64, compareCas: UInt64? = nil, autoCreateInitial: UInt64? = nil,
        autoCreateTTL: Int64? = nil, newTTL: Int64? = nil, touchAfterVivify: Bool = true
    ) {
        self.incr = incr
        self.delta = delta
        self.compareCas = compareCas
        self.autoCreateInitial = autoCreateInitial
        self.autoCreateTTL = autoCreateTTL
        self.newTTL = newTTL
        self.touchAfterVivify = touchAfterVivify
    }

    /// Auto-create is on when a TTL for it is given (`ma N`); the initial value defaults to 0.
    @inlinable public var autoCreates: Bool { autoCreateTTL != nil }
}

/// A successful `incr`/`decr`/`ma`.
public struct ArithmeticResult: Sendable, Equatable {
    /// The new value (or the initial value when the item was created).
    public var value: UInt64
    public var cas: UInt64
    /// After `T`/`N`; -1 = unlimited.
    public var ttlRemaining: Int64
    /// Before `T`/`N`; -1 = unlimited (also for a created item).
    public var ttlBefore: Int64
    /// `ma N` created the item.
    public var created: Bool

    public init(value: UInt64, cas: UInt64, ttlRemaining: Int64, ttlBefore: Int64, created: Bool) {
        self.value = value
        self.cas = cas
        self.ttlRemaining = ttlRemaining
        self.ttlBefore = ttlBefore
        self.created = created
    }
}

public enum ArithmeticOutcome: Sendable, Equatable {
    case value(ArithmeticResult)
    /// `NOT_FOUND` / `NF`.
    case notFound
    /// `CLIENT_ERROR cannot increment or decrement non-numeric value`.
    case nonNumeric
    /// `ma C` mismatch: `EX`.
    case exists
    /// The result needed a larger item and there was no memory: `SERVER_ERROR out of memory`.
    case outOfMemory
}

/// `me <key>`: `ME <key> exp=<> la=<> cas=<> fetch=<yes|no> cls=<> size=<>`. Every field holds
/// exactly what memcached prints.
public struct DebugInfo: Sendable, Equatable {
    /// memcached prints `current_time - exptime`: the negated remaining TTL (`-47` for 47 s
    /// left), and -1 for never. Print it as is.
    public var exp: Int64
    /// Seconds since last access.
    public var lastAccessAgo: Int64
    public var cas: UInt64
    public var fetched: Bool
    public var sizeClass: Int
    public var size: Int
    /// `me` prints the key base64-encoded when set (see `ItemView.binaryKey`).
    public var binaryKey: Bool

    public init(exp: Int64, lastAccessAgo: Int64, cas: UInt64, fetched: Bool, sizeClass: Int, size: Int, binaryKey: Bool = false) {
        self.exp = exp
        self.lastAccessAgo = lastAccessAgo
        self.cas = cas
        self.fetched = fetched
        self.sizeClass = sizeClass
        self.size = size
        self.binaryKey = binaryKey
    }
}

/// Figures for one of memcached's size classes (`stats items`, `stats slabs`).
public struct SizeClassStatistics: Sendable, Equatable {
    /// memcached's class id (1-based).
    public var id: Int
    /// memcached's chunk size for this class.
    public var chunkSize: Int
    /// Items whose memcached-counted size falls in this class.
    public var items: Int = 0
    /// Sum of their memcached-counted sizes (`mem_requested`).
    public var requestedBytes: Int = 0
    /// Memory they really hold in this store (malloc chunks).
    public var memory: Int = 0
    public var evicted: UInt64 = 0
    public var evictedNonzero: UInt64 = 0
    public var evictedUnfetched: UInt64 = 0
    public var expiredUnfetched: UInt64 = 0
    public var reclaimed: UInt64 = 0
    public var outOfMemory: UInt64 = 0
    public var getHits: UInt64 = 0
    public var setCommands: UInt64 = 0
    public var deleteHits: UInt64 = 0
    public var incrHits: UInt64 = 0
    public var decrHits: UInt64 = 0
    public var casHits: UInt64 = 0
    public var casBadval: UInt64 = 0
    public var touchHits: UInt64 = 0

    public init(id: Int, chunkSize: Int) {
        self.id = id
        self.chunkSize = chunkSize
    }
}

/// Store-wide figures (`stats`), summed over stripes.
public struct StoreStatistics: Sendable, Equatable {
    public var currItems: Int = 0
    public var totalItems: UInt64 = 0
    /// Sum of items' sizes as memcached counts them (`bytes`).
    public var bytes: Int = 0
    /// Memory charged against the limit: malloc chunks of items and of spare blocks plus hash buckets.
    public var usedMemory: Int = 0
    /// Unlinked blocks kept for reuse by the next item of the same size (part of `usedMemory`).
    public var spareBytes: Int = 0
    /// Deleted keys' tombstones held, and their memory (part of `usedMemory`).
    public var tombstones: Int = 0
    public var tombstoneBytes: Int = 0
    /// Live items that are copies of other nodes' changes (backups), their memory, and how many
    /// evicted items were such copies (the rest of `currItems`/`evictions` are owned).
    public var copyItems: Int = 0
    public var copyBytes: Int = 0
    public var evictedCopies: UInt64 = 0
    public var limitMaxbytes: Int = 0
    public var evictions: UInt64 = 0
    public var evictedUnfetched: UInt64 = 0
    public var expiredUnfetched: UInt64 = 0
    public var reclaimed: UInt64 = 0
    public var getExpired: UInt64 = 0
    public var getFlushed: UInt64 = 0
    public var outOfMemory: UInt64 = 0
    /// Bytes of hash bucket arrays (`hash_bytes`), and their total bucket count.
    public var hashBytes: Int = 0
    public var hashBuckets: Int = 0
    /// Seconds since the least recently used item (over all stripes' LRU tails) was accessed.
    public var oldestItemAge: Int64 = 0
    public var stripes: Int = 0
    /// Classes with at least one item or a nonzero counter, by id.
    public var sizeClasses: [SizeClassStatistics] = []

    public init() {}
}

/// The item store: a striped hash table with per-stripe LRU, memory accounting, expiry, versions.
///
/// Shared by all worker threads. Thread safety (`@unchecked Sendable`): every item, and every
/// stripe's table, LRU and counters, is touched only with that stripe's mutex held; the memory
/// counter, clock, version clock and flush cutoff are atomics; the pending delayed flush is
/// behind its own small mutex (taken with no stripe lock held).
///
/// Lock order: a thread holds at most one stripe lock at a time. Memory for a new item is
/// reserved (evicting LRU tails, locking one stripe at a time) before the item's stripe is
/// locked; paths that learn the size only under the lock (append, prepend, incr growing the
/// value, vivify) drop the lock, reserve, and re-check under the lock that the item is unchanged.
/// The one eviction done while a stripe lock is held (to make room for that stripe's own bucket
/// array growth) evicts from that same stripe. So no two stripe locks are ever held together and
/// there is nothing to deadlock on. Reads run the caller's closure under the stripe lock: it
/// must not call back into the store.
public final class Store: @unchecked Sendable {
    // MARK: State (operations are in Store+*.swift)

    /// Stripe `i` is at `stripeBase + i * stripeStride` (cache-line aligned, never moves).
    let stripeBase: UnsafeMutableRawPointer
    let stripeStride: Int
    let stripeCount: Int
    let mutexOffset: Int

    let maxItemSize: Int
    let evictionsEnabled: Bool
    let lruBumpInterval: UInt32
    let initialConfig: StorageConfig
    /// See `StorageConfig.casEnabled`.
    let casEnabled: Bool
    let tombstoneTTL: Int64
    let maxClockSkewMillis: UInt64
    /// This node's id in the versions it issues (set by the server from its membership).
    let nodeID: Atomic<UInt16>

    /// A change of `item`: a new version from this node, and (`cas`) a new CAS unique, the same
    /// value, where memcached gives one. Returns the version's clock.
    @inline(__always) @discardableResult
    func stamp(_ item: Item, cas: Bool = true) -> UInt64 {
        let version = versions.next()
        item.version = version
        item.origin = nodeID.load(ordering: .relaxed)
        if cas { item.cas = version }
        return version
    }

    /// An item's CAS as callers see it: its version, or 0 under `-C`. Every CAS that leaves the
    /// store, and every compare against a caller's CAS, goes through this.
    @inline(__always) func visibleCas(_ version: UInt64) -> UInt64 { casEnabled ? version : 0 }

    let memoryLimit: Atomic<Int>
    /// Bytes charged: item chunks plus bucket arrays. Never above `memoryLimit` after a
    /// successful reservation.
    let usedMemory: Atomic<Int>
    let clockSeconds: Atomic<Int64>
    let versions: HybridLogicalClock
    /// Items with a cas below this are flushed.
    let flushCutoff: Atomic<UInt64>
    /// A delayed flush: at `at` (unix seconds) the cutoff rises to `cutoff`. `at` 0 = none.
    let pendingFlush: Mutex<(at: Int64, cutoff: UInt64)>
    let pendingFlushAt: Atomic<Int64>
    let sweepStripe: Atomic<Int>
    let evictCursor: Atomic<Int>
    /// memcached's `process_started` (see `Expiry`), and the exptime of items whose expiry is
    /// already over (`process_started + 1`, memcached's relative time 1).
    let processStarted: Int64
    let expiredMark: UInt32
    /// Told about every live item eviction takes (for the `watch evictions` log), under the
    /// stripe's lock: it must be quick and must not call back into the store. Set once, before
    /// the store is shared between threads.
    nonisolated(unsafe) public var evictionObserver: (@Sendable (borrowing ItemSummary) -> Void)?

    public init(config: StorageConfig, nowSeconds: Int64, nowMillis: UInt64) {
        var count = 1
        while count < max(1, config.stripes) { count <<= 1 }
        stripeCount = count
        mutexOffset = MemoryLayout<Stripe>.offset(of: \Stripe.mutex)!
        stripeStride = (MemoryLayout<Stripe>.stride + 63) & ~63
        stripeBase = UnsafeMutableRawPointer.allocate(byteCount: stripeStride * count, alignment: 64)
        maxItemSize = config.maxItemSize
        evictionsEnabled = config.evictionsEnabled
        lruBumpInterval = UInt32(clamping: max(0, config.lruBumpInterval))
        initialConfig = config
        casEnabled = config.casEnabled
        tombstoneTTL = max(0, config.tombstoneTTL)
        maxClockSkewMillis = config.maxClockSkewMillis
        nodeID = Atomic(0)
        memoryLimit = Atomic(config.memoryLimit)
        clockSeconds = Atomic(nowSeconds)
        versions = HybridLogicalClock(millis: nowMillis)
        flushCutoff = Atomic(0)
        pendingFlush = Mutex((at: 0, cutoff: 0))
        pendingFlushAt = Atomic(0)
        sweepStripe = Atomic(0)
        evictCursor = Atomic(0)
        processStarted = Expiry.processStarted(at: nowSeconds)
        expiredMark = UInt32(clamping: processStarted + 1)

        // Start near memcached's 64 Ki buckets, fewer for a small limit; each stripe grows alone.
        var totalBuckets = 1 << 16
        while totalBuckets > 16 * count && totalBuckets * 8 * 64 > config.memoryLimit { totalBuckets >>= 1 }
        let perStripe = max(16, totalBuckets / count)
        usedMemory = Atomic(count * perStripe * Stripe.pointerSize)
        for i in 0..<count {
            let pointer = (stripeBase + i * stripeStride).bindMemory(to: Stripe.self, capacity: 1)
            pointer.initialize(to: Stripe(bucketCount: perStripe))
            pthread_mutex_init(mutex(pointer), nil)
        }
    }

    deinit {
        for i in 0..<stripeCount {
            let s = stripe(i)
            var raw = s.pointee.head
            while let r = raw {
                raw = Item(r).next
                free(r)
            }
            while let spare = s.pointee.spares.takeAny() { free(spare.block) }
            s.pointee.spares.deallocate()
            s.pointee.buckets.deallocate()
            s.pointee.classes.deallocate()
            pthread_mutex_destroy(mutex(s))
            s.deinitialize(count: 1)
        }
        stripeBase.deallocate()
    }

    // MARK: Public API

    /// The server ticks this (seconds for expiry, milliseconds for versions). The store never
    /// reads a system clock. Unix seconds must be > 1.
    public func setClock(seconds: Int64, millis: UInt64) {
        clockSeconds.store(seconds, ordering: .relaxed)
        versions.setPhysical(millis: millis)
        let at = pendingFlushAt.load(ordering: .relaxed)
        if at != 0 && seconds >= at { applyDueFlush(now: seconds) }
    }

    /// Unix seconds as last set.
    public var currentTime: Int64 { clockSeconds.load(ordering: .relaxed) }

    public var config: StorageConfig {
        var c = initialConfig
        c.memoryLimit = memoryLimit.load(ordering: .relaxed)
        c.stripes = stripeCount
        return c
    }

    /// memcached's chunk sizes by class id (index 0 unused, 0).
    public var sizeClassChunkSizes: [Int] { SizeClasses.chunkSizes }

    /// memcached's `t` right after applying this exptime now (-1 for 0): for answering flags in
    /// the client's order when a `t` sits between `T` and `N`.
    public func remainingTTL(forExptime exptime: Int64) -> Int64 {
        let now = currentTime
        return Expiry.remaining(Expiry.absolute(exptime, now: now, expired: expiredMark), now: now)
    }

    /// Looks the key up and hands the item to `body` under the stripe lock.
    /// Counts `get_expired`/`get_flushed` when it finds a dead item.
    ///
    /// Inlinable so it is specialized where it is called: a generic call through the module
    /// boundary would look up `ReadResult<R>`'s metadata on every read.
    @inlinable
    public func read<R>(_ key: UnsafeRawBufferPointer, _ options: ReadOptions, _ body: (borrowing ItemView) -> R) -> ReadResult<R> {
        var result: R? = nil
        switch readItem(key, options, { view in result = body(view) }) {
        case .miss: return .miss
        case .hit: return .hit(result.unsafelyUnwrapped)
        case .vivified: return .vivified(result.unsafelyUnwrapped)
        }
    }

    public func store(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ request: StoreRequest) -> StoreOutcome {
        storeItem(key, value, request)
    }

    public func delete(_ key: UnsafeRawBufferPointer, _ request: DeleteRequest = .plain) -> DeleteOutcome {
        deleteItem(key, request)
    }

    public func arithmetic(_ key: UnsafeRawBufferPointer, _ request: ArithmeticRequest) -> ArithmeticOutcome {
        arithmeticItem(key, request)
    }

    /// `touch`: new exptime, LRU bump, marks fetched; the CAS stays. `false` = NOT_FOUND.
    public func touch(_ key: UnsafeRawBufferPointer, exptime: Int64) -> Bool {
        touchItem(key, exptime: exptime)
    }

    /// `flush_all [delay]`: delay <= 0 invalidates everything stored now; else everything stored
    /// before the delay's end becomes invalid then (delay read as an exptime: > 30 days is
    /// absolute). A later call replaces a pending delayed flush, as in memcached.
    public func flushAll(delay: Int64 = 0) { flush(delay: delay) }

    /// A `flush_all` another node started, as one cluster event: everything below `cutoff` (its
    /// version) is flushed, a pending delayed flush is forgotten (a new flush replaces it, as in
    /// memcached), and every later version here is above the cut-off.
    public func flushAll(cutoff: UInt64) {
        versions.observe(cutoff)
        flush(toCutoff: cutoff)
    }

    /// A cut-off for a cluster-wide `flush_all` started here: above every version this node
    /// issued, and `aheadMillis` past its clock, so it is also above what the other nodes stored
    /// before they hear of it (their clocks may run a little ahead of ours).
    public func clusterFlushCutoff(aheadMillis: UInt64) -> UInt64 {
        max(versions.next(), versions.physicalFloor &+ (aheadMillis << HybridLogicalClock.logicalBits))
    }

    /// Items (and copies) with a version below this are flushed.
    public var flushCutoffVersion: UInt64 { flushCutoff.load(ordering: .relaxed) }

    /// `me`: nil for a miss. Doesn't count as an access.
    public func debug(_ key: UnsafeRawBufferPointer) -> DebugInfo? { debugItem(key) }

    /// One step of the background sweep: examines about `budget` items (empty buckets count),
    /// removes expired and flushed ones, returns how many it removed.
    public func sweepExpired(budget: Int) -> Int { sweep(budget: budget).removed }

    /// `sweepExpired`, telling also how many items it looked at (memcached's crawler counters).
    public func sweepExpiredCounted(budget: Int) -> SweepResult { sweep(budget: budget) }

    /// `cache_memlimit`: new limit in bytes; evicts down to it now if evictions are enabled.
    public func setMemoryLimit(_ bytes: Int) { changeMemoryLimit(bytes) }

    /// Hybrid logical clock: every later version is above `version` (for replication).
    public func observe(version: UInt64) { versions.observe(version) }

    /// The node id this store puts in the versions it issues.
    public func setNodeID(_ id: UInt16) { nodeID.store(id, ordering: .relaxed) }
    public var currentNodeID: UInt16 { nodeID.load(ordering: .relaxed) }

    /// The highest version issued or observed so far.
    public var lastVersion: UInt64 { versions.last }

    public func statistics() -> StoreStatistics { collectStatistics() }

    /// `stats reset`: zeroes counters (not items, bytes or memory).
    public func resetStatistics() { zeroStatistics() }
}
