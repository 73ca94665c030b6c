import Cluster
import EventLoop
import Logging
import Synchronization

/// What workers tell the coordinator (through `MembershipCoordinator.post`).
enum CoordinatorMessage: Sendable {
    /// A peer's member list and epoch, from a hello (`incarnation` given: the peer introduced
    /// itself, first-hand news) or a `members` frame.
    case learned(members: [Member], epoch: UInt64, from: NodeAddress, incarnation: UInt64?)
    /// A frame came from `peer` at an epoch above ours: ask it for its members.
    case catchUp(peer: NodeAddress, epoch: UInt64)
    /// Gossip's whole member list, after a change: from now on gossip owns membership.
    case gossipMembers([Member])
    /// A gossip packet for `to` over its control link (push-pull).
    case gossipStream(to: NodeAddress, bytes: [UInt8])
    /// `from` (a member, or this node) finished its transfer pass for `move` (`Transfer.digest`).
    case transferDone(from: String, move: String)
}

/// Owns the membership on the listener thread, and keeps every member's copy of it in step until
/// gossip takes over (the next issue).
///
/// - It holds one control link (lane `control`) to every other member and opens it at start,
///   with a hello that carries this node's members and epoch: a node whose seeds do not name it
///   introduces itself this way, and the acceptor's `helloAck` carries the acceptor's members.
/// - Whatever changes the members (a node met for the first time, a peer's list with news) makes
///   a new `ClusterView`: published to `ClusterState`, posted to every worker's mailbox, and pushed
///   to every member over the control links (`members` frames) so nodes that have not met the
///   newcomer learn of it at once.
/// - A frame from a higher epoch makes the node ask that peer for its members (`membersRequest`).
///
/// Thread-confined to the listener thread; other threads only `post`.
final class MembershipCoordinator: EventHandler, PeerChannelHost, PeerChannelDelegate {
    let base: EventBase
    let cluster: ClusterState
    let logger: Logger
    private let clock: CoarseClock
    private var membership: Membership
    /// Messages from the workers, and whether the coordinator has stopped taking them. The
    /// wake-up is signalled and closed under this lock, so a worker posting while the node
    /// stops never writes to a closed (or reused) descriptor.
    private let inbox = Mutex<(messages: [CoordinatorMessage], closed: Bool)>(([], false))
    private nonisolated(unsafe) var wakeup: Wakeup?
    private var timer: IOEvent?
    private var workers: [WorkerMailbox] = []
    private var links: [String: ControlLink] = [:]
    private var stopping = false

    private final class ControlLink {
        let peer: NodeAddress
        var channel: PeerChannel?
        var backoff = Backoff(initial: 100)
        /// The latest gossip packet waiting for the link to be ready (a push-pull: only the
        /// newest table matters).
        var pendingGossip: [UInt8]?
        /// Opened for a push-pull to a node outside the membership (a dead member forgotten,
        /// a seed): closed when the membership next changes.
        var transient = false
        init(peer: NodeAddress) { self.peer = peer }
    }

    /// Gossip runs and owns the member list; hellos and `members` frames only carry the epoch.
    private var gossipDriven = false

    // Moves of this node (see `checkMove`).
    /// The move each member said its transfer pass is done for.
    private var transfersDone: [String: String] = [:]
    /// When this node started joining (its first view as `joining`), 0 before.
    private var joiningSince: UInt64 = 0
    private var promotionAsked = false
    /// SIGTERM: the leave's deadline, and what ends it (the Server's stop).
    private var leaveDeadline: UInt64?
    private var onLeaveDone: (() -> Void)?

    init(base: EventBase, cluster: ClusterState, logger: Logger, clock: CoarseClock) throws(EventLoopError) {
        self.base = base
        self.cluster = cluster
        self.logger = logger
        self.clock = clock
        self.membership = cluster.initialMembership
        super.init()
        wakeup = try Wakeup(base: base, handler: self)
        let ticker = PeriodicHandler { [unowned self] in self.tick() }
        let t = try IOEvent(base: base, fd: -1, kind: [], persist: true, handler: ticker)
        t.add(timeoutMicros: 100_000)
        timer = t
        self.ticker = ticker
    }

    private var ticker: PeriodicHandler?

    /// Starts the control links to the members the node starts with.
    func start(workers: [WorkerMailbox]) {
        self.workers = workers
        syncLinks()
    }

