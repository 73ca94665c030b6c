/// A member's state, as SWIM (with Lifeguard) will drive it.
public enum MemberState: String, Sendable, CaseIterable {
    /// Answers probes; on the ring.
    case alive
    /// Missed probes, not yet declared dead; still on the ring (it keeps its keys until death
    /// is confirmed, reads fail over meanwhile).
    case suspect
    /// Declared dead; off the ring.
    case dead
    /// Left on purpose (SIGTERM); off the ring.
    case left
    /// Receiving the data it will own; not on the ring yet (the re-sync issue's join: every
    /// write for the ranges it will hold is also copied to it, and the others transfer what
    /// they hold, before the ring switches to include it).
    case joining
    /// Handing what it owns or backs up to the members that take it over (SIGTERM); still on
    /// the ring, serving and replicating, until the ring switches without it.
    case leaving

    /// Whether a member in this state owns keys.
    public var isOnRing: Bool { self == .alive || self == .suspect || self == .leaving }

    /// Whether a member in this state answers probes and takes part in gossip: alive, or moving
    /// onto or off the ring.
    public var isLive: Bool { self == .alive || self == .joining || self == .leaving }
}

/// One member: its addresses, its state and the incarnation number that orders news about it.
public struct Member: Sendable, Hashable {
    public var address: NodeAddress
    public var state: MemberState
    /// Raised only by the member itself, to refute a suspicion; newer news has a higher one.
    public var incarnation: UInt64
    /// Whether it owns keys: alive and suspect members do, and so does a member declared dead
    /// by a side that saw no majority (that death is shown but moves no ownership).
    public var holdsKeys: Bool

    public init(address: NodeAddress, state: MemberState = .alive, incarnation: UInt64 = 0, holdsKeys: Bool? = nil) {
        self.address = address
        self.state = state
        self.incarnation = incarnation
        self.holdsKeys = holdsKeys ?? state.isOnRing
    }
}

/// The cluster's members as this node sees them, the membership epoch, and the rings that
/// follow from them.
///
/// Built from the seed list: every seed alive at incarnation 0, and this node, added if the
/// seeds do not name it (a new node introduces itself in its hellos and the others add it).
/// Changes arrive through `apply(_:)` (one member's news) and `merge(_:epoch:)` (a peer's list);
/// after one that returns true the owner builds a new `ClusterView` and publishes it. A value
/// type owned by one thread (the membership coordinator), which publishes views, never itself.
///
/// The epoch is a Lamport clock over membership changes: a node raises it to the highest it sees
/// (`observe`) and adds one for each change it originates (`apply` of news it made, or learned
/// first hand). Two nodes at the same epoch normally hold the same members; a frame from a higher
/// epoch tells the receiver to catch up.
public struct Membership: Sendable {
    /// This node.
    public let local: NodeAddress
    /// Every member, this node included, sorted by address (`NodeAddress` order).
    public private(set) var members: [Member]
    /// The membership epoch (see the type's documentation).
    public private(set) var epoch: UInt64 = 0

    /// The members are the seeds (in any order, no duplicates), all alive at incarnation 0, plus
    /// this node if no seed names it. A seed that names this node (`advertise`) must give the
    /// same peer port.
    public init(local: NodeAddress, seeds: [NodeAddress], localIncarnation: UInt64 = 0) throws(ClusterError) {
        try NodeAddress.checkDistinct(seeds)
        var all = seeds
        if let mine = seeds.first(where: { $0.advertise == local.advertise }) {
            guard mine.peerPort == local.peerPort else {
                throw ClusterError(
                    .peerPortMismatch,
                    "the seeds give \(local.advertise) peer port \(mine.peerPort) but this node's peer port is \(local.peerPort)")
            }
        } else {
            all.append(local)
            try NodeAddress.checkDistinct(all)
        }
        self.local = local
        self.members = all.sorted().map { Member(address: $0, incarnation: $0.advertise == local.advertise ? localIncarnation : 0) }
    }

