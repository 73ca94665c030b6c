/// What the gossip machine asks its caller to do.
public enum GossipAction: Sendable, Equatable {
    /// Send a datagram (probes, acks, gossip).
    case send(to: NodeAddress, GossipPacket)
    /// Send over the peer protocol's stream (push-pull), which may fail without an answer.
    case stream(to: NodeAddress, GossipPacket)
    /// A member's state changed, or it was met for the first time: rebuild the view.
    case changed(MemberChange)
    /// A member was forgotten (a confirmed death or a leave grown old, or the operator's
    /// `cluster forget`): drop it from the view.
    case forgotten(NodeAddress)
    /// Others declared this node dead with a majority visible (its keys moved to other nodes):
    /// it refuted, and is coming back with data that may be old.
    case returnedFromDeath
}

/// One change of a member, as the view and the log want it.
public struct MemberChange: Sendable, Equatable {
    public var news: MemberNews
    /// nil: the member was not known before.
    public var previous: MemberState?
    /// The member came back in a new life (another boot id) while this node knew the old one.
    public var restarted: Bool
}

/// What this node knows of one member.
public struct KnownMember: Sendable, Equatable {
    public var news: MemberNews
    /// When its state last changed here (monotonic ms): a death or leave is forgotten from it.
    public var changedAt: UInt64
    public var state: MemberState { news.state }
}

/// Whether this node can still act for the cluster (the replication issue refuses writes on a
/// side without a majority).
public struct GossipHealth: Sendable, Equatable {
    /// Members this node counts for a majority: alive, suspect, and dead not yet forgotten
    /// (left members do not count).
    public var known: Int
    /// Of those, the ones that answer: alive, this node included.
    public var visible: Int
    public var seesMajority: Bool { visible * 2 > known }
    /// No gossip from any other member for longer than the longest suspicion.
    public var isolated: Bool

    public init(known: Int, visible: Int, isolated: Bool) {
        self.known = known
        self.visible = visible
        self.isolated = isolated
    }
}

/// The membership protocol of one node, SWIM with Lifeguard's refinements, as a pure state
/// machine: it is fed packets (`receive`), the passing of time (`tick`) and the operator's
/// wishes (`leave`, `forget`), and answers with actions. It reads no clock and no randomness
/// of its own (both are passed in), so a test drives hundreds of nodes on one manual clock.
///
/// Owned by one thread (the gossip thread); a value type.
///
/// - Probing: every `probeInterval` (stretched by local health) one member, round-robin over a
///   shuffled list, gets a ping; no ack within `probeTimeout` sends `indirectChecks` ping-reqs;
///   no ack by the end of the interval makes it suspect. A ping to a suspect carries the
///   suspicion (Lifeguard's buddy system), so the suspect hears of it and can refute.
/// - Suspicion: timed by `Suspicion`; independent confirmations shorten it; when it runs out
///   the member is declared dead, `confirmed` when this node saw a majority.
/// - News spreads piggybacked and by gossip rounds (`gossipFanout` members every
///   `gossipInterval`), each piece about λ·log(N+1) times; whole tables are exchanged by
///   push-pull on a join, every `pushPullInterval`, and with a dead member or an absent seed
///   every `reconnectInterval` (so a healed partition merges).
/// - A member refutes news of its own suspicion or death by raising its incarnation.
public struct GossipNode: Sendable {
    public let local: NodeAddress
    public let bootID: UInt64
    public internal(set) var incarnation: UInt64
    public let timing: GossipTiming
    public let seeds: [NodeAddress]
    var random: GossipRandom
    public internal(set) var members: [String: KnownMember] = [:]
    var suspicions: [String: Suspicion] = [:]
    var queue = BroadcastQueue()
    public internal(set) var awareness: Awareness
    var probe: Probe?
    var relays: [UInt32: Relay] = [:]
    var probeOrder: [String] = []
    var probeIndex = 0
    var nextSeq: UInt32 = 0
    var nextProbeAt: UInt64
    var nextGossipAt: UInt64
    var nextPushPullAt: UInt64
    var nextReconnectAt: UInt64
    /// When a valid packet from another member last arrived.
    public internal(set) var lastHeard: UInt64
    /// Stopped: `left` was said, nothing more is probed or answered.
    public internal(set) var leaving = false
    /// What this node says of itself while it runs: `joining` until the others have filled it
    /// (`promote`), `alive`, then `leaving` while it hands over (`beginLeave`).
    public internal(set) var selfState: MemberState
    /// When this node last asked a sender of an unknown life for a push-pull.
    var pushPullAsked: [String: UInt64] = [:]
    /// Pings that named another member as their target (dropped).
    public internal(set) var misdirected = 0

