import Cluster
import EventLoop
import Logging
import TextProtocol

/// A worker's request link to one peer (by identity): forwarded commands out, their answers
/// back, matched by request id, so they may come back in any order.
///
/// Opened on first use (a `PeerChannel` on the request lane); requests queued while it connects
/// go out once the handshake is done. A link that fails (connect error, closed, a refused or
/// broken handshake, no answer within `peer_timeout`, nothing heard for three ping intervals)
/// fails every request in flight and waits out a backoff (50 ms doubling to 2 s) before it is
/// opened again; during the backoff requests fail at once, so a dead peer never holds up the
/// worker's other connections. At most `maxLinkInFlight` requests are in flight: past it the
/// link says `.full` and wakes the connections that waited once half have been answered.
/// Thread-confined to its worker.
final class PeerLink: PeerChannelDelegate {
    enum SendResult { case sent, unavailable, full }

    private struct Pending {
        let work: ForwardWork
        let part: Int
        let sentAt: UInt64
        let isCopy: Bool
        /// When the link gives up on it: a copy after `replication_timeout`; a forwarded write
        /// whose owner waits for its own copies after `peer_timeout` + `replication_timeout`
        /// (else a healthy owner waiting on a dead backup would look dead itself); anything
        /// else after `peer_timeout`.
        let deadline: UInt64
    }
    /// `replicate` requests in flight (async replication bounds them per link).
    private(set) var copiesInFlight = 0

    /// The peer, as the view named it when the link was made.
    private(set) var peer: NodeAddress
    unowned(unsafe) let worker: Worker
    private var channel: PeerChannel?
    private var backoff = Backoff(initial: 50)
    /// Requests in flight by id (ids in send order).
    private var pending = PendingWindow<Pending>()
    /// The first pieces of answers that came in several frames, and their bytes.
    private var partial: [UInt64: [UInt8]] = [:]
    private var partialBytes = 0
    /// Requests accepted while the channel connects, sent once it is ready.
    private var queued: [(id: UInt64, type: PeerFrameType, bytes: [UInt8])] = []
    /// Connections that stopped reading because this link was full.
    private var waiters: [Connection] = []
    private var lastPing: UInt64 = 0
    private var retired = false
    /// The open channel is counted in `peer_links_open`.
    private var counted = false

    /// `request` (forwarded commands and the copies of writes) or `bulk` (worker 0's passes:
    /// transfers, repair, anti-entropy), each lane its own connection.
    let lane: PeerLane

    init(peer: NodeAddress, worker: Worker, lane: PeerLane = .request) {
        self.peer = peer
        self.worker = worker
        self.lane = lane
    }

    var isReady: Bool { channel?.isReady ?? false }
    var inFlight: Int { pending.count }
    /// As many requests in flight as a link may have: wait (`waitForRoom`) before sending more.
    var isFull: Bool { pending.count >= worker.cluster.maxLinkInFlight || pending.span >= 4 * worker.cluster.maxLinkInFlight }

    /// Queues one request: a forwarded command (its bytes, line and data block, as the client
    /// sent them), answered by an `answer`; or copies for a backup (`replicate`), answered by a
    /// `replicateAck`.
    func send(_ bytes: UnsafeRawBufferPointer, type: PeerFrameType = .forward, work: ForwardWork, part: Int,
              waitsForCopies: Bool = false) -> SendResult {
        guard !retired, !worker.isStopping else { return .unavailable }
        let now = worker.nowMillis
        if channel == nil {
            guard backoff.allows(now: now), open() else { return .unavailable }
        }
        guard !isFull else { return .full }
        // The peer would refuse it (and close the link with everything in flight on it).
        guard bytes.count <= worker.cluster.maxFrame else { return .unavailable }
        let cluster = worker.cluster
        let limit = type == .replicate ? cluster.replicationTimeoutMillis
            : waitsForCopies ? cluster.peerTimeoutMillis + cluster.replicationTimeoutMillis : cluster.peerTimeoutMillis
        let id = pending.append(Pending(work: work, part: part, sentAt: now, isCopy: type == .replicate, deadline: now + limit))
        if type == .replicate { copiesInFlight += 1 }
        if let channel, channel.isReady {
            channel.send(PeerFrameHeader(type: type, requestID: id, epoch: worker.viewEpoch), bytes)
        } else {
            queued.append((id, type, Array(bytes)))
        }
        return .sent
    }

    /// Wake `connection` when this link has room again.
    func waitForRoom(_ connection: Connection) {
        if !waiters.contains(where: { $0 === connection }) { waiters.append(connection) }
    }

    private func open() -> Bool {
        switch PeerChannel.connect(to: peer, lane: lane, host: worker, delegate: self) {
        case .success(let opened)?:
            channel = opened
            return true
        case .failure(let error)?:
            enterBackoff("connect to \(peer.peerEndpoint): \(error)")
        case nil:
            enterBackoff("connect to \(peer.peerEndpoint): closed at once")
        }
        return false
    }

    // MARK: - PeerChannelDelegate

    func channelReady(_ channel: PeerChannel) {
        guard let info = channel.peer else { return }
        backoff.succeeded()
        worker.cluster.counters.peerLinksOpen.add(1, ordering: .relaxed)
        counted = true
        if info.ringDigest != worker.ringDigest {
            worker.cluster.counters.helloRingMismatch.add(1, ordering: .relaxed)
            worker.logger.info("peer \(info.node.advertise) routes with another ring (epoch \(info.epoch), ours \(worker.viewEpoch))")
        }
        worker.noteEpoch(info.epoch, from: info.node)
        worker.logger.info("peer link to \(peer.peerEndpoint) open")
        let waiting = queued
        queued.removeAll()
        for q in waiting where pending.contains(q.id) {
            q.bytes.withUnsafeBytes { channel.send(PeerFrameHeader(type: q.type, requestID: q.id, epoch: worker.viewEpoch), $0) }
        }
    }

