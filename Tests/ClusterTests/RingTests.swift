import Testing
@testable import Cluster

/// Rings over a hand-checkable hash: key "n" hashes to n; the points are listed below.
@Suite struct RingTests {
    //   a:1 → 100, 400     b:1 → 200, 500     c:1 → 300, 600
    // ring: 100a 200b 300c 400a 500b 600c, then back to 100a.
    static let abc = TableHashing(table: ["a:1": [100, 400], "b:1": [200, 500], "c:1": [300, 600]])
    static let nodes = ["a:1", "b:1", "c:1"].map(address)

    static let owners: [(key: String, owner: String)] = [
        ("0", "a:1"),  // below the first point: the first point
        ("100", "a:1"),  // on a point: that point
        ("101", "b:1"),
        ("200", "b:1"),
        ("250", "c:1"),
        ("399", "a:1"),
        ("450", "b:1"),
        ("600", "c:1"),
        ("601", "a:1"),  // past the last point: wraps to the first
        ("4294967295", "a:1"),
    ]

    @Test(arguments: owners)
    func ownerIsFirstPointAtOrAboveTheHash(_ c: (key: String, owner: String)) throws {
        let ring = try Ring(nodes: Self.nodes, local: nil, hashing: Self.abc)
        #expect(ring.ownerAddress(c.key) == c.owner)
    }

    static let replicaCases: [(key: String, count: Int, expected: [String])] = [
        ("450", 1, ["b:1"]),
        ("450", 2, ["b:1", "c:1"]),
        ("450", 3, ["b:1", "c:1", "a:1"]),  // wraps past 600
        ("601", 2, ["a:1", "b:1"]),  // starts after the wrap
        ("550", 3, ["c:1", "a:1", "b:1"]),
        ("0", 8, ["a:1", "b:1", "c:1"]),  // never more than the ring has
    ]

    @Test(arguments: replicaCases)
    func replicasAreTheNextDistinctNodesClockwise(_ c: (key: String, count: Int, expected: [String])) throws {
        let ring = try Ring(nodes: Self.nodes, local: nil, hashing: Self.abc)
        #expect(ring.replicaAddresses(c.key, count: c.count) == c.expected)
    }

    @Test func replicasSkipRepeatedPointsOfOneNode() throws {
        // a owns 100, 150 and 170 in a row: the walk passes a's later points without
        // counting a twice. Key 201 starts at c, wraps to a, then b.
        let h = TableHashing(table: ["a:1": [100, 150, 170], "b:1": [200], "c:1": [300]])
        let ring = try Ring(nodes: Self.nodes, local: nil, hashing: h)
        #expect(ring.replicaAddresses("120", count: 2) == ["a:1", "b:1"])
        #expect(ring.replicaAddresses("160", count: 3) == ["a:1", "b:1", "c:1"])
        #expect(ring.replicaAddresses("201", count: 3) == ["c:1", "a:1", "b:1"])
        // Every replica set is distinct and starts with the owner.
        for key in stride(from: 0, to: 400, by: 7) {
            let set = ring.replicaAddresses(String(key), count: 3)
            #expect(Set(set).count == set.count)
            #expect(set.first == ring.ownerAddress(String(key)))
        }
    }

    @Test func ownerSaysWhenItIsThisNode() throws {
        let ring = try Ring(nodes: Self.nodes, local: address("b:1"), hashing: Self.abc)
        #expect(ring.localIndex == NodeIndex(1))
        #expect(withBytes("150") { ring.owner(of: $0) } == .local)
        #expect(withBytes("450") { ring.owner(of: $0) } == .local)
        #expect(withBytes("50") { ring.owner(of: $0) } == .remote(NodeIndex(0)))
        #expect(withBytes("550") { ring.owner(of: $0) } == .remote(NodeIndex(2)))
        #expect(ring.isLocal(NodeIndex(1)) && !ring.isLocal(NodeIndex(0)))
        // Matched by identity: the peer port plays no part.
        let same = try Ring(nodes: Self.nodes, local: address("b:1@999"), hashing: Self.abc)
        #expect(same.localIndex == NodeIndex(1))
    }

    @Test func aNodeOffTheRingOwnsNothing() throws {
        let ring = try Ring(nodes: Self.nodes, local: address("z:1"), hashing: Self.abc)
        #expect(ring.localIndex == nil)
        for key in ["0", "150", "650"] {
            if case .local = withBytes(key, { ring.owner(of: $0) }) { Issue.record("key \(key) local") }
        }
    }

