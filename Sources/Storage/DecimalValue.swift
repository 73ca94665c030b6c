/// Reading and writing the decimal numbers `incr`/`decr` work on, exactly as memcached does.
enum DecimalValue {
    @inline(__always) static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || (c >= 0x09 && c <= 0x0d)
    }

    /// memcached's `safe_strtoull` on the value (which memcached follows with "\r\n"): leading
    /// white space, an optional sign, at least one digit, no overflow, then the end of the value,
    /// white space or NUL. A '-' is accepted only if the negated result stays below 2^63
    /// (strtoull negates). An empty or all-space value is non-numeric (memcached would read past
    /// the value there).
    static func parse(_ value: UnsafeRawBufferPointer) -> UInt64? {
        let n = value.count
        guard n > 0 else { return nil }
        var i = 0
        while i < n && isSpace(value[i]) { i += 1 }
        var negative = false
        if i < n && (value[i] == UInt8(ascii: "+") || value[i] == UInt8(ascii: "-")) {
            negative = value[i] == UInt8(ascii: "-")
            i += 1
        }
        let digitsStart = i
        var result: UInt64 = 0
        var overflow = false
        while i < n {
            let c = value[i]
            guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { break }
            let (times10, o1) = result.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
            if o1 || o2 { overflow = true }
            result = sum
            i += 1
        }
        if i == digitsStart || overflow { return nil }
        if i < n && !(isSpace(value[i]) || value[i] == 0) { return nil }
        if negative {
            result = 0 &- result
            if Int64(bitPattern: result) < 0 { return nil }
        }
        return result
    }

    @inline(__always) static func digitCount(_ v: UInt64) -> Int {
        var count = 1
        var x = v
        while x >= 10 {
            x /= 10
            count += 1
        }
        return count
    }

    /// Writes `v` in decimal at `p` (exactly `digitCount(v)` bytes).
    @inline(__always) static func write(_ v: UInt64, to p: UnsafeMutableRawPointer) {
        var x = v
        var i = digitCount(v) - 1
        repeat {
            p.storeBytes(of: UInt8(truncatingIfNeeded: x % 10) + UInt8(ascii: "0"), toByteOffset: i, as: UInt8.self)
            x /= 10
            i -= 1
        } while i >= 0
    }
}
