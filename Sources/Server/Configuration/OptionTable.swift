import Cluster

/// One setting as the operator sees it: a long flag, maybe a short one, a TOML key, a line of help.
///
/// The table below is the only list of settings: the command-line parser, the TOML reader,
/// `--print-config` and `--help` all walk it, so a setting cannot exist in one and not another.
/// memcached flags that are not settings here (ignored with a warning, or refused) are listed in
/// `MemcachedFlags`, which also points each memcached flag that is a setting at its entry here.
struct OptionSpec: Sendable {
    enum Arity: Sendable {
        /// Takes a value: `-p 11211`, `-p11211`, `--port 11211`, `--port=11211`.
        case value
        /// A switch: `-d`, `--daemonize`; in TOML a boolean.
        case flag
        /// Counts repeats: `-v`, `-vv`; in TOML an integer.
        case counter
    }

    enum TOMLShape: Sendable { case integer, string, boolean, stringArray, sizeOrInteger, duration }

    let long: String
    let short: Character?
    let arity: Arity
    let shape: TOMLShape
    let help: String
    /// Applies one value written as text (flags; TOML values are turned into this text first).
    let apply: @Sendable (inout Configuration, String) throws(ConfigurationError) -> Void
    /// The current value as TOML, for `--print-config`.
    let render: @Sendable (Configuration) -> String

    /// The TOML key: the long flag with `_` for `-`.
    var tomlKey: String { long.replacingDashes() }

    /// The help line as `--help` and `--print-config` show it: a duration says what a bare number
    /// means, so `2` is never silently 2 ms.
    var fullHelp: String {
        shape == .duration ? help + " (" + ValueParsing.durationForms + ")" : help
    }

    /// The default as `--help` shows it, rendered from a default `Configuration` so it cannot
    /// drift from the real one: `11211`, `1m`, `127.0.0.1`, `none`.
    var defaultText: String {
        var text = render(Configuration())
        if shape == .stringArray {
            text = String(text.dropFirst().dropLast())
                .split(separator: ",").map { String($0).trimmingSpaces() }.joined(separator: ",")
        }
        text = String(text.filter { $0 != "\"" })
        return text.isEmpty ? "none" : text
    }
}

extension String {
    func replacingDashes() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}

