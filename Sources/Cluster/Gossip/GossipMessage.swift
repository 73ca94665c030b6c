/// News about one member, as gossip carries it: piggybacked on probes, queued for
/// retransmission, and in push-pull member tables.
public struct MemberNews: Sendable, Equatable {
    public var address: NodeAddress
    /// Any state: `joining` and `leaving` are live members moving onto or off the ring.
    public var state: MemberState
    public var incarnation: UInt64
    /// The member's life: a new process start is a new boot id (and a higher incarnation).
    public var bootID: UInt64
    /// For `dead`: the member that declared it saw a majority of the members it knew, so the
    /// death moves ownership and is forgotten in time. A death declared by a minority is shown
    /// but changes neither. For `joining`: the member came back from such a death and must
    /// join again; until it says `joining` itself it stays off the rings (shown `dead`).
    public var confirmed: Bool
    /// Who reported a suspicion or death (its `advertise`); "" otherwise. Suspicions from
    /// distinct reporters are the confirmations that shorten a suspicion.
    public var reporter: String

    public init(address: NodeAddress, state: MemberState, incarnation: UInt64, bootID: UInt64, confirmed: Bool = false, reporter: String = "") {
        self.address = address
        self.state = state
        self.incarnation = incarnation
        self.bootID = bootID
        self.confirmed = confirmed
        self.reporter = reporter
    }

    public var identity: String { address.advertise }

    /// The member as `Membership` and `cluster nodes` see it.
    public var member: Member {
        // Back from a confirmed death but not joining by itself yet: nothing may be sent to it
        // (it is about to drop what it holds), so it is neither on the ring nor on the future one.
        if state == .joining && confirmed {
            return Member(address: address, state: .dead, incarnation: incarnation, holdsKeys: false)
        }
        return Member(address: address, state: state, incarnation: incarnation, holdsKeys: state.isOnRing || (state == .dead && !confirmed))
    }
}

/// The first part of every gossip packet: what it asks or answers.
public enum GossipBody: Sendable, Equatable {
    /// "Are you alive?" `target` names the member meant, so a packet that reaches another
    /// process on the address is not acked in the target's name.
    case ping(seq: UInt32, target: NodeAddress)
    /// "Ping `target` for me": the receiver pings it and passes the ack back, or a nack when
    /// the target stays silent (Lifeguard), so the asker can tell a dead target from its own
    /// trouble.
    case pingReq(seq: UInt32, target: NodeAddress)
    case ack(seq: UInt32)
    case nack(seq: UInt32)
    /// A whole member table, on a join, periodically, and to re-find members after a partition.
    /// Sent over the peer protocol's stream, not UDP. `reply` is the answer to one.
    case pushPull(members: [MemberNews], reply: Bool)
    /// Nothing but the piggybacked news.
    case gossip
}

/// One gossip message: who sends it, in which life, what it asks, and the news it carries.
public struct GossipPacket: Sendable, Equatable {
    public var sender: NodeAddress
    public var senderBoot: UInt64
    public var body: GossipBody
    public var news: [MemberNews]

    public init(sender: NodeAddress, senderBoot: UInt64, body: GossipBody, news: [MemberNews] = []) {
        self.sender = sender
        self.senderBoot = senderBoot
        self.body = body
        self.news = news
    }
}

/// The gossip packet codec: pure, bounds-checked, and a malformed packet is an error, never a
/// crash. Big-endian fields, the same writer and reader as the peer protocol's control frames.
///
/// ```
/// u8 version (1) · u8 kind · address sender · u64 boot · body · u16 count · news…
/// address = string host · u16 port · u16 peer port
/// news    = address · u8 state · u8 confirmed · u64 incarnation · u64 boot · string reporter
/// body    ping/ping-req: u32 seq · address target;  ack/nack: u32 seq;
///         push-pull: u8 reply · u16 count · news…;  gossip: nothing
/// ```
public enum GossipCodec {
    public static let version: UInt8 = 1
    /// More news or members than this in one message is malformed.
    public static let maxNews = PeerHandshake.maxMembers

    enum Kind: UInt8 { case ping = 1, pingReq, ack, nack, pushPull, gossip }

