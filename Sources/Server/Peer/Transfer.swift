import Cluster
import Storage

/// Fills the new holders of a move before the ring switches: while members join or leave (the
/// view has a `futureRing`), this node walks its store and sends each key whose first live
/// holder it is to the key's holders on the future ring that do not hold it now (a joining
/// node, or the takers of a leaving node's ranges). New writes go to both replica sets
/// meanwhile (`Replication.ship`), so once the walk is done and every copy confirmed, the new
/// holders have every version this node acknowledged. Then it tells each moving member
/// `transferDone` with the move's digest; a moving member switches (joining → alive, leaving →
/// left) once every live ring member has said so for the move it sees.
///
/// A `StorePass` at `transfer_rate`, on worker 0's request links. `stats cluster`:
/// `transfer_pending`, `transferred_keys`, `transferred_bytes`, `transfer_passes`. A new move
/// (another member joins or leaves meanwhile) starts the walk again. Worker-thread only.
final class Transfer: StorePass {
    /// The move this pass fills (`Transfer.digest`), "" when nothing moves.
    private(set) var move = ""
    /// The move whose `transferDone` notices still have to reach a member, and to whom.
    private var unnoticed: Set<String> = []
    private var noticesInFlight: Set<String> = []

    /// One move: the ring now and the ring once it is done.
    static func digest(_ view: ClusterView) -> String {
        guard let future = view.futureRing else { return "" }
        return view.ring.digest + ">" + future.digest
    }

    func viewChanged(_ view: ClusterView) {
        let digest = Transfer.digest(view)
        guard digest != move else { return }
        move = digest
        unnoticed = []
        guard !digest.isEmpty else {
            if running { worker.logger.notice("transfer: the move ended before this pass did") }
            cancel()
            return
        }
        resetBackoff()
        let moving = view.moving.map { "\($0.address.advertise) \($0.state.rawValue)" }.joined(separator: ", ")
        start(because: moving)
    }

    override var rate: Int { worker.cluster.transferRate }

    override func started(estimate: Int, replacing: Bool) {
        worker.cluster.counters.transferPasses.add(1, ordering: .relaxed)
        worker.logger.notice("transfer: \(reason); sending the new holders the keys this node serves (\(estimate) keys to walk, \(rate)/s)")
    }

    /// Sends `key` to its new holders if this node is its first live holder now.
    override func visit(_ key: UnsafeRawBufferPointer, _ router: Router) -> Bool {
        let holders = router.holders(of: key)
        guard let first = holders.first(where: { !router.isAvoided($0) }) ?? holders.first, router.ring.isLocal(first) else { return true }
        guard !router.newHolders(of: key, besides: holders).isEmpty else { return true }
        let counters = worker.cluster.counters
        return ship(key, router, onlyNewHolders: true) { bytes in
            counters.transferredKeys.add(1, ordering: .relaxed)
            counters.transferredBytes.add(UInt64(bytes), ordering: .relaxed)
        }
    }

    override func ended(failures: Int, walked: Int, tookMillis: UInt64, retryIn: UInt64) {
        if failures > 0 {
            worker.logger.warning("transfer: \(failures) keys did not reach every new holder; walking again in \(retryIn) ms")
            return
        }
        worker.logger.notice("transfer done (\(reason)): \(walked) keys walked in \(tookMillis) ms")
        guard let view = worker.currentView else { return }
        unnoticed = Set(view.moving.map(\.address.advertise))
        sendNotices()
    }

    override func tick(interval: UInt64) {
        super.tick(interval: interval)
        if !unnoticed.isEmpty { sendNotices() }
    }

    /// `transferDone` to every moving member not told yet; this node itself through the
    /// coordinator. A notice that fails is sent again at the next tick.
    private func sendNotices() {
        guard let view = worker.currentView, Transfer.digest(view) == move else { return }
        let local = view.local.advertise
        if unnoticed.remove(local) != nil {
            worker.coordinator?.post(.transferDone(from: local, move: move))
        }
        let payload = Array(move.utf8)
        let digest = move
        for identity in unnoticed.sorted() where !noticesInFlight.contains(identity) {
            guard let link = worker.bulkLink(toIdentity: identity) else { unnoticed.remove(identity); continue }
            let work = ForwardWork(kind: .single(silentOnFailure: true), parts: 1, slot: AnswerSlot(), connection: self)
            work.onDone = { [unowned self] done in
                noticesInFlight.remove(identity)
                if done.failures == 0 && move == digest { unnoticed.remove(identity) }
            }
            let sent = payload.withUnsafeBytes { link.send($0, type: .transferDone, work: work, part: 0) }
            if case .sent = sent { noticesInFlight.insert(identity) } else { work.onDone = nil }
        }
    }

    override func publish(pending: Int) {
        worker.cluster.counters.transferPending.store(pending, ordering: .relaxed)
    }
}
