/// One suspected member's timer (Lifeguard's dynamic suspicion, as memberlist's `suspicion`).
///
/// It starts at the longest suspicion and shrinks, on a logarithmic curve, towards the shortest
/// as other members independently report the same suspicion; `expected` confirmations bring it
/// to the shortest. The member that raised the suspicion never counts as a confirmation; this
/// node's own failed probe of a member someone else suspects does (as in memberlist); each
/// member counts once.
public struct Suspicion: Sendable {
    public let incarnation: UInt64
    public let startedAt: UInt64
    let expected: Int
    let min: UInt64
    let max: UInt64
    private var reporters: Set<String>
    public private(set) var confirmations = 0

    public init(incarnation: UInt64, reporter: String, startedAt: UInt64, expected: Int, min: UInt64, max: UInt64) {
        self.incarnation = incarnation
        self.startedAt = startedAt
        self.expected = expected
        self.min = min
        self.max = max
        self.reporters = [reporter]
    }

    /// A report from `reporter`; whether it was a new confirmation (and worth passing on).
    public mutating func confirm(by reporter: String) -> Bool {
        guard confirmations < expected, reporters.insert(reporter).inserted else { return false }
        confirmations += 1
        return true
    }

    /// When the member is declared dead unless it refutes.
    public var deadline: UInt64 {
        startedAt + GossipTiming.suspicionLength(confirmations: confirmations, expected: expected, min: min, max: max)
    }
}
