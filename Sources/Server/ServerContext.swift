import EventLoop
import Glibc
import Logging
import Storage
import Synchronization

/// What every part of a running node shares: the configuration, the store, the clock, the
/// connection registry and the global counters. Passed down explicitly; there is no global state.
///
/// Thread-safe: immutable fields, atomics, and a mutex around the connection registry (taken
/// only when a connection opens or closes, and by `stats conns`).
public final class ServerContext: Sendable {
    public let configuration: Configuration
    public let store: Store
    public let logger: Logger
    let clock: CoarseClock
    /// The cluster, when the node has seeds.
    let cluster: ClusterState?
    let counters = GlobalCounters()
    /// `watch`, `stats detail`, and what `slabs`/`lru`/`lru_crawler` change at runtime.
    public let operations: OperatorState
    let startTime: Int64
    /// The listening sockets and their names (`127.0.0.1:11211`, `unix:/path`), for `stats conns`.
    let listeners: [(fd: Int32, name: String)]
    /// The node's log verbosity (`-v`, `verbosity N`), shared with the log handler.
    let verbosity: LogVerbosity
    private let registry = Mutex<[UInt64: ConnectionInfo]>([:])
    private let nextConnectionID = Atomic<UInt64>(1)
    // Filled once before the worker threads start; read-only afterwards.
    nonisolated(unsafe) public private(set) var workerStats: [WorkerStats] = []

    init(configuration: Configuration, logger: Logger, verbosity: LogVerbosity, listeners: [(fd: Int32, name: String)], cluster: ClusterState?) {
        self.configuration = configuration
        self.cluster = cluster
        self.logger = logger
        self.clock = CoarseClock()
        self.startTime = clock.seconds
        self.verbosity = verbosity
        self.listeners = listeners
        let storage = StorageConfig(
            memoryLimit: configuration.memoryLimitBytes,
            maxItemSize: configuration.maxItemSize,
            evictionsEnabled: !configuration.disableEvictions,
            stripes: configuration.storageStripes,
            casEnabled: !configuration.disableCas,
            // Tombstones only matter where copies travel: a standalone node deletes as memcached.
            tombstoneTTL: configuration.seeds.isEmpty ? 0 : Int64((configuration.tombstoneTTL + 999) / 1000),
            maxClockSkewMillis: UInt64(configuration.maxClockSkew))
        self.store = Store(config: storage, nowSeconds: clock.seconds, nowMillis: clock.millis)
        let delimiter = configuration.prefixDelimiter.utf8.first
        let operations = OperatorState(
            delimiter: delimiter ?? UInt8(ascii: ":"), detailEnabled: delimiter != nil,
            dumpEnabled: !configuration.disableDumping, watchEnabled: !configuration.disableWatch)
        self.operations = operations
        let store = self.store
        store.evictionObserver = { item in
            guard operations.tracing.load(ordering: .relaxed) & WatchEvents.evictions != 0 else { return }
            let now = store.currentTime
            operations.watch.eviction(
                key: item.key, fetched: item.fetched, ttl: item.exptime == 0 ? -1 : item.exptime - now,
                idle: now - item.lastAccess, sizeClass: item.sizeClass, size: item.valueLength)
        }
    }

    /// -vv (or `verbosity 2`): log every command.
    var logCommands: Bool { verbosity.current >= 2 }

    func setWorkerStats(_ stats: [WorkerStats]) { workerStats = stats }

    /// Called by the listener for an accepted socket that will be served.
    func connectionOpened(fd: Int32, peer: String, listenAddress: String) -> ConnectionInfo {
        let info = ConnectionInfo(id: nextConnectionID.add(1, ordering: .relaxed).oldValue, fd: fd, peer: peer,
                                  listenAddress: listenAddress, openedAt: clock.seconds)
        registry.withLock { $0[info.id] = info }
        let current = counters.currentConnections.add(1, ordering: .relaxed).newValue
        counters.totalConnections.add(1, ordering: .relaxed)
        var peak = counters.connectionStructures.load(ordering: .relaxed)
        while current > peak {
            let (exchanged, original) = counters.connectionStructures.compareExchange(expected: peak, desired: current, ordering: .relaxed)
            if exchanged { break }
            peak = original
        }
        return info
    }

