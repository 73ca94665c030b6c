import Glibc
import Synchronization

/// The event kinds of `watch` (memcached's LOG_* flags), as bits of `OperatorState.tracing`.
public enum WatchEvents {
    public static let fetchers: UInt32 = 1 << 0
    public static let mutations: UInt32 = 1 << 1
    public static let evictions: UInt32 = 1 << 2
    public static let connevents: UInt32 = 1 << 3
    public static let sysevents: UInt32 = 1 << 4
    /// Accepted as memcached 1.6.18 accepts it; like memcached's text protocol, nothing logs it.
    public static let rawcmds: UInt32 = 1 << 5
    public static let all: UInt32 = 0xFF

    /// memcached's argument names.
    static func named(_ word: some Sequence<UInt8>) -> UInt32? {
        switch String(decoding: Array(word), as: UTF8.self) {
        case "fetchers": return fetchers
        case "mutations": return mutations
        case "evictions": return evictions
        case "connevents": return connevents
        case "sysevents": return sysevents
        case "rawcmds": return rawcmds
        default: return nil
        }
    }
}

/// One `watch` connection as the other threads see it: the events it wants, and the log lines
/// waiting for its worker to write them.
///
/// Producers (any worker, or a store eviction under a stripe lock) append under `pending`'s
/// mutex; the first line after the owner last took them posts a wake-up to the owner's mailbox.
/// A watcher that cannot keep up loses lines and is told how many (`skipped=N`), as memcached's
/// watchers are: the buffer never grows past `capacity`.
final class Watcher: Sendable {
    let fd: Int32
    let events: UInt32
    let owner: WorkerMailbox
    let capacity: Int
    private let pending = Mutex(Pending())

    struct Pending {
        var bytes: [UInt8] = []
        var skipped: UInt64 = 0
        /// A wake-up is on its way to the owner (or the owner will look again by itself).
        var wakePosted = false
    }

    init(fd: Int32, events: UInt32, owner: WorkerMailbox, capacity: Int = 256 * 1024) {
        self.fd = fd
        self.events = events
        self.owner = owner
        self.capacity = capacity
    }

    /// Queues one line; false if it was skipped for lack of room.
    func offer(_ line: [UInt8]) -> Bool {
        let (accepted, wake): (Bool, Bool) = pending.withLock { p in
            if p.bytes.count + line.count + 32 > capacity {
                p.skipped += 1
                return (false, false)
            }
            if p.skipped > 0 {
                p.bytes.append(contentsOf: "skipped=\(p.skipped)\n".utf8)
                p.skipped = 0
            }
            p.bytes.append(contentsOf: line)
            let wake = !p.wakePosted
            p.wakePosted = true
            return (true, wake)
        }
        if wake { owner.post(.watchOutput(self)) }
        return accepted
    }

    /// The owner takes what is queued; the next line will wake it again.
    func take() -> [UInt8] {
        pending.withLock { p in
            p.wakePosted = false
            let bytes = p.bytes
            p.bytes.removeAll(keepingCapacity: true)
            return bytes
        }
    }
}

/// The registry of `watch` connections and the formatting of memcached's log lines
/// (`ts=<sec>.<usec> gid=<n> type=...`, logger.c's formats).
///
/// The request path never gets here unless a watcher wants the event: callers test
/// `OperatorState.tracing` first. The mutex is a leaf lock except for the watchers' own
/// (taken inside it, never the other way round); a store eviction may call in with a stripe
/// lock held, and nothing here calls the store.
public final class WatchHub: Sendable {
    /// memcached's WATCHER_LIMIT.
    static let limit = 20

    private let watchers = Mutex<[Watcher]>([])
    private let gid = Atomic<UInt64>(0)
    /// Lines rendered (memcached's `log_worker_written`), delivered to a watcher
    /// (`log_watcher_sent`), and lost to a full watcher (`log_watcher_skipped`).
    let written = Atomic<UInt64>(0)
    let sent = Atomic<UInt64>(0)
    let skipped = Atomic<UInt64>(0)

    enum AddResult { case added, tooMany }

    init() {}

    var count: Int { watchers.withLock { $0.count } }

    /// `onChange` gets the union of every watcher's events, inside the lock.
    func add(_ watcher: Watcher, onChange: (UInt32) -> Void) -> AddResult {
        watchers.withLock { list in
            guard list.count < WatchHub.limit else { return .tooMany }
            list.append(watcher)
            onChange(list.reduce(0) { $0 | $1.events })
            return .added
        }
    }

