import EventLoop
import Glibc
import Logging
import Storage

/// A running node, assembled and torn down in order.
///
/// Threads:
/// ```
///  clients ──TCP──► listener thread (main): accept ─round-robin─► worker 1..T mailbox + wake-up
///                   also: signals, the 10 ms clock tick,        each worker: own event_base,
///                   the expiry sweep, the membership            its connections, its executor
///                   coordinator (control links)
///  gossip thread: own event base, UDP on the peer port, the SWIM machine ─► coordinator
///                                   all workers ──► Store (striped locks)
/// ```
/// Lock order: a worker holds at most one Store stripe lock at a time (the store's own rule for
/// eviction is documented there); the connection registry mutex and a mailbox mutex are leaf
/// locks, never held while taking another. No thread touches another thread's event base.
///
/// Setup runs in dependency order: bind sockets (so a taken port is reported at once), daemonize,
/// pid file, drop privileges, store and context, workers and their threads, then the listener loop.
/// Teardown is the reverse: stop accepting, stop workers (they finish what they read), join them.
public final class Server {
    private let configuration: Configuration
    private let logger: Logger
    private let verbosity: LogVerbosity

    /// `verbosity`: the one the log handler reads, so `verbosity N` changes what is logged.
    public init(configuration: Configuration, logger: Logger, verbosity: LogVerbosity? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.verbosity = verbosity ?? LogVerbosity(configuration.verbose)
    }

