import Cluster
import EventLoop
import Glibc
import Synchronization

/// The node's place in a cluster: who it is in this life, its secret, its limits, the counters
/// of `stats cluster`, and the current `ClusterView`.
///
/// The membership itself belongs to the `MembershipCoordinator` (listener thread), which
/// publishes each new view here and to every worker's mailbox; workers route by the copy they
/// got, never taking a lock per request. Thread-safe: immutable fields, atomics, and a mutex
/// around the current view (read by admin commands and new links, not per request).
final class ClusterState: Sendable {
    let local: NodeAddress
    /// Random per process start: nonces of this life never meet those of another.
    let bootID: UInt64
    /// This life's incarnation: above any of an earlier life (wall-clock milliseconds at start).
    let incarnation: UInt64
    let replicas: Int
    /// `replication = "async"`: writes are answered before their copies are confirmed.
    let replicationAsync: Bool
    /// `partition_policy = "available"`: writes are taken without a majority in sight.
    let partitionAvailable: Bool
    /// Keys per second the repair copies after a death.
    let repairRate: Int
    /// Keys per second a move (join, leave) transfers.
    let transferRate: Int
    /// Milliseconds between anti-entropy rounds; 0: off.
    let antiEntropyIntervalMillis: UInt64
    /// A joining node takes its place after this long even without every transfer.
    let joinTimeoutMillis: UInt64
    /// A leaving node exits after this long even without every transfer.
    let shutdownTimeoutMillis: UInt64
    let peerTimeoutMillis: UInt64
    /// A copy not confirmed in this time fails its write (`replication_timeout`, at most `peer_timeout`).
    let replicationTimeoutMillis: UInt64
    /// Async: copies in flight per link before copies are dropped.
    let replicationQueue: Int
    /// A link whose handshake is not done this long after the connection is closed.
    let handshakeTimeoutMillis: UInt64
    /// Largest peer frame payload accepted.
    let maxFrame: Int
    /// Forwarded requests one client connection may have in flight.
    let maxForwards: Int
    /// Forwarded requests one peer link may have in flight.
    let maxLinkInFlight = 4096
    /// The cluster secret's keys; nil without a secret (loopback peers only).
    let keys: PeerKeys?
    /// The membership the node starts from (seeds and itself); the coordinator takes it over.
    let initialMembership: Membership
    let counters = ClusterCounters()
    let gossipCounters = GossipCounters()
    /// The gossip thread's mailbox (push-pull packets from peer links, leave, forget).
    let gossipInbox = GossipInbox()
    let gossipTiming: GossipTiming
    /// Up while this node, back from a confirmed death, waits for its copies (see the type).
    let returning = ReturningBarrier()
    /// Set when this node, back from a confirmed death, dropped its data to join again, until
    /// it is promoted: keyed reads and owned writes it would serve from its store are refused
    /// (`SERVER_ERROR cluster unavailable`), so no worker still routing by a ring with this node
    /// on it answers from the emptied store.
    let rejoining = Atomic<Bool>(false)
    /// Anti-entropy's summaries of this round and the peers' (see `AntiEntropy`).
    let antiEntropy = AntiEntropyBoard()
    private let current: Mutex<ClusterView>