enum OptionTable {
    static let all: [OptionSpec] = [
        OptionSpec(long: "port", short: "p", arity: .value, shape: .integer,
                   help: "TCP port to listen on for clients",
                   apply: { c, v throws(ConfigurationError) in c.port = try ValueParsing.integer(v, name: "port", range: 0...65535) },
                   render: { String($0.port) }),
        OptionSpec(long: "listen", short: "l", arity: .value, shape: .stringArray,
                   help: "addresses to listen on (IPv4 or IPv6; repeat the flag or separate with commas)",
                   apply: { c, v throws(ConfigurationError) in
                       let parts = v.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
                       guard !parts.isEmpty else { throw ConfigurationError("listen: no address given") }
                       c.listen = parts.map { a in a.hasPrefix("[") && a.hasSuffix("]") ? String(a.dropFirst().dropLast()) : a }
                   },
                   render: { "[" + $0.listen.map(\.tomlQuoted).joined(separator: ", ") + "]" }),
        OptionSpec(long: "threads", short: "t", arity: .value, shape: .integer,
                   help: "worker threads, each with its own event loop",
                   apply: { c, v throws(ConfigurationError) in c.threads = try ValueParsing.integer(v, name: "threads", range: 1...256) },
                   render: { String($0.threads) }),
        OptionSpec(long: "memory-limit", short: "m", arity: .value, shape: .integer,
                   help: "item memory in megabytes, item overhead included",
                   apply: { c, v throws(ConfigurationError) in c.memoryLimit = try ValueParsing.integer(v, name: "memory-limit", range: 1...(1 << 30)) },
                   render: { String($0.memoryLimit) }),
        OptionSpec(long: "conn-limit", short: "c", arity: .value, shape: .integer,
                   help: "maximum simultaneous client connections",
                   apply: { c, v throws(ConfigurationError) in c.connLimit = try ValueParsing.integer(v, name: "conn-limit", range: 1...1_000_000) },
                   render: { String($0.connLimit) }),
        OptionSpec(long: "max-item-size", short: "I", arity: .value, shape: .sizeOrInteger,
                   help: "largest item, header included (bytes, or with a k/m suffix)",
                   apply: { c, v throws(ConfigurationError) in
                       let n = try ValueParsing.size(v, name: "max-item-size")
                       guard n >= 1024, n <= 1 << 30 else { throw ConfigurationError("max-item-size: must be between 1k and 1g") }
                       c.maxItemSize = n
                   },
                   render: { ValueParsing.formatSize($0.maxItemSize) }),
        OptionSpec(long: "disable-evictions", short: "M", arity: .flag, shape: .boolean,
                   help: "answer an out-of-memory error instead of evicting items",
                   apply: { c, v throws(ConfigurationError) in c.disableEvictions = try ValueParsing.boolean(v, name: "disable-evictions") },
                   render: { String($0.disableEvictions) }),
        OptionSpec(long: "verbose", short: "v", arity: .counter, shape: .integer,
                   help: "log level: 0 warnings, 1 connections (-v), 2 commands (-vv)",
                   apply: { c, v throws(ConfigurationError) in c.verbose = try ValueParsing.integer(v, name: "verbose", range: 0...3) },
                   render: { String($0.verbose) }),
        OptionSpec(long: "daemonize", short: "d", arity: .flag, shape: .boolean,
                   help: "run in the background",
                   apply: { c, v throws(ConfigurationError) in c.daemonize = try ValueParsing.boolean(v, name: "daemonize") },
                   render: { String($0.daemonize) }),
        OptionSpec(long: "user", short: "u", arity: .value, shape: .string,
                   help: "when started as root, switch to this user",
                   apply: { c, v in c.user = v },
                   render: { $0.user.tomlQuoted }),
        OptionSpec(long: "pidfile", short: "P", arity: .value, shape: .string,
                   help: "write the process id to this file",
                   apply: { c, v in c.pidfile = v },
                   render: { $0.pidfile.tomlQuoted }),
        OptionSpec(long: "udp-port", short: "U", arity: .value, shape: .integer,
                   help: "UDP port; ringcached never serves UDP, so only 0 (off) is accepted",
                   apply: { c, v throws(ConfigurationError) in
                       let p = try ValueParsing.integer(v, name: "udp-port", range: 0...65535)
                       guard p == 0 else {
                           throw ConfigurationError("udp-port: ringcached does not serve UDP; use -U 0 (or leave it out)")
                       }
                       c.udpPort = p
                   },
                   render: { String($0.udpPort) }),
        OptionSpec(long: "unix-socket", short: "s", arity: .value, shape: .string,
                   help: "listen on this unix socket instead of TCP",
                   apply: { c, v in c.unixSocket = v },
                   render: { $0.unixSocket.tomlQuoted }),
        OptionSpec(long: "unix-mask", short: "a", arity: .value, shape: .string,
                   help: "permission bits of the unix socket, in octal",
                   apply: { c, v throws(ConfigurationError) in
                       guard let m = Int(v.trimmingSpaces(), radix: 8), (0...0o777).contains(m) else {
                           throw ConfigurationError("unix-mask: '\(v)' is not an octal mode such as 700")
                       }
                       c.unixMask = m
                   },
                   render: { String($0.unixMask, radix: 8).tomlQuoted }),
        OptionSpec(long: "max-output-buffer", short: nil, arity: .value, shape: .sizeOrInteger,
                   help: "close a client whose unsent answers exceed this many bytes",
                   apply: { c, v throws(ConfigurationError) in
                       let n = try ValueParsing.size(v, name: "max-output-buffer")
                       guard n >= 4096 else { throw ConfigurationError("max-output-buffer: must be at least 4k") }
                       c.maxOutputBuffer = n
                   },
                   render: { ValueParsing.formatSize($0.maxOutputBuffer) }),
        OptionSpec(long: "listen-backlog", short: "b", arity: .value, shape: .integer,
                   help: "pending connections the kernel may queue",
                   apply: { c, v throws(ConfigurationError) in c.listenBacklog = try ValueParsing.integer(v, name: "listen-backlog", range: 1...65535) },
                   render: { String($0.listenBacklog) }),
        OptionSpec(long: "enable-shutdown", short: "A", arity: .flag, shape: .boolean,
                   help: "allow the shutdown command",
                   apply: { c, v throws(ConfigurationError) in c.enableShutdown = try ValueParsing.boolean(v, name: "enable-shutdown") },
                   render: { String($0.enableShutdown) }),
        OptionSpec(long: "disable-flush-all", short: "F", arity: .flag, shape: .boolean,
                   help: "refuse flush_all (CLIENT_ERROR flush_all not allowed)",
                   apply: { c, v throws(ConfigurationError) in c.disableFlushAll = try ValueParsing.boolean(v, name: "disable-flush-all") },
                   render: { String($0.disableFlushAll) }),
        OptionSpec(long: "disable-cas", short: "C", arity: .flag, shape: .boolean,
                   help: "disable use of CAS: every CAS unique is 0, and cas / ms C never match",
                   apply: { c, v throws(ConfigurationError) in c.disableCas = try ValueParsing.boolean(v, name: "disable-cas") },
                   render: { String($0.disableCas) }),
        OptionSpec(long: "disable-dumping", short: "X", arity: .flag, shape: .boolean,
                   help: "disable stats cachedump and lru_crawler metadump",
                   apply: { c, v throws(ConfigurationError) in c.disableDumping = try ValueParsing.boolean(v, name: "disable-dumping") },
                   render: { String($0.disableDumping) }),
        OptionSpec(long: "disable-watch", short: "W", arity: .flag, shape: .boolean,
                   help: "disable watch commands (live logging)",
                   apply: { c, v throws(ConfigurationError) in c.disableWatch = try ValueParsing.boolean(v, name: "disable-watch") },
                   render: { String($0.disableWatch) }),
        OptionSpec(long: "prefix-delimiter", short: "D", arity: .value, shape: .string,
                   help: "turn on stats detail at start, with this character ending a key's prefix (memcached's -D; empty: off, `:`)",
                   apply: { c, v throws(ConfigurationError) in
                       guard v.utf8.count <= 1, v.utf8.first.map({ $0 > 0x20 && $0 < 0x7F }) ?? true else {
                           throw ConfigurationError("prefix-delimiter: '\(v)' must be one printable character")
                       }
                       c.prefixDelimiter = v
                   },
                   render: { $0.prefixDelimiter.tomlQuoted }),
        OptionSpec(long: "sweep-interval", short: nil, arity: .value, shape: .duration,
                   help: "how often the background sweep reclaims expired items",
                   apply: { c, v throws(ConfigurationError) in
                       let ms = try ValueParsing.durationMillis(v, name: "sweep-interval")
                       guard ms >= 10 else { throw ConfigurationError("sweep-interval: must be at least 10ms") }
                       c.sweepInterval = ms
                   },
                   render: { ValueParsing.formatDuration($0.sweepInterval) }),
        OptionSpec(long: "storage-stripes", short: nil, arity: .value, shape: .integer,
                   help: "lock stripes of the hash table (a power of two)",
                   apply: { c, v throws(ConfigurationError) in
                       let n = try ValueParsing.integer(v, name: "storage-stripes", range: 1...4096)
                       guard n & (n - 1) == 0 else { throw ConfigurationError("storage-stripes: must be a power of two") }
                       c.storageStripes = n
                   },
                   render: { String($0.storageStripes) }),
        OptionSpec(long: "seeds", short: nil, arity: .value, shape: .stringArray,
                   help: "cluster members as host:port[@peerport] (commas or repeats); none: a standalone node",
                   apply: { c, v throws(ConfigurationError) in
                       let seeds = v.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
                       // Checked here, so --print-config refuses what the node would refuse.
                       try ClusterAddresses.checkSeeds(seeds)
                       c.seeds = seeds
                   },
                   render: { "[" + $0.seeds.map(\.tomlQuoted).joined(separator: ", ") + "]" }),
        OptionSpec(long: "advertise", short: nil, arity: .value, shape: .string,
                   help: "this node's host:port as peers and clients reach it (empty: the first listen address and the port)",
                   apply: { c, v in c.advertise = v.trimmingSpaces() },
                   render: { $0.advertise.tomlQuoted }),
        OptionSpec(long: "peer-port", short: nil, arity: .value, shape: .integer,
                   help: "port for peer traffic (0: the client port + 10000)",
                   apply: { c, v throws(ConfigurationError) in c.peerPort = try ValueParsing.integer(v, name: "peer-port", range: 0...65535) },
                   render: { String($0.peerPort) }),
        OptionSpec(long: "replicas", short: nil, arity: .value, shape: .integer,
                   help: "copies of every key: the owner and replicas - 1 backups",
                   apply: { c, v throws(ConfigurationError) in c.replicas = try ValueParsing.integer(v, name: "replicas", range: 1...8) },
                   render: { String($0.replicas) }),
        OptionSpec(long: "replication", short: nil, arity: .value, shape: .string,
                   help: "sync: a write is answered once every backup holds it; async: at once, the copies follow",
                   apply: { c, v throws(ConfigurationError) in
                       guard let mode = ReplicationMode(rawValue: v.trimmingSpaces()) else {
                           throw ConfigurationError("replication: '\(v)' is not sync or async")
                       }
                       c.replication = mode
                   },
                   render: { $0.replication.rawValue.tomlQuoted }),
        OptionSpec(long: "replication-timeout", short: nil, arity: .value, shape: .duration,
                   help: "a backup that has not confirmed a copy in this time makes the write fail (SERVER_ERROR replica unavailable) and its link reconnect (0: peer-timeout)",
                   apply: { c, v throws(ConfigurationError) in
                       let ms = try ValueParsing.durationMillis(v, name: "replication-timeout")
                       guard ms == 0 || ms >= 10 else { throw ConfigurationError("replication-timeout: must be 0 or at least 10ms") }
                       c.replicationTimeout = ms
                   },
                   render: { ValueParsing.formatDuration($0.replicationTimeout) }),
        OptionSpec(long: "replication-queue", short: nil, arity: .value, shape: .integer,
                   help: "async: copies in flight to one peer (per worker); past it a copy is dropped and counted (replication_dropped), the client never waits",
                   apply: { c, v throws(ConfigurationError) in c.replicationQueue = try ValueParsing.integer(v, name: "replication-queue", range: 1...4096) },
                   render: { String($0.replicationQueue) }),
        OptionSpec(long: "partition-policy", short: nil, arity: .value, shape: .string,
                   help: "majority: a node that sees no majority of the members refuses writes; available: both sides of a partition take writes (newest version wins when it heals; see the README for what that can lose)",
                   apply: { c, v throws(ConfigurationError) in
                       guard let policy = PartitionPolicy(rawValue: v.trimmingSpaces()) else {
                           throw ConfigurationError("partition-policy: '\(v)' is not majority or available")
                       }
                       c.partitionPolicy = policy
                   },
                   render: { $0.partitionPolicy.rawValue.tomlQuoted }),
        OptionSpec(long: "tombstone-ttl", short: nil, arity: .value, shape: .duration,
                   help: "a deleted key's version is kept this long, so an older copy cannot bring it back (cluster only)",
                   apply: { c, v throws(ConfigurationError) in
                       let ms = try ValueParsing.durationMillis(v, name: "tombstone-ttl")
                       guard ms >= 1000 else { throw ConfigurationError("tombstone-ttl: must be at least 1s") }
                       c.tombstoneTTL = ms
                   },
                   render: { ValueParsing.formatDuration($0.tombstoneTTL) }),
        OptionSpec(long: "max-clock-skew", short: nil, arity: .value, shape: .duration,
                   help: "a copy whose version is further ahead of this node's wall clock is refused and counted",
                   apply: { c, v throws(ConfigurationError) in
                       let ms = try ValueParsing.durationMillis(v, name: "max-clock-skew")
                       guard ms >= 10 else { throw ConfigurationError("max-clock-skew: must be at least 10ms") }
                       c.maxClockSkew = ms
                   },
                   render: { ValueParsing.formatDuration($0.maxClockSkew) }),
        OptionSpec(long: "repair-rate", short: nil, arity: .value, shape: .integer,
                   help: "keys per second a node copies to new backups after a death, in the background",
                   apply: { c, v throws(ConfigurationError) in c.repairRate = try ValueParsing.integer(v, name: "repair-rate", range: 1...10_000_000) },
                   render: { String($0.repairRate) }),
        OptionSpec(long: "transfer-rate", short: nil, arity: .value, shape: .integer,
                   help: "keys per second a node transfers to a joining member, or to the takers of a leaving one",
                   apply: { c, v throws(ConfigurationError) in c.transferRate = try ValueParsing.integer(v, name: "transfer-rate", range: 1...10_000_000) },
                   render: { String($0.transferRate) }),
        OptionSpec(long: "anti-entropy-interval", short: nil, arity: .value, shape: .duration,
                   help: "replicas compare digests of the keys they share this often and repair what differs, newest version winning (0: off; at most half of tombstone-ttl)",
                   apply: { c, v throws(ConfigurationError) in
                       let ms = try ValueParsing.durationMillis(v, name: "anti-entropy-interval")
                       guard ms == 0 || ms >= 1000 else { throw ConfigurationError("anti-entropy-interval: must be 0 (off) or at least 1s") }
                       c.antiEntropyInterval = ms
                   },
                   render: { ValueParsing.formatDuration($0.antiEntropyInterval) }),
        duration("join-timeout", "a joining node takes its place on the ring after this long even if some transfers did not finish (repair fills the rest)",
                 100, \.joinTimeout),
        duration("shutdown-timeout", "on SIGTERM a cluster member hands its keys over for at most this long, then leaves anyway (re-replication covers the rest)",
                 0, \.shutdownTimeout),
        OptionSpec(long: "peer-timeout", short: nil, arity: .value, shape: .duration,
                   help: "a forwarded request not answered in this time fails",
                   apply: { c, v throws(ConfigurationError) in
                       let ms = try ValueParsing.durationMillis(v, name: "peer-timeout")
                       guard ms >= 10 else { throw ConfigurationError("peer-timeout: must be at least 10ms") }
                       c.peerTimeout = ms
                   },
                   render: { ValueParsing.formatDuration($0.peerTimeout) }),
        OptionSpec(long: "cluster-secret-file", short: nil, arity: .value, shape: .string,
                   help: "file of cluster secrets, one per line, the first one used to prove, all tried (or RINGCACHE_CLUSTER_SECRET, comma-separated; not both)",
                   apply: { c, v in c.clusterSecretFile = v.trimmingSpaces() },
                   render: { $0.clusterSecretFile.tomlQuoted }),
        OptionSpec(long: "insecure-peers", short: nil, arity: .flag, shape: .boolean,
                   help: "start without a cluster secret although peers listen beyond loopback (peer traffic unauthenticated, in the clear)",
                   apply: { c, v throws(ConfigurationError) in c.insecurePeers = try ValueParsing.boolean(v, name: "insecure-peers") },
                   render: { String($0.insecurePeers) }),
        OptionSpec(long: "max-frame", short: nil, arity: .value, shape: .sizeOrInteger,
                   help: "largest peer frame payload accepted (0: the item size limit + 64k)",
                   apply: { c, v throws(ConfigurationError) in
                       let n = try ValueParsing.size(v, name: "max-frame")
                       guard n == 0 || (n >= 64 * 1024 && n <= 1 << 30) else {
                           throw ConfigurationError("max-frame: must be 0 or between 64k and 1g")
                       }
                       c.maxFrame = n
                   },
                   render: { ValueParsing.formatSize($0.maxFrame) }),
        OptionSpec(long: "max-forwards", short: nil, arity: .value, shape: .integer,
                   help: "forwarded requests one client connection may have in flight; past it the node reads no more of it",
                   apply: { c, v throws(ConfigurationError) in c.maxForwards = try ValueParsing.integer(v, name: "max-forwards", range: 1...65536) },
                   render: { String($0.maxForwards) }),
        gossipDuration("probe-interval", "gossip: every member probes one other this often", 10, \.probeInterval),
        gossipDuration("probe-timeout", "gossip: a direct ping not acked in this time asks indirect-checks members to try (must be below probe-interval)", 5, \.probeTimeout),
        gossipInteger("suspicion-multiplier", "gossip: the shortest suspicion is this × max(1, log10(members)) × probe-interval; confirmations from others bring a suspicion down to it", 1...100, \.suspicionMultiplier),
        gossipInteger("suspicion-max-multiplier", "gossip: a suspicion nobody confirms lasts this many times the shortest", 1...100, \.suspicionMaxTimeoutMultiplier),
        gossipInteger("indirect-checks", "gossip: members asked to ping a member that missed a direct ping", 0...16, \.indirectChecks),
        gossipInteger("retransmit-multiplier", "gossip: each update is sent this × ceil(log10(members + 1)) times", 1...100, \.retransmitMultiplier),
        gossipDuration("gossip-interval", "gossip: queued updates go to gossip-fanout random members this often", 10, \.gossipInterval),
        gossipInteger("gossip-fanout", "gossip: members each gossip round sends to", 1...64, \.gossipFanout),
        gossipDuration("push-pull-interval", "gossip: whole member tables are exchanged with one random member this often (longer beyond 32 members)", 100, \.pushPullInterval),
        gossipDuration("reconnect-interval", "gossip: one dead member or absent seed is asked for a push-pull this often, so a healed partition merges", 100, \.reconnectInterval),
        gossipDuration("dead-forget-after", "gossip: a death confirmed while a majority was visible is forgotten after this", 1000, \.deadForgetAfter),
    ]

