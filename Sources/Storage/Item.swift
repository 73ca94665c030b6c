#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One cached item: a single malloc'd block that Swift's reference counting never sees.
///
/// Layout (64-byte header, then the key, then the value; no terminators):
///
/// ```
///  0 hnext      next item in the hash chain          (8)
///  8 prev       LRU neighbour towards the head (MRU) (8)
/// 16 next       LRU neighbour towards the tail (LRU) (8)
/// 24 cas        the CAS unique clients see           (8)
/// 32 exptime    absolute unix seconds, 0 = never, 1 = already expired (4)
/// 36 atime      last access, unix seconds            (4)
/// 40 lruTime    last move to the LRU head            (4)
/// 44 flags      client flags                         (4)
/// 48 valueLen                                        (4)
/// 52 keyLen     1...250                              (1)
/// 53 bits       fetched / stale / token sent / binary key / tombstone / copy (1)
/// 54 origin     node id of the version's issuer      (2)
/// 56 version    replication version (hybrid logical clock) (8)
/// 64 key bytes, then value bytes
/// ```
///
/// The version changes with every change of the item (touch included); the CAS only where
/// memcached changes it. Versions compare as (version, origin). A tombstone (a deleted key's
/// version, kept `tombstone_ttl`) is a block with the tombstone bit and no value: it sits in its
/// hash chain but not in the LRU, and no read ever sees it.
///
/// Every field is read and written only with the owning stripe's lock held. The raw memory is
/// only ever accessed with `load`/`storeBytes`, never through typed pointers.
struct Item: Equatable {
    let raw: UnsafeMutableRawPointer

    @inline(__always) init(_ raw: UnsafeMutableRawPointer) { self.raw = raw }

    static let headerSize = 64

    /// Bytes of the block for a key and value of these lengths.
    @inline(__always) static func blockSize(keyLength: Int, valueLength: Int) -> Int {
        headerSize + keyLength + valueLength
    }

    enum Bit {
        static let fetched: UInt8 = 1
        static let stale: UInt8 = 2
        static let tokenSent: UInt8 = 4
        static let binaryKey: UInt8 = 8
        static let tombstone: UInt8 = 16
        /// A copy another node's change put here (a backup copy), until this node changes it
        /// or is told it owns the key (`Store.markOwned`): for the owned/backup statistics.
        static let copy: UInt8 = 32
    }

    @inline(__always) var hnext: UnsafeMutableRawPointer? {
        get { raw.load(fromByteOffset: 0, as: UnsafeMutableRawPointer?.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 0, as: UnsafeMutableRawPointer?.self) }
    }
    @inline(__always) var prev: UnsafeMutableRawPointer? {
        get { raw.load(fromByteOffset: 8, as: UnsafeMutableRawPointer?.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 8, as: UnsafeMutableRawPointer?.self) }
    }
    @inline(__always) var next: UnsafeMutableRawPointer? {
        get { raw.load(fromByteOffset: 16, as: UnsafeMutableRawPointer?.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 16, as: UnsafeMutableRawPointer?.self) }
    }
    @inline(__always) var cas: UInt64 {
        get { raw.load(fromByteOffset: 24, as: UInt64.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 24, as: UInt64.self) }
    }
    @inline(__always) var exptime: UInt32 {
        get { raw.load(fromByteOffset: 32, as: UInt32.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 32, as: UInt32.self) }
    }
    @inline(__always) var atime: UInt32 {
        get { raw.load(fromByteOffset: 36, as: UInt32.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 36, as: UInt32.self) }
    }
    @inline(__always) var lruTime: UInt32 {
        get { raw.load(fromByteOffset: 40, as: UInt32.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 40, as: UInt32.self) }
    }
    @inline(__always) var flags: UInt32 {
        get { raw.load(fromByteOffset: 44, as: UInt32.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 44, as: UInt32.self) }
    }
    @inline(__always) var valueLength: Int {
        get { Int(raw.load(fromByteOffset: 48, as: UInt32.self)) }
        nonmutating set { raw.storeBytes(of: UInt32(truncatingIfNeeded: newValue), toByteOffset: 48, as: UInt32.self) }
    }
    @inline(__always) var keyLength: Int {
        get { Int(raw.load(fromByteOffset: 52, as: UInt8.self)) }
        nonmutating set { raw.storeBytes(of: UInt8(truncatingIfNeeded: newValue), toByteOffset: 52, as: UInt8.self) }
    }
    @inline(__always) var bits: UInt8 {
        get { raw.load(fromByteOffset: 53, as: UInt8.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 53, as: UInt8.self) }
    }
    @inline(__always) var origin: UInt16 {
        get { raw.load(fromByteOffset: 54, as: UInt16.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 54, as: UInt16.self) }
    }
    @inline(__always) var version: UInt64 {
        get { raw.load(fromByteOffset: 56, as: UInt64.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 56, as: UInt64.self) }
    }
    /// memcached's class id of the item (a table look-up; only statistics use it).
    @inline(__always) var sizeClass: Int { SizeClasses.classID(forSize: memcachedSize) }
    @inline(__always) var isTombstone: Bool { has(Bit.tombstone) }
    @inline(__always) var itemVersion: ItemVersion { ItemVersion(clock: version, origin: origin) }

