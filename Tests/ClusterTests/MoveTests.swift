import Testing
@testable import Cluster

/// Joining and leaving in the pure parts: the rings a move leads to, and how gossip carries a
/// member's `joining` → `alive` → `leaving` → `left`.
@Suite struct MoveTests {
    static let a = address("10.0.0.1:11211"), b = address("10.0.0.2:11211"), c = address("10.0.0.3:11211"), d = address("10.0.0.4:11211")

    static func membership(_ states: [(NodeAddress, MemberState)]) throws -> Membership {
        var m = try Membership(local: a, seeds: states.map(\.0))
        _ = m.adopt(states.map { Member(address: $0.0, state: $0.1, incarnation: 5) })
        return m
    }

    @Test func aJoiningMemberIsOnTheFutureRingOnly() throws {
        let m = try Self.membership([(Self.a, .alive), (Self.b, .alive), (Self.c, .alive), (Self.d, .joining)])
        #expect(m.ringNodes == [Self.a, Self.b, Self.c])
        #expect(m.futureRingNodes == [Self.a, Self.b, Self.c, Self.d])
        let view = ClusterView(m)
        #expect(view.futureRing?.nodes == [Self.a, Self.b, Self.c, Self.d])
        #expect(view.moving.map(\.address) == [Self.d])
    }

    @Test func aLeavingMemberIsOnTheRingNowAndOffTheFutureRing() throws {
        let m = try Self.membership([(Self.a, .alive), (Self.b, .leaving), (Self.c, .suspect)])
        #expect(m.ringNodes == [Self.a, Self.b, Self.c])
        #expect(m.futureRingNodes == [Self.a, Self.c])
    }

    @Test func nothingMovesWithoutJoiningOrLeavingMembers() throws {
        let m = try Self.membership([(Self.a, .alive), (Self.b, .suspect), (Self.c, .dead)])
        #expect(m.futureRingNodes == nil)
        #expect(ClusterView(m).futureRing == nil)
    }

    /// The holders a move adds to a key are exactly the future ring's holders that are not
    /// holders now; across many keys, a join of a fourth node adds it to about half of them at
    /// replicas 2 (its share of two replica sets), and to no key twice.
    @Test func theNewHoldersOfAJoinAreTheJoiningNodeWhereItTakesAPlace() throws {
        let now = try KetamaRing(nodes: [Self.a, Self.b, Self.c], local: Self.a)
        let future = try KetamaRing(nodes: [Self.a, Self.b, Self.c, Self.d], local: Self.a)
        var added = 0
        for i in 0..<4000 {
            let key = Array("key\(i)".utf8)
            key.withUnsafeBytes { k in
                let old = Set(now.replicas(of: k, count: 2).map { now.node($0).advertise })
                let new = Set(future.replicas(of: k, count: 2).map { future.node($0).advertise })
                let extra = new.subtracting(old)
                #expect(extra.isSubset(of: [Self.d.advertise]))
                added += extra.count
            }
        }
        #expect(added > 1200 && added < 2800, "the fourth node of four holds about half of the keys at 2 copies: \(added) of 4000")
    }

    @Test func memberStatesTravelOnTheWire() throws {
        for state in MemberState.allCases {
            let news = MemberNews(address: Self.b, state: state, incarnation: 9, bootID: 3)
            let packet = GossipPacket(sender: Self.a, senderBoot: 1, body: .gossip, news: [news])
            let bytes = GossipCodec.encode(packet)
            let decoded = try bytes.withUnsafeBytes { raw throws(PeerHandshake.Malformed) in try GossipCodec.decode(raw) }
            #expect(decoded.news.first?.state == state)
        }
        let members = [Member(address: Self.b, state: .leaving, incarnation: 4), Member(address: Self.c, state: .joining, incarnation: 2)]
        let list = PeerHandshake.encodeMembers(members)
        #expect(try list.withUnsafeBytes { raw throws(PeerHandshake.Malformed) in try PeerHandshake.decodeMembers(raw) }.map(\.state) == [.leaving, .joining])
    }

    // MARK: - Gossip

    static func node(joining: Bool) -> GossipNode {
        GossipNode(local: a, bootID: 1, incarnation: 10, seeds: [b, c], timing: .fast(), randomSeed: 1, now: 0, joining: joining)
    }

    @Test func aJoiningNodeSaysSoUntilPromotedThenAliveAtAHigherIncarnation() {
        var n = Self.node(joining: true)
        #expect(n.selfNews.state == .joining)
        let actions = n.promote(now: 5)
        #expect(n.selfNews.state == .alive)
        #expect(n.incarnation == 11)
        #expect(actions.contains { if case .changed(let c) = $0 { return c.previous == .joining && c.news.state == .alive } else { return false } })
        #expect(n.promote(now: 6).isEmpty, "promoted once")
    }

