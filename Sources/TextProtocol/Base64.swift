/// Base64 for the meta commands' binary keys (`b` flag), decoding exactly as memcached 1.6.18 does.
///
/// memcached's decoder (Jouni Malinen's) is lenient in ways clients can see, and we match it:
/// bytes outside the alphabet are skipped (`Zm9v!` is `foo`), the remaining characters must be a
/// non-zero multiple of four, and decoding stops after the first block that holds `=` (`Zg==Zm9v`
/// is `f`); a block with more than two `=` is an error (`====`), and `=` may sit anywhere in its
/// block (`Zg=x` is `f\0`). Encoding is standard RFC 4648 with `+/` and `=` padding and no line
/// breaks, which is what memcached prints for `k` and `me` with binary keys.
///
/// Pure functions over caller-provided memory; no allocation. Usable from any thread.
public enum Base64 {
    /// Bytes `encode` writes for `count` input bytes.
    @inlinable public static func encodedCount(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    /// An upper bound of the bytes `decode` writes for `count` input characters.
    @inlinable public static func decodedCapacity(_ count: Int) -> Int { count / 4 * 3 }

    /// Writes the encoding of `input` to `output`, which must hold `encodedCount(input.count)`
    /// bytes. Returns the number of bytes written.
    @discardableResult
    public static func encode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) -> Int {
        let n = input.count
        var i = 0
        var o = 0
        while i + 3 <= n {
            let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            output.storeBytes(of: symbol(v >> 18), toByteOffset: o, as: UInt8.self)
            output.storeBytes(of: symbol(v >> 12), toByteOffset: o + 1, as: UInt8.self)
            output.storeBytes(of: symbol(v >> 6), toByteOffset: o + 2, as: UInt8.self)
            output.storeBytes(of: symbol(v), toByteOffset: o + 3, as: UInt8.self)
            i += 3
            o += 4
        }
        let rest = n - i
        if rest > 0 {
            var v = UInt32(input[i]) << 16
            if rest == 2 { v |= UInt32(input[i + 1]) << 8 }
            output.storeBytes(of: symbol(v >> 18), toByteOffset: o, as: UInt8.self)
            output.storeBytes(of: symbol(v >> 12), toByteOffset: o + 1, as: UInt8.self)
            output.storeBytes(of: rest == 2 ? symbol(v >> 6) : UInt8(ascii: "="), toByteOffset: o + 2, as: UInt8.self)
            output.storeBytes(of: UInt8(ascii: "="), toByteOffset: o + 3, as: UInt8.self)
            o += 4
        }
        return o
    }

    /// Decodes `input` into `output`, which must hold `decodedCapacity(input.count)` bytes.
    /// Returns the decoded length, or nil where memcached answers `CLIENT_ERROR error decoding key`.
    public static func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) -> Int? {
        guard let base = input.baseAddress else { return nil }
        return run(base, input.count, output)
    }

    /// The decoded length of `input`, or nil if it does not decode (validation without output).
    public static func decodedCount(_ input: UnsafeRawBufferPointer) -> Int? {
        guard let base = input.baseAddress else { return nil }
        return run(base, input.count, nil)
    }

    @usableFromInline static func decodedCount(_ base: UnsafeRawPointer, _ span: Span) -> Int? {
        run(base + span.start, span.count, nil)
    }

    @inline(__always)
    static func symbol(_ sextet: UInt32) -> UInt8 {
        let v = UInt8(truncatingIfNeeded: sextet & 63)
        switch v {
        case 0..<26: return UInt8(ascii: "A") + v
        case 26..<52: return UInt8(ascii: "a") + (v - 26)
        case 52..<62: return UInt8(ascii: "0") + (v - 52)
        case 62: return UInt8(ascii: "+")
        default: return UInt8(ascii: "/")
        }
    }

    /// The sextet of `c`, 0 for `=`, or nil for a byte outside the alphabet (skipped).
    @inline(__always)
    static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return c - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return c - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        case UInt8(ascii: "="): return 0
        default: return nil
        }
    }

    /// Decodes (or, with no output, only measures) `count` bytes at `input`.
    static func run(_ input: UnsafeRawPointer, _ count: Int, _ output: UnsafeMutableRawPointer?) -> Int? {
        var valid = 0
        for i in 0..<count where value(input.load(fromByteOffset: i, as: UInt8.self)) != nil { valid += 1 }
        if valid == 0 || valid % 4 != 0 { return nil }
        var block: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        var filled = 0
        var pad = 0
        var o = 0
        for i in 0..<count {
            let c = input.load(fromByteOffset: i, as: UInt8.self)
            guard let v = value(c) else { continue }
            if c == UInt8(ascii: "=") { pad += 1 }
            switch filled {
            case 0: block.0 = v
            case 1: block.1 = v
            case 2: block.2 = v
            default: block.3 = v
            }
            filled += 1
            guard filled == 4 else { continue }
            filled = 0
            if let output {
                output.storeBytes(of: block.0 << 2 | block.1 >> 4, toByteOffset: o, as: UInt8.self)
                output.storeBytes(of: block.1 << 4 | block.2 >> 2, toByteOffset: o + 1, as: UInt8.self)
                output.storeBytes(of: block.2 << 6 | block.3, toByteOffset: o + 2, as: UInt8.self)
            }
            o += 3
            if pad > 0 {
                if pad > 2 { return nil }
                o -= pad
                break
            }
        }
        return o == 0 ? nil : o
    }
}