    /// Runs until SIGTERM or SIGINT; returns the process exit status.
    public func run() -> Int32 {
        signal(SIGPIPE, SIG_IGN)

        var cluster: ClusterState?
        if !configuration.seeds.isEmpty {
            do {
                cluster = try ClusterState(configuration: configuration, environment: Server.environment())
            } catch {
                logger.critical("\(error)")
                return 64
            }
            if cluster?.keys == nil && configuration.insecurePeers {
                logger.warning("--insecure-peers: peer traffic is neither authenticated nor encrypted")
            }
        }

        let sockets: [(Int32, String)]
        var peerSockets: [(Int32, String)] = []
        do {
            sockets = try bindListeners(port: configuration.port)
            if let cluster { peerSockets = try bindListeners(port: cluster.peerPort) }
        } catch {
            if error.isAddressInUse {
                let peerHint = cluster == nil ? "" : ", or another peer port with --peer-port"
                logger.critical("\(error). Another process is using that port; start ringcached on another port with -p (e.g. `ringcached -p \(configuration.port + 1)`)\(peerHint).")
            } else {
                logger.critical("\(error)")
            }
            return 71
        }

        if configuration.daemonize {
            // Fork before any thread or event base exists; the listening sockets are inherited.
            if daemon(0, configuration.verbose > 0 ? 1 : 0) != 0 {
                logger.critical("cannot daemonize: \(String(cString: strerror(errno)))")
                return 71
            }
        }
        if !configuration.pidfile.isEmpty {
            guard let file = fopen(configuration.pidfile, "w") else {
                logger.critical("cannot write pid file \(configuration.pidfile): \(String(cString: strerror(errno)))")
                return 73
            }
            fputs("\(getpid())\n", file)
            fclose(file)
        }
        defer { if !configuration.pidfile.isEmpty { unlink(configuration.pidfile) } }
        if let failure = dropPrivileges() {
            logger.critical("\(failure)")
            return 67
        }
        ProcessTuning.limitMallocArenas(1)

        let names = sockets.map(\.1)
        let context = ServerContext(configuration: configuration, logger: logger, verbosity: verbosity,
                                    listeners: (sockets + peerSockets).map { (fd: $0.0, name: $0.1) }, cluster: cluster)
        let stats = (0..<configuration.threads).map { _ in WorkerStats() }
        context.setWorkerStats(stats)

        let mainBase: EventBase
        var workers: [Worker] = []
        do {
            mainBase = try EventBase()
            for i in 0..<configuration.threads {
                workers.append(try Worker(index: i, context: context, stats: stats[i]))
            }
        } catch {
            logger.critical("cannot start event loops: \(error)")
            return 71
        }
        let mailboxes = workers.map(\.mailbox)

        var coordinator: MembershipCoordinator?
        if let cluster {
            do {
                coordinator = try MembershipCoordinator(base: mainBase, cluster: cluster, logger: logger, clock: context.clock)
            } catch {
                logger.critical("cannot start the membership coordinator: \(error)")
                return 71
            }
        }
        for worker in workers { worker.coordinator = coordinator }
        var threads: [NativeThread] = []
        for worker in workers {
            let w = UncheckedBox(worker)
            guard let thread = NativeThread.start(name: "rc-worker-\(worker.index)", { w.value.run() }) else {
                logger.critical("cannot start worker thread")
                return 71
            }
            threads.append(thread)
        }
        workers.removeAll()
        coordinator?.start(workers: mailboxes)
        var gossip: GossipService?
        if let cluster, let coordinator {
            do {
                gossip = try GossipService(cluster: cluster, coordinator: coordinator, logger: logger, store: context.store)
            } catch {
                logger.critical("cannot start gossip on UDP \(cluster.local.host):\(cluster.peerPort): \(error)")
                for mailbox in mailboxes { mailbox.post(.stop) }
                for thread in threads { thread.join() }
                return 71
            }
            guard gossip?.start() == true else {
                logger.critical("cannot start the gossip thread")
                return 71
            }
        }

        let listener = Listener(context: context, workers: mailboxes)
        let shutdown = ShutdownHandler(base: mainBase) {
            listener.close()
            // Gossip says `left` to every member before the node goes.
            cluster?.gossipInbox.post(.leave)
            coordinator?.stop()
            for mailbox in mailboxes { mailbox.post(.stop) }
        }
        shutdown.onFirstSignal = { [logger, unowned shutdown] signal in
            guard let coordinator else {
                logger.notice("received signal \(signal); stopping")
                return false
            }
            // A cluster member leaves gracefully: it goes on serving while it hands over, then
            // stops. A second signal stops it at once.
            logger.notice("received signal \(signal); leaving the cluster, then stopping (send it again to stop at once)")
            coordinator.beginLeave { shutdown.finish() }
            return true
        }
        let ticker = PeriodicHandler {
            context.clock.tick()
            context.store.setClock(seconds: context.clock.seconds, millis: context.clock.millis)
        }
        let sweeper = PeriodicHandler {
            // `lru_crawler crawl` asks for one whole pass now instead of the usual slice.
            let wholePass = context.operations.crawlRequested.exchange(false, ordering: .relaxed)
            let result = context.store.sweepExpiredCounted(budget: wholePass ? Int.max / 2 : 10_000)
            context.counters.crawlerItemsChecked.add(result.itemsChecked, ordering: .relaxed)
            context.counters.crawlerReclaimed.add(result.removed, ordering: .relaxed)
        }
        do {
            try listener.watch(fds: sockets, role: .client, base: mainBase)
            try listener.watch(fds: peerSockets, role: .peer, base: mainBase)
            try shutdown.watch(signals: [SIGTERM, SIGINT])
            let tick = try IOEvent(base: mainBase, fd: -1, kind: [], persist: true, handler: ticker)
            tick.add(timeoutMicros: 10_000)
            let sweep = try IOEvent(base: mainBase, fd: -1, kind: [], persist: true, handler: sweeper)
            sweep.add(timeoutMicros: configuration.sweepInterval * 1000)
            ticker.event = tick
            sweeper.event = sweep
        } catch {
            logger.critical("cannot watch listening sockets: \(error)")
            return 71
        }

        logger.notice("ringcached \(RingcacheVersion.semver) listening on \(names.joined(separator: ", ")) with \(configuration.threads) threads, \(configuration.memoryLimit) MB")
        if let cluster {
            let view = cluster.view
            logger.notice("cluster member \(cluster.local.advertise), peers on \(peerSockets.map(\.1).joined(separator: ", ")), \(view.members.count) members, ring digest \(view.ring.digest), \(cluster.keys == nil ? "no cluster secret (loopback)" : "peers authenticated and sealed")")
        }
        mainBase.run()
        for thread in threads { thread.join() }
        gossip?.join()
        ticker.event?.free()
        sweeper.event?.free()
        shutdown.free()
        logger.notice("stopped")
        return 0
    }