    public static func encode(_ packet: GossipPacket) -> [UInt8] {
        var w = PeerWireWriter()
        w.u8(version)
        switch packet.body {
        case .ping: w.u8(Kind.ping.rawValue)
        case .pingReq: w.u8(Kind.pingReq.rawValue)
        case .ack: w.u8(Kind.ack.rawValue)
        case .nack: w.u8(Kind.nack.rawValue)
        case .pushPull: w.u8(Kind.pushPull.rawValue)
        case .gossip: w.u8(Kind.gossip.rawValue)
        }
        PeerHandshake.writeAddress(packet.sender, &w)
        w.u64(packet.senderBoot)
        switch packet.body {
        case .ping(let seq, let target), .pingReq(let seq, let target):
            w.u32(seq)
            PeerHandshake.writeAddress(target, &w)
        case .ack(let seq), .nack(let seq):
            w.u32(seq)
        case .pushPull(let members, let reply):
            w.u8(reply ? 1 : 0)
            writeNews(members, &w)
        case .gossip:
            break
        }
        writeNews(packet.news, &w)
        return w.bytes
    }

    /// The bytes one piece of news adds to a packet.
    public static func encodedSize(_ news: MemberNews) -> Int {
        var w = PeerWireWriter()
        writeOne(news, &w)
        return w.bytes.count
    }

    /// The bytes of a packet with `body` and no news (the room news has is what is left).
    public static func overhead(sender: NodeAddress, body: GossipBody) -> Int {
        encode(GossipPacket(sender: sender, senderBoot: 0, body: body)).count
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(PeerHandshake.Malformed) -> GossipPacket {
        var r = PeerWireReader(bytes)
        guard let v = try? r.u8(), let k = try? r.u8() else { throw PeerHandshake.Malformed("truncated gossip packet") }
        guard v == version else { throw PeerHandshake.Malformed("gossip version \(v)") }
        guard let kind = Kind(rawValue: k) else { throw PeerHandshake.Malformed("unknown gossip kind \(k)") }
        let sender = try PeerHandshake.readAddress(&r)
        guard let boot = try? r.u64() else { throw PeerHandshake.Malformed("truncated gossip packet") }
        let body: GossipBody
        switch kind {
        case .ping, .pingReq:
            guard let seq = try? r.u32() else { throw PeerHandshake.Malformed("truncated probe") }
            let target = try PeerHandshake.readAddress(&r)
            body = kind == .ping ? .ping(seq: seq, target: target) : .pingReq(seq: seq, target: target)
        case .ack, .nack:
            guard let seq = try? r.u32() else { throw PeerHandshake.Malformed("truncated ack") }
            body = kind == .ack ? .ack(seq: seq) : .nack(seq: seq)
        case .pushPull:
            guard let reply = try? r.u8(), reply <= 1 else { throw PeerHandshake.Malformed("bad push-pull flag") }
            body = .pushPull(members: try readNews(&r), reply: reply == 1)
        case .gossip:
            body = .gossip
        }
        let news = try readNews(&r)
        guard r.remaining == 0 else { throw PeerHandshake.Malformed("\(r.remaining) bytes after a gossip packet") }
        return GossipPacket(sender: sender, senderBoot: boot, body: body, news: news)
    }

    static func writeNews(_ list: [MemberNews], _ w: inout PeerWireWriter) {
        w.u16(UInt16(min(list.count, maxNews)))
        for n in list.prefix(maxNews) { writeOne(n, &w) }
    }

    static func writeOne(_ n: MemberNews, _ w: inout PeerWireWriter) {
        PeerHandshake.writeAddress(n.address, &w)
        w.u8(n.state.wireValue)
        w.u8(n.confirmed ? 1 : 0)
        w.u64(n.incarnation)
        w.u64(n.bootID)
        w.string(n.reporter)
    }

    static func readNews(_ r: inout PeerWireReader) throws(PeerHandshake.Malformed) -> [MemberNews] {
        guard let count = try? r.u16() else { throw PeerHandshake.Malformed("truncated news count") }
        guard Int(count) <= maxNews else { throw PeerHandshake.Malformed("\(count) pieces of news") }
        var list: [MemberNews] = []
        list.reserveCapacity(Int(count))
        for _ in 0..<count {
            let address = try PeerHandshake.readAddress(&r)
            guard let s = try? r.u8(), let state = MemberState(wireValue: s),
                  let confirmed = try? r.u8(), confirmed <= 1,
                  let incarnation = try? r.u64(), let boot = try? r.u64(), let reporter = try? r.string()
            else { throw PeerHandshake.Malformed("truncated or bad news") }
            list.append(MemberNews(address: address, state: state, incarnation: incarnation, bootID: boot, confirmed: confirmed == 1, reporter: reporter))
        }
        return list
    }
}