    func channelReceived(_ channel: PeerChannel, _ header: PeerFrameHeader, _ payload: UnsafeRawBufferPointer) {
        worker.noteEpoch(header.epoch, from: peer)
        switch header.type {
        case .answer where header.flags & PeerFrameFlags.continued != 0:
            // Part of an answer longer than a frame: kept until its last frame.
            guard pending.contains(header.requestID) else {
                worker.cluster.counters.unmatchedAnswers.add(1, ordering: .relaxed)
                return
            }
            partialBytes += payload.count
            guard partialBytes <= 64 * worker.cluster.maxFrame else {
                worker.cluster.counters.peerProtocolErrors.add(1, ordering: .relaxed)
                channel.close(reason: "an answer in pieces above \(64 * worker.cluster.maxFrame) bytes")
                return
            }
            partial[header.requestID, default: []].append(contentsOf: payload)
        case .replicateAck:
            guard let p = pending.remove(header.requestID) else {
                worker.cluster.counters.unmatchedAnswers.add(1, ordering: .relaxed)
                return
            }
            if p.isCopy { copiesInFlight -= 1 }
            p.work.answered(part: p.part, payload)
            wakeWaiters()
        case .answer where header.flags & PeerFrameFlags.notOwner != 0:
            // The peer does not own the write's key in its view: the sender retries once.
            guard let p = pending.remove(header.requestID) else {
                worker.cluster.counters.unmatchedAnswers.add(1, ordering: .relaxed)
                return
            }
            p.work.refusedAsNotOwner(part: p.part, worker: worker)
            wakeWaiters()
        case .answer:
            let head = partial.removeValue(forKey: header.requestID)
            if let head { partialBytes -= head.count }
            guard let p = pending.remove(header.requestID) else {
                // Requests fail only when their link closes, so an answer without its request
                // is a peer's mistake: dropped and counted.
                worker.cluster.counters.unmatchedAnswers.add(1, ordering: .relaxed)
                return
            }
            if var whole = head {
                whole.append(contentsOf: payload)
                whole.withUnsafeBytes { p.work.answered(part: p.part, $0) }
            } else {
                p.work.answered(part: p.part, payload)
            }
            wakeWaiters()
        case .pong:
            break
        default:
            worker.cluster.counters.peerProtocolErrors.add(1, ordering: .relaxed)
            channel.close(reason: "unexpected \(header.type) on a request link")
        }
    }

    func channelClosed(_ channel: PeerChannel, reason: String) {
        guard self.channel === channel else { return }
        if counted {
            worker.cluster.counters.peerLinksOpen.subtract(1, ordering: .relaxed)
            counted = false
        }
        self.channel = nil
        // Back off first: the connections `failAll` wakes send again, and must not reopen at once.
        if !retired && !worker.isStopping { enterBackoff(reason) }
        failAll()
    }

    // MARK: - Time

    /// The worker's periodic check: an overdue answer fails the link; an idle link pings.
    func tick(now: UInt64) {
        guard let channel, !retired else { return }
        channel.checkHandshake(now: now, limit: worker.cluster.handshakeTimeoutMillis)
        guard self.channel === channel else { return }
        // Each request by its own deadline; the window is looked through only once its oldest
        // request is older than the shortest limit.
        let shortest = min(worker.cluster.replicationTimeoutMillis, worker.cluster.peerTimeoutMillis)
        if let oldest = pending.oldest, now > oldest.sentAt + shortest, let late = pending.first(where: { now > $0.deadline }) {
            channel.close(reason: "no answer within \(late.deadline - late.sentAt) ms")
            return
        }
        guard channel.isReady else { return }
        let interval = PeerLink.pingInterval
        if now > channel.lastReceived && now - channel.lastReceived > 3 * interval {
            channel.close(reason: "nothing heard for \(3 * interval) ms")
        } else if now - lastPing >= interval && now - channel.lastReceived >= interval {
            lastPing = now
            channel.send(PeerFrameHeader(type: .ping, requestID: now, epoch: worker.viewEpoch), [])
        }
    }

    static let pingInterval: UInt64 = 1000

    // MARK: - Failure

    private func failAll() {
        // In send order, so a connection's answers stay in order.
        let failed = pending.removeAll()
        copiesInFlight = 0
        queued.removeAll()
        partial.removeAll()
        partialBytes = 0
        for p in failed { p.work.failed(part: p.part, counters: worker.cluster.counters) }
        wakeWaiters(all: true)
    }

    private func wakeWaiters(all: Bool = false) {
        guard !waiters.isEmpty,
            all || (pending.count <= worker.cluster.maxLinkInFlight / 2 && pending.span < 4 * worker.cluster.maxLinkInFlight)
        else { return }
        let woken = waiters
        waiters.removeAll()
        for connection in woken { connection.resumeAfterBackpressure() }
    }

    private func enterBackoff(_ reason: String) {
        worker.logger.warning("peer \(peer.advertise) unavailable: \(reason); retrying in \(backoff.delay) ms")
        backoff.failed(now: worker.nowMillis)
    }

    /// The peer left the view, or the worker stops: close, fail what is in flight, never reopen.
    func retire() {
        retired = true
        if let channel {
            channel.close(reason: worker.isStopping ? "the node is stopping" : "\(peer.advertise) left the cluster")
        } else {
            failAll()
        }
    }

    /// The end-of-pass flush the worker scheduled for this link's channel.
    var channelForFlush: PeerChannel? { channel }
}
