/// MD5 (RFC 1321) over unsafe bytes, written for the ring's hot path: hashing a key to route it.
///
/// Why not swift-crypto's `Insecure.MD5`: on Linux it wraps BoringSSL through a class-backed
/// digest context, so each hash allocates (measured: see `MD5Tests` and the benchmark in the
/// cluster report). Keys are at most 250 bytes, so this version keeps everything on the stack:
/// whole 64-byte blocks are read in place, and the padded tail (one or two blocks) is built in a
/// fixed 128-byte local. The result is the four state words, which is exactly what ketama wants:
/// the digest's bytes are those words little-endian, so "the first 4 bytes of md5 as a
/// little-endian UInt32" is `words.0`, and a point name's four points are `words.0 … words.3`.
///
/// Not for security; MD5 is used here only because twemproxy and libmemcached place keys with it.
public enum MD5 {
    /// The digest as four little-endian words (digest bytes 0–3, 4–7, 8–11, 12–15).
    public typealias Words = (UInt32, UInt32, UInt32, UInt32)

    /// The digest of `data` as four words. Allocates nothing.
    @inlinable
    public static func words(_ data: UnsafeRawBufferPointer) -> Words {
        var state: Words = (0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476)
        let count = data.count
        var offset = 0
        if let base = data.baseAddress {
            while count - offset >= 64 {
                compress(&state, base + offset)
                offset += 64
            }
        }
        // The tail, the 0x80 marker and the bit length, in one or two blocks.
        var tail: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                   UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &tail) { block in
            let rest = count - offset
            if rest > 0, let base = data.baseAddress {
                block.baseAddress!.copyMemory(from: base + offset, byteCount: rest)
            }
            block[rest] = 0x80
            let blocks = rest + 9 <= 64 ? 1 : 2
            let bits = UInt64(truncatingIfNeeded: count) &* 8
            block.storeBytes(of: bits.littleEndian, toByteOffset: blocks * 64 - 8, as: UInt64.self)
            compress(&state, UnsafeRawPointer(block.baseAddress!))
            if blocks == 2 { compress(&state, UnsafeRawPointer(block.baseAddress! + 64)) }
        }
        return state
    }

    /// The 16-byte digest, for tests and for digests shown as hex.
    public static func digest(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        let w = words(data)
        var out: [UInt8] = []
        out.reserveCapacity(16)
        for word in [w.0, w.1, w.2, w.3] {
            for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
        }
        return out
    }

    /// The digest of a string's UTF-8 bytes.
    public static func words(_ text: String) -> Words {
        var copy = text
        return copy.withUTF8 { words(UnsafeRawBufferPointer($0)) }
    }

    /// Lower-case hex of the digest of a string's UTF-8 bytes.
    public static func hex(_ text: String) -> String {
        var copy = text
        let bytes = copy.withUTF8 { digest(UnsafeRawBufferPointer($0)) }
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    @inlinable @inline(__always)
    static func f(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32, _ m: UInt32, _ k: UInt32, _ s: UInt32) -> UInt32 {
        b &+ rotate(a &+ (d ^ (b & (c ^ d))) &+ m &+ k, s)
    }

    @inlinable @inline(__always)
    static func g(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32, _ m: UInt32, _ k: UInt32, _ s: UInt32) -> UInt32 {
        b &+ rotate(a &+ (c ^ (d & (b ^ c))) &+ m &+ k, s)
    }

    @inlinable @inline(__always)
    static func h(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32, _ m: UInt32, _ k: UInt32, _ s: UInt32) -> UInt32 {
        b &+ rotate(a &+ (b ^ c ^ d) &+ m &+ k, s)
    }

    @inlinable @inline(__always)
    static func i(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32, _ m: UInt32, _ k: UInt32, _ s: UInt32) -> UInt32 {
        b &+ rotate(a &+ (c ^ (b | ~d)) &+ m &+ k, s)
    }

    @inlinable @inline(__always)
    static func rotate(_ x: UInt32, _ s: UInt32) -> UInt32 { (x &<< s) | (x &>> (32 &- s)) }

    /// One 64-byte block into the state: the four rounds of sixteen steps, written out.
    @inlinable
    static func compress(_ state: inout Words, _ block: UnsafeRawPointer) {
        @inline(__always) func word(_ i: Int) -> UInt32 {
            UInt32(littleEndian: block.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self))
        }
        let m0 = word(0), m1 = word(1), m2 = word(2), m3 = word(3)
        let m4 = word(4), m5 = word(5), m6 = word(6), m7 = word(7)
        let m8 = word(8), m9 = word(9), m10 = word(10), m11 = word(11)
        let m12 = word(12), m13 = word(13), m14 = word(14), m15 = word(15)
        var a = state.0, b = state.1, c = state.2, d = state.3

        a = MD5.f(a, b, c, d, m0, 0xd76aa478, 7)
        d = MD5.f(d, a, b, c, m1, 0xe8c7b756, 12)
        c = MD5.f(c, d, a, b, m2, 0x242070db, 17)
        b = MD5.f(b, c, d, a, m3, 0xc1bdceee, 22)
        a = MD5.f(a, b, c, d, m4, 0xf57c0faf, 7)
        d = MD5.f(d, a, b, c, m5, 0x4787c62a, 12)
        c = MD5.f(c, d, a, b, m6, 0xa8304613, 17)
        b = MD5.f(b, c, d, a, m7, 0xfd469501, 22)
        a = MD5.f(a, b, c, d, m8, 0x698098d8, 7)
        d = MD5.f(d, a, b, c, m9, 0x8b44f7af, 12)
        c = MD5.f(c, d, a, b, m10, 0xffff5bb1, 17)
        b = MD5.f(b, c, d, a, m11, 0x895cd7be, 22)
        a = MD5.f(a, b, c, d, m12, 0x6b901122, 7)
        d = MD5.f(d, a, b, c, m13, 0xfd987193, 12)
        c = MD5.f(c, d, a, b, m14, 0xa679438e, 17)
        b = MD5.f(b, c, d, a, m15, 0x49b40821, 22)
        a = MD5.g(a, b, c, d, m1, 0xf61e2562, 5)
        d = MD5.g(d, a, b, c, m6, 0xc040b340, 9)
        c = MD5.g(c, d, a, b, m11, 0x265e5a51, 14)
        b = MD5.g(b, c, d, a, m0, 0xe9b6c7aa, 20)
        a = MD5.g(a, b, c, d, m5, 0xd62f105d, 5)
        d = MD5.g(d, a, b, c, m10, 0x02441453, 9)
        c = MD5.g(c, d, a, b, m15, 0xd8a1e681, 14)
        b = MD5.g(b, c, d, a, m4, 0xe7d3fbc8, 20)
        a = MD5.g(a, b, c, d, m9, 0x21e1cde6, 5)
        d = MD5.g(d, a, b, c, m14, 0xc33707d6, 9)
        c = MD5.g(c, d, a, b, m3, 0xf4d50d87, 14)
        b = MD5.g(b, c, d, a, m8, 0x455a14ed, 20)
        a = MD5.g(a, b, c, d, m13, 0xa9e3e905, 5)
        d = MD5.g(d, a, b, c, m2, 0xfcefa3f8, 9)
        c = MD5.g(c, d, a, b, m7, 0x676f02d9, 14)
        b = MD5.g(b, c, d, a, m12, 0x8d2a4c8a, 20)
        a = MD5.h(a, b, c, d, m5, 0xfffa3942, 4)
        d = MD5.h(d, a, b, c, m8, 0x8771f681, 11)
        c = MD5.h(c, d, a, b, m11, 0x6d9d6122, 16)
        b = MD5.h(b, c, d, a, m14, 0xfde5380c, 23)
        a = MD5.h(a, b, c, d, m1, 0xa4beea44, 4)
        d = MD5.h(d, a, b, c, m4, 0x4bdecfa9, 11)
        c = MD5.h(c, d, a, b, m7, 0xf6bb4b60, 16)
        b = MD5.h(b, c, d, a, m10, 0xbebfbc70, 23)
        a = MD5.h(a, b, c, d, m13, 0x289b7ec6, 4)
        d = MD5.h(d, a, b, c, m0, 0xeaa127fa, 11)
        c = MD5.h(c, d, a, b, m3, 0xd4ef3085, 16)
        b = MD5.h(b, c, d, a, m6, 0x04881d05, 23)
        a = MD5.h(a, b, c, d, m9, 0xd9d4d039, 4)
        d = MD5.h(d, a, b, c, m12, 0xe6db99e5, 11)
        c = MD5.h(c, d, a, b, m15, 0x1fa27cf8, 16)
        b = MD5.h(b, c, d, a, m2, 0xc4ac5665, 23)
        a = MD5.i(a, b, c, d, m0, 0xf4292244, 6)
        d = MD5.i(d, a, b, c, m7, 0x432aff97, 10)
        c = MD5.i(c, d, a, b, m14, 0xab9423a7, 15)
        b = MD5.i(b, c, d, a, m5, 0xfc93a039, 21)
        a = MD5.i(a, b, c, d, m12, 0x655b59c3, 6)
        d = MD5.i(d, a, b, c, m3, 0x8f0ccc92, 10)
        c = MD5.i(c, d, a, b, m10, 0xffeff47d, 15)
        b = MD5.i(b, c, d, a, m1, 0x85845dd1, 21)
        a = MD5.i(a, b, c, d, m8, 0x6fa87e4f, 6)
        d = MD5.i(d, a, b, c, m15, 0xfe2ce6e0, 10)
        c = MD5.i(c, d, a, b, m6, 0xa3014314, 15)
        b = MD5.i(b, c, d, a, m13, 0x4e0811a1, 21)
        a = MD5.i(a, b, c, d, m4, 0xf7537e82, 6)
        d = MD5.i(d, a, b, c, m11, 0xbd3af235, 10)
        c = MD5.i(c, d, a, b, m2, 0x2ad7d2bb, 15)
        b = MD5.i(b, c, d, a, m9, 0xeb86d391, 21)

        state.0 &+= a
        state.1 &+= b
        state.2 &+= c
        state.3 &+= d
    }
}
