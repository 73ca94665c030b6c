import Cluster
import Storage
import Synchronization

/// Anti-entropy on worker 0: every `anti_entropy_interval` this node summarizes the keys it
/// shares with each other ring member (`RangeDigest`: hashed buckets of key and version), sends
/// each member its summary (`digest`, frame 20), and compares it with the one that member sends
/// for the same round (`AntiEntropyBoard`). For every bucket that differs it ships its own
/// entries of that bucket to that member (`AntiEntropyShip`, a `StorePass` at `repair_rate`);
/// the member keeps the newer version, and does the same the other way, so after one round
/// every key two replicas share has its newest version on both. Tombstones are summarized and
/// shipped like items, so a copy that missed a delete gets the tombstone; a flushed or expired
/// entry is neither summarized nor taken. A round is skipped while a move, a repair pass or a
/// ring change is under way (those passes ship what changed). Worker-thread only.
final class AntiEntropy: AnswerWaiter {
    unowned(unsafe) let worker: Worker
    private let shipper: AntiEntropyShip
    /// The last round started (rounds are wall-clock milliseconds / interval).
    private var lastRound: UInt64 = 0
    /// The round being walked, or nil.
    private var walking: (round: UInt64, cutoff: UInt64, ring: String, startedAt: UInt64)?
    private var cursor = DumpCursor()
    private var digests: [String: RangeDigest] = [:]

    init(worker: Worker) {
        self.worker = worker
        shipper = AntiEntropyShip(worker: worker)
    }

    /// Changes in flight when a round starts are left out of it: copies take at most a peer
    /// timeout to land, so versions newer than the round's start minus this are not compared.
    private var settleMillis: UInt64 { max(2 * worker.cluster.peerTimeoutMillis, 1000) }

    /// The worker's periodic tick. `busy`: a repair or transfer pass runs (this round is skipped).
    func tick(interval: UInt64, busy: Bool) {
        let every = worker.cluster.antiEntropyIntervalMillis
        guard every > 0, worker.cluster.replicas > 1 else { return }
        let shipments = worker.cluster.antiEntropy.takeShipments()
        if !shipments.isEmpty { shipper.add(shipments) }
        shipper.tick(interval: interval)
        guard let router = worker.router else { return }
        if walking == nil {
            let round = worker.clock.millis / every
            guard round > lastRound else { return }
            lastRound = round
            guard !busy, router.future == nil, router.ring.nodes.count > 1 else {
                worker.cluster.counters.antiEntropySkipped.add(1, ordering: .relaxed)
                return
            }
            begin(round, every: every, router)
        }
        walk(interval: interval, every: every, router)
    }

    private func begin(_ round: UInt64, every: UInt64, _ router: Router) {
        let cutoff = ItemVersion.clock(atMillis: round * every - min(round * every, settleMillis))
        walking = (round, cutoff, router.ring.digest, worker.nowMillis)
        cursor = DumpCursor()
        digests = [:]
        for (i, node) in router.ring.nodes.enumerated() where !router.ring.isLocal(NodeIndex(i)) {
            digests[node.advertise] = RangeDigest()
        }
    }

    /// Walks the next part of the store; at the end, sends the summaries and hands them to the board.
    private func walk(interval: UInt64, every: UInt64, _ router: Router) {
        guard let round = walking else { return }
        guard router.ring.digest == round.ring, router.future == nil else {
            // The ring changed under the walk: the repair or transfer that follows ships what moved.
            walking = nil
            worker.cluster.counters.antiEntropySkipped.add(1, ordering: .relaxed)
            return
        }
        let store = worker.context.store
        // Fast enough to finish inside a quarter of the interval, and never slower than
        // ten times the repair rate: a walk only hashes.
        let rate = max(10 * worker.cluster.repairRate, Int(UInt64(store.entryCount) * 4000 / every))
        let budget = max(1, rate * Int(interval) / 1000)
        var entries: [(key: [UInt8], version: ItemVersion)] = []
        entries.reserveCapacity(min(budget, 65536))
        let more = store.forEachVersion(from: &cursor, budget: budget) { key, version in
            if version.clock <= round.cutoff { entries.append((Array(key), version)) }
        }
        for entry in entries {
            entry.key.withUnsafeBytes { key in
                let holders = router.holders(of: key)
                guard holders.contains(where: router.ring.isLocal) else { return }
                let hash = RangeDigest.keyHash(key)
                for holder in holders where !router.ring.isLocal(holder) {
                    digests[router.ring.node(holder).advertise]?.add(keyHash: hash, clock: entry.version.clock, origin: entry.version.origin)
                }
            }
        }
        guard !more else { return }
        walking = nil
        finish(round.round, cutoff: round.cutoff, ring: round.ring, tookMillis: worker.nowMillis - round.startedAt)
    }

