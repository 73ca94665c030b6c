/// A node's position in one `Ring`: an index into `ring.nodes`.
///
/// Routing answers with an index rather than an address so that asking costs no reference
/// counting; the Server keeps its per-ring tables (peer links, stats) in the same order.
/// Meaningless across rings: when a new ring is swapped in, look indices up again.
public struct NodeIndex: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: Int

    @inlinable public init(_ rawValue: Int) { self.rawValue = rawValue }

    @inlinable public static func < (a: NodeIndex, b: NodeIndex) -> Bool { a.rawValue < b.rawValue }

    public var description: String { "#\(rawValue)" }
}

/// Who owns a key, from the point of view of the node that asks: itself, or another node.
public enum Owner: Equatable, Sendable {
    /// This node owns the key: serve it from local storage.
    case local
    /// Another node owns the key: forward to it.
    case remote(NodeIndex)
}

/// One point on the ring: where it is and whose it is. 8 bytes, kept in one sorted array.
public struct RingPoint: Sendable, Equatable {
    public var hash: UInt32
    /// The node's index in `Ring.nodes`.
    public var node: UInt32

    @inlinable public init(hash: UInt32, node: UInt32) {
        self.hash = hash
        self.node = node
    }
}

/// The nodes that hold a key, the owner first, then the next distinct nodes clockwise.
/// A value with inline storage (no heap), at most `capacity` nodes.
public struct ReplicaSet: RandomAccessCollection, Sendable, Equatable {
    /// The most replicas a set holds (the owner included).
    public static let capacity = 8

    @usableFromInline var storage = SIMD8<Int32>(repeating: -1)
    @usableFromInline var stored = 0

    /// How many nodes the set holds.
    @inlinable public var count: Int { stored }

    @inlinable public init() {}

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { stored }

    @inlinable public subscript(position: Int) -> NodeIndex {
        precondition(position >= 0 && position < stored, "replica index out of range")
        return NodeIndex(Int(storage[position]))
    }

    @inlinable func containsRaw(_ node: Int32) -> Bool {
        for i in 0..<stored where storage[i] == node { return true }
        return false
    }

    @inlinable mutating func append(_ node: Int32) {
        storage[stored] = node
        stored += 1
    }

    /// Adds `node` at the end (at most `capacity` nodes).
    @inlinable public mutating func append(node: NodeIndex) {
        precondition(stored < ReplicaSet.capacity, "a replica set holds at most \(ReplicaSet.capacity) nodes")
        append(Int32(node.rawValue))
    }

    public static func == (a: ReplicaSet, b: ReplicaSet) -> Bool { a.elementsEqual(b) }
}

/// An immutable ketama-style consistent-hash ring: each node's points, sorted, searched by
/// binary search, wrapping at the top.
///
/// Built once per membership change and swapped in whole (never edited in place). Routing a key
/// (`owner(of:)`) hashes it (no allocation with `KetamaMD5`) and binary-searches one contiguous
/// buffer of `RingPoint`s: no allocation, no reference counting, no lock. Any thread may use a
/// ring at the same time.
///
/// Ties between points of different nodes (two names hashing to the same 32-bit point, very
/// rare) go to the node listed first in `nodes`: twemproxy sorts its continuum with glibc's
/// `qsort`, a stable merge sort for these 8-byte entries on Debian 12, over points generated in
/// server-list order, then takes the first point ≥ the hash. `Membership` lists nodes sorted by
/// address, so every node builds the same ring whatever order its seed list was written in.
public final class Ring<Hashing: RingHashing>: @unchecked Sendable {
    // @unchecked: every stored property is immutable after init; `points` is written only in
    // init and freed only in deinit, so sharing the ring between threads is safe.

    /// The ring's nodes; a `NodeIndex` indexes this array.
    public let nodes: [NodeAddress]
    /// This node's index when it is on the ring.
    public let localIndex: NodeIndex?
    /// How keys and nodes are hashed.
    public let hashing: Hashing
    /// Hex MD5 of the sorted ring names (see `Ring.digest(ringNames:)`): peers compare it in
    /// their hello to notice that they route differently.
    public let digest: String

    @usableFromInline let points: UnsafeMutablePointer<RingPoint>
    @usableFromInline let pointCount: Int
    /// `nodes.count`, kept apart so the hot path does not touch the array.
    @usableFromInline let nodeCount: Int
    /// `localIndex?.rawValue ?? -1`, kept unwrapped for the hot path.
    @usableFromInline let localRaw: Int

