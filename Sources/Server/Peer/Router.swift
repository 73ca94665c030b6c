import Glibc
import Cluster
import TextProtocol

/// Where a client's command goes in a cluster.
enum RouteDecision {
    /// Serve it here.
    case local
    /// A write whose key this node owns: serve it here, then copy it to the key's backups.
    case ownedWrite
    /// Send the command's bytes as they are to the owner.
    case forward(NodeIndex)
    /// A multi-key retrieval whose keys have several owners.
    case split
    /// `flush_all`: here and on every other node.
    case broadcast
    /// `cluster …` or `stats cluster`: answered by this node about the cluster.
    case admin
}

/// Decides, per command, who serves it: pure routing over the worker's ring snapshot.
///
/// A key is hashed as the store sees it: the bytes of a base64 (`b`) meta key are decoded first.
/// Only for client connections; a peer session never forwards.
struct Router {
    let ring: KetamaRing
    /// Copies of every key (owner included); 1: no backups.
    let replicas: Int

    /// Ring nodes that are suspect: reads of their keys go to the next holder at once.
    let avoided: [Bool]

    /// While members join or leave, the ring once they have (`ClusterView.futureRing`); each
    /// future node's index in `ring`, or -1 for a joining node.
    let future: KetamaRing?
    private let futureInRing: [Int32]

    init(ring: KetamaRing, replicas: Int = 1, suspects: Set<String> = [], future: KetamaRing? = nil) {
        self.ring = ring
        self.replicas = min(replicas, ReplicaSet.capacity)
        self.avoided = ring.nodes.map { suspects.contains($0.advertise) }
        self.future = future
        self.futureInRing = future?.nodes.map { node in ring.index(of: node).map { Int32($0.rawValue) } ?? -1 } ?? []
    }

    /// The key's holders on the future ring that are not among `holders` (its holders now): the
    /// members a move makes new holders of the key. In future-ring indices; empty when nothing
    /// moves.
    func newHolders(of key: UnsafeRawBufferPointer, besides holders: ReplicaSet) -> ReplicaSet {
        guard let future else { return ReplicaSet() }
        var extra = ReplicaSet()
        for f in future.replicas(of: key, count: replicas) {
            let now = futureInRing[f.rawValue]
            if now >= 0 && holders.contains(NodeIndex(Int(now))) { continue }
            extra.append(node: f)
        }
        return extra
    }

    /// Whether this node will hold `key` once the moves are done.
    func willHoldHere(_ key: UnsafeRawBufferPointer) -> Bool {
        guard let future else { return false }
        return future.replicas(of: key, count: replicas).contains(where: future.isLocal)
    }

    /// Whether `sender` (a node of the future ring) will hold `key` once the moves are done.
    func willHold(_ key: UnsafeRawBufferPointer, _ sender: NodeIndex) -> Bool {
        guard let future else { return false }
        return future.replicas(of: key, count: replicas).contains(sender)
    }

    @inline(__always) func isAvoided(_ node: NodeIndex) -> Bool { avoided[node.rawValue] }

    /// Where a read of `key` goes: its owner, or when the owner is suspect (or `excluding`, a
    /// node whose link just failed) the next holder that is not; nil when no other holder is
    /// left (one copy only).
    func readOwner(of key: UnsafeRawBufferPointer, excluding: String? = nil) -> Owner? {
        let holders = holders(of: key)
        var fallback: Owner?
        for holder in holders {
            if let excluding, ring.node(holder).advertise == excluding { continue }
            let owner: Owner = ring.isLocal(holder) ? .local : .remote(holder)
            if !isAvoided(holder) { return owner }
            if fallback == nil { fallback = owner }
        }
        return fallback
    }

    /// Does anything get copied (more than one copy and another node to hold it, or a move
    /// that makes new holders)?
    var replicates: Bool { (replicas > 1 && ring.nodes.count > 1) || future != nil }