    private func finish(_ round: UInt64, cutoff: UInt64, ring: String, tookMillis: UInt64) {
        let counters = worker.cluster.counters
        counters.antiEntropyRounds.add(1, ordering: .relaxed)
        counters.antiEntropyWalkMillis.store(tookMillis, ordering: .relaxed)
        for (identity, digest) in digests.sorted(by: { $0.key < $1.key }) {
            guard let link = worker.bulkLink(toIdentity: identity) else { continue }
            let payload = DigestMessage(round: round, cutoff: cutoff, ringDigest: ring, digest: digest).encoded()
            let work = ForwardWork(kind: .single(silentOnFailure: true), parts: 1, slot: AnswerSlot(), connection: self)
            if case .sent = payload.withUnsafeBytes({ link.send($0, type: .digest, work: work, part: 0) }) {
                counters.digestsSent.add(1, ordering: .relaxed)
                counters.digestBytesSent.add(UInt64(payload.count), ordering: .relaxed)
            }
        }
        let differing = worker.cluster.antiEntropy.completed(round: round, ring: ring, digests: digests)
        counters.bucketsDiffering.add(UInt64(differing), ordering: .relaxed)
        if differing > 0 {
            worker.logger.notice("anti-entropy round \(round): \(differing) buckets differ from a peer's; shipping their keys")
        }
    }

    func slotDone() {}
}

/// Ships this node's entries of the buckets that differ from a peer's summary to that peer: a
/// `StorePass` at `repair_rate` over the whole store, each key sent only to the peers whose
/// summary differed in its bucket and that hold it. Buckets found while a pass runs wait for
/// the next one. Worker-thread only.
final class AntiEntropyShip: StorePass {
    private var waiting: [String: Set<Int>] = [:]
    private var active: [String: Set<Int>] = [:]

    func add(_ shipments: [String: Set<Int>]) {
        for (peer, buckets) in shipments { waiting[peer, default: []].formUnion(buckets) }
        if !running { start(because: "buckets differ from \(shipments.keys.sorted().joined(separator: ", "))") }
    }

    override var rate: Int { worker.cluster.repairRate }

    override func started(estimate: Int, replacing: Bool) {
        for (peer, buckets) in waiting { active[peer, default: []].formUnion(buckets) }
        waiting = [:]
        let buckets = active.values.reduce(0) { $0 + $1.count }
        worker.logger.info("anti-entropy: \(reason); \(buckets) buckets to ship (\(estimate) keys to walk, \(rate)/s)")
    }

    override func visit(_ key: UnsafeRawBufferPointer, _ router: Router) -> Bool {
        let holders = router.holders(of: key)
        guard holders.contains(where: router.ring.isLocal) else { return true }
        let bucket = RangeDigest.bucket(of: key)
        var links: [PeerLink] = []
        for holder in holders where !router.ring.isLocal(holder) {
            let node = router.ring.node(holder)
            if active[node.advertise]?.contains(bucket) == true { links.append(worker.bulkLink(to: node)) }
        }
        guard !links.isEmpty else { return true }
        let counters = worker.cluster.counters
        return ship(key, router, to: links) { bytes in
            counters.antiEntropyKeys.add(1, ordering: .relaxed)
            counters.antiEntropyBytes.add(UInt64(bytes), ordering: .relaxed)
        }
    }

    override func ended(failures: Int, walked: Int, tookMillis: UInt64, retryIn: UInt64) {
        if failures > 0 {
            worker.logger.warning("anti-entropy: \(failures) keys did not reach their peer; walking again in \(retryIn) ms")
            return
        }
        active = [:]
        worker.logger.info("anti-entropy: shipped the differing buckets (\(walked) keys walked in \(tookMillis) ms)")
        if !waiting.isEmpty { start(because: "more buckets differ") }
    }

    override func publish(pending: Int) {
        worker.cluster.counters.antiEntropyPending.store(pending, ordering: .relaxed)
    }
}

/// Where worker 0's summaries of a round meet the peers' (which any worker may receive), and
/// the buckets to ship that come of it. Thread-safe (a mutex; a few calls per round).
final class AntiEntropyBoard: Sendable {
    private struct Board {
        var rounds = AntiEntropyRounds()
        var shipments: [String: Set<Int>] = [:]

        mutating func note(_ peer: String, _ buckets: [Int]) -> Int {
            if !buckets.isEmpty { shipments[peer, default: []].formUnion(buckets) }
            return buckets.count
        }
    }

    private let state = Mutex(Board())

    /// This node summarized `round`: returns how many buckets differ from the peers' summaries
    /// already in (their keys are to ship).
    func completed(round: UInt64, ring: String, digests: [String: RangeDigest]) -> Int {
        state.withLock { s in
            s.rounds.completed(round: round, ring: ring, digests: digests).reduce(0) { $0 + s.note($1.key, $1.value) }
        }
    }

    /// A peer's summary arrived.
    func received(from peer: String, _ message: DigestMessage) -> AntiEntropyRounds.Received {
        state.withLock { s in
            let outcome = s.rounds.received(from: peer, message)
            if case .compared(let buckets) = outcome { _ = s.note(peer, buckets) }
            return outcome
        }
    }

    func takeShipments() -> [String: Set<Int>] {
        state.withLock { s in
            defer { s.shipments = [:] }
            return s.shipments
        }
    }
}
