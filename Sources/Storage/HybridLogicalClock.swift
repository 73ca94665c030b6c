import Synchronization

/// Versions (CAS uniques) from a hybrid logical clock: physical milliseconds in the high 48 bits,
/// a logical counter in the low 16. Strictly increasing across all threads, and above every
/// version observed, so a node that takes over a key never issues a version below one it holds.
struct HybridLogicalClock: ~Copyable {
    static let logicalBits: UInt64 = 16

    private let lastIssued: Atomic<UInt64>
    /// The physical part: injected milliseconds, shifted.
    private let physical: Atomic<UInt64>

    init(millis: UInt64) {
        lastIssued = Atomic(0)
        physical = Atomic(millis << HybridLogicalClock.logicalBits)
    }

    func setPhysical(millis: UInt64) {
        physical.store(millis << HybridLogicalClock.logicalBits, ordering: .relaxed)
    }

    /// The physical floor of a version issued at this unix millisecond.
    static func floor(millis: UInt64) -> UInt64 { millis << logicalBits }

    /// A new version, greater than every version issued or observed before.
    @inline(__always) func next() -> UInt64 {
        let floor = physical.load(ordering: .relaxed)
        var current = lastIssued.load(ordering: .relaxed)
        while true {
            let candidate = max(current &+ 1, floor)
            let (exchanged, original) = lastIssued.compareExchange(
                expected: current, desired: candidate, ordering: .relaxed)
            if exchanged { return candidate }
            current = original
        }
    }

    /// Every later version will be above `version`.
    func observe(_ version: UInt64) {
        var current = lastIssued.load(ordering: .relaxed)
        while current < version {
            let (exchanged, original) = lastIssued.compareExchange(
                expected: current, desired: version, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    var last: UInt64 { lastIssued.load(ordering: .relaxed) }

    /// The physical part as last set (the wall clock's milliseconds, shifted).
    var physicalFloor: UInt64 { physical.load(ordering: .relaxed) }
}