    func decide(_ command: Command, _ bytes: UnsafeRawBufferPointer) -> RouteDecision {
        switch command {
        case .retrieve(let r):
            var keys = KeyIterator(bytes, r.keys)
            guard let first = keys.next() else { return .local }
            let owner = ring.owner(of: slice(bytes, first))
            if case .remote(let node) = owner, replicates, isAvoided(node), !r.kind.touches { return .split }
            while let k = keys.next() {
                let other = ring.owner(of: slice(bytes, k))
                if other != owner { return .split }
            }
            return decision(owner, command, bytes)
        case .store(let s):
            return decision(ring.owner(of: slice(bytes, s.key)), command, bytes)
        case .delete(let key, _), .arithmetic(_, let key, _, _), .touch(let key, _, _):
            return decision(ring.owner(of: slice(bytes, key)), command, bytes)
        case .metaGet(let m), .metaSet(let m), .metaDelete(let m), .metaArithmetic(let m):
            guard let owner = owner(ofKey: m.key, base64: m.flags.has(UInt8(ascii: "b")), bytes) else { return .local }
            if case .remote(let node) = owner, replicates, isAvoided(node), case .metaGet = command, !Router.isWrite(command) {
                // A read of a suspect owner's key: the next holder serves it.
                var target: Owner?
                Replication.forEachKey(command, bytes) { key in target = readOwner(of: key) }
                if let target { return decision(target, command, bytes) }
            }
            return decision(owner, command, bytes)
        case .metaDebug(let key, let base64):
            guard let owner = owner(ofKey: key, base64: base64, bytes) else { return .local }
            return decision(owner, command, bytes)
        case .flushAll:
            return .broadcast
        case .cluster:
            return .admin
        case .stats(let args):
            var tokens = KeyIterator(bytes, args)
            if let first = tokens.next(), equals(bytes, first, "cluster") { return .admin }
            return .local
        case .version, .verbosity, .quit, .metaNoop, .cacheMemlimit, .shutdown, .admin:
            return .local
        }
    }

    /// On the peer port: does our ring agree that this node owns the command's (first) key?
    func isOwnedHere(_ command: Command, _ bytes: UnsafeRawBufferPointer) -> Bool {
        switch decide(command, bytes) {
        case .forward, .split: return false
        case .local, .ownedWrite, .broadcast, .admin: return true
        }
    }

    @inline(__always)
    func decision(_ owner: Owner, _ command: Command, _ bytes: UnsafeRawBufferPointer) -> RouteDecision {
        switch owner {
        case .local: return Router.isWrite(command) ? .ownedWrite : .local
        case .remote(let index): return .forward(index)
        }
    }

    /// Commands that change an item: every store, delete, arithmetic and touch, `gat`/`gats`,
    /// and `mg` with `T` (touch) or `N` (may create it).
    @inline(__always)
    static func isWrite(_ command: Command) -> Bool {
        switch command {
        case .store, .delete, .arithmetic, .touch, .metaSet, .metaDelete, .metaArithmetic: return true
        case .retrieve(let r): return r.kind.touches
        case .metaGet(let m): return m.flags.has(UInt8(ascii: "T")) || m.flags.has(UInt8(ascii: "N"))
        default: return false
        }
    }

    /// The key's holders in ring order (owner first): `replicas` distinct nodes.
    func holders(of key: UnsafeRawBufferPointer) -> ReplicaSet { ring.replicas(of: key, count: replicas) }

    /// The owner of a meta key; nil when a base64 key does not decode (the executor answers the error).
    func owner(ofKey key: Span, base64: Bool, _ bytes: UnsafeRawBufferPointer) -> Owner? {
        let raw = slice(bytes, key)
        guard base64 else { return ring.owner(of: raw) }
        return withUnsafeTemporaryAllocation(byteCount: Base64.decodedCapacity(raw.count) + 3, alignment: 1) { out in
            guard let n = Base64.decode(raw, into: out.baseAddress!), n > 0 else { return nil }
            return ring.owner(of: UnsafeRawBufferPointer(start: out.baseAddress, count: n))
        }
    }
}

@inline(__always)
func slice(_ bytes: UnsafeRawBufferPointer, _ span: Span) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(rebasing: bytes[span.start..<span.end])
}

func equals(_ bytes: UnsafeRawBufferPointer, _ span: Span, _ text: StaticString) -> Bool {
    guard span.count == text.utf8CodeUnitCount else { return false }
    return memcmp(bytes.baseAddress! + span.start, text.utf8Start, span.count) == 0
}
