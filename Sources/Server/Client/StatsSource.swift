/// What the executor needs from the server beyond the store and its worker's counters: the
/// figures of `stats` and the few commands that act on the whole server (`verbosity`, `shutdown`).
///
/// Implemented by the server context; called by whichever worker runs such a command (never on
/// the hot path), so every member must be safe to call from any worker thread.
public protocol StatsSource: AnyObject, Sendable {
    /// Process-, listener- and connection-level figures, read now.
    func serverStats() -> ServerStats
    /// Every worker's counters; `stats` sums them and `stats reset` resets them.
    var workerStats: [WorkerStats] { get }
    /// `stats settings`: the lines in order, with memcached's names where one applies.
    func settingsStats() -> [StatLine]
    /// `stats conns`: listeners and client connections of every worker.
    func connectionStats(askingFD: Int32) -> [ConnectionStats]
    /// `stats reset`: zero the server's own counters (`total_connections`, `rejected_connections`,
    /// `listen_disabled_num`, ...). Worker and store counters are reset by the executor.
    func resetServerStats()
    /// `verbosity <level>`: memcached changes its log verbosity live.
    func setVerbosity(_ level: Int64)
    /// `-A`: whether the `shutdown` command may stop the server.
    var shutdownEnabled: Bool { get }
    /// `-F` makes this false: `flush_all` then answers `CLIENT_ERROR flush_all not allowed`
    /// (nothing with `noreply`) and still counts `cmd_flush`, as memcached 1.6.18 does.
    var flushAllEnabled: Bool { get }
    /// `shutdown` with `-A`: stop the server as on SIGTERM. memcached sends no answer and the
    /// executor asks the connection to close.
    func requestShutdown()
}

extension StatsSource {
    /// `flush_all` is allowed unless a source says otherwise (memcached's default).
    public var flushAllEnabled: Bool { true }
}

/// One `STAT <name> <value>` line.
public struct StatLine: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// The figures of memcached's general `stats` that the server, not the store or a worker, knows.
public struct ServerStats: Sendable, Equatable {
    public var pid: Int32 = 0
    /// Unix seconds, from the server clock.
    public var startTime: Int64 = 0
    public var currentTime: Int64 = 0
    /// `event_get_version()`.
    public var libeventVersion: String = ""
    /// CPU time of the process (`getrusage(RUSAGE_SELF)`), in microseconds.
    public var userMicros: Int64 = 0
    public var systemMicros: Int64 = 0
    /// `-c`.
    public var maxConnections: Int = 0
    /// Open client connections.
    public var currConnections: Int = 0
    public var totalConnections: UInt64 = 0
    /// Refused at `-c` with `ERROR Too many open connections`.
    public var rejectedConnections: UInt64 = 0
    /// Connection objects that exist, open or cached.
    public var connectionStructures: Int = 0
    public var acceptingConnections: Bool = true
    public var listenDisabledCount: UInt64 = 0
    public var timeInListenDisabledMicros: UInt64 = 0
    /// Worker threads (`-t`).
    public var threads: Int = 0
    /// Appended after memcached's lines, before `END` (e.g. ringcached's own counters).
    public var extra: [StatLine] = []
    /// `lru_crawler metadump`s streaming now, and crawls and dumps started.
    public var crawlerRunning: Int = 0
    public var crawlerStarts: UInt64 = 0
    /// The background sweep, which is our LRU crawler: dead items it removed, items it checked.
    public var crawlerReclaimed: UInt64 = 0
    public var crawlerItemsChecked: UInt64 = 0
    /// `watch`: lines rendered, delivered, lost to a full watcher; watchers now.
    public var logWritten: UInt64 = 0
    public var logSent: UInt64 = 0
    public var logSkipped: UInt64 = 0
    public var logWatchers: Int = 0

    public init() {}
}

/// One connection (or listener) in `stats conns`:
/// `STAT <fd>:addr tcp:127.0.0.1:36852`, `STAT <fd>:listen_addr tcp:127.0.0.1:11211` (clients only),
/// `STAT <fd>:state conn_parse_cmd` (`conn_listening` for a listener), `STAT <fd>:secs_since_last_cmd 0`.
public struct ConnectionStats: Sendable, Equatable {
    public var fd: Int32
    /// The peer (clients) or bound address (listeners), as memcached writes it: `tcp:host:port`,
    /// `tcp6:[host]:port`, `unix:path`.
    public var address: String
    /// The listener a client came through; nil for a listener.
    public var listenAddress: String?
    /// memcached's state name: `conn_listening`, `conn_parse_cmd`, `conn_nread`, `conn_swallow`,
    /// `conn_write`, `conn_closing`, `conn_waiting`, `conn_new_cmd`.
    public var state: String
    public var secondsSinceLastCommand: Int64

    public init(fd: Int32, address: String, listenAddress: String?, state: String, secondsSinceLastCommand: Int64) {
        self.fd = fd
        self.address = address
        self.listenAddress = listenAddress
        self.state = state
        self.secondsSinceLastCommand = secondsSinceLastCommand
    }
}
