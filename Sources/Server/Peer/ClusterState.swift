import Cluster
import Synchronization

/// The node's place in a cluster: who it is, the members, the ring every worker routes by, and
/// the counters of `stats cluster`.
///
/// Membership comes from the configuration (`--seeds`) for now; gossip will later drive
/// `Membership` and hand workers each new ring. Immutable apart from the atomic counters, so
/// any thread may read it.
final class ClusterState: Sendable {
    let local: NodeAddress
    let membership: Membership
    let ring: KetamaRing
    let replicas: Int
    let peerTimeoutMillis: UInt64
    let counters = ClusterCounters()

    init(configuration c: Configuration) throws(ConfigurationError) {
        let seeds: [NodeAddress]
        do throws(ClusterError) {
            seeds = try c.seeds.map { (s: String) throws(ClusterError) -> NodeAddress in try NodeAddress(parsing: s) }
        } catch {
            throw ConfigurationError("seeds: \(error.message)")
        }
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
            membership = try Membership(local: local, seeds: seeds)
        } catch {
            throw ConfigurationError("advertise \(advertiseText): \(error.message)")
        }
        ring = membership.makeRing()
        replicas = c.replicas
        peerTimeoutMillis = UInt64(c.peerTimeout)
    }

    /// The port peers connect to.
    var peerPort: Int { Int(local.peerPort) }
}

/// What `stats cluster` reports; updated by workers with relaxed atomics.
final class ClusterCounters: Sendable {
    /// Retrieval commands (or parts of a split multi-get) sent to their owner.
    let forwardedGets = Atomic<UInt64>(0)
    /// Every other forwarded command.
    let forwardedSets = Atomic<UInt64>(0)
    /// Forwarded commands that failed: the peer did not answer in time or its link was down.
    let forwardErrors = Atomic<UInt64>(0)
    /// Keys of split multi-gets answered as misses because their owner was unavailable.
    let unavailableKeyMisses = Atomic<UInt64>(0)
    /// Peer links open now (every worker has one per peer).
    let peerLinksOpen = Atomic<Int>(0)
    /// Forwarded requests this node served although its own ring names another owner.
    let ringMismatch = Atomic<UInt64>(0)
    /// Peer hellos whose ring digest differed from ours.
    let helloRingMismatch = Atomic<UInt64>(0)
}