    init(configuration c: Configuration, environment: [String: String]) throws(ConfigurationError) {
        let advertiseText: String
        if !c.advertise.isEmpty {
            advertiseText = c.advertise
        } else {
            let host = c.listen.first ?? "127.0.0.1"
            if host == "0.0.0.0" || host == "::" || host == "*" || host.isEmpty {
                throw ConfigurationError(
                    "--advertise host:port is required when listening on \(host) with --seeds: peers and clients must know which address reaches this node")
            }
            advertiseText = host.contains(":") ? "[\(host)]:\(c.port)" : "\(host):\(c.port)"
        }
        do throws(ClusterError) {
            // With --peer-port the default (client port + 10000) is never computed: it may not
            // exist for a client port above 55535.
            let withPeer = c.peerPort != 0 && !advertiseText.contains("@") ? "\(advertiseText)@\(c.peerPort)" : advertiseText
            local = try NodeAddress(parsing: withPeer)
        } catch {
            throw ConfigurationError("advertise \(advertiseText): \(error.message)")
        }

        var seeds: [NodeAddress] = []
        do throws(ClusterError) {
            for s in c.seeds { seeds.append(try NodeAddress(parsing: s)) }
            try NodeAddress.checkDistinct(seeds)
        } catch {
            throw ConfigurationError("seeds: \(error.message)")
        }
        // A seed written with another name for this node (`localhost:11311` for 127.0.0.1:11311)
        // is this node.
        let me = local
        let ownAddresses = Set(([me.host] + c.listen).flatMap { Socket.resolveNumeric($0) + [$0] })
        for (i, seed) in seeds.enumerated() where seed.port == me.port && seed.advertise != me.advertise {
            guard Socket.resolveNumeric(seed.host).contains(where: ownAddresses.contains) else { continue }
            // Its peer port, when written, must be ours; unwritten, it is ours.
            if c.seeds[i].contains("@") && seed.peerPort != me.peerPort {
                throw ConfigurationError(
                    "seeds: '\(c.seeds[i])' names this node with peer port \(seed.peerPort), but it listens for peers on \(me.peerPort)")
            }
            seeds[i] = me
        }
        do throws(ClusterError) {
            try NodeAddress.checkDistinct(seeds)
        } catch {
            throw ConfigurationError("seeds: \(error.message) (after recognising this node under another name)")
        }

        var random = SystemRandomNumberGenerator()
        bootID = random.next()
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        incarnation = UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec / 1_000_000)
        do throws(ClusterError) {
            initialMembership = try Membership(local: local, seeds: seeds, localIncarnation: incarnation)
        } catch {
            throw ConfigurationError("seeds: \(error.message)")
        }
        guard c.gossip.probeTimeout < c.gossip.probeInterval else {
            throw ConfigurationError("probe-timeout (\(c.gossip.probeTimeout)ms) must be below probe-interval (\(c.gossip.probeInterval)ms)")
        }
        gossipTiming = c.gossip
        replicas = c.replicas
        replicationAsync = c.replication == .async
        partitionAvailable = c.partitionPolicy == .available
        repairRate = c.repairRate
        transferRate = c.transferRate
        try c.checkCombinations()
        antiEntropyIntervalMillis = UInt64(c.antiEntropyInterval)
        joinTimeoutMillis = UInt64(c.joinTimeout)
        shutdownTimeoutMillis = UInt64(c.shutdownTimeout)
        handshakeTimeoutMillis = max(UInt64(c.peerTimeout), 1000)
        peerTimeoutMillis = UInt64(c.peerTimeout)
        replicationQueue = c.replicationQueue
        replicationTimeoutMillis = UInt64(c.replicationTimeout == 0 ? c.peerTimeout : min(c.replicationTimeout, c.peerTimeout))
        if c.maxFrame > 0 && c.maxFrame < c.maxItemSize + 64 * 1024 {
            throw ConfigurationError(
                "max-frame \(c.maxFrame) is below the item size limit (-I \(c.maxItemSize)) + 64k: a forwarded set of the largest item would not fit")
        }
        maxFrame = c.maxFrame > 0 ? c.maxFrame : c.maxItemSize + 64 * 1024
        maxForwards = c.maxForwards
        keys = try ClusterState.loadSecrets(c, environment: environment)
        if keys == nil && !c.insecurePeers {
            // The listen addresses (the peer port) and this node's own host (gossip's UDP socket).
            let exposed = (c.listen + [local.host]).filter { !ClusterAddresses.isLoopback($0) }
            if !exposed.isEmpty {
                throw ConfigurationError(
                    "the peer port would listen on \(exposed.joined(separator: ", ")), beyond loopback, without a cluster secret: "
                        + "set --cluster-secret-file (or RINGCACHE_CLUSTER_SECRET), or --insecure-peers to run unauthenticated anyway")
            }
        }
        current = Mutex(ClusterView(initialMembership))
    }

    /// The secrets from `cluster_secret_file` (one per line; blank lines and `#` comments
    /// skipped) or `RINGCACHE_CLUSTER_SECRET` (comma-separated), not both. Never logged.
    static func loadSecrets(_ c: Configuration, environment: [String: String]) throws(ConfigurationError) -> PeerKeys? {
        let fromEnvironment = environment["RINGCACHE_CLUSTER_SECRET"]
        var secrets: [String]
        if !c.clusterSecretFile.isEmpty {
            guard fromEnvironment == nil else {
                throw ConfigurationError("both --cluster-secret-file and RINGCACHE_CLUSTER_SECRET are set: use one")
            }
            guard let text = readWholeFile(c.clusterSecretFile) else {
                throw ConfigurationError("cluster-secret-file \(c.clusterSecretFile): cannot read it (\(String(cString: strerror(errno))))")
            }
            secrets = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map { $0.trimmingCharacters() }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            guard !secrets.isEmpty else { throw ConfigurationError("cluster-secret-file \(c.clusterSecretFile) holds no secret") }
        } else if let fromEnvironment {
            secrets = fromEnvironment.split(separator: ",").map { Substring($0).trimmingCharacters() }.filter { !$0.isEmpty }
            guard !secrets.isEmpty else { throw ConfigurationError("RINGCACHE_CLUSTER_SECRET is set but empty") }
        } else {
            return nil
        }
        for (i, s) in secrets.enumerated() where s.utf8.count < 16 {
            throw ConfigurationError("cluster secret \(i + 1) is \(s.utf8.count) bytes; use at least 16 (e.g. `openssl rand -hex 32`)")
        }
        return PeerKeys(secrets: secrets.map { Array($0.utf8) })
    }

    static func readWholeFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > 1 << 20 { return nil }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The port peers connect to.
    var peerPort: Int { Int(local.peerPort) }

    /// The current view (any thread).
    var view: ClusterView { current.withLock { $0 } }

    /// The coordinator publishes a new view.
    func publish(_ view: ClusterView) { current.withLock { $0 = view } }
}