    /// A probe in progress.
    struct Probe: Sendable {
        let target: String
        /// The target's incarnation when the probe began: a failure suspects this one.
        let incarnation: UInt64
        let seq: UInt32
        let timeoutAt: UInt64
        var deadline: UInt64
        var indirect = false
        var expectedNacks = 0
        var nacks = 0
    }

    /// A ping this node makes for another's ping-req.
    struct Relay: Sendable {
        let requester: NodeAddress
        let seq: UInt32
        let nackAt: UInt64
        let expiresAt: UInt64
        var nackSent = false
    }

    /// `seeds` are taken as alive members of unknown life (incarnation 0) until they are heard
    /// from, so the ring covers them from the start; a seed that names this node is this node.
    /// `joining`: the node starts off the ring and says so until `promote` (the Server's new
    /// lives do; simulations of gossip alone start alive).
    public init(local: NodeAddress, bootID: UInt64, incarnation: UInt64, seeds: [NodeAddress], timing: GossipTiming, randomSeed: UInt64, now: UInt64, joining: Bool = false) {
        self.local = local
        self.selfState = joining ? .joining : .alive
        self.bootID = bootID
        self.incarnation = incarnation
        self.timing = timing
        self.seeds = seeds.filter { $0.advertise != local.advertise }
        self.random = GossipRandom(seed: randomSeed)
        self.awareness = Awareness(max: timing.awarenessMax)
        members[local.advertise] = KnownMember(news: MemberNews(address: local, state: selfState, incarnation: incarnation, bootID: bootID), changedAt: now)
        for seed in self.seeds where members[seed.advertise] == nil {
            members[seed.advertise] = KnownMember(news: MemberNews(address: seed, state: .alive, incarnation: 0, bootID: 0), changedAt: now)
        }
        // Sequence numbers start anywhere: an ack cannot be guessed from the boot alone.
        nextSeq = UInt32(truncatingIfNeeded: random.next())
        // Spread the first probe of many nodes started together over one interval.
        nextProbeAt = now + random.next() % max(1, timing.probeInterval)
        nextGossipAt = now + timing.gossipInterval
        nextPushPullAt = now + timing.pushPullInterval
        nextReconnectAt = now + timing.reconnectInterval
        lastHeard = now
    }

    /// This node as its news says it.
    public var selfNews: MemberNews {
        MemberNews(address: local, state: leaving ? .left : selfState, incarnation: incarnation, bootID: bootID)
    }

    /// Joins: this node's news goes out, and every seed is asked for a push-pull.
    public mutating func start(now: UInt64) -> [GossipAction] {
        queue.enqueue(selfNews)
        let table = GossipBody.pushPull(members: fullTable, reply: false)
        return seeds.map { .stream(to: $0, packet(table)) }
    }

    /// Runs whatever is due at `now`. The caller calls it at `nextDeadline` and after handing
    /// over the packets that arrived, so a late ack is seen before its deadline is judged.
    public mutating func tick(now: UInt64) -> [GossipAction] {
        guard !leaving else { return [] }
        var actions: [GossipAction] = []
        tickRelays(now: now, &actions)
        tickProbe(now: now, &actions)
        // In a fixed order (dictionary order differs between instances), so a seeded run replays.
        for id in suspicions.filter({ now >= $0.value.deadline }).keys.sorted() {
            declareDead(id, now: now, &actions)
        }
        if now >= nextGossipAt { gossipRound(now: now, &actions) }
        if now >= nextPushPullAt { pushPullRound(now: now, &actions) }
        if now >= nextReconnectAt { reconnectRound(now: now, &actions) }
        return actions
    }

