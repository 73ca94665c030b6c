import Testing
@testable import Cluster

@Suite struct MembershipTests {
    static let seeds = ["127.0.0.1:11213", "127.0.0.1:11211", "127.0.0.1:11212@31212"].map(address)

    @Test func staticMembersAreTheSeedsSortedAndAlive() throws {
        let m = try Membership(local: address("127.0.0.1:11212@31212"), seeds: Self.seeds)
        #expect(m.members.map(\.address.advertise) == ["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"])
        #expect(m.members.allSatisfy { $0.state == .alive && $0.incarnation == 0 })
        let ring = m.makeRing()
        #expect(ring.localIndex == NodeIndex(1))
        #expect(ring.count == 480)
        #expect(ring.digest == m.ringDigest)
    }

    @Test func everyNodeBuildsTheSameRingWhateverTheSeedOrder() throws {
        let a = try Membership(local: address("127.0.0.1:11211"), seeds: Self.seeds).makeRing()
        let b = try Membership(local: address("127.0.0.1:11213"), seeds: Self.seeds.reversed()).makeRing()
        #expect(a.nodes == b.nodes)
        #expect(a.allPoints == b.allPoints)
        #expect(a.digest == b.digest)
    }

    /// A node its seeds do not name adds itself (it introduces itself to them); one they name
    /// must have the peer port they give.
    @Test func localJoinsTheSeedsAndMustMatchItsOwnEntry() throws {
        let joined = try Membership(local: address("127.0.0.1:11999"), seeds: Self.seeds, localIncarnation: 7)
        #expect(joined.members.count == Self.seeds.count + 1)
        #expect(joined.member(address("127.0.0.1:11999"))?.incarnation == 7)
        #expect(joined.epoch == 0)
        do {
            _ = try Membership(local: address("127.0.0.1:11212"), seeds: Self.seeds)  // peer port 21212 ≠ 31212
            Issue.record("accepted")
        } catch {
            #expect(error.code == .peerPortMismatch)
        }
    }

    @Test func ringHoldsAliveAndSuspectMembersOnly() throws {
        var m = try Membership(local: address("127.0.0.1:11211"), seeds: Self.seeds)
        let before = m.ringDigest
        let suspected = m.apply(Member(address: address("127.0.0.1:11213"), state: .suspect, incarnation: 0))
        #expect(suspected)
        #expect(m.ringNodes.count == 3)
        #expect(m.ringDigest == before)
        let died = m.apply(Member(address: address("127.0.0.1:11213"), state: .dead, incarnation: 0))
        #expect(died)
        #expect(m.ringNodes.map(\.advertise) == ["127.0.0.1:11211", "127.0.0.1:11212"])
        #expect(m.ringDigest != before)
        #expect(m.makeRing().count == 320)
        for state in [MemberState.left, .joining] {
            #expect(state.isOnRing == false)
        }
    }

    /// SWIM precedence: (news, known) → applied?
    static let precedence: [(news: (MemberState, UInt64), known: (MemberState, UInt64), applied: Bool)] = [
        ((.suspect, 0), (.alive, 0), true),
        ((.alive, 0), (.suspect, 0), false),  // a refutation needs a higher incarnation
        ((.alive, 1), (.suspect, 0), true),
        ((.dead, 0), (.suspect, 0), true),
        ((.alive, 0), (.dead, 0), false),
        ((.alive, 1), (.dead, 0), true),
        ((.suspect, 0), (.alive, 1), false),  // stale news
        ((.alive, 0), (.joining, 0), true),  // join completes
        ((.alive, 0), (.alive, 0), false),  // nothing new
        ((.left, 2), (.alive, 2), true),
    ]

    @Test(arguments: precedence)
    func applyFollowsIncarnationThenState(_ c: (news: (MemberState, UInt64), known: (MemberState, UInt64), applied: Bool)) throws {
        let target = address("127.0.0.1:11212@31212")
        var m = try Membership(local: address("127.0.0.1:11211"), seeds: Self.seeds)
        m.apply(Member(address: target, state: .alive, incarnation: c.known.1))
        // Force the known state at that incarnation (dead/left can only be reached forward).
        if c.known.0 != .alive {
            if c.known.0 == .joining {
                var fresh = try Membership(local: address("127.0.0.1:11211"), seeds: [address("127.0.0.1:11211")])
                fresh.apply(Member(address: target, state: .joining, incarnation: c.known.1))
                m = fresh
            } else {
                m.apply(Member(address: target, state: c.known.0, incarnation: c.known.1))
            }
        }
        #expect(m.member(target)?.state == c.known.0)
        let changed = m.apply(Member(address: target, state: c.news.0, incarnation: c.news.1))
        #expect(changed == c.applied)
        let now = m.member(target)!
        #expect((now.state, now.incarnation) == (c.applied ? c.news : c.known))
    }

