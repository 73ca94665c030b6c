import Cluster
import TextProtocol

/// Who waits for a `ForwardWork`'s slot: a client connection (answers in the client's order),
/// or a peer session answering a forwarded write once its copies are made.
protocol AnswerWaiter: AnyObject {
    /// A slot of this waiter is done.
    func slotDone()
}

/// One client command in flight to other nodes: what it waits for, and where its answer goes.
///
/// A client connection may have many at once (`max_forwards`); each holds an `AnswerSlot` in the
/// connection's answer queue, so answers leave in the client's order whatever order the peers
/// answer in. Worker-thread only.
final class ForwardWork {
    enum Kind {
        /// One command to its owner; the owner's answer is relayed as it is. A classic `noreply`
        /// command that fails stays silent, as memcached's noreply errors do.
        case single(silentOnFailure: Bool)
        /// A write served here as the key's owner: its answer (`localAnswer`) is given only when
        /// every backup holds the change (sync); any backup that does not makes it
        /// `SERVER_ERROR replica unavailable`. Async: the answer went out already; the parts
        /// only count.
        case replicated(localAnswer: [UInt8], silentOnFailure: Bool, async: Bool)
        /// A multi-key retrieval split by owner, answered in the client's key order.
        case multiGet(MultiGetAssembly)
        /// `flush_all`: every other member flushes too; the client gets this node's answer, or
        /// `SERVER_ERROR peer unavailable` if a member could not be reached.
        case broadcast(localAnswer: [UInt8])
    }

    private(set) var kind: Kind
    /// Parts still outstanding.
    var remaining: Int
    /// Parts that failed (unreachable peer, timeout).
    var failures = 0
    /// Where the answer goes when the work is done.
    let slot: AnswerSlot
    /// The client connection (or peer session) waiting; held until the work ends (answered,
    /// failed or timed out), even if the client has gone meanwhile.
    let waiter: AnswerWaiter
    /// A forwarded write's bytes, kept for its one retry when the receiver says it does not own
    /// the key (`PeerFrameFlags.notOwner`); nil once used, and for reads.
    var retryRequest: [UInt8]?
    /// A read that may be served by the key's next holder when its node fails (`ReadFailover`),
    /// and the node each part went to (`.single`: part 0).
    var readFailover = false
    var singleTarget: String?
    private var failedOver = false
    /// Where a replicated write counts its outcome, and when it started (monotonic ms).
    var replicationCounters: ClusterCounters?
    var startedAt: UInt64 = 0
    /// Told when the work ends, whatever its kind (background passes count their copies and
    /// notices this way).
    var onDone: ((ForwardWork) -> Void)?

    init(kind: Kind, parts: Int, slot: AnswerSlot, connection: AnswerWaiter) {
        self.kind = kind
        self.remaining = parts
        self.slot = slot
        self.waiter = connection
    }

    /// A peer answered one part.
    func answered(part: Int, _ answer: UnsafeRawBufferPointer) {
        switch kind {
        case .single: slot.answer.append(answer)
        case .multiGet(let assembly): assembly.fill(part: part, answer: answer)
        case .broadcast: break
        case .replicated:
            // One status per record; anything but `held` means this backup lacks the change.
            if let statuses = ReplicaCodec.decodeAck(answer), !statuses.isEmpty, statuses.allSatisfy({ $0 == .held }) {
            } else {
                failures += 1
                replicaRefusals += 1
            }
        }
        partDone()
    }