extension Substring {
    func trimmingCharacters() -> String {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}

/// What `stats cluster` reports; updated with relaxed atomics from any thread.
final class ClusterCounters: Sendable {
    /// Retrieval commands (or parts of a split multi-get) sent to their owner.
    let forwardedGets = Atomic<UInt64>(0)
    /// Every other forwarded command.
    let forwardedSets = Atomic<UInt64>(0)
    /// Forwarded commands that failed: the peer did not answer in time or its link was down.
    let forwardErrors = Atomic<UInt64>(0)
    /// Keys of split multi-gets answered as misses because their owner was unavailable.
    let unavailableKeyMisses = Atomic<UInt64>(0)
    /// Request links to peers open now (every worker has one per peer).
    let peerLinksOpen = Atomic<Int>(0)
    /// Peer connections other nodes opened to this one, open now (not client connections).
    let peerConnections = Atomic<Int>(0)
    /// Forwarded requests this node served although its own ring names another owner.
    let ringMismatch = Atomic<UInt64>(0)
    /// Peer hellos whose ring digest differed from ours.
    let helloRingMismatch = Atomic<UInt64>(0)
    /// Links closed because a peer could not prove the cluster secret, or sent a record that did
    /// not authenticate (forged, replayed, reordered, altered, truncated).
    let peerAuthFailures = Atomic<UInt64>(0)
    /// Links closed because what came was not the peer protocol (client text on the peer port,
    /// a bad length, an unknown frame).
    let peerProtocolErrors = Atomic<UInt64>(0)
    /// Times a client connection stopped reading because its forwards (or a link's) were at the limit.
    let forwardBackpressure = Atomic<UInt64>(0)
    /// Answers whose request id this link has not in flight (dropped).
    let unmatchedAnswers = Atomic<UInt64>(0)
    /// Member-list changes this node applied (joins learned, lists merged).
    let membershipChanges = Atomic<UInt64>(0)