    /// The member with this identity.
    public func member(_ address: NodeAddress) -> Member? {
        members.first(where: { $0.address.advertise == address.advertise })
    }

    /// The addresses of the members that own keys (alive, suspect or leaving), sorted.
    public var ringNodes: [NodeAddress] { members.filter(\.holdsKeys).map(\.address) }

    /// While members join or leave: the ring nodes once the moves are done (the joining members
    /// added, the leaving ones taken away), sorted; nil when nothing moves.
    public var futureRingNodes: [NodeAddress]? {
        guard members.contains(where: { $0.state == .joining || $0.state == .leaving }) else { return nil }
        return members.filter { ($0.holdsKeys && $0.state != .leaving) || $0.state == .joining }.map(\.address)
    }

    /// The ring of the members that own keys, seen from this node.
    public func makeRing<Hashing: RingHashing>(hashing: Hashing) -> Ring<Hashing> {
        // Members are distinct by construction (init checks, apply merges by identity), so
        // building cannot fail.
        do {
            return try Ring(nodes: ringNodes, local: local, hashing: hashing)
        } catch {
            preconditionFailure("membership holds conflicting nodes: \(error)")
        }
    }

    /// The ketama ring of the members that own keys.
    public func makeRing() -> KetamaRing { makeRing(hashing: KetamaMD5()) }

    /// The digest the ring of the current members has (`Ring.digest`), without building it.
    public var ringDigest: String { Ring<KetamaMD5>.digest(ringNames: ringNodes.map(\.ringName)) }

    /// Raises the epoch to a peer's, if it is higher (a Lamport clock receiving a message).
    public mutating func observe(epoch theirs: UInt64) {
        if theirs > epoch { epoch = theirs }
    }

    /// Takes a peer's member list and epoch: each member through `apply`'s precedence, the
    /// epoch raised to theirs. The changes are theirs, so the epoch does not count them again.
    /// Returns whether the members changed.
    @discardableResult
    public mutating func merge(_ theirs: [Member], epoch: UInt64) -> Bool {
        var changed = false
        // News about this node itself is this node's to make (the gossip issue refutes with it).
        for m in theirs where m.address.advertise != local.advertise {
            if applyNews(m) { changed = true }
        }
        observe(epoch: epoch)
        return changed
    }

    /// Takes the whole member list from gossip, which owns membership once it runs: members
    /// it forgot leave. A change of the ring (a member joins, dies with a majority, leaves)
    /// counts one change of the epoch; a state or incarnation alone (a suspicion, a refutation)
    /// does not, so every node counts the same changes and their epochs agree. A member whose
    /// ring name another already has is left out (two ring nodes would become one). Whether
    /// the list changed.
    @discardableResult
    public mutating func adopt(_ list: [Member]) -> Bool {
        // This node first: a member whose ring name it has is the one left out.
        let mine = list.first { $0.address.advertise == local.advertise } ?? Member(address: local)
        var adopted: [Member] = [mine]
        var names: Set<String> = [local.ringName]
        for m in list where m.address.advertise != local.advertise && names.insert(m.address.ringName).inserted {
            adopted.append(m)
        }
        adopted.sort { $0.address < $1.address }
        guard adopted != members else { return false }
        let ringBefore = ringNodes
        members = adopted
        if ringNodes != ringBefore && epoch < .max { epoch += 1 }
        return true
    }

    /// Takes news about a member that this node originates or learned first hand (a node
    /// introduced itself in a hello): on a change the epoch counts one more.
    @discardableResult
    public mutating func apply(_ news: Member) -> Bool {
        guard applyNews(news) else { return false }
        // Saturating: a peer's epoch is taken as it comes (`observe`), and must never trap here.
        if epoch < .max { epoch += 1 }
        return true
    }

