/// A connection's input bytes: read straight from the socket into this memory and parsed in place.
///
/// `start..<end` is unread. It grows only when one command needs more room than it has (a large
/// value, a long multi-get line) and goes back to its normal size once drained.
struct ReadBuffer: ~Copyable {
    static let normalCapacity = 16 * 1024

    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    var start = 0
    var end = 0

    init() {
        capacity = ReadBuffer.normalCapacity
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    var unread: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base + start, count: end - start) }
    var unreadCount: Int { end - start }
    var freeSpace: UnsafeMutableRawPointer { base + end }
    var freeCount: Int { capacity - end }

    /// Makes room to read: moves unread bytes to the front, and doubles the buffer when it is
    /// already full of one unfinished command. Returns false, changing nothing, when that
    /// command would need more than `limit` bytes: the caller closes the connection.
    mutating func prepareForRead(limit: Int) -> Bool {
        if start == end {
            start = 0
            end = 0
            if capacity > ReadBuffer.normalCapacity { resize(to: ReadBuffer.normalCapacity) }
            return true
        }
        if end < capacity { return true }
        if start > 0 {
            (base).copyMemory(from: base + start, byteCount: end - start)
            end -= start
            start = 0
            return true
        }
        guard capacity < limit else { return false }
        resize(to: min(capacity * 2, limit))
        return true
    }

    private mutating func resize(to newCapacity: Int) {
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newBase.copyMemory(from: base + start, byteCount: end - start)
        base.deallocate()
        base = newBase
        end -= start
        start = 0
        capacity = newCapacity
    }
}
