/// Reconnect pacing for a peer connection: after a failure, wait `delay` (doubling from
/// `initial` up to `maximum`) before the next attempt; a successful handshake starts over.
struct Backoff {
    let initial: UInt64
    let maximum: UInt64
    /// The wait the next failure will impose (ms).
    private(set) var delay: UInt64
    /// No attempt before this (monotonic ms).
    private(set) var until: UInt64 = 0

    init(initial: UInt64, maximum: UInt64 = 2000) {
        self.initial = initial
        self.maximum = maximum
        delay = initial
    }

    func allows(now: UInt64) -> Bool { now >= until }

    /// A failure at `now`: the next attempt waits `delay`, and the one after twice as long.
    mutating func failed(now: UInt64) {
        until = now + delay
        delay = min(delay * 2, maximum)
    }

    mutating func succeeded() { delay = initial }
}
