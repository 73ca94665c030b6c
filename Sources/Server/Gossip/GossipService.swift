import Cluster
import EventLoop
import Glibc
import Logging
import Storage
import Synchronization

/// What other threads hand the gossip thread.
enum GossipInput: Sendable {
    /// A gossip packet that came over the peer stream (push-pull), from an authenticated peer.
    case stream(bytes: [UInt8], from: NodeAddress)
    /// SIGTERM: say `left` to every member, then stop.
    case leave
    /// SIGTERM in a cluster: say `leaving` while the node hands over (`leave` follows).
    case beginLeave
    /// Every transfer to this joining node is done: say `alive`. `owners`: the other ring
    /// members, whose switch it waits for before it takes writes as owner.
    case promote(owners: Set<String>)
    /// `cluster forget <host:port>`.
    case forget(String)
}

/// The gossip thread's mailbox: any thread posts, the gossip thread takes. The wake-up is
/// signalled and closed under the lock, so a post while the node stops never writes to a
/// closed descriptor.
final class GossipInbox: Sendable {
    private let state = Mutex<(items: [GossipInput], wakeup: Wakeup?, closed: Bool)>(([], nil, false))

    func post(_ input: GossipInput) {
        state.withLock { s in
            guard !s.closed else { return }
            s.items.append(input)
            s.wakeup?.signal()
        }
    }

    /// Posts made before the thread attached its wake-up are signalled now.
    func attach(_ wakeup: Wakeup) {
        state.withLock { s in
            s.wakeup = wakeup
            if !s.items.isEmpty { wakeup.signal() }
        }
    }

    func take() -> [GossipInput] {
        state.withLock { s in
            s.wakeup?.drain()
            defer { s.items.removeAll() }
            return s.items
        }
    }

    func close() {
        state.withLock { s in
            s.closed = true
            s.items.removeAll()
            s.wakeup?.close()
            s.wakeup = nil
        }
    }
}

/// What `stats cluster` shows of gossip; written by the gossip thread, read by any.
final class GossipCounters: Sendable {
    let packetsSent = Atomic<UInt64>(0)
    let packetsReceived = Atomic<UInt64>(0)
    let bytesSent = Atomic<UInt64>(0)
    let bytesReceived = Atomic<UInt64>(0)
    /// Datagrams refused: not sealed with a cluster secret we hold, replayed, malformed, or
    /// naming a sender life other than the seal's.
    let authFailures = Atomic<UInt64>(0)
    let malformed = Atomic<UInt64>(0)
    /// Members counted for a majority (alive, suspect, dead not forgotten) and those alive.
    let known = Atomic<Int>(1)
    let visible = Atomic<Int>(1)
    let isolated = Atomic<Bool>(false)
    /// Until this CLOCK_MONOTONIC millisecond this node may take writes as an owner: renewed on
    /// every gossip tick that finds a majority visible and the node not isolated, for less time
    /// than the others need to declare it dead. A node that was stopped (SIGSTOP) or starved
    /// finds its lease run out and refuses writes until its gossip has looked again.
    let writeLeaseUntil = Atomic<UInt64>(0)
    let awareness = Atomic<Int>(0)
    let incarnation = Atomic<UInt64>(0)
}

/// Runs the node's `GossipNode` on a thread of its own with its own event base: UDP on the peer
/// port's number (bound to this node's address), a timer set to the machine's next deadline,
/// and the inbox. Member changes go
/// to the membership coordinator as a whole member list; push-pull packets go out over the
/// coordinator's control links.
///
/// Thread-confined to the gossip thread, except `inbox` and `counters`.
final class GossipService: EventHandler {
    private let base: EventBase
    private let cluster: ClusterState
    private let logger: Logger
    private let coordinator: MembershipCoordinator
    private var node: GossipNode
    private var seal: GossipSeal?
    private let fd: Int32
    private var events: [IOEvent] = []
    private var ticker: PeriodicHandler?
    private var wakeupHandler: PeriodicHandler?
    private var wakeup: Wakeup?
    private var destinations: [String: DatagramAddress] = [:]
    private var buffer = [UInt8](repeating: 0, count: 65_536)
    private var thread: NativeThread?
    private var timer: IOEvent?
    /// Timer granularity: deadlines closer than this together are served by one wake-up.
    private static let minimumSleepMicros = 2_000
    private var stopped = false
    private var lastHealth = GossipHealth(known: 1, visible: 1, isolated: false)

