import Cluster
import Glibc
import Storage
import TextProtocol

/// Writes this node serves as their key's owner, and the copies they leave on the backups.
///
/// The owner runs the command here, reads the key's resulting state (item or tombstone, with
/// its version and CAS) and ships that state, not the command, to every other holder of the key
/// (`replicate` frames on the request links, pipelined; a link writes once per event-loop pass,
/// so concurrent writes share a send). A backup stores it if it is newer than what it holds.
/// - sync (default): the client's answer waits in its slot until every backup confirmed
///   (`replicateAck` with `held`); a backup that refuses, fails or does not answer within
///   `peer_timeout` turns it into `SERVER_ERROR replica unavailable`. The change may remain on
///   some copies: a failed write is not undone.
/// - async: the answer goes at once; copies that do not arrive are counted.
/// Before any of it, the majority rule (`refusal`).
/// Worker-thread only.
enum Replication {
    static let clusterUnavailable: StaticString = "SERVER_ERROR cluster unavailable\r\n"

    // MARK: - The majority rule

    /// Why this node must not take a write now, or nil. Without a write lease from gossip (no
    /// majority in sight, isolated, or stopped for longer than the lease) a node refuses writes,
    /// unless `partition_policy = "available"`. Reads the monotonic clock itself: after a
    /// SIGSTOP the worker may run before the coarse clock ticks.
    static func refusal(_ worker: Worker, asOwner: Bool = true) -> StaticString? {
        let cluster = worker.cluster
        let now = GossipService.now()
        if asOwner && (cluster.returning.holds(now: now) || cluster.rejoining.load(ordering: .relaxed)) {
            cluster.counters.returningWriteRefusals.add(1, ordering: .relaxed)
            return clusterUnavailable
        }
        guard !cluster.partitionAvailable else { return nil }
        if now < cluster.gossipCounters.writeLeaseUntil.load(ordering: .relaxed) { return nil }
        cluster.counters.minorityWriteRefusals.add(1, ordering: .relaxed)
        return clusterUnavailable
    }

    /// A keyed read this node would answer from its own store while it rejoins (its store was
    /// just emptied): refused instead of a miss. False for everything else.
    static func refusesLocalRead(_ command: Command, _ worker: Worker) -> Bool {
        guard worker.cluster.rejoining.load(ordering: .relaxed) else { return false }
        switch command {
        case .retrieve, .metaGet, .metaDebug: return true
        default: return false
        }
    }

    // MARK: - Owner side

    /// A client's write whose key this node owns (`RouteDecision.ownedWrite`).
    static func ownedWrite(_ command: Command, _ bytes: UnsafeRawBufferPointer, _ router: Router, _ connection: Connection) -> RouteOutcome {
        let worker = connection.worker
        let silent = Forwarding.silentOnFailure(command, bytes)
        if let refusal = refusal(worker) {
            if !silent { connection.answerNow { $0.append(refusal) } }
            return .served
        }
        guard router.replicates else { return .local }
        // Sync writes wait for room (backpressure); async ones never wait: their copies are
        // dropped and counted past `replication_queue`.
        if !worker.cluster.replicationAsync, let full = fullLink(command, bytes, router, worker) { return .waitForLink(full) }
        run(command, bytes, router, worker, slot: connection.openSlot(), waiter: connection, silent: silent)
        return .served
    }

    /// A backup's link with no room: the write waits before it runs, so it never runs without
    /// being able to ship its copies.
    static func fullLink(_ command: Command, _ bytes: UnsafeRawBufferPointer, _ router: Router, _ worker: Worker) -> PeerLink? {
        var full: PeerLink?
        forEachKey(command, bytes) { key in
            guard full == nil else { return }
            forEachTarget(key, router, worker, onlyNewHolders: false) { link in
                if full == nil && link.isFull { full = link }
            }
        }
        return full
    }

    /// Whether every link a copy of `key` goes on has room.
    static func targetsHaveRoom(_ key: UnsafeRawBufferPointer, _ router: Router, _ worker: Worker, onlyNewHolders: Bool,
                                bulk: Bool = false) -> Bool {
        var room = true
        forEachTarget(key, router, worker, onlyNewHolders: onlyNewHolders, bulk: bulk) { link in if link.isFull { room = false } }
        return room
    }

