/// Lifeguard's local health (memberlist's `awareness`): a score that rises when this node
/// misses its own deadlines (a probe that failed although the members asked to help sent no
/// nack, a suspicion of itself it had to refute) and falls with every probe answered in time.
/// Probe deadlines stretch by `score + 1`, so a starved or slow node waits longer before it
/// suspects anyone, instead of blaming healthy members for its own delays.
public struct Awareness: Sendable, Equatable {
    public let max: Int
    public private(set) var score = 0

    public init(max: Int) { self.max = Swift.max(1, max) }

    /// Adds `delta`, kept within `0 ..< max`.
    public mutating func apply(_ delta: Int) {
        score = Swift.min(Swift.max(score + delta, 0), max - 1)
    }

    /// `timeout` stretched by the score.
    public func scale(_ timeout: UInt64) -> UInt64 { timeout * UInt64(score + 1) }
}