    @inline(__always) func has(_ bit: UInt8) -> Bool { bits & bit != 0 }
    @inline(__always) func set(_ bit: UInt8) { bits |= bit }
    @inline(__always) func clear(_ bit: UInt8) { bits &= ~bit }

    @inline(__always) var keyPointer: UnsafeMutableRawPointer { raw + Item.headerSize }
    @inline(__always) var valuePointer: UnsafeMutableRawPointer { raw + Item.headerSize + keyLength }

    @inline(__always) var key: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: keyPointer, count: keyLength)
    }
    @inline(__always) var value: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: valuePointer, count: valueLength)
    }

    /// Block size, and the memory it is charged for.
    @inline(__always) var blockSize: Int { Item.blockSize(keyLength: keyLength, valueLength: valueLength) }
    @inline(__always) var charge: Int { MemoryCharge.chunk(forRequest: blockSize) }

    /// Size as memcached counts it (`me size`, `bytes`, the item size limit).
    @inline(__always) var memcachedSize: Int {
        SizeClasses.memcachedItemSize(keyLength: keyLength, valueLength: valueLength, flags: flags)
    }

    @inline(__always) func keyEquals(_ key: UnsafeRawBufferPointer) -> Bool {
        keyLength == key.count && memcmp(keyPointer, key.baseAddress!, key.count) == 0
    }

    /// Writes a new item into `raw` (a block of at least `blockSize` bytes: fresh from malloc, a
    /// spare, or an evicted item's): everything but the links, the cas and the version.
    static func initialize(
        _ raw: UnsafeMutableRawPointer,
        key: UnsafeRawBufferPointer, valueLength: Int, flags: UInt32, exptime: UInt32, now: UInt32
    ) -> Item {
        precondition(key.count > 0 && key.count <= 250, "Storage: keys are 1...250 bytes")
        let item = Item(raw)
        item.hnext = nil
        item.prev = nil
        item.next = nil
        item.cas = 0
        item.exptime = exptime
        item.atime = now
        item.lruTime = now
        item.flags = flags
        item.valueLength = valueLength
        item.keyLength = key.count
        item.bits = 0
        item.origin = 0
        item.version = 0
        item.keyPointer.copyMemory(from: key.baseAddress!, byteCount: key.count)
        return item
    }

    /// Frees the block. The caller releases its charge.
    @inline(__always) func deallocate() { free(raw) }
}

/// What an allocation really costs: glibc's chunk for the request, the way the memory limit
/// counts it (the header word and the 16-byte rounding; large blocks come from mmap in pages).
enum MemoryCharge {
    static let mmapThreshold = 128 * 1024

    /// What is asked of malloc for a block of `n` bytes: blocks of 8 KiB and more are rounded
    /// up to 256 bytes, so items whose keys differ by a few bytes get chunks of one size and
    /// reuse each other's (a victim evicted for a new item is reused as it is only when the
    /// sizes match; otherwise the heap fragments). At most 3% more for such a block.
    @inline(__always) static func request(_ n: Int) -> Int {
        n < 8192 ? n : (n + 255) & ~255
    }

    @inline(__always) static func chunk(forRequest bytes: Int) -> Int {
        let n = request(bytes)
        if n >= mmapThreshold - 32 { return (n + 32 + 4095) & ~4095 }
        return max(32, (n + 8 + 15) & ~15)
    }
}
