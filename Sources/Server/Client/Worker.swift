import Cluster
import EventLoop
import Logging
import Storage
import Synchronization
import TextProtocol

/// A message for a worker, sent from another thread through its `WorkerMailbox`.
enum WorkerMessage: Sendable {
    /// A new connection accepted by the listener: a client's, or a peer's on the peer port.
    case connection(fd: Int32, role: Connection.Role, info: ConnectionInfo?)
    /// Log lines are waiting for a `watch` connection of this worker.
    case watchOutput(Watcher)
    /// The membership changed: route by this view from now on.
    case view(ClusterView)
    /// Finish what is in flight, close every connection and end the loop.
    case stop
}

/// The thread-safe face of a worker: a queue plus a wake-up, the only way other threads reach it.
final class WorkerMailbox: Sendable {
    private let queue = Mutex<[WorkerMessage]>([])
    // Set once by the worker before its thread starts; read-only afterwards.
    nonisolated(unsafe) private(set) var wakeup: Wakeup?

    func attach(_ wakeup: Wakeup) { self.wakeup = wakeup }

    func post(_ message: WorkerMessage) {
        queue.withLock { $0.append(message) }
        wakeup?.signal()
    }

    func takeAll() -> [WorkerMessage] {
        queue.withLock { q in
            let all = q
            q.removeAll(keepingCapacity: true)
            return all
        }
    }
}

/// One worker thread: its own event base, its client connections, its executor and counters,
/// and — in a cluster — its peer table: a request link per peer, keyed by identity, and the
/// peer connections other nodes opened to it.
///
/// Thread-confined: after `start`, everything here is used only on the worker's own thread; the
/// listener and the coordinator reach it only through `mailbox`.
final class Worker: EventHandler, PeerChannelHost {
    let index: Int
    let base: EventBase
    let mailbox = WorkerMailbox()
    let context: ServerContext
    let stats: WorkerStats
    var executor: Executor
    let logger: Logger
    /// The most input one command may occupy: the largest storage command (line + item + CRLF)
    /// or a multi-get line, which memcached leaves unbounded but we must not.
    let inputLimit: Int
    /// Settings read per request, kept here so the hot path does not copy the configuration.
    let maxOutputBuffer: Int
    let clock: CoarseClock
    /// The cluster this node belongs to; nil standalone.
    let clusterState: ClusterState?
    /// Set before the thread starts: where membership news goes.
    var coordinator: MembershipCoordinator?
    /// The view this worker routes by, and its router; nil standalone.
    private(set) var currentView: ClusterView?
    private(set) var router: Router?
    /// Request links by peer identity, and the same by the current ring's node index.
    private var links: [String: PeerLink] = [:]
    private var linksByIndex: [PeerLink?] = []
    /// The same by the future ring's node index, while members join or leave.
    private var futureLinksByIndex: [PeerLink?] = []
    /// Peer connections other nodes opened to this worker.
    private var sessions: [ObjectIdentifier: PeerSession] = [:]
    private var tickTimer: IOEvent?
    private var ticker: PeriodicHandler?
    private var scratch = OutputBuffer(capacity: 4 * 1024)
    private var wakeup: Wakeup?
    private var connections: [Int32: Connection] = [:]
    /// Connections closed during a callback: released at the next callback, never inside their own.
    private var closedConnections: [Connection] = []
    private(set) var isStopping = false
    /// The highest epoch this worker already asked the coordinator to catch up to.
    private var catchUpAsked: UInt64 = 0

    init(index: Int, context: ServerContext, stats: WorkerStats) throws(EventLoopError) {
        self.index = index
        self.context = context
        self.stats = stats
        self.base = try EventBase()
        self.executor = Executor(store: context.store, stats: stats, context: context, operations: context.operations)
        self.inputLimit = max(2 * context.configuration.maxItemSize, 4 << 20)
        self.maxOutputBuffer = context.configuration.maxOutputBuffer
        self.clock = context.clock
        self.clusterState = context.cluster
        var logger = context.logger
        logger[metadataKey: "worker"] = "\(index)"
        self.logger = logger
        super.init()
        let wakeup = try Wakeup(base: base, handler: self)
        self.wakeup = wakeup
        mailbox.attach(wakeup)
        if let cluster = context.cluster {
            adopt(cluster.view)
            let checker = PeriodicHandler { [unowned self] in self.checkLinkTimeouts() }
            let timer = try IOEvent(base: base, fd: -1, kind: [], persist: true, handler: checker)
            timer.add(timeoutMicros: Int(min(cluster.peerTimeoutMillis / 4, 100)) * 1000)
            tickTimer = timer
            ticker = checker
            let flushHandler = PeriodicHandler { [unowned self] in self.flushDirtyChannels() }
            linkFlusher = try IOEvent(base: base, fd: -1, kind: [], persist: false, handler: flushHandler)
            linkFlushHandler = flushHandler
        }
    }