    /// When `tick` next has something to do (monotonic ms): the caller may sleep until then,
    /// or until a packet arrives. Never before `now`.
    public func nextDeadline(now: UInt64) -> UInt64 {
        guard !leaving else { return .max }
        var next = min(nextGossipAt, nextPushPullAt, nextReconnectAt)
        if let p = probe {
            next = min(next, p.indirect ? p.deadline : p.timeoutAt)
        } else {
            next = min(next, nextProbeAt)
        }
        for relay in relays.values { next = min(next, relay.nackSent ? relay.expiresAt : relay.nackAt) }
        for s in suspicions.values { next = min(next, s.deadline) }
        // The moment this node would call itself isolated, so the flag is shown in time.
        let isolatedAt = lastHeard + suspicionBounds.max + 1
        if isolatedAt > now { next = min(next, isolatedAt) }
        return max(next, now)
    }

    /// Takes one packet that arrived.
    public mutating func receive(_ incoming: GossipPacket, now: UInt64) -> [GossipAction] {
        guard incoming.sender.advertise != local.advertise, !leaving else { return [] }
        var actions: [GossipAction] = []
        lastHeard = now
        // A sender in a life this node has not heard of (a seed never heard from, a restart
        // whose news has not come yet, a member that forgot us): exchange tables with it now
        // rather than wait for the next push-pull round. Once per probe interval per sender.
        if members[incoming.sender.advertise]?.news.bootID != incoming.senderBoot {
            if pushPullAsked[incoming.sender.advertise].map({ now >= $0 + timing.probeInterval }) ?? true {
                if pushPullAsked.count >= 4096 { pushPullAsked.removeAll() }
                pushPullAsked[incoming.sender.advertise] = now
                if case .pushPull = incoming.body {} else {
                    actions.append(.stream(to: incoming.sender, packet(.pushPull(members: fullTable, reply: false))))
                }
            }
        }
        let viaPushPull: Bool
        if case .pushPull = incoming.body { viaPushPull = true } else { viaPushPull = false }
        for news in incoming.news { apply(news, from: incoming.sender, viaPushPull: viaPushPull, now: now, &actions) }
        switch incoming.body {
        case .ping(let seq, let target):
            guard target.advertise == local.advertise else {
                misdirected += 1
                break
            }
            actions.append(.send(to: incoming.sender, withNews(.ack(seq: seq))))
        case .pingReq(let seq, let target):
            // Relays expire within a probe interval; past this many at once, more are refused
            // (the asker then counts a missing nack, as for a lost packet).
            guard relays.count < 4096 else { break }
            let mine = takeSeq()
            relays[mine] = Relay(
                requester: incoming.sender, seq: seq, nackAt: now + timing.probeTimeout * 8 / 10,
                expiresAt: now + timing.probeInterval)
            actions.append(.send(to: target, withNews(.ping(seq: mine, target: target))))
        case .ack(let seq):
            if let p = probe, p.seq == seq {
                awareness.apply(-1)
                probe = nil
            } else if let relay = relays.removeValue(forKey: seq) {
                actions.append(.send(to: relay.requester, withNews(.ack(seq: relay.seq))))
            }
        case .nack(let seq):
            if probe?.seq == seq { probe?.nacks += 1 }
        case .pushPull(let table, let reply):
            for news in table { apply(news, from: incoming.sender, viaPushPull: true, now: now, &actions) }
            if !reply { actions.append(.stream(to: incoming.sender, packet(.pushPull(members: fullTable, reply: true)))) }
        case .gossip:
            break
        }
        return actions
    }

    /// The transfers to this joining node are done: it says `alive` at a new incarnation, told
    /// to the others at once; their rings switch to include it.
    public mutating func promote(now: UInt64) -> [GossipAction] {
        guard !leaving, selfState == .joining else { return [] }
        return changeSelf(to: .alive, now: now)
    }

    /// Starts a graceful leave: `leaving` at a new incarnation. The node goes on serving while
    /// it hands over; `leave` ends it.
    public mutating func beginLeave(now: UInt64) -> [GossipAction] {
        guard !leaving, selfState != .leaving else { return [] }
        return changeSelf(to: .leaving, now: now)
    }