    private func bindListeners(port: Int) throws(EventLoopError) -> [(Int32, String)] {
        let backlog = Int32(configuration.listenBacklog)
        if !configuration.unixSocket.isEmpty && port == configuration.port {
            let fd = try Socket.listenUnix(path: configuration.unixSocket, mask: UInt32(configuration.unixMask), backlog: backlog)
            return [(fd, "unix:\(configuration.unixSocket)")]
        }
        var result: [(Int32, String)] = []
        do throws(EventLoopError) {
            for host in configuration.listen {
                for fd in try Socket.listenTCP(host: host, port: port, backlog: backlog) {
                    result.append((fd, Socket.localName(fd)))
                }
            }
        } catch {
            for (fd, _) in result { Socket.close(fd) }
            throw error
        }
        return result
    }

    /// `-u user` when started as root: switch group and user, as memcached does.
    private func dropPrivileges() -> String? {
        guard !configuration.user.isEmpty else { return nil }
        guard getuid() == 0 || geteuid() == 0 else {
            logger.warning("-u \(configuration.user) ignored: not running as root")
            return nil
        }
        guard let pw = getpwnam(configuration.user) else {
            return "can't find the user \(configuration.user) to switch to"
        }
        if initgroups(configuration.user, pw.pointee.pw_gid) != 0 || setgid(pw.pointee.pw_gid) != 0 || setuid(pw.pointee.pw_uid) != 0 {
            return "failed to assume identity of user \(configuration.user): \(String(cString: strerror(errno)))"
        }
        return nil
    }
}

extension Server {
    /// The process environment (for RINGCACHE_CLUSTER_SECRET).
    static func environment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") { result[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
            pointer += 1
        }
        return result
    }
}

/// Carries a thread-confined object to the thread that will own it.
struct UncheckedBox<T>: @unchecked Sendable {
    // Invariant: the value is handed over, not shared — after the hand-off only the new thread uses it.
    let value: T
    init(_ value: T) { self.value = value }
}

/// Runs a closure every time its event fires: the listener's clock tick and sweep, a worker's
/// link checks and end-of-pass flush, the coordinator's tick. On the thread of the event's base.
final class PeriodicHandler: EventHandler {
    private let body: () -> Void
    var event: IOEvent?

    init(_ body: @escaping () -> Void) {
        self.body = body
        super.init()
    }

    override func handleEvent(_ fd: Int32, _ kind: EventKind) { body() }
}

/// Turns SIGTERM and SIGINT into an orderly stop, on the listener thread. The first signal may
/// defer it (`onFirstSignal` returns true: a cluster member hands over first, then calls
/// `finish`); a second signal stops at once.
final class ShutdownHandler: EventHandler {
    private let base: EventBase
    private let onStop: () -> Void
    /// Called with the first signal; true defers the stop until `finish`.
    var onFirstSignal: ((Int32) -> Bool)?
    private var events: [IOEvent] = []
    private var signals = 0
    private var stopping = false

    init(base: EventBase, onStop: @escaping () -> Void) {
        self.base = base
        self.onStop = onStop
        super.init()
    }

    func watch(signals: [Int32]) throws(EventLoopError) {
        for s in signals {
            let event = try IOEvent(base: base, fd: s, kind: .signal, persist: true, handler: self)
            event.add()
            events.append(event)
        }
    }

    override func handleEvent(_ fd: Int32, _ kind: EventKind) {
        guard !stopping else { return }
        signals += 1
        if signals == 1, let first = onFirstSignal, first(fd) { return }
        finish()
    }

    /// Stops now (listener thread).
    func finish() {
        guard !stopping else { return }
        stopping = true
        onStop()
        // Timers and signal events would keep the loop alive: free them so it can end.
        free()
        base.stop()
    }

    func free() {
        for e in events { e.free() }
        events.removeAll()
    }
}