    /// From any thread.
    func post(_ message: CoordinatorMessage) {
        inbox.withLock { inbox in
            guard !inbox.closed else { return }
            inbox.messages.append(message)
            wakeup?.signal()
        }
    }

    /// The node is stopping: close the links, take no more messages.
    func stop() {
        stopping = true
        for link in links.values { link.channel?.close(reason: "the node is stopping") }
        links.removeAll()
        timer?.free()
        timer = nil
        inbox.withLock { inbox in
            inbox.closed = true
            inbox.messages.removeAll()
            wakeup?.close()
            wakeup = nil
        }
    }

    override func handleEvent(_ fd: Int32, _ kind: EventKind) {
        let messages = inbox.withLock { inbox in
            wakeup?.drain()
            let all = inbox.messages
            inbox.messages.removeAll()
            return all
        }
        for message in messages {
            switch message {
            case .learned(let members, let epoch, let from, let incarnation):
                learn(members, epoch: epoch, from: from, introduced: incarnation)
            case .gossipMembers(let list):
                gossipDriven = true
                guard !stopping else { continue }
                if membership.adopt(list) { publish() }
            case .gossipStream(let to, let bytes):
                sendGossip(bytes, to: to)
            case .transferDone(let from, let move):
                transfersDone[from] = move
                checkMove()
            case .catchUp(let peer, let epoch):
                if gossipDriven {
                    // Gossip owns the members; the epoch is a Lamport clock, so a peer's higher
                    // one is taken as it is (nodes that saw different sequences of rings while
                    // joining count differently, and the fence compares epochs).
                    raiseEpoch(to: epoch)
                    continue
                }
                guard epoch > membership.epoch, let link = links[peer.advertise], let channel = link.channel, channel.isReady else { continue }
                channel.send(PeerFrameHeader(type: .membersRequest, epoch: membership.epoch), [])
            }
        }
    }

    private func raiseEpoch(to epoch: UInt64) {
        guard !stopping, epoch > membership.epoch else { return }
        membership.observe(epoch: epoch)
        publish(news: false)
    }

    private func learn(_ members: [Member], epoch: UInt64, from: NodeAddress, introduced incarnation: UInt64?) {
        guard !stopping else { return }
        let epochBefore = membership.epoch
        if gossipDriven {
            membership.observe(epoch: epoch)
            if membership.epoch != epochBefore { publish(news: false) }
            return
        }
        var changed = false
        if let incarnation, membership.member(from) == nil {
            // Met first hand: a new member, one change this node originates.
            changed = membership.apply(Member(address: from, incarnation: incarnation))
            if changed { logger.notice("member \(from.advertise) joined (it introduced itself)") }
        }
        let before = membership.members
        if membership.merge(members, epoch: epoch) {
            changed = true
            for m in membership.members where !before.contains(where: { $0.address.advertise == m.address.advertise }) {
                logger.notice("member \(m.address.advertise) joined (learned from \(from.advertise))")
            }
        }
        if changed {
            publish()
        } else if membership.epoch != epochBefore {
            // Same members, a later epoch (a joining node adopting the cluster's): this node's
            // view and the frames it sends carry it; nothing to tell the others.
            publish(news: false)
        }
    }

    /// A new view for everyone on this node and, when the members changed (`news`), the news
    /// for every other member.
    private func publish(news: Bool = true) {
        let view = ClusterView(membership)
        let previous = cluster.view
        // A node off (or onto) the ring starts a repair on worker 0; `repair_pending` says so from now,
        // not only once the worker has the view.
        let ringNow = Set(view.ring.nodes.map(\.advertise))
        if Set(previous.ring.nodes.map(\.advertise)) != ringNow && cluster.replicas > 1 {
            cluster.counters.repairPending.store(max(1, cluster.counters.repairPending.load(ordering: .relaxed)), ordering: .relaxed)
        }
        cluster.publish(view)
        for mailbox in workers { mailbox.post(.view(view)) }
        checkMove()
        guard news else { return }
        cluster.counters.membershipChanges.add(1, ordering: .relaxed)
        logger.notice("membership epoch \(view.epoch): \(view.members.count) members, \(view.ring.nodes.count) on the ring, ring digest \(view.ring.digest)")
        syncLinks()
        // Gossip spreads the news itself.
        guard !gossipDriven else { return }
        let list = PeerHandshake.encodeMembers(view.members)
        for link in links.values {
            if let channel = link.channel, channel.isReady {
                channel.send(PeerFrameHeader(type: .members, epoch: view.epoch), list)
            }
        }
    }

