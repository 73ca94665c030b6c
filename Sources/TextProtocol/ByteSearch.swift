/// Word-at-a-time byte search over unsafe memory (the parser's `memchr`).
///
/// Pure Swift so the module needs nothing from libc: eight bytes per step with the classic
/// "has a zero byte" bit trick, then a byte loop for the tail. Used to find the `\n` that ends a
/// command line (a `get` line may be 128 KB long) and the NUL that cuts a line short.
@usableFromInline
enum ByteSearch {
    /// The index of the first `target` byte in `base[from..<to]`, or nil.
    @inlinable @inline(__always)
    static func first(_ target: UInt8, in base: UnsafeRawPointer, from: Int, to: Int) -> Int? {
        var i = from
        #if _endian(little)
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let pattern = ones &* UInt64(target)
        while i &+ 8 <= to {
            let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ pattern
            // A byte of `word` is zero where the target is. Borrows only run upwards, so the
            // lowest flagged byte is always a real match.
            let found = (word &- ones) & ~word & highs
            if found != 0 { return i &+ (found.trailingZeroBitCount &>> 3) }
            i &+= 8
        }
        #endif
        while i < to {
            if base.load(fromByteOffset: i, as: UInt8.self) == target { return i }
            i &+= 1
        }
        return nil
    }

    /// The first `\n` in `base[from..<to]` and the first NUL before it (`nul == newline` when
    /// there is none), found in one pass; nil when there is no `\n`.
    @inlinable @inline(__always)
    static func lineEnd(in base: UnsafeRawPointer, from: Int, to: Int) -> (newline: Int, nul: Int)? {
        var i = from
        var nul = -1
        #if _endian(little)
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let pattern = ones &* UInt64(UInt8(ascii: "\n"))
        while i &+ 8 <= to {
            let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let x = word ^ pattern
            let newlines = (x &- ones) & ~x & highs
            var zero = Int.max
            if nul < 0 {
                let zeros = (word &- ones) & ~word & highs
                if zeros != 0 { zero = i &+ (zeros.trailingZeroBitCount &>> 3) }
            }
            if newlines != 0 {
                let newline = i &+ (newlines.trailingZeroBitCount &>> 3)
                if nul < 0 && zero < newline { nul = zero }
                return (newline, nul < 0 ? newline : nul)
            }
            if zero != Int.max { nul = zero }
            i &+= 8
        }
        #endif
        while i < to {
            let c = base.load(fromByteOffset: i, as: UInt8.self)
            if c == UInt8(ascii: "\n") { return (i, nul < 0 ? i : nul) }
            if c == 0 && nul < 0 { nul = i }
            i &+= 1
        }
        return nil
    }
}