    /// A read whose node failed: asked again of each key's next holder, once. True when the
    /// part is taken care of that way.
    private func failOver(part: Int, _ connection: Connection) -> Bool {
        let worker = connection.worker
        guard let router = worker.router else { return false }
        switch kind {
        case .multiGet(let assembly):
            guard part < assembly.parts.count, !assembly.failoverParts[part] else { return false }
            worker.cluster.counters.readFailovers.add(1, ordering: .relaxed)
            SplitRetrieval.gather(assembly.parts[part], of: assembly, into: self, router, worker, excluding: assembly.partNodes[part])
            partDone()
            return true
        case .single:
            guard !failedOver, let request = retryRequest, let target = singleTarget else { return false }
            failedOver = true
            var parser = Parser(maxItemSize: worker.context.configuration.maxItemSize,
                                flushAllDisabled: worker.context.configuration.disableFlushAll)
            return request.withUnsafeBytes { bytes -> Bool in
                guard case .command(let command, _) = parser.parse(bytes) else { return false }
                worker.cluster.counters.readFailovers.add(1, ordering: .relaxed)
                if case .retrieve(let r) = command, r.keyCount > 1 {
                    // Each key to its own next holder, assembled in the client's order.
                    var keys: [[UInt8]] = []
                    var iterator = KeyIterator(bytes, r.keys)
                    while let span = iterator.next() { keys.append(Array(slice(bytes, span))) }
                    let assembly = MultiGetAssembly(keys: keys, kind: r.kind, exptime: r.exptime)
                    kind = .multiGet(assembly)
                    SplitRetrieval.gather(Array(keys.indices), of: assembly, into: self, router, worker, excluding: target)
                    partDone()
                    return true
                }
                var next: Owner?
                Replication.forEachKey(command, bytes) { key in next = router.readOwner(of: key, excluding: target) }
                switch next {
                case .local?:
                    // This node may hold the key only since the ring changed, its copy still on
                    // the way (the repair): a miss here could be wrong, so the read fails
                    // (retryable) unless this node has something for the key.
                    var held = false
                    Replication.forEachKey(command, bytes) { key in held = worker.context.store.export(key) { _, _ in true } ?? false }
                    guard held else { return false }
                    worker.withScratch { scratch in
                        _ = worker.executor.execute(command, in: bytes, into: &scratch)
                        slot.answer.append(scratch.bytes)
                    }
                    partDone()
                    return true
                case .remote(let node)?:
                    singleTarget = router.ring.node(node).advertise
                    return worker.link(to: node).send(bytes, work: self, part: 0) == .sent
                case nil:
                    return false
                }
            }
        default:
            return false
        }
    }

    /// Backups that answered without holding the change (fenced, skewed, out of memory).
    private(set) var replicaRefusals = 0

    /// The owner that got this forwarded write does not own its key in its view. With the
    /// request kept, it is routed again on the worker's ring (once a newer view arrives, or
    /// shortly); else the part fails.
    func refusedAsNotOwner(part: Int, worker: Worker) {
        worker.cluster.counters.notOwnerRefusals.add(1, ordering: .relaxed)
        guard retryRequest != nil, case .single = kind, let connection = waiter as? Connection else {
            failed(part: part, counters: worker.cluster.counters)
            return
        }
        worker.retryLater(self, connection: connection)
    }

    /// A part could not be served: its link failed, timed out or refused it.
    func failed(part: Int, counters: ClusterCounters) {
        if readFailover, let connection = waiter as? Connection, failOver(part: part, connection) { return }
        if case .replicated = kind {} else { counters.forwardErrors.add(1, ordering: .relaxed) }
        failures += 1
        switch kind {
        case .single(let silent):
            if !silent { slot.answer.append("SERVER_ERROR peer unavailable\r\n") }
        case .multiGet(let assembly):
            counters.unavailableKeyMisses.add(UInt64(assembly.keyCount(part: part)), ordering: .relaxed)
        case .broadcast:
            break
        case .replicated:
            break
        }
        partDone()
    }

    /// Called once more for each part when the work has no remote part left (all local).
    func partDone() {
        remaining -= 1
        guard remaining <= 0, !slot.done else { return }
        if let onDone {
            self.onDone = nil
            onDone(self)
        }
        switch kind {
        case .single:
            break
        case .multiGet(let assembly):
            assembly.write(into: &slot.answer)
        case .broadcast(let localAnswer):
            // Every member it could reach flushed; a silent flush (noreply) stays silent.
            if localAnswer.isEmpty {
            } else if failures > 0 {
                slot.answer.append("SERVER_ERROR peer unavailable\r\n")
            } else {
                localAnswer.withUnsafeBytes { slot.answer.append($0) }
            }
        case .replicated(let localAnswer, let silent, let async):
            // The lag: how long the copies took to be confirmed (the client waited that long in
            // sync mode; in async mode it is how far the backups trail).
            if let counters = replicationCounters {
                counters.lastReplicationMillis.store(GossipService.now() &- startedAt, ordering: .relaxed)
            }
            if async {
                // Answered when it was applied here; the slot was never the client's.
                if failures > 0 { replicationCounters?.replicationAsyncFailures.add(UInt64(failures), ordering: .relaxed) }
                return
            }
            if failures > 0 {
                replicationCounters?.replicationFailures.add(1, ordering: .relaxed)
                if !silent { slot.answer.append("SERVER_ERROR replica unavailable\r\n") }
            } else {
                localAnswer.withUnsafeBytes { slot.answer.append($0) }
            }
        }
        slot.done = true
        waiter.slotDone()
    }
}

