/// A few item blocks of one stripe that were unlinked (replaced, deleted, expired) and kept for the
/// next item of the same size instead of going back to malloc: memcached's slab free chunks, in
/// small. A `set` that replaces an item, the common write, then costs no malloc and no free.
///
/// Spare blocks stay charged against the memory limit (they are real memory), so the limit still
/// bounds the process. Eviction takes spares before live items, and a block is reused only for a
/// request whose charge (glibc's chunk size, see `MemoryCharge`) is the same, so it is big enough.
///
/// At most `capacity` blocks of at most `largestCharge` bytes each per stripe: 64 stripes hold
/// under 8 MiB even in the worst case. A full set of slots gives up its oldest-filled slot, so the
/// spares follow the sizes being written now. Touched only with the stripe's lock held.
struct SpareBlocks {
    static let capacity = 8
    static let largestCharge = 16 << 10

    /// `capacity` slots; a charge of 0 marks an empty slot.
    private let charges: UnsafeMutablePointer<Int>
    private let blocks: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private var cursor = 0
    /// Bytes charged for the blocks held.
    private(set) var bytes = 0

    init() {
        charges = .allocate(capacity: SpareBlocks.capacity)
        charges.initialize(repeating: 0, count: SpareBlocks.capacity)
        blocks = .allocate(capacity: SpareBlocks.capacity)
        blocks.initialize(repeating: nil, count: SpareBlocks.capacity)
    }

    /// Frees the slots themselves; the blocks must have been taken out (see `takeAny`).
    func deallocate() {
        charges.deallocate()
        blocks.deallocate()
    }

    @inline(__always) static func keeps(charge: Int) -> Bool { charge <= largestCharge }

    /// A spare block of exactly this charge, or nil. Its charge passes to the new item.
    @inline(__always) mutating func take(charge: Int) -> UnsafeMutableRawPointer? {
        guard bytes != 0 else { return nil }
        for slot in 0..<SpareBlocks.capacity where charges[slot] == charge {
            charges[slot] = 0
            bytes -= charge
            let block = blocks[slot]
            blocks[slot] = nil
            return block
        }
        return nil
    }

    /// Any spare block with its charge (for eviction and tear-down), or nil if there is none.
    mutating func takeAny() -> (block: UnsafeMutableRawPointer, charge: Int)? {
        guard bytes != 0 else { return nil }
        for slot in 0..<SpareBlocks.capacity where charges[slot] != 0 {
            let charge = charges[slot]
            charges[slot] = 0
            bytes -= charge
            let block = blocks[slot]!
            blocks[slot] = nil
            return (block, charge)
        }
        return nil
    }

    /// Keeps `block` (whose charge `keeps` accepts). Returns the block it displaced from a full set
    /// of slots, which the caller frees; nil if there was room.
    @inline(__always) mutating func put(_ block: UnsafeMutableRawPointer, charge: Int) -> UnsafeMutableRawPointer? {
        var slot = 0
        while slot < SpareBlocks.capacity && charges[slot] != 0 { slot += 1 }
        var displaced: UnsafeMutableRawPointer? = nil
        if slot == SpareBlocks.capacity {
            slot = cursor
            cursor = (cursor + 1) & (SpareBlocks.capacity - 1)
            displaced = blocks[slot]
            bytes -= charges[slot]
        }
        charges[slot] = charge
        blocks[slot] = block
        bytes += charge
        return displaced
    }
}
