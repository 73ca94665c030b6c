import Testing
@testable import Cluster

/// Anti-entropy's pure parts: the hashed-bucket summaries, their frame, and how rounds pair up;
/// then replicas that drifted apart converge by shipping only the buckets that differ.
@Suite struct AntiEntropyTests {
    typealias Version = (clock: UInt64, origin: UInt16)

    /// A replica's entries: key → version (a tombstone is just another version here).
    struct Replica {
        var entries: [String: Version] = [:]

        func digest(cutoff: UInt64 = .max) -> RangeDigest {
            var d = RangeDigest()
            for (key, v) in entries where v.clock <= cutoff {
                Array(key.utf8).withUnsafeBytes { d.add(keyHash: RangeDigest.keyHash($0), clock: v.clock, origin: v.origin) }
            }
            return d
        }

        func keys(inBuckets buckets: Set<Int>) -> [String] {
            entries.keys.filter { key in Array(key.utf8).withUnsafeBytes { buckets.contains(RangeDigest.bucket(of: $0)) } }
        }

        /// A copy: kept if newer (what `Store.apply` does).
        mutating func apply(_ key: String, _ v: Version) {
            if let held = entries[key], (held.clock, held.origin) >= (v.clock, v.origin) { return }
            entries[key] = v
        }
    }

    static func key(_ i: Int) -> String { "key:\(i)" }

    @Test func equalContentsGiveEqualDigestsInAnyOrder() {
        var a = Replica(), b = Replica()
        for i in 0..<5000 { a.entries[Self.key(i)] = (UInt64(i) << 16, 1) }
        for i in (0..<5000).reversed() { b.entries[Self.key(i)] = (UInt64(i) << 16, 1) }
        #expect(a.digest() == b.digest())
        #expect(a.digest().entries == 5000)
        #expect(a.digest().differing(from: b.digest()).isEmpty)
    }

    @Test func oneChangedVersionOrMissingKeyMarksExactlyItsBucket() {
        var a = Replica()
        for i in 0..<5000 { a.entries[Self.key(i)] = (UInt64(i) << 16, 1) }
        var b = a
        b.entries[Self.key(17)] = (99 << 16, 2)
        let bucket17 = Array(Self.key(17).utf8).withUnsafeBytes { RangeDigest.bucket(of: $0) }
        #expect(a.digest().differing(from: b.digest()) == [bucket17])
        var c = a
        c.entries[Self.key(4000)] = nil
        let bucket4000 = Array(Self.key(4000).utf8).withUnsafeBytes { RangeDigest.bucket(of: $0) }
        #expect(a.digest().differing(from: c.digest()) == [bucket4000])
        // Same version, other origin: a different change.
        var d = a
        d.entries[Self.key(5)] = (5 << 16, 3)
        #expect(a.digest().differing(from: d.digest()).count == 1)
    }

    @Test func theCutoffLeavesOutChangesInFlight() {
        var a = Replica()
        for i in 0..<100 { a.entries[Self.key(i)] = (UInt64(i) << 16, 1) }
        var b = a
        b.entries[Self.key(3)] = (1000 << 16, 1)  // newer than the cut-off: not compared yet
        b.entries[Self.key(200)] = (1001 << 16, 1)
        var a2 = a
        a2.entries[Self.key(3)] = nil  // a had only an older version, which b overwrote
        #expect(a.digest(cutoff: 500 << 16).differing(from: b.digest(cutoff: 500 << 16)).count == 1)
        #expect(b.digest(cutoff: 500 << 16) == a2.digest(cutoff: 500 << 16))
    }

    @Test func theFrameRoundTripsAndRefusesWhatIsMalformed() throws {
        var a = Replica()
        for i in 0..<3000 { a.entries[Self.key(i)] = (UInt64(i) << 16, UInt16(i % 7)) }
        let message = DigestMessage(round: 123_456, cutoff: 42 << 16, ringDigest: "0123456789abcdef0123456789abcdef", digest: a.digest())
        let bytes = message.encoded()
        #expect(bytes.count < 16 * 1024)
        let decoded = try bytes.withUnsafeBytes { try DigestMessage(decoding: $0) }
        #expect(decoded == message)
        // An empty summary is a few bytes.
        #expect(DigestMessage(round: 1, cutoff: 0, ringDigest: "r", digest: RangeDigest()).encoded().count == 8 + 8 + 2 + 2)
        // Every truncation, and anything after the end, is refused.
        for n in stride(from: 0, to: bytes.count, by: 97) {
            #expect(throws: DigestMessage.Malformed.self) { try bytes.prefix(n).withUnsafeBytes { try DigestMessage(decoding: $0) } }
        }
        #expect(throws: DigestMessage.Malformed.self) { try (bytes + [0]).withUnsafeBytes { try DigestMessage(decoding: $0) } }
        // Buckets out of order, beyond the table, or listed empty.
        var w = PeerWireWriter()
        w.u64(1); w.u64(1); w.string("r"); w.u16(2)
        w.u16(5); w.u32(1); w.u64(9)
        w.u16(5); w.u32(1); w.u64(9)
        #expect(throws: DigestMessage.Malformed.self) { try w.bytes.withUnsafeBytes { try DigestMessage(decoding: $0) } }
        var w2 = PeerWireWriter()
        w2.u64(1); w2.u64(1); w2.string("r"); w2.u16(1); w2.u16(UInt16(RangeDigest.bucketCount)); w2.u32(1); w2.u64(1)
        #expect(throws: DigestMessage.Malformed.self) { try w2.bytes.withUnsafeBytes { try DigestMessage(decoding: $0) } }
        var w3 = PeerWireWriter()
        w3.u64(1); w3.u64(1); w3.string("r"); w3.u16(1); w3.u16(3); w3.u32(0); w3.u64(1)
        #expect(throws: DigestMessage.Malformed.self) { try w3.bytes.withUnsafeBytes { try DigestMessage(decoding: $0) } }
    }