/// A forwarded command's place in a client connection's answers: the answer once its peers
/// gave it, then the answers of the local commands the client sent after it (which must not
/// overtake it). The connection writes a slot out when it and every slot before it are done.
final class AnswerSlot {
    var answer = OutputBuffer(capacity: 256)
    var trailing = OutputBuffer(capacity: 256)
    var done = false

    /// Empty again, for reuse by the same connection.
    func reset() {
        answer.removeAll()
        trailing.removeAll()
        answer.shrinkIfLarger(than: 64 * 1024, to: 256)
        trailing.shrinkIfLarger(than: 64 * 1024, to: 256)
        done = false
    }
}

/// The answer to a split multi-get: one slot per key in the client's order, filled by the local
/// store and by each owner's answer.
final class MultiGetAssembly {
    /// The keys, in the client's order.
    private let keys: [[UInt8]]
    let kind: RetrievalKind
    let exptime: Int64
    /// Per key: the `VALUE` block (line, data, CRLF) when it was a hit.
    private var blocks: [[UInt8]?]
    /// Per part (one per remote node asked): the key positions it asked for, in order, the
    /// node, and whether it is already a failover (never failed over again).
    private(set) var parts: [[Int]] = []
    private(set) var partNodes: [String] = []
    private(set) var failoverParts: [Bool] = []

    init(keys: [[UInt8]], kind: RetrievalKind = .get, exptime: Int64 = 0) {
        self.keys = keys
        self.kind = kind
        self.exptime = exptime
        self.blocks = Array(repeating: nil, count: keys.count)
    }

    func key(_ position: Int) -> [UInt8] { keys[position] }

    /// A new part; returns its number.
    @discardableResult
    func addPart(positions: [Int], node: String = "", failover: Bool = false) -> Int {
        parts.append(positions)
        partNodes.append(node)
        failoverParts.append(failover)
        return parts.count - 1
    }

    /// The sub-get of `part`: `get|gets|gat|gats [exptime] k1 k2 …\r\n`.
    func subRequest(_ part: Int) -> [UInt8] {
        var line: [UInt8]
        switch kind {
        case .get: line = Array("get".utf8)
        case .gets: line = Array("gets".utf8)
        case .gat: line = Array("gat \(exptime)".utf8)
        case .gats: line = Array("gats \(exptime)".utf8)
        }
        for p in parts[part] {
            line.append(UInt8(ascii: " "))
            line += keys[p]
        }
        line += [13, 10]
        return line
    }

    /// A local answer for one key: `VALUE …\r\n<data>\r\nEND\r\n` or `END\r\n`.
    func fillLocal(position: Int, answer: UnsafeRawBufferPointer) {
        let end = 5  // "END\r\n"
        if answer.count > end { blocks[position] = Array(answer[0..<(answer.count - end)]) }
    }

    /// An owner's whole answer to the sub-get of `part`: its VALUE units, in its key order.
    func fill(part: Int, answer: UnsafeRawBufferPointer) {
        let positions = parts[part]
        var cursor = 0
        var reader = ResponseReader()
        var offset = 0
        while offset < answer.count {
            let rest = UnsafeRawBufferPointer(rebasing: answer[offset...])
            guard case .unit(let unit, let length) = reader.read(rest) else { return }
            if unit.kind == .value {
                let key = UnsafeRawBufferPointer(rebasing: rest[unit.key.start..<unit.key.end])
                // memcached answers hits in the order asked, skipping misses.
                while cursor < positions.count && !keys[positions[cursor]].elementsEqual(key) { cursor += 1 }
                if cursor < positions.count {
                    blocks[positions[cursor]] = Array(rest[0..<length])
                    cursor += 1
                }
            }
            offset += length
        }
    }

    /// How many keys `part` asked for (they become misses when the owner is unavailable).
    func keyCount(part: Int) -> Int { parts[part].count }

    /// Appends the assembled answer.
    func write(into out: inout OutputBuffer) {
        for block in blocks {
            if let block { block.withUnsafeBytes { out.append($0) } }
        }
        out.append("END\r\n")
    }
}