    /// A gossip timing in milliseconds, at least `minimum`.
    /// A duration setting in milliseconds, at least `minimum`.
    static func duration(_ long: String, _ help: String, _ minimum: Int, _ path: WritableKeyPath<Configuration, Int> & Sendable) -> OptionSpec {
        OptionSpec(long: long, short: nil, arity: .value, shape: .duration, help: help,
                   apply: { c, v throws(ConfigurationError) in
                       let ms = try ValueParsing.durationMillis(v, name: long)
                       guard ms >= minimum else { throw ConfigurationError("\(long): must be at least \(minimum)ms") }
                       c[keyPath: path] = ms
                   },
                   render: { ValueParsing.formatDuration($0[keyPath: path]) })
    }

    static func gossipDuration(_ long: String, _ help: String, _ minimum: Int, _ path: WritableKeyPath<GossipTiming, UInt64> & Sendable) -> OptionSpec {
        OptionSpec(long: long, short: nil, arity: .value, shape: .duration, help: help,
                   apply: { c, v throws(ConfigurationError) in
                       let ms = try ValueParsing.durationMillis(v, name: long)
                       guard ms >= minimum else { throw ConfigurationError("\(long): must be at least \(minimum)ms") }
                       c.gossip[keyPath: path] = UInt64(ms)
                   },
                   render: { ValueParsing.formatDuration(Int($0.gossip[keyPath: path])) })
    }

    static func gossipInteger(_ long: String, _ help: String, _ range: ClosedRange<Int>, _ path: WritableKeyPath<GossipTiming, Int> & Sendable) -> OptionSpec {
        OptionSpec(long: long, short: nil, arity: .value, shape: .integer, help: help,
                   apply: { c, v throws(ConfigurationError) in c.gossip[keyPath: path] = try ValueParsing.integer(v, name: long, range: range) },
                   render: { String($0.gossip[keyPath: path]) })
    }

    static func spec(long: String) -> OptionSpec? { all.first { $0.long == long } }
    static func spec(short: Character) -> OptionSpec? { all.first { $0.short == short } }
    static func spec(tomlKey: String) -> OptionSpec? { all.first { $0.tomlKey == tomlKey } }
}