    @Test func othersTakeJoiningAliveLeavingInIncarnationOrder() {
        var n = Self.node(joining: false)
        func hear(_ state: MemberState, _ incarnation: UInt64, at t: UInt64) {
            _ = n.receive(GossipPacket(sender: Self.b, senderBoot: 2, body: .gossip,
                                       news: [MemberNews(address: Self.b, state: state, incarnation: incarnation, bootID: 2)]), now: t)
        }
        hear(.joining, 20, at: 1)
        #expect(n.members[Self.b.advertise]?.state == .joining)
        hear(.alive, 20, at: 2)
        #expect(n.members[Self.b.advertise]?.state == .joining, "same incarnation: no change")
        hear(.alive, 21, at: 3)
        #expect(n.members[Self.b.advertise]?.state == .alive)
        hear(.leaving, 22, at: 4)
        #expect(n.members[Self.b.advertise]?.state == .leaving)
        hear(.joining, 21, at: 5)
        #expect(n.members[Self.b.advertise]?.state == .leaving, "older news never wins")
        // Leaving members count for the majority: they still answer.
        #expect(n.health(now: 5).visible == 3, "this node, b leaving, and c (a seed taken as alive)")
    }

    /// A joining member that stops answering stays off the ring (never `suspect`, which is on
    /// it) but is declared dead when its suspicion runs out.
    @Test func aSilentJoiningMemberStaysOffTheRingAndDies() {
        var n = Self.node(joining: false)
        _ = n.receive(GossipPacket(sender: Self.c, senderBoot: 3, body: .gossip,
                                   news: [MemberNews(address: Self.c, state: .alive, incarnation: 5, bootID: 3),
                                          MemberNews(address: Self.b, state: .joining, incarnation: 20, bootID: 2)]), now: 1)
        _ = n.receive(GossipPacket(sender: Self.c, senderBoot: 3, body: .gossip,
                                   news: [MemberNews(address: Self.b, state: .suspect, incarnation: 20, bootID: 2, reporter: Self.c.advertise)]), now: 2)
        #expect(n.members[Self.b.advertise]?.state == .joining)
        #expect(n.members[Self.b.advertise]?.news.member.holdsKeys == false)
        var t: UInt64 = 2
        while n.members[Self.b.advertise]?.state == .joining && t < 60_000 {
            t += 5
            _ = n.tick(now: t)
            // Keep c alive meanwhile.
            _ = n.receive(GossipPacket(sender: Self.c, senderBoot: 3, body: .gossip, news: []), now: t)
        }
        #expect(n.members[Self.b.advertise]?.state == .dead)
    }

    @Test func aLeaveGoesLeavingThenLeft() {
        var n = Self.node(joining: false)
        _ = n.beginLeave(now: 1)
        #expect(n.selfNews.state == .leaving)
        #expect(!n.leaving, "still running while it hands over")
        _ = n.leave(now: 2)
        #expect(n.selfNews.state == .left)
    }

    // MARK: - Back from a confirmed death

    static func hear(_ n: inout GossipNode, _ news: MemberNews, from sender: NodeAddress = c, at t: UInt64) -> [GossipAction] {
        n.receive(GossipPacket(sender: sender, senderBoot: 3, body: .gossip, news: [news]), now: t)
    }