    /// Channels with frames to write, and client connections with answers from peers, at the
    /// end of this loop pass.
    private var dirtyChannels: [PeerChannel] = []
    private var dirtyConnections: [Connection] = []
    private var linkFlusher: IOEvent?
    private var linkFlushHandler: PeriodicHandler?
    private var linkFlushPending = false

    // MARK: - PeerChannelHost

    var cluster: ClusterState { clusterState! }
    var nowMillis: UInt64 { clock.monotonicMillis }

    /// Queues `channel` to be written once the callbacks already due in this pass have run: an
    /// activated event goes to the end of libevent's active queue.
    func scheduleFlush(_ channel: PeerChannel) {
        dirtyChannels.append(channel)
        if !linkFlushPending, let linkFlusher {
            linkFlushPending = true
            linkFlusher.activate(.timeout)
        }
    }

    func flushDirtyChannels() {
        linkFlushPending = false
        let channels = dirtyChannels
        dirtyChannels.removeAll(keepingCapacity: true)
        for channel in channels { channel.scheduledFlush() }
        let ready = dirtyConnections
        dirtyConnections.removeAll(keepingCapacity: true)
        for connection in ready { connection.scheduledFlush() }
    }

    /// Writes `connection` at the end of this pass (answers from peers arrived for it).
    func scheduleFlush(_ connection: Connection) {
        guard connection.markFlushScheduled() else { return }
        dirtyConnections.append(connection)
        if !linkFlushPending, let linkFlusher {
            linkFlushPending = true
            linkFlusher.activate(.timeout)
        }
    }

    func localHello(lane: PeerLane, challenge: [UInt8]) -> PeerHelloInfo {
        let view = currentView ?? cluster.view
        return PeerHelloInfo(
            lane: lane, secured: cluster.keys != nil, node: cluster.local, bootID: cluster.bootID,
            incarnation: cluster.incarnation, epoch: view.epoch, ringDigest: view.ring.digest,
            challenge: challenge, members: view.members)
    }

    // MARK: - Views and links

    var viewEpoch: UInt64 { currentView?.epoch ?? 0 }
    var ringDigest: String { currentView?.ring.digest ?? "" }

    /// Routes by `view` from now on: links are kept for members that stay, opened on first use
    /// for new ones, and retired (failing what is in flight) for members that left.
    private func adopt(_ view: ClusterView) {
        // The new table and router first: connections that a retired link wakes route with the
        // new ring through the new table.
        linksByIndex = view.ring.nodes.enumerated().map { i, node in
            view.ring.isLocal(NodeIndex(i)) ? nil : linkCreating(node)
        }
        futureLinksByIndex = view.futureRing.map { future in
            future.nodes.enumerated().map { i, node in future.isLocal(NodeIndex(i)) ? nil : linkCreating(node) }
        } ?? []
        let oldView = currentView
        currentView = view
        router = Router(ring: view.ring, replicas: cluster.replicas,
                        suspects: Set(view.members.filter { $0.state == .suspect }.map(\.address.advertise)),
                        future: view.futureRing)
        context.store.setNodeID(view.localNodeID)
        let identities = Set(view.members.map(\.address.advertise))
        for (identity, link) in links where !identities.contains(identity) {
            links[identity] = nil
            link.retire()
        }
        for (identity, link) in bulkLinks where !identities.contains(identity) {
            bulkLinks[identity] = nil
            link.retire()
        }
        runRetries()
        repair?.viewChanged(from: oldView, to: view)
        transfer?.viewChanged(view)
    }

    private func linkCreating(_ node: NodeAddress) -> PeerLink {
        if let link = links[node.advertise] { return link }
        let link = PeerLink(peer: node, worker: self)
        links[node.advertise] = link
        return link
    }

    /// Worker 0 copies keys again after a death (`Repair`), and fills the new holders of a
    /// join or leave (`Transfer`).
    private lazy var repair: Repair? = index == 0 && clusterState != nil ? Repair(worker: self) : nil
    private lazy var transfer: Transfer? = index == 0 && clusterState != nil ? Transfer(worker: self) : nil
    /// Worker 0 compares digests with the other replicas and repairs what differs.
    private lazy var antiEntropy: AntiEntropy? = index == 0 && clusterState != nil ? AntiEntropy(worker: self) : nil

