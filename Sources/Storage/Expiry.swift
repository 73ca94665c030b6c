/// memcached's exptime rules, on absolute unix seconds.
enum Expiry {
    /// memcached's REALTIME_MAXDELTA: up to 30 days an exptime is relative.
    static let maxRelative: Int64 = 60 * 60 * 24 * 30

    /// Absolute expiry stored in an item: 0 = never, 1 = already expired.
    @inline(__always) static func absolute(_ exptime: Int64, now: Int64) -> UInt32 {
        if exptime == 0 { return 0 }
        if exptime < 0 { return 1 }
        let t = exptime <= maxRelative ? now + exptime : exptime
        return UInt32(clamping: max(t, 1))
    }

    /// Has an item with this absolute exptime expired?
    @inline(__always) static func isExpired(_ exptime: UInt32, now: Int64) -> Bool {
        exptime != 0 && Int64(exptime) <= now
    }

    /// Seconds left, -1 = unlimited (memcached's `t`).
    @inline(__always) static func remaining(_ exptime: UInt32, now: Int64) -> Int64 {
        exptime == 0 ? -1 : Int64(exptime) - now
    }
}
