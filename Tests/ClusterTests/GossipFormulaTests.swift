import Testing
@testable import Cluster

/// The formulas memberlist uses, table-driven against values worked out by hand.
@Suite struct GossipFormulaTests {
    @Test(arguments: [
        // (multiplier, nodes, interval, expected ms)
        (4, 1, UInt64(1000), UInt64(4000)),
        (4, 5, 200, 800),       // log10(5) < 1: the scale is 1
        (4, 10, 200, 800),
        (4, 100, 200, 1600),    // log10(100) = 2
        (4, 200, 1000, 9204),   // 4 · 2.30103 · 1000
        (5, 1000, 100, 1500),
    ])
    func suspicionTimeout(_ c: (Int, Int, UInt64, UInt64)) {
        #expect(GossipTiming.suspicionTimeout(multiplier: c.0, nodes: c.1, probeInterval: c.2) == c.3)
    }

    @Test(arguments: [
        // (confirmations, expected, min, max, length)
        (0, 2, UInt64(800), UInt64(4800), UInt64(4800)),
        (1, 2, 800, 4800, 2276),   // 4800 − 4000 · ln 2 / ln 3
        (2, 2, 800, 4800, 800),
        (3, 2, 800, 4800, 800),    // never below the shortest
        (0, 0, 800, 4800, 800),    // too few members to expect confirmations
        (5, 10, 1000, 6000, 2263), // 6000 − 5000 · ln 6 / ln 11 = 2263.9
    ])
    func suspicionLength(_ c: (Int, Int, UInt64, UInt64, UInt64)) {
        #expect(GossipTiming.suspicionLength(confirmations: c.0, expected: c.1, min: c.2, max: c.3) == c.4)
    }

    @Test(arguments: [(4, 1, 4), (4, 9, 4), (4, 10, 8), (4, 99, 8), (4, 200, 12), (3, 5, 3)])
    func retransmitLimit(_ c: (Int, Int, Int)) {
        #expect(GossipTiming.retransmitLimit(multiplier: c.0, nodes: c.1) == c.2)
    }

    @Test func awarenessStretchesTimeoutsWithinItsBounds() {
        var a = Awareness(max: 8)
        #expect(a.scale(200) == 200)
        a.apply(3)
        #expect(a.scale(200) == 800)
        a.apply(100)
        #expect(a.score == 7)
        #expect(a.scale(200) == 1600)
        a.apply(-100)
        #expect(a.score == 0)
    }

    @Test func suspicionShrinksOnceForEachNewReporter() {
        var s = Suspicion(incarnation: 3, reporter: "a", startedAt: 1000, expected: 2, min: 800, max: 4800)
        #expect(s.deadline == 5800)
        var ok = s.confirm(by: "a")
        #expect(!ok)   // the one who raised it
        ok = s.confirm(by: "b")
        #expect(ok)
        ok = s.confirm(by: "b")
        #expect(!ok)
        #expect(s.deadline == 1000 + 2276)
        ok = s.confirm(by: "c")
        #expect(ok)
        #expect(s.deadline == 1800)
        ok = s.confirm(by: "d")
        #expect(!ok)   // no more than expected
    }

    @Test func broadcastQueueSendsTheLeastSentAndNewestFirstAndNewerNewsReplacesOlder() {
        let a = address("10.0.0.1:11211"), b = address("10.0.0.2:11211"), c = address("10.0.0.3:11211")
        var q = BroadcastQueue()
        q.enqueue(MemberNews(address: a, state: .alive, incarnation: 1, bootID: 1))
        q.enqueue(MemberNews(address: b, state: .suspect, incarnation: 1, bootID: 1, reporter: "x"))
        q.enqueue(MemberNews(address: b, state: .alive, incarnation: 2, bootID: 1))  // refutes the suspicion
        #expect(q.count == 2)
        let size = GossipCodec.encodedSize(MemberNews(address: a, state: .alive, incarnation: 1, bootID: 1))
        let first = q.take(bytes: size, limit: 2)
        #expect(first.map(\.identity) == [b.advertise])
        #expect(first.first?.state == .alive)
        q.enqueue(MemberNews(address: c, state: .dead, incarnation: 1, bootID: 1, confirmed: true, reporter: "x"))
        // c and a were sent 0 times, b once: c (newer), then a, then b.
        #expect(q.take(bytes: 10_000, limit: 2).map(\.identity) == [c.advertise, a.advertise, b.advertise])
        // b reached its limit of 2 and left; a and c were sent once.
        #expect(q.take(bytes: 10_000, limit: 2).map(\.identity).sorted() == [a.advertise, c.advertise])
        #expect(q.isEmpty)
    }
}