    @Test func emptyRingServesEverythingLocally() throws {
        let ring = try Ring(nodes: [], local: address("a:1"), hashing: Self.abc)
        #expect(ring.count == 0)
        #expect(withBytes("5") { ring.owner(of: $0) } == .local)
        #expect(withBytes("5") { ring.ownerIndex(of: $0) } == nil)
        #expect(withBytes("5") { ring.replicas(of: $0, count: 2) }.isEmpty)
    }

    @Test func tiesGoToTheNodeListedFirst() throws {
        // a and b share point 100: twemproxy's stable sort keeps list order, and its search
        // takes the first point ≥ hash, so the first listed node wins.
        let h = TableHashing(table: ["a:1": [100], "b:1": [100, 300]])
        let ab = try Ring(nodes: ["a:1", "b:1"].map(address), local: nil, hashing: h)
        let ba = try Ring(nodes: ["b:1", "a:1"].map(address), local: nil, hashing: h)
        #expect(ab.ownerAddress("50") == "a:1")
        #expect(ba.ownerAddress("50") == "b:1")
        #expect(ab.ownerAddress("200") == "b:1")
        // The tie does not repeat a node in a replica set.
        #expect(ab.replicaAddresses("50", count: 2) == ["a:1", "b:1"])
    }

    @Test func refusesDuplicateNodes() {
        do {
            _ = try Ring(nodes: ["a:1", "b:1", "a:1@5"].map(address), local: nil, hashing: Self.abc)
            Issue.record("duplicate accepted")
        } catch {
            #expect(error.code == .duplicateNode)
        }
    }

    // MARK: - Ketama itself

    static let pointsPerNode: [(nodes: Int, points: Int)] = [
        (1, 160), (2, 160), (3, 160), (5, 160), (10, 160), (24, 160), (25, 156), (26, 160), (47, 156),
        (50, 156), (55, 156), (61, 156), (71, 156), (94, 156), (100, 156), (101, 160), (107, 156), (109, 156),
    ]

    /// Expected values printed by twemproxy's expression compiled with gcc (float arithmetic).
    @Test(arguments: pointsPerNode)
    func pointsPerNodeMatchTwemproxysFloatArithmetic(_ c: (nodes: Int, points: Int)) throws {
        #expect(KetamaMD5.pointsPerNode(nodeCount: c.nodes) == c.points)
        let nodes = (0..<c.nodes).map { address("10.1.\($0 / 250).\($0 % 250):11211") }
        let ring = try Ring(nodes: nodes, local: nil)
        #expect(ring.count == c.nodes * c.points)
    }

    @Test func ketamaPointsAreTheFourWordsOfEachNameDigest() throws {
        let points = KetamaMD5().points(forRingName: "127.0.0.1:11212", nodeCount: 3)
        #expect(points.count == 160)
        for i in 0..<40 {
            let expected = withBytes("127.0.0.1:11212-\(i)") { SwiftCryptoMD5.words($0) }
            #expect(points[4 * i] == expected.0 && points[4 * i + 1] == expected.1)
            #expect(points[4 * i + 2] == expected.2 && points[4 * i + 3] == expected.3)
        }
    }

    @Test func ketamaRingIsSortedAndOwnersMatchALinearScan() throws {
        let nodes = ["127.0.0.1:11211", "127.0.0.2:11211", "127.0.0.3:11211", "10.0.0.1:7000"].map(address)
        let ring = try Ring(nodes: nodes, local: nodes[2])
        let points = ring.allPoints
        #expect(points.count == 640)
        #expect(zip(points, points.dropFirst()).allSatisfy { $0.hash < $1.hash || ($0.hash == $1.hash && $0.node <= $1.node) })
        var rng = SplitMix64(state: 7)
        for _ in 0..<2000 {
            let key = "k\(rng.next())"
            let h = withBytes(key) { SwiftCryptoMD5.words($0).0 }
            let expected = points.first(where: { $0.hash >= h }) ?? points[0]
            #expect(withBytes(key) { ring.ownerIndex(of: $0) } == NodeIndex(Int(expected.node)))
            let owner = withBytes(key) { ring.owner(of: $0) }
            #expect(owner == (expected.node == 2 ? .local : .remote(NodeIndex(Int(expected.node)))))
        }
    }

    @Test func digestIgnoresOrderAndFollowsMembers() throws {
        let a = try Ring(nodes: ["h:1", "h:2", "h:11211"].map(address), local: nil)
        let b = try Ring(nodes: ["h:11211", "h:1", "h:2"].map(address), local: nil)
        let c = try Ring(nodes: ["h:1", "h:2"].map(address), local: nil)
        #expect(a.digest == b.digest)
        #expect(a.digest != c.digest)
        #expect(a.digest.count == 32)
        #expect(a.digest == MD5.hex("h\nh:1\nh:2\n"))
    }
}