    mutating func changeSelf(to state: MemberState, now: UInt64) -> [GossipAction] {
        let previous = selfState
        selfState = state
        incarnation = GossipNode.raised(incarnation)
        let news = selfNews
        members[local.advertise] = KnownMember(news: news, changedAt: now)
        queue.enqueue(news)
        var actions: [GossipAction] = [.changed(MemberChange(news: news, previous: previous, restarted: false))]
        nextGossipAt = now
        gossipRound(now: now, &actions)
        return actions
    }

    /// Leaves on purpose: `left` at a new incarnation, sent to every member at once; the caller
    /// waits a moment for it to go out, then exits. Nothing more is probed or answered.
    public mutating func leave(now: UInt64) -> [GossipAction] {
        guard !leaving else { return [] }
        leaving = true
        incarnation = GossipNode.raised(incarnation)
        let news = selfNews
        members[local.advertise] = KnownMember(news: news, changedAt: now)
        var actions: [GossipAction] = [.changed(MemberChange(news: news, previous: selfState, restarted: false))]
        // In address order (a dictionary's order differs between instances).
        for m in members.values.sorted(by: { $0.news.address < $1.news.address })
        where m.news.identity != local.advertise && (m.state.isLive || m.state == .suspect) {
            actions.append(.send(to: m.news.address, packet(.gossip, news: [news])))
        }
        return actions
    }

    /// The operator's `cluster forget`: drops a member other than this node at once. Whether it
    /// was known.
    public mutating func forget(_ identity: String, _ actions: inout [GossipAction]) -> Bool {
        guard identity != local.advertise, let known = members.removeValue(forKey: identity) else { return false }
        suspicions[identity] = nil
        pushPullAsked[identity] = nil
        queue.remove(identity)
        actions.append(.forgotten(known.news.address))
        return true
    }

    /// The majority and isolation picture at `now`.
    public func health(now: UInt64) -> GossipHealth {
        var known = 0
        var visible = 0
        for m in members.values {
            switch m.state {
            case .alive, .joining, .leaving: known += 1; visible += 1
            case .suspect, .dead: known += 1
            case .left: break
            }
        }
        let others = members.values.contains { $0.news.identity != local.advertise && $0.state != .left }
        let isolated = others && now > lastHeard + suspicionBounds.max
        return GossipHealth(known: known, visible: visible, isolated: isolated)
    }

    /// The shortest and longest suspicion for the cluster as it is now.
    public var suspicionBounds: (min: UInt64, max: UInt64) { timing.suspicionBounds(nodes: estimatedNodes) }

    /// memberlist's `estNumNodes`: every member not gone on purpose.
    var estimatedNodes: Int { members.values.reduce(0) { $0 + ($1.state == .left ? 0 : 1) } }

    /// Every member this node knows, itself included.
    var fullTable: [MemberNews] { members.values.map(\.news).sorted { $0.address < $1.address } }

    /// Incarnations in news above this are refused as implausible (wall-clock milliseconds,
    /// where incarnations start, are about 2^41 today), so a forged or garbled one can never
    /// drive a refutation to overflow.
    public static let maxIncarnation: UInt64 = 1 << 62

    /// One above `value`, never past `maxIncarnation`.
    static func raised(_ value: UInt64) -> UInt64 { min(value, maxIncarnation) + 1 }

    mutating func takeSeq() -> UInt32 {
        nextSeq &+= 1
        return nextSeq
    }

    func packet(_ body: GossipBody, news: [MemberNews] = []) -> GossipPacket {
        GossipPacket(sender: local, senderBoot: bootID, body: body, news: news)
    }

    /// A packet with as much queued news as fits (and, for a ping, `first` before the rest).
    mutating func withNews(_ body: GossipBody, first: MemberNews? = nil) -> GossipPacket {
        var room = timing.maxPacketBytes - GossipCodec.overhead(sender: local, body: body)
        var news: [MemberNews] = []
        if let first {
            news.append(first)
            room -= GossipCodec.encodedSize(first)
        }
        news += queue.take(bytes: room, limit: retransmitLimit)
        return packet(body, news: news)
    }

    var retransmitLimit: Int { GossipTiming.retransmitLimit(multiplier: timing.retransmitMultiplier, nodes: estimatedNodes) }
}