    func connectionEnded(_ info: ConnectionInfo) {
        registry.withLock { $0[info.id] = nil }
        counters.currentConnections.subtract(1, ordering: .relaxed)
    }

    /// A snapshot of the open connections, by id, for `stats conns`.
    func openConnections() -> [ConnectionInfo] {
        registry.withLock { Array($0.values) }.sorted { $0.fd < $1.fd }
    }
}

extension ServerContext: StatsSource {
    public func serverStats() -> ServerStats {
        var s = ServerStats()
        s.pid = getpid()
        s.startTime = startTime
        s.currentTime = clock.seconds
        s.libeventVersion = EventBase.libeventVersion
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        s.userMicros = Int64(usage.ru_utime.tv_sec) * 1_000_000 + Int64(usage.ru_utime.tv_usec)
        s.systemMicros = Int64(usage.ru_stime.tv_sec) * 1_000_000 + Int64(usage.ru_stime.tv_usec)
        s.maxConnections = configuration.connLimit
        s.currConnections = counters.currentConnections.load(ordering: .relaxed)
        s.totalConnections = UInt64(counters.totalConnections.load(ordering: .relaxed))
        s.rejectedConnections = UInt64(counters.rejectedConnections.load(ordering: .relaxed))
        s.connectionStructures = counters.connectionStructures.load(ordering: .relaxed)
        s.acceptingConnections = counters.acceptingConnections.load(ordering: .relaxed)
        s.threads = configuration.threads
        s.extra = [StatLine("output_buffer_overflows", String(counters.outputOverflows.load(ordering: .relaxed)))]
        s.crawlerRunning = operations.crawlersRunning.load(ordering: .relaxed)
        s.crawlerStarts = operations.crawlerStarts.load(ordering: .relaxed)
        s.crawlerReclaimed = UInt64(counters.crawlerReclaimed.load(ordering: .relaxed))
        s.crawlerItemsChecked = UInt64(counters.crawlerItemsChecked.load(ordering: .relaxed))
        s.logWritten = operations.watch.written.load(ordering: .relaxed)
        s.logSent = operations.watch.sent.load(ordering: .relaxed)
        s.logSkipped = operations.watch.skipped.load(ordering: .relaxed)
        s.logWatchers = operations.watch.count
        return s
    }

