/// A fast non-cryptographic 64-bit hash of key bytes (multiply-and-fold in the style of wyhash).
///
/// The top bits choose the stripe, the low bits the bucket, so the two never correlate.
enum KeyHash {
    private static let k0: UInt64 = 0x2d35_8dcc_aa6c_78a5
    private static let k1: UInt64 = 0x8bb8_4b93_962e_acc9
    private static let k2: UInt64 = 0x4b33_a62e_d433_d4a3

    @inline(__always) private static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let m = a.multipliedFullWidth(by: b)
        return m.high ^ m.low
    }

    @inline(__always) private static func r64(_ p: UnsafeRawPointer) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
    }

    @inline(__always) private static func r32(_ p: UnsafeRawPointer) -> UInt64 {
        UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
    }

    @inline(__always) static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        guard let p = key.baseAddress else { return k0 }
        return hash(UnsafeRawPointer(p), key.count)
    }

    static func hash(_ p: UnsafeRawPointer, _ n: Int) -> UInt64 {
        var seed = k0 ^ fold(UInt64(truncatingIfNeeded: n) ^ k2, k1)
        var a: UInt64
        var b: UInt64
        if n <= 16 {
            if n >= 4 {
                let quarter = (n >> 3) << 2
                a = (r32(p) << 32) | r32(p + quarter)
                b = (r32(p + n - 4) << 32) | r32(p + n - 4 - quarter)
            } else if n > 0 {
                let bytes = p.assumingMemoryBound(to: UInt8.self)
                a = UInt64(bytes[0]) << 16 | UInt64(bytes[n >> 1]) << 8 | UInt64(bytes[n - 1])
                b = 0
            } else {
                a = 0
                b = 0
            }
        } else {
            var q = p
            var left = n
            while left > 16 {
                seed = fold(r64(q) ^ k1, r64(q + 8) ^ seed)
                q += 16
                left -= 16
            }
            a = r64(p + n - 16)
            b = r64(p + n - 8)
        }
        a ^= k1
        b ^= seed
        let m = a.multipliedFullWidth(by: b)
        return fold(m.low ^ k0 ^ UInt64(truncatingIfNeeded: n), m.high ^ k1)
    }
}
