/// How a ring places nodes and keys: the points a node puts on the ring, and the point a key
/// lands on. `Ring` is generic over it so the production hash (`KetamaMD5`) is specialised into
/// the routing code (no existential, no indirect call), while tests inject a hash whose owners
/// can be worked out by hand.
public protocol RingHashing: Sendable {
    /// Where `key` lands on the ring. Called for every routed request: must not allocate.
    func hash(key: UnsafeRawBufferPointer) -> UInt32

    /// The points of the node named `ringName` in a ring of `nodeCount` nodes (twemproxy's
    /// point count per node depends on the node count). Called once per node per ring build.
    func points(forRingName ringName: String, nodeCount: Int) -> [UInt32]
}

/// Ketama with MD5, as twemproxy (`hash: md5`, `distribution: ketama`) and libmemcached
/// (`MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA` with `KETAMA_WEIGHTED`, every weight 1) build it:
///
/// - a node's points: for i in 0..<(pointsPerNode / 4), md5("<ring name>-<i>") gives four
///   points, the digest read as four little-endian UInt32 words;
/// - a key's hash: the digest's first four bytes as a little-endian UInt32.
///
/// Stateless; any thread.
public struct KetamaMD5: RingHashing {
    /// Points per node of weight 1 before twemproxy's rounding (`KETAMA_POINTS_PER_SERVER`).
    public static let nominalPointsPerNode = 160

    public init() {}

    @inlinable
    public func hash(key: UnsafeRawBufferPointer) -> UInt32 { MD5.words(key).0 }

    public func points(forRingName ringName: String, nodeCount: Int) -> [UInt32] {
        let count = KetamaMD5.pointsPerNode(nodeCount: nodeCount)
        var points: [UInt32] = []
        points.reserveCapacity(count)
        for i in 0..<(count / 4) {
            let w = MD5.words("\(ringName)-\(i)")
            points.append(w.0)
            points.append(w.1)
            points.append(w.2)
            points.append(w.3)
        }
        return points
    }

    /// Points per node when all `nodeCount` nodes weigh 1, computed in `Float` exactly as
    /// twemproxy's `ketama_update` (and libmemcached's `update_continuum`) do:
    /// `floorf(pct * 160 / 4 * n + 0.0000000001) * 4` with `pct = 1.0f / n`.
    ///
    /// That is 160 for most sizes, but single-precision rounding makes it 156 for some: 25, 47,
    /// 50, 55, 61, 71, 94, 100, … nodes (checked against the C expression compiled with gcc).
    /// Matching it keeps a twemproxy in front of such a cluster routing straight to owners.
    public static func pointsPerNode(nodeCount: Int) -> Int {
        guard nodeCount > 0 else { return 0 }
        let n = Float(nodeCount)
        let pct: Float = 1 / n
        let perHashGroups: Float = pct * Float(nominalPointsPerNode) / 4 * n
        // The C expression adds a double constant, then converts back to float for floorf.
        let nudged = Float(Double(perHashGroups) + 0.0000000001)
        return Int(nudged.rounded(.down)) * 4
    }
}