    /// `stats settings`: memcached's lines, in its order, where the setting means something
    /// here (its slab, extstore, TLS and buffer tuning lines are left out), then ours.
    public func settingsStats() -> [StatLine] {
        let c = configuration
        let t = operations.currentTunables
        func yes(_ b: Bool) -> String { b ? "yes" : "no" }
        return [
            StatLine("maxbytes", String(store.config.memoryLimit)),
            StatLine("maxconns", String(c.connLimit)),
            StatLine("tcpport", String(c.unixSocket.isEmpty ? c.port : 0)),
            StatLine("udpport", "0"),
            StatLine("inter", c.listen.joined(separator: ",")),
            StatLine("verbosity", String(verbosity.current)),
            StatLine("oldest", "0"),
            StatLine("evictions", c.disableEvictions ? "off" : "on"),
            StatLine("domain_socket", c.unixSocket.isEmpty ? "NULL" : c.unixSocket),
            StatLine("umask", String(c.unixMask, radix: 8)),
            StatLine("shutdown_command", yes(c.enableShutdown)),
            // The size classes that `me`, `stats items` and `stats slabs` report are memcached's
            // defaults, computed from these two.
            StatLine("growth_factor", "1.25"),
            StatLine("chunk_size", "48"),
            StatLine("num_threads", String(c.threads)),
            StatLine("stat_key_prefix", String(UnicodeScalar(operations.prefixes.delimiter))),
            StatLine("detail_enabled", yes(operations.detailEnabled)),
            StatLine("cas_enabled", yes(!c.disableCas)),
            StatLine("tcp_backlog", String(c.listenBacklog)),
            StatLine("binding_protocol", "ascii"),
            StatLine("auth_enabled_sasl", "no"),
            StatLine("auth_enabled_ascii", "no"),
            StatLine("item_size_max", String(c.maxItemSize)),
            // Past -c a client is refused at once with an error, as memcached's maxconns_fast does.
            StatLine("maxconns_fast", "yes"),
            StatLine("slab_automove", String(operations.slabAutomove.load(ordering: .relaxed))),
            StatLine("slab_automove_ratio", String(format2: t.slabAutomoveRatio)),
            StatLine("lru_crawler", yes(operations.crawlerEnabled.load(ordering: .relaxed))),
            StatLine("lru_crawler_sleep", String(t.crawlerSleep)),
            StatLine("lru_crawler_tocrawl", String(t.crawlerToCrawl)),
            StatLine("flush_enabled", yes(!c.disableFlushAll)),
            StatLine("dump_enabled", yes(!c.disableDumping)),
            // One flat LRU per stripe, no maintainer thread (so `lru mode` is refused).
            StatLine("lru_maintainer_thread", "no"),
            StatLine("lru_segmented", "no"),
            StatLine("hot_lru_pct", String(t.hotLRUPercent)),
            StatLine("warm_lru_pct", String(t.warmLRUPercent)),
            StatLine("hot_max_factor", String(format2: t.hotMaxFactor)),
            StatLine("warm_max_factor", String(format2: t.warmMaxFactor)),
            StatLine("temp_lru", "no"),
            StatLine("idle_timeout", "0"),
            StatLine("watcher_logbuf_size", String(256 * 1024)),
            StatLine("track_sizes", yes(operations.trackSizes.load(ordering: .relaxed))),
            StatLine("ssl_enabled", "no"),
            StatLine("max_output_buffer", String(c.maxOutputBuffer)),
            StatLine("sweep_interval_ms", String(c.sweepInterval)),
            StatLine("storage_stripes", String(c.storageStripes)),
        ]
    }

    public func connectionStats(askingFD: Int32) -> [ConnectionStats] {
        let now = clock.seconds
        var lines = listeners.map {
            ConnectionStats(fd: $0.fd, address: Self.memcachedAddress($0.name), listenAddress: nil, state: "conn_listening",
                            secondsSinceLastCommand: now - startTime)
        }
        for info in openConnections() {
            lines.append(ConnectionStats(fd: info.fd, address: Self.memcachedAddress(info.peer),
                                         listenAddress: Self.memcachedAddress(info.listenAddress),
                                         state: info.fd == askingFD ? "conn_parse_cmd" : info.phase.memcachedState,
                                         secondsSinceLastCommand: max(0, now - info.lastCommandTime)))
        }
        return lines
    }

    /// memcached writes addresses as `tcp:host:port`, `tcp6:[host]:port` or `unix:path`.
    static func memcachedAddress(_ name: String) -> String {
        if name.hasPrefix("unix") { return name.hasPrefix("unix:") ? name : "unix:" }
        return name.hasPrefix("[") ? "tcp6:\(name)" : "tcp:\(name)"
    }

    public func resetServerStats() {
        counters.totalConnections.store(0, ordering: .relaxed)
        counters.rejectedConnections.store(0, ordering: .relaxed)
        counters.outputOverflows.store(0, ordering: .relaxed)
    }

    public func setVerbosity(_ level: Int64) {
        verbosity.set(Int(clamping: level))
    }

    public var shutdownEnabled: Bool { configuration.enableShutdown }

    public var flushAllEnabled: Bool { !configuration.disableFlushAll }

    /// Stops the node exactly as SIGTERM does, through the listener thread's signal event.
    public func requestShutdown() { kill(getpid(), SIGTERM) }
}

extension String {
    /// `%.2f`, as memcached prints its ratios and factors.
    init(format2 value: Double) {
        let scaled = (value * 100).rounded()
        let whole = Int(scaled / 100)
        let cents = Int(abs(scaled.truncatingRemainder(dividingBy: 100)))
        self = (value < 0 && whole == 0 ? "-" : "") + "\(whole)." + (cents < 10 ? "0" : "") + "\(cents)"
    }
}