    @Test func garbageNeverCrashesTheDecoder() {
        var rng = SplitMix(seed: 7)
        for _ in 0..<2000 {
            let n = Int(rng.next() % 300)
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? bytes.withUnsafeBytes { try DigestMessage(decoding: $0) }
        }
    }

    @Test func roundsPairWhicheverSideFinishesFirst() {
        var a = Replica()
        for i in 0..<100 { a.entries[Self.key(i)] = (UInt64(i) << 16, 1) }
        var b = a
        b.entries[Self.key(50)] = nil
        let ring = "ring1"
        var rounds = AntiEntropyRounds()
        // The peer's summary first: it waits for ours.
        #expect(rounds.received(from: "b", DigestMessage(round: 10, cutoff: 0, ringDigest: ring, digest: b.digest())) == .waiting)
        let found = rounds.completed(round: 10, ring: ring, digests: ["b": a.digest(), "c": a.digest()])
        #expect(found == ["b": a.digest().differing(from: b.digest())])
        // Ours first: the peer's is compared when it comes.
        #expect(rounds.received(from: "c", DigestMessage(round: 10, cutoff: 0, ringDigest: ring, digest: a.digest())) == .compared([]))
        // An older round, or another ring, is dropped.
        #expect(rounds.received(from: "c", DigestMessage(round: 9, cutoff: 0, ringDigest: ring, digest: a.digest())) == .stale)
        #expect(rounds.received(from: "c", DigestMessage(round: 10, cutoff: 0, ringDigest: "ring2", digest: a.digest())) == .otherRing)
        // A peer ahead of us waits; one that waited for a round we skipped is dropped at the next.
        #expect(rounds.received(from: "b", DigestMessage(round: 12, cutoff: 0, ringDigest: ring, digest: b.digest())) == .waiting)
        #expect(rounds.received(from: "c", DigestMessage(round: 11, cutoff: 0, ringDigest: ring, digest: a.digest())) == .waiting)
        #expect(rounds.completed(round: 12, ring: ring, digests: ["b": b.digest(), "c": a.digest()]) == ["b": []])
        // A peer that shares nothing with us is compared with an empty summary.
        #expect(rounds.received(from: "z", DigestMessage(round: 12, cutoff: 0, ringDigest: ring, digest: RangeDigest())) == .compared([]))
    }

    /// Three replicas of the same keys drift (missed copies, a missed delete, an older version,
    /// a key one of them never got); after one round where each pair compares and each side
    /// ships its own entries of the differing buckets, all three hold the newest version of
    /// every key, and only a small part of the keys travelled.
    @Test(arguments: [1, 2, 3, 4, 5])
    func driftedReplicasConvergeInOneRound(seed: UInt64) {
        var rng = SplitMix(seed: seed)
        var truth = Replica()
        for i in 0..<20_000 { truth.entries[Self.key(i)] = (UInt64(i + 1) << 16, 1) }
        var replicas = [truth, truth, truth]
        for _ in 0..<60 {
            let r = Int(rng.next() % 3), k = Self.key(Int(rng.next() % 20_000))
            switch rng.next() % 4 {
            case 0: replicas[r].entries[k] = nil  // a copy that never arrived (or was evicted)
            case 1: replicas[r].entries[k] = (UInt64(30_000 + rng.next() % 1000) << 16, UInt16(rng.next() % 3))  // a change only it got
            case 2: replicas[r].entries[k] = (1 << 16, 0)  // an old version
            default: replicas[r].apply("extra:\(rng.next() % 100)", (40_000 << 16, 1))  // a key only one replica holds
            }
        }
        // The newest version any replica holds is what all must end with.
        truth = Replica()
        for replica in replicas { for (k, v) in replica.entries { truth.apply(k, v) } }
        var shipped = 0
        let before = replicas
        for i in 0..<3 {
            for j in 0..<3 where i != j {
                let buckets = Set(before[i].digest().differing(from: before[j].digest()))
                for k in before[i].keys(inBuckets: buckets) {
                    replicas[j].apply(k, before[i].entries[k]!)
                    shipped += 1
                }
            }
        }
        for i in 0..<3 {
            #expect(replicas[i].entries.count == truth.entries.count)
            for (k, v) in truth.entries { #expect(replicas[i].entries[k].map { $0 == v } == true, "replica \(i) key \(k)") }
        }
        #expect(shipped < 20_000 * 6 / 5, "shipped \(shipped) of 120,000 pair-entries")
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