    func remove(_ watcher: Watcher, onChange: (UInt32) -> Void) {
        watchers.withLock { list in
            list.removeAll { $0 === watcher }
            onChange(list.reduce(0) { $0 | $1.events })
        }
    }

    /// Renders `ts=… gid=… <body>\n` and offers it to every watcher that wants `event`.
    func emit(_ event: UInt32, _ body: (inout [UInt8]) -> Void) {
        let targets = watchers.withLock { list in list.filter { $0.events & event != 0 } }
        guard !targets.isEmpty else { return }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var line: [UInt8] = []
        line.reserveCapacity(160)
        // memcached prints the microseconds with %d: no zero padding.
        line.append(contentsOf: "ts=\(ts.tv_sec).\(ts.tv_nsec / 1000) gid=\(gid.add(1, ordering: .relaxed).newValue) ".utf8)
        body(&line)
        line.append(UInt8(ascii: "\n"))
        written.add(1, ordering: .relaxed)
        for w in targets {
            if w.offer(line) { sent.add(1, ordering: .relaxed) } else { skipped.add(1, ordering: .relaxed) }
        }
    }

    // MARK: memcached's event lines

    /// `type=item_get key=<k> status=found|not_found clsid=<c> cfd=<fd> size=<value bytes>`.
    func itemGet(key: UnsafeRawBufferPointer, found: Bool, sizeClass: Int, fd: Int32, size: Int) {
        emit(WatchEvents.fetchers) { line in
            line.append(contentsOf: "type=item_get key=".utf8)
            URIEncoding.append(key, to: &line)
            line.append(contentsOf: " status=\(found ? "found" : "not_found") clsid=\(sizeClass) cfd=\(fd) size=\(size)".utf8)
        }
    }

    /// `type=item_store key=<k> status=<s> cmd=<c> ttl=<remaining> clsid=<c> cfd=<fd> size=<n>`.
    func itemStore(key: UnsafeRawBufferPointer, status: String, command: String, ttl: Int64, sizeClass: Int, fd: Int32, size: Int) {
        emit(WatchEvents.mutations) { line in
            line.append(contentsOf: "type=item_store key=".utf8)
            URIEncoding.append(key, to: &line)
            line.append(contentsOf: " status=\(status) cmd=\(command) ttl=\(ttl) clsid=\(sizeClass) cfd=\(fd) size=\(size)".utf8)
        }
    }

    /// `type=eviction key=<k> fetch=yes|no ttl=<remaining or -1> la=<seconds idle> clsid=<c> size=<n>`.
    func eviction(key: UnsafeRawBufferPointer, fetched: Bool, ttl: Int64, idle: Int64, sizeClass: Int, size: Int) {
        emit(WatchEvents.evictions) { line in
            line.append(contentsOf: "type=eviction key=".utf8)
            URIEncoding.append(key, to: &line)
            line.append(contentsOf: " fetch=\(fetched ? "yes" : "no") ttl=\(ttl) la=\(idle) clsid=\(sizeClass) size=\(size)".utf8)
        }
    }

    /// `type=conn_new rip=<ip> rport=<port> transport=tcp|local cfd=<fd>`.
    func connectionOpened(peer: String, fd: Int32) {
        emit(WatchEvents.connevents) { line in
            line.append(contentsOf: "type=conn_new \(WatchHub.endpoint(peer)) cfd=\(fd)".utf8)
        }
    }

    /// `type=conn_close rip=… rport=… transport=… reason=error|normal|shutdown cfd=<fd>`.
    func connectionClosed(peer: String, fd: Int32, reason: String) {
        emit(WatchEvents.connevents) { line in
            line.append(contentsOf: "type=conn_close \(WatchHub.endpoint(peer)) reason=\(reason) cfd=\(fd)".utf8)
        }
    }

    /// `rip=… rport=… transport=…` from our `host:port`, `[v6]:port` or `unix:path` names.
    static func endpoint(_ peer: String) -> String {
        if peer.hasPrefix("unix") { return "rip=unix rport=0 transport=local" }
        guard let colon = peer.lastIndex(of: ":") else { return "rip=\(peer) rport=0 transport=tcp" }
        var host = peer[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return "rip=\(host) rport=\(peer[peer.index(after: colon)...]) transport=tcp"
    }
}

/// memcached's `uriencode` for keys in log and dump lines: letters, digits and `-._~` stay,
/// every other byte becomes `%XX`.
enum URIEncoding {
    static func append(_ key: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        for b in key {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(b)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 15)])
            }
        }
    }
}
