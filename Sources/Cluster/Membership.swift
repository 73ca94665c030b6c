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
    /// Receiving the data it will own; not on the ring yet.
    case joining

    /// Whether a member in this state owns keys.
    public var isOnRing: Bool { self == .alive || self == .suspect }
}

/// One member: its addresses, its state and the incarnation number that orders news about it.
public struct Member: Sendable, Hashable {
    public var address: NodeAddress
    public var state: MemberState
    /// Raised only by the member itself, to refute a suspicion; newer news has a higher one.
    public var incarnation: UInt64

    public init(address: NodeAddress, state: MemberState = .alive, incarnation: UInt64 = 0) {
        self.address = address
        self.state = state
        self.incarnation = incarnation
    }
}

/// The cluster's members as this node sees them, and the rings that follow from them.
///
/// For now it is static: built from the seed list, everyone alive at incarnation 0, so every node
/// builds the same ring from its configuration alone. Gossip will drive it later through
/// `apply(_:)`; after any change that returns true the caller builds a new ring (`makeRing`) and
/// swaps it in. A value type owned by one thread (later: the gossip thread), which publishes
/// rings, never the membership itself.
public struct Membership: Sendable {
    /// This node.
    public let local: NodeAddress
    /// Every member, this node included, sorted by address (`NodeAddress` order).
    public private(set) var members: [Member]

    /// The members are exactly the seeds (in any order, no duplicates), all alive at incarnation
    /// 0; this node must be one of them, matched by `advertise`, with the same peer port.
    public init(local: NodeAddress, seeds: [NodeAddress]) throws(ClusterError) {
        try NodeAddress.checkDistinct(seeds)
        guard let mine = seeds.first(where: { $0.advertise == local.advertise }) else {
            let list = seeds.map(\.advertise).joined(separator: ",")
            throw ClusterError(
                .notInSeeds,
                "this node's advertise address \(local.advertise) is not among the seeds (\(list)); "
                    + "add it, or set --advertise to the address the seeds use for this node")
        }
        guard mine.peerPort == local.peerPort else {
            throw ClusterError(
                .peerPortMismatch,
                "the seeds give \(local.advertise) peer port \(mine.peerPort) but this node's peer port is \(local.peerPort)")
        }
        self.local = local
        self.members = seeds.sorted().map { Member(address: $0) }
    }

    /// The member with this identity.
    public func member(_ address: NodeAddress) -> Member? {
        members.first(where: { $0.address.advertise == address.advertise })
    }

    /// The addresses of the members that own keys (alive or suspect), sorted.
    public var ringNodes: [NodeAddress] { members.filter { $0.state.isOnRing }.map(\.address) }

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

    /// Takes news about a member (SWIM's precedence): news with a higher incarnation replaces
    /// what we know; at the same incarnation only a "worse" state does (alive < suspect <
    /// dead/left), and `joining` → `alive` is the join completing. An unknown member is added.
    /// Returns whether anything changed, i.e. whether a new ring may be due.
    @discardableResult
    public mutating func apply(_ news: Member) -> Bool {
        guard let i = members.firstIndex(where: { $0.address.advertise == news.address.advertise }) else {
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
        case .alive: return 1
        case .suspect: return 2
        case .dead, .left: return 3
        }
    }
}
