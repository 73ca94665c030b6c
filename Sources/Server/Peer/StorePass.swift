import Cluster
import Storage

/// A walk of the whole store in the background, on worker 0's tick, at `rate` keys per second,
/// that ships keys to other nodes on worker 0's bulk links (never in front of forwarded requests): the engine behind `Repair` (copies after a ring change) and
/// `Transfer` (filling the new holders of a join or leave before the ring switches).
///
/// A pass walks live items and tombstones (`Store.forEachKey`), hands each key to `visit`
/// (which ships it with `ship`, or says a link is full and the key waits for the next tick),
/// and ends when the walk is done and every copy answered. A pass with failed copies is walked
/// again after 1 s, doubling to 30 s. Subclasses say what a key needs (`visit`), what the pass
/// is for (`started`, `ended`) and where its progress shows (`publish`). Worker-thread only.
class StorePass: AnswerWaiter {
    unowned(unsafe) let worker: Worker
    private var cursor = DumpCursor()
    private(set) var running = false
    private var walked = false
    /// Keys walked but not sent yet (a link was full).
    private var backlog: [[UInt8]] = []
    private var estimate = 0
    private(set) var scanned = 0
    private var inFlight = 0
    private(set) var failures = 0
    private var startedAt: UInt64 = 0
    private var restartAt: UInt64 = 0
    /// The wait before a pass after one with failures: 1 s, doubling to 30 s.
    private var retryDelay: UInt64 = 1000
    private(set) var reason = ""

    init(worker: Worker) { self.worker = worker }

    // MARK: - What a subclass says

    /// Keys per second.
    var rate: Int { worker.cluster.repairRate }

    /// Ships `key` where it must go; false when a link is full (the key waits for the next tick).
    func visit(_ key: UnsafeRawBufferPointer, _ router: Router) -> Bool { true }

    /// A pass begins (`estimate` keys to walk); `replacing`: it takes over from one that ran.
    func started(estimate: Int, replacing: Bool) {}

    /// The pass ended with every copy confirmed (`failures == 0`) or not; after a failed one the
    /// walk starts again in `retryIn` ms.
    func ended(failures: Int, walked: Int, tookMillis: UInt64, retryIn: UInt64) {}

    /// Keys still to walk plus copies in flight (never 0 while a pass runs, 1 while a retry
    /// waits, 0 when idle).
    func publish(pending: Int) {}

    // MARK: - The engine

    /// A new pass from the start of the store (a running one is abandoned; its copies in flight
    /// still answer).
    func start(because why: String) {
        cursor = DumpCursor()
        backlog.removeAll()
        walked = false
        scanned = 0
        failures = 0
        restartAt = 0
        estimate = worker.context.store.entryCount
        startedAt = worker.nowMillis
        reason = why
        let replacing = running
        running = true
        started(estimate: estimate, replacing: replacing)
        publishProgress()
    }

    /// The next failed pass is retried after 1 s again.
    func resetBackoff() { retryDelay = 1000 }

    /// Stops without a pass to come (nothing to do any more).
    func cancel() {
        running = false
        restartAt = 0
        backlog.removeAll()
        retryDelay = 1000
        publishProgress()
    }

    /// The worker's periodic tick (`interval` milliseconds apart).
    func tick(interval: UInt64) {
        if !running, restartAt != 0, worker.nowMillis >= restartAt {
            restartAt = 0
            start(because: "copies failed in the last pass")
        }
        guard running, let router = worker.router else { return }
        var budget = max(1, rate * Int(interval) / 1000)
        if backlog.isEmpty && !walked {
            var keys: [[UInt8]] = []
            walked = !worker.context.store.forEachKey(from: &cursor, budget: budget) { keys.append(Array($0)) }
            scanned += keys.count
            backlog = keys.reversed()
        }
        while budget > 0, let key = backlog.last {
            let sent = key.withUnsafeBytes { visit($0, router) }
            guard sent else { break }  // a link is full: the rest waits for the next tick
            backlog.removeLast()
            budget -= 1
        }
        finishIfDone()
        publishProgress()
    }

    /// Ships `key`'s state here to its other holders (or, `onlyNewHolders`, to the holders a
    /// move adds; or, `to`, on those links alone) as one copy of this pass. False when one of
    /// those links is full.
    func ship(_ key: UnsafeRawBufferPointer, _ router: Router, onlyNewHolders: Bool = false, to links: [PeerLink]? = nil,
              counted: (Int) -> Void) -> Bool {
        if let links {
            guard !links.contains(where: \.isFull) else { return false }
        } else {
            guard Replication.targetsHaveRoom(key, router, worker, onlyNewHolders: onlyNewHolders, bulk: true) else { return false }
        }
        let work = ForwardWork(kind: .replicated(localAnswer: [], silentOnFailure: true, async: false), parts: 1,
                               slot: AnswerSlot(), connection: self)
        work.onDone = { [unowned self] done in
            inFlight -= 1
            if done.failures > 0 { failures += 1 }
            finishIfDone()
            publishProgress()
        }
        inFlight += 1
        if let size = worker.context.store.export(key, { _, value in value.count }) { counted(key.count + size) }
        if let links {
            Replication.ship(key, worker, work) { body in links.forEach(body) }
        } else {
            Replication.ship(key, router, worker, work, onlyNewHolders: onlyNewHolders, bulk: true)
        }
        work.partDone()
        return true
    }

    private func finishIfDone() {
        guard running, walked, backlog.isEmpty, inFlight == 0 else { return }
        running = false
        let took = worker.nowMillis - startedAt
        let failed = failures
        if failed > 0 {
            restartAt = worker.nowMillis + retryDelay
            ended(failures: failed, walked: scanned, tookMillis: took, retryIn: retryDelay)
            retryDelay = min(retryDelay * 2, 30_000)
        } else {
            retryDelay = 1000
            ended(failures: 0, walked: scanned, tookMillis: took, retryIn: 0)
        }
    }

    private func publishProgress() {
        // Never 0 while the pass runs: the estimate is taken at its start, and writes go on.
        publish(pending: running ? max(1, max(0, estimate - scanned) + backlog.count + inFlight) : (restartAt != 0 ? 1 : 0))
    }

    func slotDone() {}
}