    /// Forwarded writes a peer refused as not its key's owner, waiting for a newer view (or
    /// 100 ms) before they are routed once more.
    private var pendingRetries: [(work: ForwardWork, connection: Connection, at: UInt64)] = []

    func retryLater(_ work: ForwardWork, connection: Connection) {
        pendingRetries.append((work, connection, nowMillis))
    }

    private func runRetries() {
        guard !pendingRetries.isEmpty else { return }
        let due = pendingRetries
        pendingRetries.removeAll()
        for retry in due {
            if isStopping { retry.work.failed(part: 0, counters: cluster.counters) } else { Forwarding.retry(retry.work, retry.connection) }
        }
    }

    /// Worker 0's bulk links by identity (transfers, repair, anti-entropy): connections of their
    /// own, so a burst of a pass's copies never queues in front of a forwarded request.
    private var bulkLinks: [String: PeerLink] = [:]

    /// The bulk link to `node` (never this node).
    func bulkLink(to node: NodeAddress) -> PeerLink {
        if let link = bulkLinks[node.advertise] { return link }
        let link = PeerLink(peer: node, worker: self, lane: .bulk)
        bulkLinks[node.advertise] = link
        return link
    }

    /// The bulk link to a member of the current view, by identity; nil for this node or a
    /// member the view does not have.
    func bulkLink(toIdentity identity: String) -> PeerLink? { otherMember(identity).map(bulkLink(to:)) }

    /// The address of a member of the current view other than this node, by identity.
    private func otherMember(_ identity: String) -> NodeAddress? {
        guard let view = currentView, identity != view.local.advertise else { return nil }
        return view.member(identity)?.address
    }

    /// The request link to a ring node of the current view (never this node).
    func link(to node: NodeIndex) -> PeerLink { linksByIndex[node.rawValue]! }

    /// The request link to a node of the current view's future ring (never this node).
    func link(toFuture node: NodeIndex) -> PeerLink { futureLinksByIndex[node.rawValue]! }

    /// The request link to a member of the current view, by identity; nil for this node or a
    /// member the view does not have.
    func link(toIdentity identity: String) -> PeerLink? { otherMember(identity).map(linkCreating) }

    /// Every other member's request link (for `flush_all`), in ring order.
    var peerLinks: [PeerLink] { linksByIndex.compactMap { $0 } }

    func pinged(epoch: UInt64, from peer: NodeAddress) { noteEpoch(epoch, from: peer) }

    /// A frame from `peer` carried `epoch`: if it is above ours, ask the coordinator to catch up.
    func noteEpoch(_ epoch: UInt64, from peer: NodeAddress) {
        guard epoch > viewEpoch, epoch > catchUpAsked else { return }
        catchUpAsked = epoch
        coordinator?.post(.catchUp(peer: peer, epoch: epoch))
    }

    /// Fails links whose oldest request is older than peer_timeout; pings idle links.
    func checkLinkTimeouts() {
        let now = nowMillis
        let interval = UInt64(min(cluster.peerTimeoutMillis / 4, 100))
        repair?.tick(interval: interval)
        transfer?.tick(interval: interval)
        antiEntropy?.tick(interval: interval, busy: repair?.running == true || transfer?.running == true)
        if let first = pendingRetries.first, now >= first.at + 100 { runRetries() }
        for link in links.values { link.tick(now: now) }
        for link in bulkLinks.values { link.tick(now: now) }
        for session in Array(sessions.values) { session.channel.checkHandshake(now: now, limit: cluster.handshakeTimeoutMillis) }
    }

    func sessionClosed(_ session: PeerSession) {
        sessions[ObjectIdentifier(session)] = nil
    }

    /// A buffer for answers that are assembled before they reach a connection's output.
    func withScratch<R>(_ body: (inout OutputBuffer) -> R) -> R {
        scratch.removeAll()
        return body(&scratch)
    }

    /// Runs the loop on the current thread until a `.stop` message ends it.
    func run() {
        base.run()
        wakeup?.close()
        closedConnections.removeAll()
    }

