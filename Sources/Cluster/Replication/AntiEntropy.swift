/// Anti-entropy: two replicas compare summaries of the keys they share and repair what differs.
///
/// The summary is hashed buckets (not a Merkle tree): each key falls in one of
/// `RangeDigest.bucketCount` buckets by a hash of the key; a bucket holds how many entries it has
/// and the wrapping sum of a hash of each entry's (key, version). Two replicas holding the same
/// versions of the same keys have equal buckets, whatever order they walked them in. A bucket
/// that differs is repaired by shipping its entries (each side ships its own; the receiver keeps
/// the newer version). Cost when the copies agree: one walk of the store per round and one
/// `digest` frame per peer of at most 14 bytes per non-empty bucket (about 14 KiB).
///
/// Rounds are aligned on the wall clock (round k starts at k × interval), and every node's
/// summary of round k leaves out the versions issued after the round's cut-off (its start minus
/// a settling time for copies in flight), so two nodes summarize the same set of changes
/// without talking first. Pure: no I/O.
public struct RangeDigest: Sendable, Equatable {
    public static let bucketCount = 1024

    public private(set) var counts: [UInt32]
    public private(set) var sums: [UInt64]

    public init() {
        counts = Array(repeating: 0, count: RangeDigest.bucketCount)
        sums = Array(repeating: 0, count: RangeDigest.bucketCount)
    }

    /// FNV-1a over the key, finished with a 64-bit mixer.
    @inline(__always) public static func keyHash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        return mix(h)
    }

    @inline(__always) static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    @inline(__always) public static func bucket(ofHash hash: UInt64) -> Int { Int(hash >> 54) }

    public static func bucket(of key: UnsafeRawBufferPointer) -> Int { bucket(ofHash: keyHash(key)) }

    /// Adds one entry: a key (by `keyHash`) at a version (`clock`, `origin`).
    public mutating func add(keyHash: UInt64, clock: UInt64, origin: UInt16) {
        let b = RangeDigest.bucket(ofHash: keyHash)
        counts[b] &+= 1
        sums[b] &+= RangeDigest.mix(keyHash ^ RangeDigest.mix(clock ^ (UInt64(origin) << 48)))
    }

    /// Entries summarized.
    public var entries: Int { counts.reduce(0) { $0 + Int($1) } }

    /// The buckets where `other` differs from this one, in order.
    public func differing(from other: RangeDigest) -> [Int] {
        (0..<RangeDigest.bucketCount).filter { counts[$0] != other.counts[$0] || sums[$0] != other.sums[$0] }
    }

    /// Sparse: a u16 count of non-empty buckets, then for each (ascending) u16 index, u32
    /// count, u64 sum.
    func encode(to writer: inout PeerWireWriter) {
        let used = (0..<RangeDigest.bucketCount).filter { counts[$0] != 0 }
        writer.u16(UInt16(used.count))
        for b in used {
            writer.u16(UInt16(b))
            writer.u32(counts[b])
            writer.u64(sums[b])
        }
    }

    init(from reader: inout PeerWireReader) throws(DigestMessage.Malformed) {
        self.init()
        let used = Int(try DigestMessage.read { () throws(PeerWireReader.Truncated) in try reader.u16() })
        guard used <= RangeDigest.bucketCount else { throw DigestMessage.Malformed("\(used) buckets") }
        var last = -1
        for _ in 0..<used {
            let (index, count, sum) = try DigestMessage.read { () throws(PeerWireReader.Truncated) in
                (Int(try reader.u16()), try reader.u32(), try reader.u64())
            }
            guard index > last, index < RangeDigest.bucketCount else { throw DigestMessage.Malformed("bucket \(index) out of order") }
            guard count != 0 else { throw DigestMessage.Malformed("empty bucket \(index) listed") }
            last = index
            counts[index] = count
            sums[index] = sum
        }
    }
}

/// One `digest` frame (type 20): a node's summary of round `round` of the keys it shares with
/// the receiver, under the ring whose digest is `ringDigest`, leaving out versions above
/// `cutoff`.
public struct DigestMessage: Sendable, Equatable {
    public struct Malformed: Error, Sendable, Equatable {
        public let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    public var round: UInt64
    public var cutoff: UInt64
    public var ringDigest: String
    public var digest: RangeDigest

    public init(round: UInt64, cutoff: UInt64, ringDigest: String, digest: RangeDigest) {
        self.round = round
        self.cutoff = cutoff
        self.ringDigest = ringDigest
        self.digest = digest
    }

    static func read<T>(_ body: () throws(PeerWireReader.Truncated) -> T) throws(Malformed) -> T {
        do throws(PeerWireReader.Truncated) { return try body() } catch { throw Malformed("truncated") }
    }

    public func encoded() -> [UInt8] {
        var writer = PeerWireWriter()
        writer.u64(round)
        writer.u64(cutoff)
        writer.string(ringDigest)
        digest.encode(to: &writer)
        return writer.bytes
    }

    public init(decoding payload: UnsafeRawBufferPointer) throws(Malformed) {
        var reader = PeerWireReader(payload)
        (round, cutoff, ringDigest) = try DigestMessage.read { () throws(PeerWireReader.Truncated) in
            (try reader.u64(), try reader.u64(), try reader.string())
        }
        digest = try RangeDigest(from: &reader)
        guard reader.remaining == 0 else { throw Malformed("\(reader.remaining) bytes after the buckets") }
    }
}

/// Pairs this node's summaries of a round with its peers' summaries of the same round, and says
/// which buckets differ, so the caller ships its own entries of those buckets to that peer.
/// A peer's summary may arrive before this node's walk for the round ended (it waits), or after
/// a later round began here (it is stale and dropped). Pure.
public struct AntiEntropyRounds: Sendable {
    /// The last round this node summarized, under which ring, and its summary per peer.
    private var ownRound: UInt64?
    private var ownRing = ""
    private var own: [String: RangeDigest] = [:]
    /// The latest summary each peer sent, not compared yet.
    private var waiting: [String: DigestMessage] = [:]

    public enum Received: Sendable, Equatable {
        /// Compared with this node's summary of the same round: the buckets that differ.
        case compared([Int])
        /// This node has not summarized that round yet.
        case waiting
        /// Older than this node's last round, or under another ring: dropped.
        case stale
        case otherRing
    }

    public init() {}

    /// This node finished round `round` under `ring`: its summaries per peer. Returns, for each
    /// peer whose summary of that round already came, the buckets that differ.
    public mutating func completed(round: UInt64, ring: String, digests: [String: RangeDigest]) -> [String: [Int]] {
        ownRound = round
        ownRing = ring
        own = digests
        var result: [String: [Int]] = [:]
        for (peer, message) in waiting {
            if message.round < round { waiting[peer] = nil; continue }
            guard message.round == round else { continue }
            waiting[peer] = nil
            guard message.ringDigest == ring else { continue }
            result[peer] = (digests[peer] ?? RangeDigest()).differing(from: message.digest)
        }
        return result
    }

    /// A peer's summary arrived.
    public mutating func received(from peer: String, _ message: DigestMessage) -> Received {
        if let ownRound, message.round < ownRound { return .stale }
        if let ownRound, message.round == ownRound {
            guard message.ringDigest == ownRing else { return .otherRing }
            return .compared((own[peer] ?? RangeDigest()).differing(from: message.digest))
        }
        waiting[peer] = message
        return .waiting
    }
}