    /// SWIM's precedence: news with a higher incarnation replaces what we know; at the same
    /// incarnation only a "worse" state does (alive < suspect < dead/left), and `joining` →
    /// `alive` is the join completing. An unknown member is added. Whether anything changed.
    mutating func applyNews(_ news: Member) -> Bool {
        guard let i = members.firstIndex(where: { $0.address.advertise == news.address.advertise }) else {
            // A newcomer whose ring name another member has (`[::1]:1` and `[::1:1]:11211` both
            // hash as `::1:1`) would make two ring nodes one: refused, as at start.
            guard !members.contains(where: { $0.address.ringName == news.address.ringName }) else { return false }
            members.append(news)
            members.sort { $0.address < $1.address }
            return true
        }
        let known = members[i]
        let newer: Bool
        if news.incarnation != known.incarnation {
            newer = news.incarnation > known.incarnation
        } else {
            newer = Membership.rank(news.state) > Membership.rank(known.state)
        }
        guard newer, news != known else { return false }
        members[i] = news
        return true
    }

    /// Order of states at one incarnation: later wins.
    static func rank(_ state: MemberState) -> Int {
        switch state {
        case .joining: return 0
        case .alive, .leaving: return 1
        case .suspect: return 2
        case .dead, .left: return 3
        }
    }
}

/// One published state of the cluster, as every worker routes by it: the epoch, the members
/// and the ring of those that own keys. Immutable and replaced whole on every change (never
/// edited in place); any thread may hold and read it.
public final class ClusterView: Sendable {
    public let epoch: UInt64
    public let local: NodeAddress
    public let members: [Member]
    public let ring: KetamaRing
    /// Every member's node id (`NodeIDs`), by identity.
    public let nodeIDs: [String: UInt16]
    /// While members join or leave: the ring once they have (see `Membership.futureRingNodes`).
    /// Writes are copied to the holders of both rings, and transfers fill the new holders.
    public let futureRing: KetamaRing?

    public init(_ membership: Membership) {
        epoch = membership.epoch
        local = membership.local
        members = membership.members
        ring = membership.makeRing()
        nodeIDs = NodeIDs.assign(membership.members.map(\.address.advertise))
        // Distinct by construction, as the ring's nodes are.
        futureRing = membership.futureRingNodes.map { nodes in
            do {
                return try KetamaRing(nodes: nodes, local: membership.local)
            } catch {
                preconditionFailure("membership holds conflicting nodes: \(error)")
            }
        }
    }

    /// The members moving onto or off the ring.
    public var moving: [Member] { members.filter { $0.state == .joining || $0.state == .leaving } }

    /// This node's id in the versions it issues.
    public var localNodeID: UInt16 { nodeIDs[local.advertise] ?? NodeIDs.hash(local.advertise) }

    /// The member with this identity (`advertise`).
    public func member(_ advertise: String) -> Member? { members.first { $0.address.advertise == advertise } }
}

/// Node ids for versions: 16 bits from a hash of the identity (`host:port`), so a node keeps its
/// id across restarts and every node computes the same ids from the same members. Two members
/// whose hashes collide: the later one in identity order takes the next free id. 0 is never
/// given (it marks versions of a standalone node).
public enum NodeIDs {
    /// FNV-1a of the identity, folded to 16 bits.
    public static func hash(_ identity: String) -> UInt16 {
        var h: UInt32 = 2_166_136_261
        for byte in identity.utf8 {
            h ^= UInt32(byte)
            h = h &* 16_777_619
        }
        let folded = UInt16(truncatingIfNeeded: h >> 16) ^ UInt16(truncatingIfNeeded: h)
        return folded == 0 ? 1 : folded
    }

    public static func assign(_ identities: [String]) -> [String: UInt16] {
        var taken = Set<UInt16>()
        var ids: [String: UInt16] = [:]
        for identity in identities.sorted() {
            var id = hash(identity)
            while taken.contains(id) { id = id == UInt16.max ? 1 : id + 1 }
            taken.insert(id)
            ids[identity] = id
        }
        return ids
    }
}