    /// The links a copy of `key` goes on: its other holders (unless `onlyNewHolders`), then,
    /// while members join or leave, the holders the move adds (Hazelcast's migration rule: a
    /// write is acknowledged only when the old and the new replica sets hold it).
    /// `bulk`: on worker 0's bulk links (a pass's copies), not the request links.
    static func forEachTarget(_ key: UnsafeRawBufferPointer, _ router: Router, _ worker: Worker, onlyNewHolders: Bool,
                              bulk: Bool = false, _ body: (PeerLink) -> Void) {
        let holders = router.holders(of: key)
        if !onlyNewHolders {
            for holder in holders where !router.ring.isLocal(holder) {
                body(bulk ? worker.bulkLink(to: router.ring.node(holder)) : worker.link(to: holder))
            }
        }
        guard let future = router.future else { return }
        for node in router.newHolders(of: key, besides: holders) where !future.isLocal(node) {
            body(bulk ? worker.bulkLink(to: future.node(node)) : worker.link(toFuture: node))
        }
    }

    /// Runs an owned write here and ships the resulting state of each key it wrote. Its answer
    /// goes into `slot` (and `waiter` is told) once every backup confirmed (sync), or at once
    /// (async).
    static func run(
        _ command: Command, _ bytes: UnsafeRawBufferPointer, _ router: Router, _ worker: Worker,
        slot: AnswerSlot, waiter: AnswerWaiter, silent: Bool
    ) {
        let counters = worker.cluster.counters
        let localAnswer: [UInt8] = worker.withScratch { scratch in
            _ = worker.executor.execute(command, in: bytes, into: &scratch)
            return Array(scratch.bytes)
        }
        let async = worker.cluster.replicationAsync
        let work: ForwardWork
        if async {
            localAnswer.withUnsafeBytes { slot.answer.append($0) }
            slot.done = true
            waiter.slotDone()
            work = ForwardWork(kind: .replicated(localAnswer: [], silentOnFailure: true, async: true), parts: 1,
                               slot: AnswerSlot(), connection: waiter)
        } else {
            work = ForwardWork(kind: .replicated(localAnswer: localAnswer, silentOnFailure: silent, async: false), parts: 1,
                               slot: slot, connection: waiter)
        }
        work.replicationCounters = counters
        work.startedAt = GossipService.now()
        counters.replicatedWrites.add(1, ordering: .relaxed)
        forEachKey(command, bytes) { key in ship(key, router, worker, work) }
        work.partDone()
    }

    /// Sends the key's current state here to every other holder of the key (and every holder a
    /// move adds; `onlyNewHolders`: to those alone), as parts of `work`.
    static func ship(_ key: UnsafeRawBufferPointer, _ router: Router, _ worker: Worker, _ work: ForwardWork, onlyNewHolders: Bool = false,
                     bulk: Bool = false) {
        ship(key, worker, work) { forEachTarget(key, router, worker, onlyNewHolders: onlyNewHolders, bulk: bulk, $0) }
    }

    /// Sends the key's current state here on each link `targets` names, as parts of `work`.
    static func ship(_ key: UnsafeRawBufferPointer, _ worker: Worker, _ work: ForwardWork, to targets: ((PeerLink) -> Void) -> Void) {
        var payload: [UInt8]?
        var encoded = false
        let counters = worker.cluster.counters
        let async: Bool
        if case .replicated(_, _, true) = work.kind { async = true } else { async = false }
        targets { link in
            if !encoded {
                encoded = true
                payload = encodedState(of: key, worker.context.store)
            }
            guard let payload else { return }
            work.remaining += 1
            if async && link.copiesInFlight >= worker.cluster.replicationQueue {
                counters.replicationDropped.add(1, ordering: .relaxed)
                work.failed(part: 0, counters: counters)
                return
            }
            switch payload.withUnsafeBytes({ link.send($0, type: .replicate, work: work, part: 0) }) {
            case .sent:
                counters.copiesSent.add(1, ordering: .relaxed)
            case .full:
                counters.replicationDropped.add(1, ordering: .relaxed)
                work.failed(part: 0, counters: counters)
            case .unavailable:
                work.failed(part: 0, counters: counters)
            }
        }
    }

    /// The key's state here as a one-record `replicate` payload, or nil when nothing is held (the
    /// write changed nothing: a miss; a refused store that dropped the item left a tombstone).
    static func encodedState(of key: UnsafeRawBufferPointer, _ store: Store) -> [UInt8]? {
        store.export(key) { state, value in
            var bits: UInt8 = 0
            if state.tombstone { bits |= ReplicaRecord.Bit.tombstone }
            if state.stale { bits |= ReplicaRecord.Bit.stale }
            if state.binaryKey { bits |= ReplicaRecord.Bit.binaryKey }
            let record = ReplicaRecord(clock: state.version.clock, origin: state.version.origin, cas: state.cas,
                                       flags: state.flags, exptime: state.exptime, bits: bits)
            var writer = ReplicaCodec.begin(count: 1, capacity: ReplicaRecord.fixedSize + key.count + value.count)
            ReplicaCodec.append(record, key: key, value: state.tombstone ? UnsafeRawBufferPointer(start: nil, count: 0) : value, to: &writer)
            return writer.bytes
        }
    }

