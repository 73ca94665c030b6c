import Foundation

/// The gossip protocol's settings, in milliseconds of the monotonic clock. The defaults are
/// memberlist's LAN values (`DefaultLANConfig`); every one has a flag and a TOML key.
public struct GossipTiming: Sendable, Equatable {
    /// How often this node probes one member (round-robin over a shuffled list).
    public var probeInterval: UInt64 = 1000
    /// How long a direct ping waits for its ack before indirect probes go out.
    public var probeTimeout: UInt64 = 500
    /// Scales the suspicion timeout (see `GossipTiming.suspicionTimeout`).
    public var suspicionMultiplier = 4
    /// The longest suspicion is this many times the shortest (memberlist's
    /// `SuspicionMaxTimeoutMult`); confirmations pull it down towards the shortest.
    public var suspicionMaxTimeoutMultiplier = 6
    /// How many members are asked to ping a member that missed a direct ping.
    public var indirectChecks = 3
    /// Each update is sent about `retransmitMultiplier · ⌈log10(N+1)⌉` times.
    public var retransmitMultiplier = 4
    /// How often queued updates go to `gossipFanout` random members.
    public var gossipInterval: UInt64 = 200
    public var gossipFanout = 3
    /// How often this node exchanges its whole member table with one random member.
    public var pushPullInterval: UInt64 = 30_000
    /// How often a dead member or a seed that is not alive is asked for a push-pull, so the two
    /// sides of a healed partition find each other (memberlist's issue #222).
    public var reconnectInterval: UInt64 = 5000
    /// A death confirmed while a majority was visible is forgotten this long after it.
    public var deadForgetAfter: UInt64 = 60_000
    /// Lifeguard's local health: timeouts stretch up to `awarenessMax` times.
    public var awarenessMax = 8
    /// The largest datagram this node sends before sealing (below a 1500-byte MTU with room for
    /// IP, UDP and the AEAD's nonce and tag).
    public var maxPacketBytes = 1400

    public init() {}

    /// The timing the tests and the measurements use: 200 ms probes.
    public static func fast(probeInterval: UInt64 = 200, probeTimeout: UInt64 = 100) -> GossipTiming {
        var t = GossipTiming()
        t.probeInterval = probeInterval
        t.probeTimeout = probeTimeout
        t.reconnectInterval = 5 * probeInterval
        return t
    }

    /// memberlist's `suspicionTimeout`: the shortest suspicion, `multiplier · max(1, log10(n)) ·
    /// probeInterval`, for a cluster of `nodes`.
    public static func suspicionTimeout(multiplier: Int, nodes: Int, probeInterval: UInt64) -> UInt64 {
        let scale = max(1.0, log10(Double(max(1, nodes))))
        return UInt64(Double(multiplier) * scale * Double(probeInterval))
    }

    /// memberlist's `remainingSuspicionTime`: with `confirmations` of the `expected` independent
    /// ones in, the suspicion lasts `max - (max - min) · ln(c + 1) / ln(k + 1)`, never below `min`.
    /// The total length, not what is left of it.
    public static func suspicionLength(confirmations: Int, expected: Int, min: UInt64, max: UInt64) -> UInt64 {
        guard expected >= 1 else { return min }
        let fraction = log(Double(confirmations) + 1) / log(Double(expected) + 1)
        let raw = Double(max) - fraction * Double(max - min)
        return raw <= Double(min) ? min : UInt64(raw.rounded(.down))
    }

    /// How many times an update is sent: `multiplier · ⌈log10(nodes + 1)⌉`.
    public static func retransmitLimit(multiplier: Int, nodes: Int) -> Int {
        multiplier * Int(log10(Double(nodes + 1)).rounded(.up))
    }

    /// The shortest and longest suspicion for a cluster of `nodes`.
    public func suspicionBounds(nodes: Int) -> (min: UInt64, max: UInt64) {
        let lower = GossipTiming.suspicionTimeout(multiplier: suspicionMultiplier, nodes: nodes, probeInterval: probeInterval)
        return (lower, lower * UInt64(suspicionMaxTimeoutMultiplier))
    }
}