    // Replication (see `Replication`).
    /// Writes this node served as owner with copies to make, and copies sent (one per backup).
    let replicatedWrites = Atomic<UInt64>(0)
    let copiesSent = Atomic<UInt64>(0)
    /// Sync writes answered `SERVER_ERROR replica unavailable`: a backup did not confirm.
    let replicationFailures = Atomic<UInt64>(0)
    /// Async copies that did not reach a backup (link down, refused) or were dropped at a full link.
    let replicationAsyncFailures = Atomic<UInt64>(0)
    let replicationDropped = Atomic<UInt64>(0)
    /// Copies this node received and stored (newer), and those it already had or held newer.
    let copiesApplied = Atomic<UInt64>(0)
    let copiesKept = Atomic<UInt64>(0)
    /// Copies refused: from a node that holds no copy of the key in our view, or with an
    /// older epoch (fencing); with a clock too far ahead; not storable (memory, size).
    let copiesFenced = Atomic<UInt64>(0)
    let copiesClockSkew = Atomic<UInt64>(0)
    let copiesNotStored = Atomic<UInt64>(0)
    /// Forwarded writes refused here because this node does not own the key, and the ones
    /// this node had refused by a peer (each retried once).
    let notOwnerRefusals = Atomic<UInt64>(0)
    let notOwnerAnswered = Atomic<UInt64>(0)
    /// Writes refused because this node sees no majority (`SERVER_ERROR cluster unavailable`),
    /// and reads served then (possibly stale).
    let minorityWriteRefusals = Atomic<UInt64>(0)
    /// Owned writes refused while this node, back from a confirmed death, waited for its copies.
    let returningWriteRefusals = Atomic<UInt64>(0)
    let minorityReads = Atomic<UInt64>(0)
    /// The repair after a death (`Repair`): keys still to walk plus copies in flight, keys
    /// copied and their bytes, passes started.
    let repairPending = Atomic<Int>(0)
    let repairedKeys = Atomic<UInt64>(0)
    let repairedBytes = Atomic<UInt64>(0)
    let repairPasses = Atomic<UInt64>(0)
    /// Moves (join, leave): keys still to walk plus copies in flight, keys sent to new holders
    /// and their bytes, passes started; moves this node completed as the moving member.
    let transferPending = Atomic<Int>(0)
    let transferredKeys = Atomic<UInt64>(0)
    let transferredBytes = Atomic<UInt64>(0)
    let transferPasses = Atomic<UInt64>(0)
    let joinsCompleted = Atomic<UInt64>(0)
    let joinTimeouts = Atomic<UInt64>(0)
    let leaveTimeouts = Atomic<UInt64>(0)
    /// Anti-entropy: rounds walked, rounds skipped (a move or a repair ran, the ring changed),
    /// digests sent and received and their bytes, digests dropped (stale round, other ring),
    /// buckets found differing, keys shipped to repair them and their bytes, the last walk's
    /// milliseconds, keys still to ship.
    let antiEntropyRounds = Atomic<UInt64>(0)
    let antiEntropySkipped = Atomic<UInt64>(0)
    let digestsSent = Atomic<UInt64>(0)
    let digestBytesSent = Atomic<UInt64>(0)
    let digestsReceived = Atomic<UInt64>(0)
    let digestBytesReceived = Atomic<UInt64>(0)
    let digestsDropped = Atomic<UInt64>(0)
    let bucketsDiffering = Atomic<UInt64>(0)
    let antiEntropyKeys = Atomic<UInt64>(0)
    let antiEntropyBytes = Atomic<UInt64>(0)
    let antiEntropyWalkMillis = Atomic<UInt64>(0)
    let antiEntropyPending = Atomic<Int>(0)
    /// Entries dropped when this node came back from a confirmed death (it joins again, empty).
    let rejoinDiscarded = Atomic<UInt64>(0)
    /// Copies dropped because this node no longer holds their key (after a node came onto the ring).
    let copiesDiscarded = Atomic<UInt64>(0)
    /// Reads (or parts of split reads) asked again of the next holder because their node failed.
    let readFailovers = Atomic<UInt64>(0)
    /// Milliseconds the last sync write waited for its backups (replication lag).
    let lastReplicationMillis = Atomic<UInt64>(0)
}

/// A node the others declared dead (with a majority) comes back with data that may be old: it
/// takes no writes as owner until every other live member has handed its copies back
/// (`handoffDone` after its repair pass), or until a time limit, whichever comes first. Until
/// then `Replication.refusal` answers its owned writes `SERVER_ERROR cluster unavailable`, so no
/// `incr` or `cas` acts on an old value. Thread-safe: an atomic for the per-write check, a
/// mutex for the rest.
final class ReturningBarrier: Sendable {
    private let active = Atomic<Bool>(false)
    private let state = Mutex<(until: UInt64, done: Set<String>, needed: Set<String>?)>((0, [], nil))

    /// Raises (or raises again) the barrier at `now` (monotonic ms); returns its time limit in
    /// ms: 10 s, or three times what walking `entries` keys at `rate` per second takes.
    func begin(now: UInt64, entries: Int, rate: Int) -> UInt64 {
        begin(now: now, limit: max(10_000, UInt64(3 * entries / max(1, rate)) * 1000))
    }

    /// Raises the barrier for at most `limit` ms (a joined node waits for every member to have
    /// switched its ring: they say so as they do).
    /// `needed`: the members whose word lets it fall (else: every alive member at the time).
    @discardableResult
    func begin(now: UInt64, limit: UInt64, needed: Set<String>? = nil) -> UInt64 {
        state.withLock { $0 = (now + limit, [], needed) }
        active.store(true, ordering: .relaxed)
        return limit
    }

    /// Is the barrier up at `now`? It falls by itself at its time limit.
    func holds(now: UInt64) -> Bool {
        guard active.load(ordering: .relaxed) else { return false }
        let expired = state.withLock { now > $0.until }
        if expired { active.store(false, ordering: .relaxed) }
        return !expired
    }

    /// `member` finished handing its copies back. True when that was the last one `needed`
    /// (the barrier falls now).
    func handedOver(by member: String, needed: Set<String>) -> Bool {
        guard active.load(ordering: .relaxed) else { return false }
        let complete = state.withLock { s -> Bool in
            s.done.insert(member)
            return (s.needed ?? needed).isSubset(of: s.done)
        }
        if complete { active.store(false, ordering: .relaxed) }
        return complete
    }
}