    /// Every key a write command names, as the store sees it (base64 meta keys decoded).
    static func forEachKey(_ command: Command, _ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        switch command {
        case .store(let s): body(slice(bytes, s.key))
        case .delete(let key, _), .arithmetic(_, let key, _, _), .touch(let key, _, _): body(slice(bytes, key))
        case .retrieve(let r):
            var keys = KeyIterator(bytes, r.keys)
            while let k = keys.next() { body(slice(bytes, k)) }
        case .metaGet(let m), .metaSet(let m), .metaDelete(let m), .metaArithmetic(let m):
            let raw = slice(bytes, m.key)
            guard m.flags.has(UInt8(ascii: "b")) else { return body(raw) }
            withUnsafeTemporaryAllocation(byteCount: Base64.decodedCapacity(raw.count) + 3, alignment: 1) { out in
                guard let n = Base64.decode(raw, into: out.baseAddress!), n > 0 else { return }
                body(UnsafeRawBufferPointer(start: out.baseAddress, count: n))
            }
        default:
            break
        }
    }

    // MARK: - Backup side

    /// A `replicate` frame from `sender`: each record is stored if newer, unless fencing refuses
    /// it — the sender must hold the key in this node's view, and its epoch must not be older
    /// than ours. Returns the `replicateAck` payload; nil if the payload is malformed.
    static func receive(
        _ payload: UnsafeRawBufferPointer, from sender: NodeAddress, epoch: UInt64, _ worker: Worker
    ) -> [UInt8]? {
        let counters = worker.cluster.counters
        var statuses: [ReplicaStatus] = []
        let router = worker.router
        let senderIndex = router?.ring.index(of: sender)
        let senderInFuture = router?.future?.index(of: sender)
        let ownEpoch = worker.viewEpoch
        let store = worker.context.store
        do throws(ReplicaCodec.Malformed) {
            try ReplicaCodec.decode(payload) { record, key, value in
                let holders = router?.holders(of: key) ?? ReplicaSet()
                var refusal = ReplicaFence.refusal(sender: senderIndex, holders: holders, senderEpoch: epoch, ownEpoch: ownEpoch)
                // While members join or leave, a holder on the ring the move leads to may send
                // too (a node that switched first: the new owner).
                if refusal == .notHolder, let senderInFuture, router?.willHold(key, senderInFuture) == true { refusal = nil }
                if let refusal {
                    counters.copiesFenced.add(1, ordering: .relaxed)
                    statuses.append(refusal)
                    return
                }
                let state = ItemState(
                    version: ItemVersion(clock: record.clock, origin: record.origin), cas: record.cas, flags: record.flags,
                    exptime: record.exptime, tombstone: record.bits & ReplicaRecord.Bit.tombstone != 0,
                    stale: record.bits & ReplicaRecord.Bit.stale != 0, binaryKey: record.bits & ReplicaRecord.Bit.binaryKey != 0)
                switch store.apply(key, value, state) {
                case .applied:
                    counters.copiesApplied.add(1, ordering: .relaxed)
                    statuses.append(.held)
                case .same, .older, .flushed:
                    counters.copiesKept.add(1, ordering: .relaxed)
                    statuses.append(.held)
                case .clockSkew:
                    counters.copiesClockSkew.add(1, ordering: .relaxed)
                    worker.logger.warning("copy from \(sender.advertise) refused: its version is more than max_clock_skew ahead of this node's clock")
                    statuses.append(.clockSkew)
                case .outOfMemory, .tooLarge:
                    counters.copiesNotStored.add(1, ordering: .relaxed)
                    statuses.append(.notStored)
                }
            }
        } catch {
            return nil
        }
        return ReplicaCodec.encodeAck(statuses)
    }
}

/// A forwarded write this node serves as owner: its answer frame goes back to the peer once
/// the copies are made.
final class PeerReply: AnswerWaiter {
    private weak var session: PeerSession?
    private let requestID: UInt64
    let slot = AnswerSlot()

    init(session: PeerSession, requestID: UInt64) {
        self.session = session
        self.requestID = requestID
    }

    func slotDone() {
        session?.sendAnswer(requestID, slot.answer.bytes)
    }
}