    /// The wake-up fired: take the messages.
    override func handleEvent(_ fd: Int32, _ kind: EventKind) {
        releaseClosedConnections()
        wakeup?.drain()
        for message in mailbox.takeAll() {
            switch message {
            case .connection(let fd, .peer, _):
                if isStopping || clusterState == nil { Socket.close(fd); continue }
                do {
                    let session = try PeerSession(fd: fd, worker: self)
                    sessions[ObjectIdentifier(session)] = session
                } catch {
                    logger.warning("cannot watch peer connection \(fd): \(error)")
                }
            case .connection(let fd, .client, let info):
                guard let info else { Socket.close(fd); continue }
                if isStopping { Socket.close(fd); context.connectionEnded(info); continue }
                do {
                    let connection = try Connection(fd: fd, info: info, worker: self)
                    connections[fd] = connection
                    logger.debug("<\(fd) new ascii client connection.", metadata: NodeLogHandler.verbatim)
                    if context.operations.tracing.load(ordering: .relaxed) & WatchEvents.connevents != 0 {
                        context.operations.watch.connectionOpened(peer: info.peer, fd: fd)
                    }
                } catch {
                    logger.warning("cannot watch connection \(fd): \(error)")
                    Socket.close(fd)
                    context.connectionEnded(info)
                }
            case .watchOutput(let watcher):
                connections[watcher.fd]?.pullWatchOutput(watcher)
            case .view(let view):
                if !isStopping { adopt(view) }
            case .stop:
                isStopping = true
                runRetries()
                tickTimer?.free()
                linkFlusher?.free()
                // Retired links stay in the tables and refuse every send: a connection that
                // resumes when its forwards fail here parses on and gets `peer unavailable`,
                // never a new link.
                for link in links.values { link.retire() }
                for link in bulkLinks.values { link.retire() }
                for session in Array(sessions.values) { session.channel.close(reason: "the node is stopping") }
                for connection in Array(connections.values) { connection.finishAndClose() }
                base.stop()
            }
        }
    }

    func connectionClosed(_ connection: Connection) {
        // Keep it alive first: the caller is the connection itself, reached through an unretained
        // callback context, and the dictionary may hold the only other reference.
        closedConnections.append(connection)
        connections[connection.fd] = nil
        context.connectionEnded(connection.info)
        logger.debug("<\(connection.fd) connection closed.", metadata: NodeLogHandler.verbatim)
        if context.operations.tracing.load(ordering: .relaxed) & WatchEvents.connevents != 0 {
            context.operations.watch.connectionClosed(
                peer: connection.info.peer, fd: connection.fd, reason: isStopping ? "shutdown" : connection.closeReason)
        }
    }

    /// -vv (or `verbosity 2`): log every command.
    @inline(__always) var logCommands: Bool { context.logCommands }

    func releaseClosedConnections() {
        if !closedConnections.isEmpty { closedConnections.removeAll(keepingCapacity: true) }
    }

    /// -vv: memcached's trace of a command, `<fd <its first line>`.
    func logCommand(fd: Int32, bytes: UnsafeRawBufferPointer, consumed: Int) {
        var lineEnd = 0
        while lineEnd < consumed && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
        if lineEnd > 0 && bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<min(lineEnd, 1024)]), as: UTF8.self)
        logger.debug("<\(fd) \(line)", metadata: NodeLogHandler.verbatim)
    }

    /// -vv: memcached's trace of an answer, `>fd <line>` per line (`>fd sending key <k>` for a
    /// value, whose data is not logged; `STAT` lines are not logged, as memcached does not).
    func logAnswer(fd: Int32, _ answer: UnsafeRawBufferPointer) {
        var position = 0
        while position < answer.count {
            var end = position
            while end < answer.count && answer[end] != UInt8(ascii: "\n") { end += 1 }
            var lineEnd = end
            if lineEnd > position && answer[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            let line = UnsafeRawBufferPointer(rebasing: answer[position..<lineEnd])
            position = end + 1
            var words = line.split(separator: UInt8(ascii: " "), maxSplits: 4, omittingEmptySubsequences: false)
            let first = words.isEmpty ? [] : Array(words.removeFirst())
            if first.elementsEqual("VALUE".utf8), words.count >= 3 {
                logger.debug(">\(fd) sending key \(String(decoding: words[0], as: UTF8.self))", metadata: NodeLogHandler.verbatim)
                position += (Int(String(decoding: words[2], as: UTF8.self)) ?? 0) + 2
            } else if first.elementsEqual("VA".utf8), let length = words.first.flatMap({ Int(String(decoding: $0, as: UTF8.self)) }) {
                logger.debug(">\(fd) \(String(decoding: line, as: UTF8.self))", metadata: NodeLogHandler.verbatim)
                position += length + 2
            } else if !first.elementsEqual("STAT".utf8) {
                logger.debug(">\(fd) \(String(decoding: line, as: UTF8.self))", metadata: NodeLogHandler.verbatim)
            }
        }
    }
}