    /// Builds the ring of `nodes` (in this order; see ties above). `local` is the node that will
    /// ask (`owner(of:)` answers `.local` for its keys); it may be absent from `nodes`, and then
    /// every key is remote. An empty ring is allowed: it answers `.local` for everything (a node
    /// without a cluster serves every key itself).
    public init(nodes: [NodeAddress], local: NodeAddress?, hashing: Hashing) throws(ClusterError) {
        try NodeAddress.checkDistinct(nodes)
        guard nodes.count <= Int(Int32.max) else { throw ClusterError(.tooManyNodes, "too many nodes for one ring") }
        self.nodes = nodes
        self.nodeCount = nodes.count
        self.hashing = hashing
        let localPosition = local.flatMap { l in nodes.firstIndex(where: { $0.advertise == l.advertise }) }
        self.localIndex = localPosition.map(NodeIndex.init)
        self.localRaw = localPosition ?? -1
        self.digest = Ring.digest(ringNames: nodes.map(\.ringName))

        var all: [RingPoint] = []
        for (index, node) in nodes.enumerated() {
            for p in hashing.points(forRingName: node.ringName, nodeCount: nodes.count) {
                all.append(RingPoint(hash: p, node: UInt32(index)))
            }
        }
        all.sort { $0.hash != $1.hash ? $0.hash < $1.hash : $0.node < $1.node }
        pointCount = all.count
        points = UnsafeMutablePointer<RingPoint>.allocate(capacity: max(all.count, 1))
        all.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { points.initialize(from: base, count: source.count) }
        }
    }

    deinit {
        points.deinitialize(count: pointCount)
        points.deallocate()
    }

    /// The hex MD5 of the ring names, sorted, each followed by `\n`. Independent of node order
    /// and of the hashing, so two nodes with the same members agree.
    public static func digest(ringNames: [String]) -> String {
        MD5.hex(ringNames.sorted().map { $0 + "\n" }.joined())
    }

    /// How many points the ring holds (`stats cluster` `ring_points`).
    public var count: Int { pointCount }

    /// The ring's points in order, for tests and diagnostics.
    public var allPoints: [RingPoint] { Array(UnsafeBufferPointer(start: points, count: pointCount)) }

    /// The node at `index`.
    public func node(_ index: NodeIndex) -> NodeAddress { nodes[index.rawValue] }

    /// The index of the node whose identity (`advertise`) matches, if it is on the ring.
    public func index(of address: NodeAddress) -> NodeIndex? {
        nodes.firstIndex(where: { $0.port == address.port && $0.host == address.host }).map(NodeIndex.init)
    }

    /// Whether `index` is this node.
    @inlinable public func isLocal(_ index: NodeIndex) -> Bool { index.rawValue == localRaw }

    // MARK: - Routing (hot path)

    /// Where `key` lands on the ring.
    @inlinable public func hash(key: UnsafeRawBufferPointer) -> UInt32 { hashing.hash(key: key) }

    /// The position in the sorted points of the first point ≥ `hash`, wrapping to 0.
    /// Requires a non-empty ring.
    @inlinable func pointPosition(forHash hash: UInt32) -> Int {
        var low = 0
        var high = pointCount
        while low < high {
            let middle = low &+ (high &- low) &>> 1
            if points[middle].hash < hash { low = middle &+ 1 } else { high = middle }
        }
        return low == pointCount ? 0 : low
    }

    /// The node that owns `hash`, or nil when the ring is empty.
    @inlinable public func ownerIndex(forHash hash: UInt32) -> NodeIndex? {
        guard pointCount > 0 else { return nil }
        return NodeIndex(Int(points[pointPosition(forHash: hash)].node))
    }

    /// The node that owns `key`, or nil when the ring is empty.
    @inlinable public func ownerIndex(of key: UnsafeRawBufferPointer) -> NodeIndex? {
        ownerIndex(forHash: hash(key: key))
    }

    /// Who owns `hash`: this node or which other. `.local` on an empty ring.
    @inlinable public func owner(forHash hash: UInt32) -> Owner {
        guard pointCount > 0 else { return .local }
        let node = Int(points[pointPosition(forHash: hash)].node)
        return node == localRaw ? .local : .remote(NodeIndex(node))
    }

    /// Who owns `key`: this node or which other. `.local` on an empty ring. Allocates nothing.
    @inlinable public func owner(of key: UnsafeRawBufferPointer) -> Owner {
        owner(forHash: hash(key: key))
    }

    // MARK: - Replicas

    /// The owner of `hash` and then the next distinct nodes clockwise: `count` nodes, or every
    /// node when the ring has fewer. Empty on an empty ring. `count` is 1...`ReplicaSet.capacity`.
    @inlinable public func replicas(forHash hash: UInt32, count: Int) -> ReplicaSet {
        precondition(count >= 1 && count <= ReplicaSet.capacity, "replica count must be 1...\(ReplicaSet.capacity)")
        var set = ReplicaSet()
        guard pointCount > 0 else { return set }
        let wanted = min(count, nodeCount)
        var position = pointPosition(forHash: hash)
        var visited = 0
        while set.count < wanted && visited < pointCount {
            let node = Int32(truncatingIfNeeded: points[position].node)
            if !set.containsRaw(node) { set.append(node) }
            position = position &+ 1 == pointCount ? 0 : position &+ 1
            visited &+= 1
        }
        return set
    }

    /// `replicas(forHash:count:)` for a key.
    @inlinable public func replicas(of key: UnsafeRawBufferPointer, count: Int) -> ReplicaSet {
        replicas(forHash: hash(key: key), count: count)
    }
}

/// The ring the Server uses: ketama over MD5, twemproxy-compatible.
public typealias KetamaRing = Ring<KetamaMD5>

extension Ring where Hashing == KetamaMD5 {
    /// A ketama ring (see `Ring.init(nodes:local:hashing:)`).
    public convenience init(nodes: [NodeAddress], local: NodeAddress?) throws(ClusterError) {
        try self.init(nodes: nodes, local: local, hashing: KetamaMD5())
    }
}