    /// A member declared dead with a majority that speaks again in the same life is kept off
    /// both rings (`joining`, marked: shown dead) until it says `joining` itself; then it joins
    /// like a new node. The mark travels with the news, so others who only heard it alive
    /// take it off the ring too (at one incarnation the mark beats `alive`).
    @Test func aMemberBackFromAConfirmedDeathComesBackOnlyByJoining() {
        var n = Self.node(joining: false)
        _ = Self.hear(&n, MemberNews(address: Self.b, state: .alive, incarnation: 20, bootID: 2), at: 1)
        _ = Self.hear(&n, MemberNews(address: Self.b, state: .dead, incarnation: 20, bootID: 2, confirmed: true, reporter: Self.c.advertise), at: 2)
        #expect(n.members[Self.b.advertise]?.state == .dead)
        // It refutes as if nothing happened: kept off the rings, marked.
        _ = Self.hear(&n, MemberNews(address: Self.b, state: .alive, incarnation: 21, bootID: 2), from: Self.b, at: 3)
        let held = n.members[Self.b.advertise]!.news
        #expect(held.state == .joining && held.confirmed && held.incarnation == 21)
        #expect(held.member.state == .dead && !held.member.holdsKeys)
        // A later `alive` of the same life still is not taken.
        _ = Self.hear(&n, MemberNews(address: Self.b, state: .alive, incarnation: 22, bootID: 2), from: Self.b, at: 4)
        #expect(n.members[Self.b.advertise]!.news.member.state == .dead)
        // It says `joining` itself (it dropped its data): it joins; then its promotion counts.
        _ = Self.hear(&n, MemberNews(address: Self.b, state: .joining, incarnation: 23, bootID: 2), from: Self.b, at: 5)
        #expect(n.members[Self.b.advertise]!.news.member.state == .joining)
        #expect(n.members[Self.b.advertise]!.news.confirmed == false)
        _ = Self.hear(&n, MemberNews(address: Self.b, state: .alive, incarnation: 24, bootID: 2), from: Self.b, at: 6)
        #expect(n.members[Self.b.advertise]!.news.member.state == .alive)

        // Another node that had it alive at 21 takes the mark at the same incarnation.
        var m = GossipNode(local: Self.d, bootID: 4, incarnation: 10, seeds: [Self.b, Self.c], timing: .fast(), randomSeed: 2, now: 0, joining: false)
        _ = Self.hear(&m, MemberNews(address: Self.b, state: .alive, incarnation: 21, bootID: 2), at: 1)
        #expect(m.members[Self.b.advertise]?.state == .alive)
        _ = Self.hear(&m, MemberNews(address: Self.b, state: .joining, incarnation: 21, bootID: 2, confirmed: true), at: 2)
        #expect(m.members[Self.b.advertise]!.news.member.state == .dead)
        // A new life (another boot) is a new member: it joined by itself, so its `alive` counts.
        var k = Self.node(joining: false)
        _ = Self.hear(&k, MemberNews(address: Self.b, state: .dead, incarnation: 20, bootID: 2, confirmed: true), at: 1)
        _ = Self.hear(&k, MemberNews(address: Self.b, state: .alive, incarnation: 30, bootID: 9), from: Self.b, at: 2)
        #expect(k.members[Self.b.advertise]!.news.member.state == .alive)
    }

    /// The node itself, told of its death confirmed with a majority (or of the mark), drops
    /// its data before anything else goes out and joins again at a higher incarnation; a
    /// death without a majority is refuted as before (it keeps its data).
    @Test func aNodeToldOfItsConfirmedDeathJoinsAgain() {
        var n = Self.node(joining: false)
        let actions = Self.hear(&n, MemberNews(address: Self.a, state: .dead, incarnation: 10, bootID: 1, confirmed: true, reporter: Self.c.advertise), at: 1)
        // Before anything that says `joining` goes out: the data is dropped first.
        let dropAt = actions.firstIndex { if case .returnedFromDeath = $0 { return true } else { return false } }
        let firstJoining = actions.firstIndex { action in
            switch action {
            case .send(_, let p), .stream(_, let p): return p.news.contains { $0.identity == Self.a.advertise && $0.state == .joining }
            default: return false
            }
        }
        #expect(dropAt != nil && firstJoining != nil && dropAt! < firstJoining!, "\(actions)")
        #expect(n.selfNews.state == .joining)
        #expect(n.incarnation > 10)
        #expect(!actions.contains { if case .changed(let c) = $0 { return c.news.identity == Self.a.advertise && c.news.state == .alive } else { return false } })
        // Told of the mark while it already joins again: it says `joining` above it.
        let before = n.incarnation
        _ = Self.hear(&n, MemberNews(address: Self.a, state: .joining, incarnation: before, bootID: 1, confirmed: true), at: 2)
        #expect(n.selfNews.state == .joining && n.incarnation > before)

        var m = Self.node(joining: false)
        let refuted = Self.hear(&m, MemberNews(address: Self.a, state: .dead, incarnation: 10, bootID: 1, confirmed: false, reporter: Self.c.advertise), at: 1)
        #expect(!refuted.contains { if case .returnedFromDeath = $0 { return true } else { return false } })
        #expect(m.selfNews.state == .alive && m.incarnation > 10)
        // Told of the mark while alive: same as the death itself.
        var k = Self.node(joining: false)
        let marked = Self.hear(&k, MemberNews(address: Self.a, state: .joining, incarnation: 10, bootID: 1, confirmed: true), at: 1)
        #expect(marked.contains { if case .returnedFromDeath = $0 { return true } else { return false } })
        #expect(k.selfNews.state == .joining)
    }
}