/// Counters that belong to the whole node rather than to one worker.
final class GlobalCounters: Sendable {
    let currentConnections = Atomic<Int>(0)
    let totalConnections = Atomic<Int>(0)
    let rejectedConnections = Atomic<Int>(0)
    /// The most connections ever open at once (memcached's connection_structures).
    let connectionStructures = Atomic<Int>(0)
    /// Connections closed because their unread answers passed max_output_buffer.
    let outputOverflows = Atomic<Int>(0)
    let acceptingConnections = Atomic<Bool>(true)
    /// The background sweep (our LRU crawler): items it looked at, dead ones it removed.
    let crawlerItemsChecked = Atomic<Int>(0)
    let crawlerReclaimed = Atomic<Int>(0)
}

/// One open client connection as other threads may see it (for `stats conns`).
final class ConnectionInfo: Sendable {
    let id: UInt64
    let fd: Int32
    let peer: String
    let listenAddress: String
    let openedAt: Int64
    private let lastCommand: Atomic<Int64>
    private let phaseValue = Atomic<UInt8>(ConnectionPhase.reading.rawValue)

    init(id: UInt64, fd: Int32, peer: String, listenAddress: String, openedAt: Int64) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.listenAddress = listenAddress
        self.openedAt = openedAt
        self.lastCommand = Atomic(openedAt)
    }

    /// Records activity; written only by the owning worker.
    @inline(__always) func touch(_ now: Int64) {
        if lastCommand.load(ordering: .relaxed) != now { lastCommand.store(now, ordering: .relaxed) }
    }

    var lastCommandTime: Int64 { lastCommand.load(ordering: .relaxed) }

    /// What `stats conns` says the connection is doing; set by the owning worker at the rare
    /// changes (never per command).
    var phase: ConnectionPhase {
        get { ConnectionPhase(rawValue: phaseValue.load(ordering: .relaxed)) ?? .reading }
        set { phaseValue.store(newValue.rawValue, ordering: .relaxed) }
    }
}

/// A connection's state as memcached names it in `stats conns`.
enum ConnectionPhase: UInt8 {
    /// Waiting for the next command (`conn_read`).
    case reading
    /// Dropping a refused data block (`conn_swallow`).
    case swallowing
    /// `watch` or `lru_crawler metadump` (`conn_watch`).
    case watching
    /// Answers wait for the socket (`conn_mwrite`).
    case writing

    var memcachedState: String {
        switch self {
        case .reading: return "conn_read"
        case .swallowing: return "conn_swallow"
        case .watching: return "conn_watch"
        case .writing: return "conn_mwrite"
        }
    }
}

/// The node's notion of now, read by workers per request without a system call and advanced by
/// the listener thread's timer (every 10 ms), the way memcached keeps `current_time`.
///
/// Two clocks: the wall clock (`seconds`, `millis`) only for item expiry and versions, and a
/// monotonic one (`monotonicMillis`) for every timeout and interval, so a step of the system
/// clock never fires or stalls a timer.
final class CoarseClock: Sendable {
    private let secondsValue = Atomic<Int64>(0)
    private let millisValue = Atomic<UInt64>(0)
    private let monotonicValue = Atomic<UInt64>(0)

    init() { tick() }

    var seconds: Int64 { secondsValue.load(ordering: .relaxed) }
    var millis: UInt64 { millisValue.load(ordering: .relaxed) }
    /// Milliseconds on CLOCK_MONOTONIC: for timeouts only.
    var monotonicMillis: UInt64 { monotonicValue.load(ordering: .relaxed) }

    func tick() {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        secondsValue.store(Int64(ts.tv_sec), ordering: .relaxed)
        millisValue.store(UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec / 1_000_000), ordering: .relaxed)
        clock_gettime(CLOCK_MONOTONIC, &ts)
        monotonicValue.store(UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec / 1_000_000), ordering: .relaxed)
    }
}
