import Cluster

/// Every setting of a node, with memcached's defaults where they overlap.
///
/// Built once at start from defaults, then the TOML file (`--config`), then command-line flags,
/// in that order; `OptionTable` is the single list that drives all three and `--print-config`.
public struct Configuration: Sendable, Equatable {
    /// TCP port for clients (-p).
    public var port: Int = 11211
    /// Addresses to listen on (-l); IPv4 or IPv6 literals or names.
    public var listen: [String] = ["127.0.0.1"]
    /// Worker threads (-t).
    public var threads: Int = 4
    /// Item memory limit in megabytes (-m).
    public var memoryLimit: Int = 64
    /// Simultaneous client connections (-c).
    public var connLimit: Int = 1024
    /// Largest item, header included, in bytes (-I).
    public var maxItemSize: Int = 1 << 20
    /// Answer an error instead of evicting when memory is full (-M).
    public var disableEvictions: Bool = false
    /// 0 quiet, 1 connections, 2 commands (-v, -vv).
    public var verbose: Int = 0
    /// Run in the background (-d).
    public var daemonize: Bool = false
    /// Drop root privileges to this user (-u).
    public var user: String = ""
    /// Write the process id here (-P).
    public var pidfile: String = ""
    /// UDP port; only 0 (off) is accepted (-U).
    public var udpPort: Int = 0
    /// Listen on this unix socket instead of TCP (-s).
    public var unixSocket: String = ""
    /// Permission bits of the unix socket, octal (-a).
    public var unixMask: Int = 0o700
    /// A connection whose unsent answers exceed this many bytes is closed.
    public var maxOutputBuffer: Int = 16 << 20
    /// Pending connections the kernel may queue (-b).
    public var listenBacklog: Int = 1024
    /// Allow the `shutdown` command (-A).
    public var enableShutdown: Bool = false
    /// Refuse `flush_all` with memcached's `CLIENT_ERROR flush_all not allowed` (-F).
    public var disableFlushAll: Bool = false
    /// Issue no CAS uniques: every CAS a client sees is 0, as with memcached's -C (-C).
    public var disableCas: Bool = false
    /// Refuse `stats cachedump` and `lru_crawler metadump` (-X).
    public var disableDumping: Bool = false
    /// Refuse `watch` (live logging) (-W).
    public var disableWatch: Bool = false
    /// memcached's -D: per-prefix statistics (`stats detail`) are on from the start and a key's
    /// prefix ends at this character. Empty: off until `stats detail on`, prefixes end at `:`.
    public var prefixDelimiter: String = ""
    /// How often the background sweep looks for expired items, in milliseconds (a bare number in
    /// a flag or the file is milliseconds too).
    public var sweepInterval: Int = 100
    /// Striped-lock count of the hash table (power of two).
    public var storageStripes: Int = 64
    /// The cluster's members as `host:port[@peerport]`; empty for a standalone node.
    public var seeds: [String] = []
    /// This node's `host:port` as peers and clients reach it; empty: the first listen address
    /// and the client port.
    public var advertise: String = ""
    /// Port for peer traffic, on the listen addresses; 0: the client port + 10000.
    public var peerPort: Int = 0
    /// Copies of every key: the owner plus replicas - 1 backups.
    public var replicas: Int = 2
    /// `sync`: a write is answered once every backup holds it; `async`: at once, copies follow.
    public var replication: ReplicationMode = .sync
    /// `majority`: a node that sees no majority refuses writes; `available`: it takes them.
    public var partitionPolicy: PartitionPolicy = .majority
    /// Milliseconds a deleted key's tombstone is kept (cluster only).
    public var tombstoneTTL: Int = 60_000
    /// Milliseconds a received version may be ahead of this node's wall clock.
    public var maxClockSkew: Int = 1000
    /// Async: copies in flight per peer link (each worker's); past it a copy is dropped and counted.
    public var replicationQueue: Int = 4096
    /// Milliseconds a sync write waits for its backups; 0: `peer_timeout`.
    public var replicationTimeout: Int = 0
    /// Keys per second re-replicated after a death (background).
    public var repairRate: Int = 20_000
    /// Keys per second a node transfers to members joining or taking over from a leaving one.
    public var transferRate: Int = 50_000
    /// Milliseconds between anti-entropy rounds (replicas compare digests and repair what
    /// differs); 0: off. At most half of `tombstone_ttl`.
    public var antiEntropyInterval: Int = 20_000
    /// Milliseconds a joining node waits for its transfers before it takes its place anyway.
    public var joinTimeout: Int = 60_000
    /// Milliseconds a leaving node (SIGTERM) hands over before it exits anyway.
    public var shutdownTimeout: Int = 30_000
    /// A forwarded request not answered within this many milliseconds fails.
    public var peerTimeout: Int = 1000
    /// A file of cluster secrets, one per line (the first proves, all are tried); empty: none
    /// (or the environment's RINGCACHE_CLUSTER_SECRET).
    public var clusterSecretFile: String = ""
    /// Start without a secret although the peer port listens beyond loopback.
    public var insecurePeers: Bool = false
    /// Largest peer frame payload accepted, in bytes; 0: the item size limit + 64 KiB.
    public var maxFrame: Int = 0
    /// Forwarded requests one client connection may have in flight.
    public var maxForwards: Int = 64
    /// Gossip's timing (memberlist's LAN defaults), every value a flag of its own.
    public var gossip = GossipTiming()

    public init() {}

    /// The memory limit in bytes.
    public var memoryLimitBytes: Int { memoryLimit << 20 }
}

public enum ReplicationMode: String, Sendable, CaseIterable { case sync, async }
public enum PartitionPolicy: String, Sendable, CaseIterable { case majority, available }

/// A configuration problem, reported to the operator and exit status 64 (EX_USAGE).
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Configuration {
    /// Settings each valid alone but not together.
    public func checkCombinations() throws(ConfigurationError) {
        guard antiEntropyInterval <= tombstoneTTL / 2 else {
            throw ConfigurationError(
                "anti-entropy-interval \(ValueParsing.formatDuration(antiEntropyInterval)) must be at most half of tombstone-ttl \(ValueParsing.formatDuration(tombstoneTTL)): a round must reach every copy before a tombstone is forgotten, or a copy that missed a delete could bring the key back")
        }
    }
}
