/// A growable byte buffer that answers are written into, then handed to the socket in one write.
///
/// Manually managed so that appending an answer never allocates once the buffer has grown to
/// its working size. Owned by one connection, used by its worker thread only.
public struct OutputBuffer: ~Copyable {
    @usableFromInline var base: UnsafeMutableRawPointer
    @usableFromInline var capacity: Int
    @usableFromInline var length: Int = 0

    /// Bytes written so far.
    @inlinable public var count: Int { length }

    public init(capacity: Int = 16 * 1024) {
        self.capacity = max(capacity, 64)
        self.base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    /// The bytes written so far.
    @inlinable public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    @inlinable public var isEmpty: Bool { count == 0 }

    @usableFromInline mutating func grow(toAtLeast needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inlinable public mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(toAtLeast: count + n) }
    }

    @inlinable public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        length += bytes.count
    }

    @inlinable public mutating func append(_ s: StaticString) {
        append(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    @inlinable public mutating func append(byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        length += 1
    }

    /// Appends a string's UTF-8 bytes (for rare answers such as stats; the hot path uses StaticString).
    public mutating func append(string: String) {
        var s = string
        s.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// Appends the decimal digits of `value`.
    @inlinable public mutating func append(decimal value: UInt64) {
        reserve(20)
        if value == 0 {
            base.storeBytes(of: UInt8(ascii: "0"), toByteOffset: count, as: UInt8.self)
            length += 1
            return
        }
        var digits = 0
        var v = value
        while v > 0 { digits += 1; v /= 10 }
        v = value
        var i = count + digits - 1
        while v > 0 {
            base.storeBytes(of: UInt8(ascii: "0") + UInt8(v % 10), toByteOffset: i, as: UInt8.self)
            v /= 10
            i -= 1
        }
        length += digits
    }

    /// Appends the decimal digits of a signed value.
    @inlinable public mutating func append(signed value: Int64) {
        if value < 0 {
            append(byte: UInt8(ascii: "-"))
            append(decimal: value.magnitude)
        } else {
            append(decimal: UInt64(value))
        }
    }

    /// Drops the first `n` bytes (after a partial write).
    public mutating func consume(_ n: Int) {
        precondition(n <= count)
        if n == length { length = 0; return }
        (base).copyMemory(from: base + n, byteCount: count - n)
        length -= n
    }

    public mutating func removeAll() { length = 0 }

    /// Appends `count` bytes that `write` puts at the pointer it gets (a frame built in place).
    @inlinable public mutating func appendUninitialized(_ count: Int, _ write: (UnsafeMutableRawPointer) -> Void) {
        reserve(count)
        write(base + length)
        length += count
    }

    /// Drops everything after the first `count` bytes (answers that are never to be sent).
    public mutating func truncate(to count: Int) {
        precondition(count >= 0 && count <= length)
        length = count
    }

    /// Shrinks back to `capacity` if the buffer grew past it for a large answer.
    public mutating func shrinkIfLarger(than limit: Int, to target: Int) {
        guard count == 0, capacity > limit else { return }
        base.deallocate()
        capacity = target
        base = UnsafeMutableRawPointer.allocate(byteCount: target, alignment: 16)
    }
}
