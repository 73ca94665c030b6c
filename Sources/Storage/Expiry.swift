/// memcached's exptime rules, on absolute unix seconds.
///
/// memcached keeps times relative to its `process_started` (its start minus 62 s) and maps every
/// exptime that is already over (negative, or an absolute time at or before that moment) to 1,
/// which is `process_started + 1` here: the `expired` mark each store passes in. Its `t` flag
/// prints the remaining time as an unsigned 32-bit number, so a time in the past shows as
/// 4294967xxx; `remaining` gives that same number.
enum Expiry {
    /// memcached's REALTIME_MAXDELTA: up to 30 days an exptime is relative.
    static let maxRelative: Int64 = 60 * 60 * 24 * 30

    /// memcached's `process_started` for a store started at `now`: ITEM_UPDATE_INTERVAL + 2
    /// seconds earlier.
    @inline(__always) static func processStarted(at now: Int64) -> Int64 { now - 62 }

    /// Absolute expiry stored in an item: 0 = never; `expired` (the store's
    /// `process_started + 1`) for an exptime that is already over.
    @inline(__always) static func absolute(_ exptime: Int64, now: Int64, expired: UInt32) -> UInt32 {
        if exptime == 0 { return 0 }
        if exptime < 0 { return expired }
        if exptime <= maxRelative { return UInt32(clamping: now + exptime) }
        return exptime < Int64(expired) ? expired : UInt32(clamping: exptime)
    }

    /// Has an item with this absolute exptime expired?
    @inline(__always) static func isExpired(_ exptime: UInt32, now: Int64) -> Bool {
        exptime != 0 && Int64(exptime) <= now
    }

    /// Seconds left as memcached's `t` prints them: -1 = unlimited; a time in the past wraps
    /// around as an unsigned 32-bit number.
    @inline(__always) static func remaining(_ exptime: UInt32, now: Int64) -> Int64 {
        exptime == 0 ? -1 : Int64(UInt32(truncatingIfNeeded: Int64(exptime) - now))
    }
}