    @Test func unknownMembersAreAddedInOrder() throws {
        var m = try Membership(local: address("127.0.0.1:11211"), seeds: Self.seeds)
        let added = m.apply(Member(address: address("127.0.0.0:11211"), state: .joining))
        #expect(added)
        #expect(m.members.first?.address.advertise == "127.0.0.0:11211")
        #expect(m.ringNodes.count == 3)
    }

    /// News from peers can never crash the node: a newcomer with another member's ring name is
    /// refused (the ring would need both), and the epoch saturates at its maximum.
    @Test func hostileNewsNeitherMergesRingNamesNorOverflowsTheEpoch() throws {
        var m = try Membership(local: address("[::1]:1"), seeds: [])
        let clash = m.apply(Member(address: address("[::1:1]:11211")))
        #expect(!clash, "same ring name ::1:1")
        #expect(m.members.count == 1)
        _ = m.makeRing()
        m.observe(epoch: .max)
        let added = m.apply(Member(address: address("127.0.0.1:11212")))
        #expect(added)
        #expect(m.epoch == .max)
        _ = m.makeRing()
    }
}

@Suite struct MembershipAdoptTests {
    static let a = address("10.0.0.1:11211"), b = address("10.0.0.2:11211"), c = address("10.0.0.3:11211")

    /// Only a change of the ring counts in the epoch: a suspicion or a new incarnation does not,
    /// a join, a confirmed death and a leave do; a death seen without a majority keeps the keys.
    func adopt(_ m: inout Membership, _ list: [Member]) -> Bool { m.adopt(list) }

    @Test func onlyRingChangesCountInTheEpoch() throws {
        var m = try Membership(local: Self.a, seeds: [Self.a, Self.b])
        #expect(adopt(&m, [Member(address: Self.a), Member(address: Self.b, incarnation: 9)]))
        #expect(m.epoch == 0)
        #expect(adopt(&m, [Member(address: Self.a), Member(address: Self.b, state: .suspect, incarnation: 9)]))
        #expect(m.epoch == 0)
        #expect(adopt(&m, [Member(address: Self.a), Member(address: Self.b, incarnation: 9), Member(address: Self.c, incarnation: 3)]))
        #expect(m.epoch == 1)
        #expect(m.ringNodes == [Self.a, Self.b, Self.c])
        #expect(adopt(&m, [Member(address: Self.a), Member(address: Self.b, incarnation: 9),
                         Member(address: Self.c, state: .dead, incarnation: 3, holdsKeys: true)]))
        #expect(m.epoch == 1)
        #expect(m.ringNodes.count == 3)
        #expect(adopt(&m, [Member(address: Self.a), Member(address: Self.b, incarnation: 9), Member(address: Self.c, state: .dead, incarnation: 3)]))
        #expect(m.epoch == 2)
        #expect(m.ringNodes == [Self.a, Self.b])
        #expect(!adopt(&m, [Member(address: Self.a), Member(address: Self.b, incarnation: 9), Member(address: Self.c, state: .dead, incarnation: 3)]))
        // A member whose ring name is this node's (`[::1]:1` and `[::1:1]:11211` both hash
        // as `::1:1`) is left out, never this node.
        var v6 = try Membership(local: address("[::1]:1@2"), seeds: [address("[::1]:1@2")])
        #expect(adopt(&v6, [Member(address: address("[::1:1]:11211")), Member(address: address("[::1]:1@2"))]) == false)
        #expect(v6.members.map(\.address.advertise) == ["[::1]:1"])
        _ = v6.makeRing()
        // Forgotten: gone from the list, and this node is always in it.
        #expect(adopt(&m, [Member(address: Self.b, incarnation: 9)]))
        #expect(m.members.map(\.address) == [Self.a, Self.b])
    }
}
