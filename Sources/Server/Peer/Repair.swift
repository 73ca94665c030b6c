import Cluster
import Storage

/// After a death or a leave took a node off the ring, this node copies every key it now owns to
/// the key's other holders, until `replicas` copies exist again. When a node comes (back) onto
/// the ring, every holder of a key copies it to the other holders instead (a handoff: the node
/// that returns after a partition gets what was written meanwhile; a holder keeps the newer
/// version), and a node that no longer holds a key drops it. A node that came onto the ring
/// from `joining` was filled before the switch (`Transfer`): it is told `handoffDone` at once,
/// and the pass only drops what this node no longer holds. A `StorePass` at `repair_rate`;
/// `stats cluster` shows `repair_pending`, `repaired_keys`, `repaired_bytes`, `repair_passes`;
/// the log says when a pass starts and ends. Worker-thread only (worker 0).
final class Repair: StorePass {
    /// A handoff pass: every holder ships, not only the owner.
    private var fromEveryHolder = false
    /// Only drop copies this node no longer holds (the newcomers were filled before the switch).
    private var discardOnly = false
    /// A node came onto the ring since the last complete pass: copies this node no longer
    /// holds are dropped (whatever else the pass does).
    private var discarding = false
    /// Nodes that came onto the ring: told `handoffDone` when a pass ends without failures.
    private var newcomers: Set<String> = []

    /// A new view: a pass starts when a node left or came onto the ring.
    func viewChanged(from old: ClusterView?, to new: ClusterView) {
        guard let old else { return }
        let now = Set(new.ring.nodes.map(\.advertise))
        let before = Set(old.ring.nodes.map(\.advertise))
        let gone = old.ring.nodes.map(\.advertise).filter { !now.contains($0) }
        let came = new.ring.nodes.map(\.advertise).filter { !before.contains($0) }
        guard !gone.isEmpty || !came.isEmpty else { return }
        // Came from `joining`: the transfers and the copies of every write since filled it.
        let joined = came.filter { old.member($0)?.state == .joining }
        let returned = came.filter { old.member($0)?.state != .joining }
        if !joined.isEmpty { tell(joined, handoffDone: new) }
        resetBackoff()
        let handoff = !returned.isEmpty
        fromEveryHolder = (fromEveryHolder && running) || handoff
        discardOnly = (discardOnly || !running) && gone.isEmpty && !handoff
        discarding = (discarding && running) || !came.isEmpty
        newcomers.formUnion(returned)
        guard worker.cluster.replicas > 1 || !came.isEmpty else { return }
        let what = (gone.isEmpty ? [] : ["\(gone.joined(separator: ", ")) left the ring"])
            + (came.isEmpty ? [] : ["\(came.joined(separator: ", ")) came onto the ring"])
        start(because: what.joined(separator: "; "))
    }

    override var rate: Int { worker.cluster.repairRate }

    override func started(estimate: Int, replacing: Bool) {
        if !replacing { worker.cluster.counters.repairPasses.add(1, ordering: .relaxed) }
        let what = discardOnly ? "dropping the copies this node no longer holds" : "copying the keys this node owns to their other holders"
        worker.logger.notice("repair: \(reason); \(what) (\(estimate) keys to walk, \(rate)/s)")
    }

    /// Ships one key if this node owns it (or, in a handoff, holds it); false when a holder's
    /// link is full.
    override func visit(_ key: UnsafeRawBufferPointer, _ router: Router) -> Bool {
        let holders = router.holders(of: key)
        let store = worker.context.store
        // A backup copy whose key this node now owns counts as owned from now on.
        if let owner = holders.first, router.ring.isLocal(owner) { store.markOwned(key) }
        if discarding && !holders.contains(where: router.ring.isLocal) && !router.willHoldHere(key) {
            // Not a holder any more (a node came onto the ring and took this place): the
            // holders that stay have every acknowledged version and copy it to the newcomer.
            if store.discard(key) { worker.cluster.counters.copiesDiscarded.add(1, ordering: .relaxed) }
            return true
        }
        guard !discardOnly, holders.count > 1,
              fromEveryHolder ? holders.contains(where: router.ring.isLocal) : router.ring.isLocal(holders[0])
        else { return true }
        let counters = worker.cluster.counters
        return ship(key, router) { bytes in
            counters.repairedKeys.add(1, ordering: .relaxed)
            counters.repairedBytes.add(UInt64(bytes), ordering: .relaxed)
        }
    }

    override func ended(failures: Int, walked: Int, tookMillis: UInt64, retryIn: UInt64) {
        if failures > 0 {
            worker.logger.warning("repair: \(failures) keys could not be copied to every holder; walking again in \(retryIn) ms")
        } else {
            worker.logger.notice("repair done (\(reason)): \(walked) keys walked in \(tookMillis) ms")
            fromEveryHolder = false
            discardOnly = false
            discarding = false
            if let view = worker.currentView {
                tell(newcomers.filter { id in view.ring.nodes.contains { $0.advertise == id } }, handoffDone: view)
            }
            newcomers.removeAll()
        }
    }

    /// Tells these members that this node's copies reached them (`handoffDone`).
    private func tell<S: Sequence>(_ members: S, handoffDone view: ClusterView) where S.Element == String {
        for identity in members where identity != view.local.advertise {
            guard let link = worker.bulkLink(toIdentity: identity) else { continue }
            let work = ForwardWork(kind: .single(silentOnFailure: true), parts: 1, slot: AnswerSlot(), connection: self)
            _ = link.send(UnsafeRawBufferPointer(start: nil, count: 0), type: .handoffDone, work: work, part: 0)
        }
    }

    override func publish(pending: Int) {
        worker.cluster.counters.repairPending.store(pending, ordering: .relaxed)
    }
}