    /// One control link per other member; links to members no longer in the view are closed.
    private func syncLinks() {
        let others = membership.members.filter { $0.address.advertise != cluster.local.advertise }
        for member in others where links[member.address.advertise] == nil {
            links[member.address.advertise] = ControlLink(peer: member.address)
        }
        for (identity, link) in links where !others.contains(where: { $0.address.advertise == identity }) && !(link.transient && link.pendingGossip != nil) {
            link.channel?.close(reason: "\(identity) left the membership")
            links[identity] = nil
        }
        reconnect()
    }

    /// A push-pull for `to` over its control link, now or when the link is ready; a link is
    /// opened for a node outside the membership.
    private func sendGossip(_ bytes: [UInt8], to: NodeAddress) {
        guard !stopping, to.advertise != cluster.local.advertise else { return }
        let link: ControlLink
        if let known = links[to.advertise] {
            link = known
        } else {
            link = ControlLink(peer: to)
            link.transient = true
            links[to.advertise] = link
        }
        if let channel = link.channel, channel.isReady {
            channel.send(PeerFrameHeader(type: .gossip, epoch: membership.epoch), bytes)
        } else {
            link.pendingGossip = bytes
            reconnect()
        }
    }

    private func reconnect() {
        let now = nowMillis
        for link in links.values where link.channel == nil && link.backoff.allows(now: now) {
            if case .success(let opened)? = PeerChannel.connect(to: link.peer, lane: .control, host: self, delegate: self) {
                link.channel = opened
            } else {
                link.backoff.failed(now: now)
            }
        }
    }

    // MARK: - Joining and leaving

    /// SIGTERM (listener thread): this node turns `leaving`, hands what it holds to the members
    /// that take it over, and `done` runs once every ring member's transfer pass for the leave
    /// is done, or after `shutdown_timeout`.
    func beginLeave(done: @escaping () -> Void) {
        guard !stopping, leaveDeadline == nil else { return }
        onLeaveDone = done
        leaveDeadline = nowMillis + cluster.shutdownTimeoutMillis
        logger.notice("leaving the cluster: handing over what this node holds (at most \(cluster.shutdownTimeoutMillis) ms)")
        cluster.gossipInbox.post(.beginLeave)
        checkMove()
    }

    /// A joining node asks gossip to promote it once every ring member has transferred what
    /// it will hold (or after `join_timeout`); a leaving node ends its leave once every ring
    /// member, itself included, has handed over (or after `shutdown_timeout`). Each member's
    /// notice counts only for the move this node sees now (`Transfer.digest`).
    private func checkMove() {
        guard !stopping else { return }
        let view = cluster.view
        let local = cluster.local.advertise
        let state = view.member(local)?.state
        let move = Transfer.digest(view)
        let now = nowMillis
        let pending = view.ring.nodes.map(\.advertise).filter { $0 != local && transfersDone[$0] != move }
        switch state {
        case .joining?:
            if joiningSince == 0 { joiningSince = now }
            guard !promotionAsked else { return }
            let timedOut = now >= joiningSince + cluster.joinTimeoutMillis
            guard pending.isEmpty || timedOut else { return }
            promotionAsked = true
            if pending.isEmpty {
                cluster.counters.joinsCompleted.add(1, ordering: .relaxed)
                logger.notice("joined: every ring member transferred what this node will hold (\(now - joiningSince) ms); taking its place on the ring")
            } else {
                cluster.counters.joinTimeouts.add(1, ordering: .relaxed)
                logger.warning("join_timeout: taking its place on the ring without the transfers of \(pending.joined(separator: ", ")); repair fills the rest")
            }
            cluster.gossipInbox.post(.promote(owners: Set(view.ring.nodes.map(\.advertise)).subtracting([local])))
        case .leaving?:
            guard let deadline = leaveDeadline, let done = onLeaveDone else { return }
            let selfDone = transfersDone[local] == move
            let timedOut = now >= deadline
            guard (pending.isEmpty && selfDone) || timedOut else { return }
            onLeaveDone = nil
            if pending.isEmpty && selfDone {
                logger.notice("handed over: every ring member transferred to the takers; leaving")
            } else {
                cluster.counters.leaveTimeouts.add(1, ordering: .relaxed)
                logger.warning("shutdown_timeout: leaving before \((pending + (selfDone ? [] : [local])).joined(separator: ", ")) finished handing over; re-replication covers the rest")
            }
            done()
        default:
            // Notices of an earlier move are not this one's (a node that rejoins after its death
            // sees the same move digest as when it first joined).
            if state == .alive { promotionAsked = false; joiningSince = 0; transfersDone = [:] }
            // SIGTERM before gossip said `leaving` (or with a view that never shows it): the
            // deadline still ends the leave.
            if let deadline = leaveDeadline, now >= deadline, let done = onLeaveDone {
                onLeaveDone = nil
                cluster.counters.leaveTimeouts.add(1, ordering: .relaxed)
                logger.warning("shutdown_timeout: leaving")
                done()
            }
        }
    }

