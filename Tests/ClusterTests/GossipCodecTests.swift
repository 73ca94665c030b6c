import Testing
@testable import Cluster

@Suite struct GossipCodecTests {
    static let a = address("127.0.0.1:11211")
    static let b = address("[::1]:60000@61000")
    static let news = [
        MemberNews(address: a, state: .alive, incarnation: 7, bootID: 99),
        MemberNews(address: b, state: .suspect, incarnation: 1 << 40, bootID: 1, reporter: "127.0.0.1:11211"),
        MemberNews(address: b, state: .dead, incarnation: 3, bootID: .max, confirmed: true, reporter: "x"),
        MemberNews(address: a, state: .left, incarnation: 0, bootID: 0),
    ]
    static let packets: [GossipPacket] = [
        GossipPacket(sender: a, senderBoot: 5, body: .ping(seq: 1, target: b)),
        GossipPacket(sender: b, senderBoot: 6, body: .pingReq(seq: .max, target: a), news: news),
        GossipPacket(sender: a, senderBoot: 7, body: .ack(seq: 9), news: [news[0]]),
        GossipPacket(sender: a, senderBoot: 8, body: .nack(seq: 0)),
        GossipPacket(sender: b, senderBoot: 9, body: .pushPull(members: news, reply: true), news: [news[1]]),
        GossipPacket(sender: b, senderBoot: 10, body: .pushPull(members: [], reply: false)),
        GossipPacket(sender: a, senderBoot: 11, body: .gossip, news: news),
    ]

    @Test(arguments: packets)
    func roundTripsAndEveryShorterPrefixIsMalformed(_ packet: GossipPacket) {
        let bytes = GossipCodec.encode(packet)
        #expect(decodeGossip(bytes) == packet)
        for cut in 0..<bytes.count {
            #expect(decodeGossip(Array(bytes.prefix(cut))) == nil)
        }
        #expect(decodeGossip(bytes + [0]) == nil)
    }

    /// Random bytes and single flipped bytes never crash the decoder (they may decode: UDP has
    /// no integrity of its own, which is what the cluster secret's seal adds).
    @Test func garbageNeverCrashes() {
        var random = GossipRandom(seed: 42)
        for _ in 0..<5000 {
            let length = Int(random.next() % 200)
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            _ = decodeGossip(bytes)
        }
        for packet in Self.packets {
            let bytes = GossipCodec.encode(packet)
            for i in 0..<bytes.count {
                var flipped = bytes
                flipped[i] ^= UInt8(truncatingIfNeeded: random.next() | 1)
                _ = decodeGossip(flipped)
            }
        }
    }

    @Test func unknownVersionKindAndStateAreRefused() {
        var bytes = GossipCodec.encode(Self.packets[0])
        bytes[0] = 2
        #expect(decodeGossip(bytes) == nil)
        bytes = GossipCodec.encode(Self.packets[0])
        bytes[1] = 99
        #expect(decodeGossip(bytes) == nil)
    }

    @Test func newsSizeIsWhatItAddsToAPacket() {
        for n in Self.news {
            let without = GossipCodec.encode(GossipPacket(sender: Self.a, senderBoot: 1, body: .gossip)).count
            let with = GossipCodec.encode(GossipPacket(sender: Self.a, senderBoot: 1, body: .gossip, news: [n])).count
            #expect(with - without == GossipCodec.encodedSize(n))
        }
    }
}
