import Cluster
import Storage

/// After a death or a leave took a node off the ring, this node copies every key it now owns to
/// the key's other holders, until `replicas` copies exist again. When a node comes (back) onto
/// the ring, every holder of a key copies it to the other holders instead (a handoff: the node
/// that returns after a partition, or joins, gets what was written meanwhile; a holder keeps
/// the newer version). Either way a walk of the whole store in
/// the background, `repair_rate` keys per second, on worker 0's request links. A holder that
/// has the version already just confirms it. Copies that fail (a link down, a refusal) make the
/// walk run again a second later. `stats cluster` shows `repair_pending` (keys still to walk
/// plus copies in flight), `repaired_keys`, `repaired_bytes`, `repair_passes`; the log says when
/// a pass starts and ends. Worker-thread only (worker 0).
final class Repair: AnswerWaiter {
    unowned(unsafe) let worker: Worker
    private var cursor = DumpCursor()
    private var running = false
    private var walked = false
    /// Keys walked but not sent yet (a link was full).
    private var backlog: [[UInt8]] = []
    private var estimate = 0
    private var scanned = 0
    private var inFlight = 0
    private var failures = 0
    private var startedAt: UInt64 = 0
    private var restartAt: UInt64 = 0
    /// The wait before a pass after one with failures: 1 s, doubling to 30 s.
    private var retryDelay: UInt64 = 1000
    private var reason = ""
    /// A handoff pass: every holder ships, not only the owner.
    private var fromEveryHolder = false
    /// Nodes that came onto the ring: told `handoffDone` when a pass ends without failures.
    private var newcomers: Set<String> = []

    init(worker: Worker) { self.worker = worker }

    /// A new view: a pass starts when a node left the ring.
    func viewChanged(from old: KetamaRing?, to new: KetamaRing) {
        guard let old else { return }
        let now = Set(new.nodes.map(\.advertise))
        let before = Set(old.nodes.map(\.advertise))
        let gone = old.nodes.map(\.advertise).filter { !now.contains($0) }
        let came = new.nodes.map(\.advertise).filter { !before.contains($0) }
        guard !gone.isEmpty || !came.isEmpty else { return }
        retryDelay = 1000
        fromEveryHolder = fromEveryHolder && running || !came.isEmpty
        newcomers.formUnion(came)
        let what = (gone.isEmpty ? [] : ["\(gone.joined(separator: ", ")) left the ring"])
            + (came.isEmpty ? [] : ["\(came.joined(separator: ", ")) came onto the ring"])
        start(because: what.joined(separator: "; "))
    }

    private func start(because why: String) {
        cursor = DumpCursor()
        backlog.removeAll()
        walked = false
        scanned = 0
        failures = 0
        estimate = worker.context.store.entryCount
        startedAt = worker.nowMillis
        reason = why
        if !running { worker.cluster.counters.repairPasses.add(1, ordering: .relaxed) }
        running = true
        worker.logger.notice("repair: \(why); copying the keys this node owns to their other holders (\(estimate) keys to walk, \(worker.cluster.repairRate)/s)")
        publish()
    }

    /// The worker's periodic tick (`interval` milliseconds apart).
    func tick(interval: UInt64) {
        if !running, restartAt != 0, worker.nowMillis >= restartAt {
            restartAt = 0
            start(because: "copies failed in the last pass")
        }
        guard running, let router = worker.router else { return }
        var budget = max(1, worker.cluster.repairRate * Int(interval) / 1000)
        if backlog.isEmpty && !walked {
            var keys: [[UInt8]] = []
            walked = !worker.context.store.forEachKey(from: &cursor, budget: budget) { keys.append(Array($0)) }
            scanned += keys.count
            backlog = keys.reversed()
        }
        while budget > 0, let key = backlog.last {
            let sent = key.withUnsafeBytes { send($0, router) }
            guard sent else { break }  // a link is full: the rest waits for the next tick
            backlog.removeLast()
            budget -= 1
        }
        finishIfDone()
        publish()
    }

    /// Ships one key if this node owns it; false when a holder's link is full.
    private func send(_ key: UnsafeRawBufferPointer, _ router: Router) -> Bool {
        let holders = router.holders(of: key)
        // A backup copy whose key this node now owns counts as owned from now on.
        if let owner = holders.first, router.ring.isLocal(owner) { worker.context.store.markOwned(key) }
        if fromEveryHolder && !holders.contains(where: router.ring.isLocal) {
            // Not a holder any more (a node came onto the ring and took this place): the
            // holders that stay have every acknowledged version and copy it to the newcomer.
            if worker.context.store.discard(key) { worker.cluster.counters.copiesDiscarded.add(1, ordering: .relaxed) }
            return true
        }
        guard holders.count > 1, fromEveryHolder ? holders.contains(where: router.ring.isLocal) : router.ring.isLocal(holders[0])
        else { return true }
        for holder in holders where !router.ring.isLocal(holder) && worker.link(to: holder).isFull { return false }
        let work = ForwardWork(kind: .replicated(localAnswer: [], silentOnFailure: true, async: false), parts: 1,
                               slot: AnswerSlot(), connection: self)
        work.onDone = { [unowned self] done in
            inFlight -= 1
            if done.failures > 0 { failures += 1 }
            finishIfDone()
            publish()
        }
        inFlight += 1
        let counters = worker.cluster.counters
        counters.repairedKeys.add(1, ordering: .relaxed)
        if let size = worker.context.store.export(key, { _, value in value.count }) {
            counters.repairedBytes.add(UInt64(key.count + size), ordering: .relaxed)
        }
        Replication.ship(key, router, worker, work)
        work.partDone()
        return true
    }

    private func finishIfDone() {
        guard running, walked, backlog.isEmpty, inFlight == 0 else { return }
        running = false
        let took = worker.nowMillis - startedAt
        if failures > 0 {
            worker.logger.warning("repair: \(failures) keys could not be copied to every holder; walking again in \(retryDelay) ms")
            restartAt = worker.nowMillis + retryDelay
            retryDelay = min(retryDelay * 2, 30_000)
        } else {
            retryDelay = 1000
            worker.logger.notice("repair done (\(reason)): \(scanned) keys walked in \(took) ms")
            fromEveryHolder = false
            tellNewcomers()
        }
    }

    /// Every node that came onto the ring hears that this node's copies reached it.
    private func tellNewcomers() {
        guard !newcomers.isEmpty, let router = worker.router else { return }
        for (i, node) in router.ring.nodes.enumerated() where newcomers.contains(node.advertise) && !router.ring.isLocal(NodeIndex(i)) {
            let work = ForwardWork(kind: .single(silentOnFailure: true), parts: 1, slot: AnswerSlot(), connection: self)
            _ = worker.link(to: NodeIndex(i)).send(UnsafeRawBufferPointer(start: nil, count: 0), type: .handoffDone, work: work, part: 0)
        }
        newcomers.removeAll()
    }

    private func publish() {
        // Never 0 while the pass runs: the estimate is taken at its start, and writes go on.
        let pending = running ? max(1, max(0, estimate - scanned) + backlog.count + inFlight) : (restartAt != 0 ? 1 : 0)
        worker.cluster.counters.repairPending.store(pending, ordering: .relaxed)
    }

    func slotDone() {}
}