    /// When the control links last carried this node's epoch.
    private var epochSentAt: UInt64 = 0

    /// Every 100 ms: reopen control links that failed; every second, a ping on each control
    /// link, so epochs meet even between nodes that exchange nothing else (a peer that sees a
    /// higher epoch in a frame takes it).
    func tick() {
        guard !stopping else { return }
        checkMove()
        let now = nowMillis
        if gossipDriven && now >= epochSentAt + 1000 {
            epochSentAt = now
            for link in links.values {
                if let channel = link.channel, channel.isReady { channel.send(PeerFrameHeader(type: .ping, requestID: now, epoch: membership.epoch), []) }
            }
        }
        for link in Array(links.values) { link.channel?.checkHandshake(now: now, limit: cluster.handshakeTimeoutMillis) }
        reconnect()
    }

    // MARK: - PeerChannelHost

    var nowMillis: UInt64 { clock.monotonicMillis }

    func scheduleFlush(_ channel: PeerChannel) { channel.scheduledFlush() }

    func pinged(epoch: UInt64, from peer: NodeAddress) {
        if gossipDriven { raiseEpoch(to: epoch) }
    }

    func localHello(lane: PeerLane, challenge: [UInt8]) -> PeerHelloInfo {
        PeerHelloInfo(
            lane: lane, secured: cluster.keys != nil, node: cluster.local, bootID: cluster.bootID,
            incarnation: cluster.incarnation, epoch: membership.epoch, ringDigest: membership.ringDigest,
            challenge: challenge, members: membership.members)
    }

    // MARK: - PeerChannelDelegate (control links this node opened)

    private func link(of channel: PeerChannel) -> ControlLink? { links.values.first { $0.channel === channel } }

    func channelReady(_ channel: PeerChannel) {
        guard let ack = channel.peer else { return }
        if let link = link(of: channel) {
            link.backoff.succeeded()
            if let pending = link.pendingGossip {
                link.pendingGossip = nil
                channel.send(PeerFrameHeader(type: .gossip, epoch: membership.epoch), pending)
            }
        }
        learn(ack.members, epoch: ack.epoch, from: ack.node, introduced: nil)
    }

    func channelReceived(_ channel: PeerChannel, _ header: PeerFrameHeader, _ payload: UnsafeRawBufferPointer) {
        if gossipDriven { raiseEpoch(to: header.epoch) }
        switch header.type {
        case .members:
            guard let from = channel.peer?.node else { return }
            do throws(PeerHandshake.Malformed) {
                learn(try PeerHandshake.decodeMembers(payload), epoch: header.epoch, from: from, introduced: nil)
            } catch {
                cluster.counters.peerProtocolErrors.add(1, ordering: .relaxed)
                channel.close(reason: "bad member list: \(error)")
            }
        case .gossip:
            if let from = channel.peer?.node { cluster.gossipInbox.post(.stream(bytes: Array(payload), from: from)) }
        case .pong:
            break
        default:
            cluster.counters.peerProtocolErrors.add(1, ordering: .relaxed)
            channel.close(reason: "unexpected \(header.type) on a control link")
        }
    }

    func channelClosed(_ channel: PeerChannel, reason: String) {
        guard let link = link(of: channel) else { return }
        link.channel = nil
        link.backoff.failed(now: nowMillis)
        // A push-pull that could not go is dropped: gossip asks again at its next round.
        link.pendingGossip = nil
        if !stopping { logger.info("control link to \(link.peer.advertise) closed: \(reason)") }
    }
}