    /// For the size of the store when this node comes back from a confirmed death.
    private let store: Store?

    init(cluster: ClusterState, coordinator: MembershipCoordinator, logger: Logger, store: Store? = nil) throws(EventLoopError) {
        self.store = store
        self.base = try EventBase()
        self.cluster = cluster
        self.logger = logger
        self.coordinator = coordinator
        let seeds = cluster.initialMembership.members.map(\.address)
        var random = SystemRandomNumberGenerator()
        node = GossipNode(
            local: cluster.local, bootID: cluster.bootID, incarnation: cluster.incarnation, seeds: seeds,
            timing: cluster.gossipTiming, randomSeed: random.next(), now: GossipService.now(), joining: true)
        seal = cluster.keys.map { GossipSeal(keys: $0, bootID: cluster.bootID) }
        fd = try Datagram.bind(host: cluster.local.host, port: cluster.peerPort)
        super.init()
        let readEvent = try IOEvent(base: base, fd: fd, kind: .read, persist: true, handler: self)
        readEvent.add()
        // Datagrams already waiting are taken first: an ack on the socket must not lose to the
        // deadline of the probe it answers.
        let ticker = PeriodicHandler { [unowned self] in
            self.receiveAll()
            self.tick()
        }
        // One-shot, re-armed for the machine's next deadline after every event.
        let tickEvent = try IOEvent(base: base, fd: -1, kind: [], persist: false, handler: ticker)
        self.ticker = ticker
        self.timer = tickEvent
        let inboxHandler = PeriodicHandler { [unowned self] in self.drainInbox() }
        let wake = try Wakeup(base: base, handler: inboxHandler)
        wakeupHandler = inboxHandler
        wakeup = wake
        cluster.gossipInbox.attach(wake)
        events = [readEvent, tickEvent]
        rearm()
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec / 1_000_000)
    }

    /// Starts the thread: joins through the seeds, then runs until `leave` is handled.
    func start() -> Bool {
        // The first write lease, before any client is accepted: a node starts out seeing every
        // member of its seeds.
        renewLease(node.health(now: GossipService.now()), now: GossipService.now())
        let box = UncheckedBox(self)
        guard let t = NativeThread.start(name: "rc-gossip", { box.value.run() }) else { return false }
        thread = t
        return true
    }

    func join() { thread?.join() }

    private func run() {
        perform(node.start(now: GossipService.now()))
        publishMembers()
        base.run()
        for e in events { e.free() }
        events.removeAll()
        Socket.close(fd)
    }

    // MARK: - Events

    /// Datagrams waiting on the socket, then whatever became due (so a late ack is seen before
    /// its probe is judged).
    override func handleEvent(_ fd: Int32, _ kind: EventKind) {
        receiveAll()
        tick()
    }

    private func receiveAll() {
        for _ in 0..<256 {
            let result = buffer.withUnsafeMutableBytes { Datagram.receive(fd, into: $0) }
            guard case .bytes(let n) = result else { return }
            cluster.gossipCounters.packetsReceived.add(1, ordering: .relaxed)
            cluster.gossipCounters.bytesReceived.add(UInt64(n), ordering: .relaxed)
            guard n <= buffer.count else {
                cluster.gossipCounters.malformed.add(1, ordering: .relaxed)
                continue
            }
            let datagram = Array(buffer[0..<n])
            take(datagram, sealed: seal != nil, from: nil)
        }
    }

    /// One packet: opened when sealed, decoded, handed to the machine. Anything that fails is
    /// dropped and counted, never obeyed.
    private func take(_ bytes: [UInt8], sealed: Bool, from streamPeer: NodeAddress?) {
        var plain = bytes
        var life: UInt64?
        if sealed, seal != nil {
            let me = cluster.local.advertise
            let opened = bytes.withUnsafeBytes { seal!.open($0, as: me) }
            switch opened {
            case .success(let o):
                plain = o.plaintext
                life = o.boot
            case .failure:
                cluster.gossipCounters.authFailures.add(1, ordering: .relaxed)
                return
            }
        }
        let packet: GossipPacket
        do {
            packet = try plain.withUnsafeBytes { raw throws(PeerHandshake.Malformed) in try GossipCodec.decode(raw) }
        } catch {
            cluster.gossipCounters.malformed.add(1, ordering: .relaxed)
            return
        }
        // The seal names the sender's life; a packet claiming another is forged.
        if let life, life != packet.senderBoot {
            cluster.gossipCounters.authFailures.add(1, ordering: .relaxed)
            return
        }
        // Over the stream the link authenticated its peer; the packet must be that peer's.
        if let streamPeer, streamPeer.advertise != packet.sender.advertise {
            cluster.gossipCounters.authFailures.add(1, ordering: .relaxed)
            return
        }
        // Whole tables travel only over the authenticated stream, never in a datagram.
        if streamPeer == nil, case .pushPull = packet.body {
            cluster.gossipCounters.malformed.add(1, ordering: .relaxed)
            return
        }
        perform(node.receive(packet, now: GossipService.now()))
    }

    private func tick() {
        guard !stopped else { return }
        let now = GossipService.now()
        perform(node.tick(now: now))
        let health = node.health(now: now)
        if health.seesMajority != lastHealth.seesMajority {
            if health.seesMajority {
                logger.notice("this node sees a majority again (\(health.visible) of \(health.known) members)")
            } else {
                logger.warning("this node sees no majority: \(health.visible) of \(health.known) members visible; deaths it declares move no keys")
            }
        }
        if health.isolated != lastHealth.isolated {
            if health.isolated {
                logger.warning("no gossip from any member for longer than the longest suspicion (\(node.suspicionBounds.max) ms): this node may be cut off")
            } else {
                logger.notice("gossip arrives again")
            }
        }
        lastHealth = health
        let c = cluster.gossipCounters
        c.known.store(health.known, ordering: .relaxed)
        c.visible.store(health.visible, ordering: .relaxed)
        c.isolated.store(health.isolated, ordering: .relaxed)
        renewLease(health, now: now)
        c.awareness.store(node.awareness.score, ordering: .relaxed)
        c.incarnation.store(node.incarnation, ordering: .relaxed)
        rearm()
    }

    /// Writes may be taken until the next tick is well overdue (see `writeLeaseUntil`).
    private func renewLease(_ health: GossipHealth, now: UInt64) {
        let lease = max(2 * cluster.gossipTiming.probeInterval, node.suspicionBounds.min)
        cluster.gossipCounters.writeLeaseUntil.store(health.seesMajority && !health.isolated ? now + lease : 0, ordering: .relaxed)
    }

    /// The timer for the machine's next deadline (it may move earlier after any packet).
    private func rearm() {
        guard !stopped, let timer else { return }
        let now = GossipService.now()
        let wait = node.nextDeadline(now: now) - now
        let micros = Int(min(wait, 60_000)) * 1000
        timer.add(timeoutMicros: max(micros, GossipService.minimumSleepMicros))
    }

    private func drainInbox() {
        defer { tick() }
        for input in cluster.gossipInbox.take() {
            switch input {
            case .stream(let bytes, let from):
                take(bytes, sealed: false, from: from)
            case .forget(let identity):
                var actions: [GossipAction] = []
                if node.forget(identity, &actions) {
                    logger.notice("member \(identity) forgotten by the operator")
                    perform(actions)
                }
            case .beginLeave:
                perform(node.beginLeave(now: GossipService.now()))
            case .promote(let owners):
                guard node.selfState == .joining else { continue }
                // Before anyone hears of it: until every ring member has switched (each says so
                // with `handoffDone` as it does), an owner on the old ring may still take this
                // node's keys, so this node takes no writes as owner. A first node has no one
                // to wait for.
                if !owners.isEmpty {
                    let limit = cluster.returning.begin(now: GossipService.now(), limit: 3_000, needed: owners)
                    logger.notice("alive: on the ring from now on; owned writes wait until \(owners.sorted().joined(separator: ", ")) switched (at most \(limit) ms)")
                }
                cluster.rejoining.store(false, ordering: .relaxed)
                perform(node.promote(now: GossipService.now()))
            case .leave:
                let actions = node.leave(now: GossipService.now())
                // Twice: a lost datagram would leave a member waiting for a suspicion instead.
                perform(actions)
                perform(actions.filter { if case .send = $0 { return true } else { return false } })
                stopped = true
                cluster.gossipInbox.close()
                base.stop()
                return
            }
        }
    }

    // MARK: - Actions

    private func perform(_ actions: [GossipAction]) {
        var membersChanged = false
        for action in actions {
            switch action {
            case .send(let to, let packet):
                send(packet, to: to)
            case .stream(let to, let packet):
                coordinator.post(.gossipStream(to: to, bytes: GossipCodec.encode(packet)))
            case .changed(let change):
                membersChanged = true
                log(change)
            case .forgotten(let address):
                membersChanged = true
                logger.notice("member \(address.advertise) forgotten")
            case .returnedFromDeath:
                if node.selfState == .joining {
                    // Before its `joining` goes out (the next actions): nothing sent to it as a
                    // joining node is dropped here. Its workers may still route by a ring with
                    // this node on it for a moment: they serve nothing as owner meanwhile.
                    cluster.rejoining.store(true, ordering: .relaxed)
                    let dropped = store?.discardAll() ?? 0
                    cluster.counters.rejoinDiscarded.add(UInt64(dropped), ordering: .relaxed)
                    logger.warning("the others declared this node dead (with a majority) and moved its keys: it dropped what it held (\(dropped) entries) and joins again")
                } else {
                    // Leaving: it keeps its data behind the barrier (issue 11's rule) while it goes.
                    let limit = cluster.returning.begin(now: GossipService.now(), entries: store?.entryCount ?? 0, rate: cluster.repairRate)
                    logger.warning("the others declared this node dead and moved its keys: it takes no writes as owner until every member has handed its copies back (at most \(limit) ms)")
                }
            }
        }
        if membersChanged { publishMembers() }
    }

    private func publishMembers() {
        coordinator.post(.gossipMembers(node.members.values.map(\.news.member)))
    }

    private func log(_ change: MemberChange) {
        let n = change.news
        let what: String
        switch (change.previous, n.state) {
        case (nil, _): what = "joined (\(n.state.rawValue))"
        case (_, .alive) where change.restarted: what = "restarted (a new life, incarnation \(n.incarnation))"
        case (_, .joining) where change.restarted: what = "restarted (a new life, incarnation \(n.incarnation)); joining: the others transfer what it will hold"
        case (.joining?, .alive): what = "finished joining: on the ring"
        case (.alive?, .alive): return  // a new incarnation only (first news of a seed, a refutation)
        case (_, .alive): what = "is alive again (incarnation \(n.incarnation))"
        case (_, .suspect): what = "is suspect (reported by \(n.reporter))"
        case (_, .dead): what = n.confirmed ? "is dead (confirmed by a majority)" : "is dead as seen from a side without a majority: it keeps its keys"
        case (_, .left): what = "left"
        case (_, .joining): what = "is joining (incarnation \(n.incarnation)): the others transfer what it will hold"
        case (_, .leaving): what = "is leaving: handing over what it holds"
        default: what = n.state.rawValue
        }
        if n.identity == cluster.local.advertise { return }
        logger.notice("member \(n.identity) \(what)")
    }

    private func send(_ packet: GossipPacket, to: NodeAddress) {
        var bytes = GossipCodec.encode(packet)
        if seal != nil { bytes = seal!.seal(bytes, to: to.advertise) }
        let key = to.peerEndpoint
        if destinations[key] == nil {
            guard let resolved = Datagram.resolve(host: to.host, port: Int(to.peerPort)) else { return }
            destinations[key] = resolved
        }
        guard let destination = destinations[key] else { return }
        bytes.withUnsafeBytes { _ = Datagram.send(fd, $0, to: destination) }
        cluster.gossipCounters.packetsSent.add(1, ordering: .relaxed)
        cluster.gossipCounters.bytesSent.add(UInt64(bytes.count), ordering: .relaxed)
    }
}
