/// Number tokens read the way memcached 1.6.18 reads them (its `safe_strto*` helpers over glibc's
/// `strtol`/`strtoull` on a 64-bit `long`), because clients see the difference:
///
/// - leading white space (`\t \v \f \r`; a token never holds a space) is skipped, then one optional
///   `+` or `-`, then decimal digits; no digits is an error, so is a 64-bit overflow (ERANGE);
/// - after the digits the token must end or go on with a white-space byte (`5\tx` reads as 5);
/// - unsigned fields take a minus sign the way strtoull does (`-0` is 0, `-5` is an error because
///   it wraps to a value above 2^63, `-18446744073709551615` wraps to 1 and is accepted);
/// - 32-bit fields are the 64-bit result truncated, as memcached's casts do: flags
///   `4294967296` store 0, a data length `4294967297` is 1, an exptime `2147483648` is negative.
///
/// Verified against memcached 1.6.18 (see `ErrorResponse`'s table and the tests).
public enum NumberParsing {
    @inlinable @inline(__always)
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }

    /// Sign, magnitude and validity of the number in `span`, strtoul-style.
    @inlinable @inline(__always)
    static func scan(_ base: UnsafeRawPointer, _ span: Span) -> (negative: Bool, magnitude: UInt64)? {
        var i = span.start
        let end = span.end
        // The common case: up to 18 plain digits, which cannot overflow.
        if span.count > 0 && span.count <= 18 {
            var value: UInt64 = 0
            while i < end {
                let d = base.load(fromByteOffset: i, as: UInt8.self) &- UInt8(ascii: "0")
                if d > 9 { break }
                value = value &* 10 &+ UInt64(d)
                i &+= 1
            }
            if i == end { return (false, value) }
            i = span.start
        }
        while i < end && isSpace(base.load(fromByteOffset: i, as: UInt8.self)) { i &+= 1 }
        var negative = false
        if i < end {
            let c = base.load(fromByteOffset: i, as: UInt8.self)
            if c == UInt8(ascii: "-") || c == UInt8(ascii: "+") {
                negative = c == UInt8(ascii: "-")
                i &+= 1
            }
        }
        let digitsStart = i
        var value: UInt64 = 0
        var overflow = false
        while i < end {
            let d = base.load(fromByteOffset: i, as: UInt8.self) &- UInt8(ascii: "0")
            if d > 9 { break }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            overflow = overflow || o1 || o2
            value = a
            i &+= 1
        }
        if i == digitsStart || overflow { return nil }
        if i < end && !isSpace(base.load(fromByteOffset: i, as: UInt8.self)) { return nil }
        return (negative, value)
    }

    /// memcached's `safe_strtoull`: cas uniques, deltas, meta `C`/`D`/`J`.
    @inlinable
    public static func uint64(_ base: UnsafeRawPointer, _ span: Span) -> UInt64? {
        guard let (negative, magnitude) = scan(base, span) else { return nil }
        if !negative { return magnitude }
        let wrapped = 0 &- magnitude
        // strtoull negates; memcached refuses the result only when it looks negative as signed.
        return Int64(bitPattern: wrapped) < 0 ? nil : wrapped
    }

    /// memcached's `safe_strtoul` into a `uint32_t`: client flags, `verbosity`, `cache_memlimit`.
    @inlinable
    public static func uint32(_ base: UnsafeRawPointer, _ span: Span) -> UInt32? {
        guard let v = uint64(base, span) else { return nil }
        return UInt32(truncatingIfNeeded: v)
    }

    /// memcached's `safe_strtol` into an `int32_t`: exptimes, data lengths, meta `T`/`N`/`R`.
    @inlinable
    public static func int32(_ base: UnsafeRawPointer, _ span: Span) -> Int32? {
        guard let (negative, magnitude) = scan(base, span) else { return nil }
        let value: Int64
        if negative {
            if magnitude > UInt64(Int64.max) &+ 1 { return nil }
            value = Int64(bitPattern: 0 &- magnitude)
        } else {
            if magnitude > UInt64(Int64.max) { return nil }
            value = Int64(magnitude)
        }
        return Int32(truncatingIfNeeded: value)
    }
}
