import Synchronization

/// One worker thread's command counters: memcached 1.6.18's per-thread statistics that apply to us.
///
/// Written only by the owning worker thread, read by any thread answering `stats`. Each counter is
/// an `Atomic<UInt64>` updated with a relaxed load and a relaxed store (no read-modify-write: there
/// is a single writer, so a plain `mov` suffices and no lock prefix is paid on the hot path).
///
/// `stats reset` may run on another worker, so it must not write the counters (it would race with
/// the owner's load+store and lose updates). Instead it records the current values as a baseline,
/// and `snapshot()` reports `current - baseline`.
///
/// Not here because they are not per worker: `get_expired` and `get_flushed` (counted by the store,
/// which is where an item is found dead), connection counts (the server context), item figures.
public final class WorkerStats: Sendable {
    // Retrieval.
    public let cmdGet = Atomic<UInt64>(0)
    public let getHits = Atomic<UInt64>(0)
    public let getMisses = Atomic<UInt64>(0)
    // Touch (`touch`, `gat`, `gats`, `mg T`).
    public let cmdTouch = Atomic<UInt64>(0)
    public let touchHits = Atomic<UInt64>(0)
    public let touchMisses = Atomic<UInt64>(0)
    // Storage.
    public let cmdSet = Atomic<UInt64>(0)
    public let casMisses = Atomic<UInt64>(0)
    public let casHits = Atomic<UInt64>(0)
    public let casBadval = Atomic<UInt64>(0)
    public let storeTooLarge = Atomic<UInt64>(0)
    public let storeNoMemory = Atomic<UInt64>(0)
    // Delete, arithmetic.
    public let deleteMisses = Atomic<UInt64>(0)
    public let deleteHits = Atomic<UInt64>(0)
    public let incrMisses = Atomic<UInt64>(0)
    public let incrHits = Atomic<UInt64>(0)
    public let decrMisses = Atomic<UInt64>(0)
    public let decrHits = Atomic<UInt64>(0)
    // Other commands.
    public let cmdFlush = Atomic<UInt64>(0)
    /// memcached 1.6.18 counts only `me` here (not mg/ms/md/ma, which count as get/set/...).
    public let cmdMeta = Atomic<UInt64>(0)
    /// Always 0: ringcached has no SASL or ascii authentication; kept for tools that read them.
    public let authCmds = Atomic<UInt64>(0)
    public let authErrors = Atomic<UInt64>(0)
    // Connection-level, updated by the worker's connections.
    public let bytesRead = Atomic<UInt64>(0)
    public let bytesWritten = Atomic<UInt64>(0)
    /// A connection gave up the worker with input still unread (memcached's `reqs_per_event`).
    public let connYields = Atomic<UInt64>(0)

    private let baseline = Mutex(WorkerStatsSnapshot())

    public init() {}

    /// The connection read `n` bytes from its socket.
    @inlinable public func addBytesRead(_ n: Int) { bytesRead.bump(by: UInt64(truncatingIfNeeded: n)) }

    /// The connection wrote `n` bytes to its socket.
    @inlinable public func addBytesWritten(_ n: Int) { bytesWritten.bump(by: UInt64(truncatingIfNeeded: n)) }

    /// The connection yielded the worker with more input pending.
    @inlinable public func countConnYield() { connYields.bump() }

    /// The counters since the last `reset()`. Any thread.
    public func snapshot() -> WorkerStatsSnapshot {
        let base = baseline.withLock { $0 }
        return current().subtracting(base)
    }

    /// `stats reset`: from now on `snapshot()` counts from zero. Any thread; never writes a counter.
    public func reset() {
        let now = current()
        baseline.withLock { $0 = now }
    }

    private func current() -> WorkerStatsSnapshot {
        var s = WorkerStatsSnapshot()
        s.cmdGet = cmdGet.load(ordering: .relaxed)
        s.getHits = getHits.load(ordering: .relaxed)
        s.getMisses = getMisses.load(ordering: .relaxed)
        s.cmdTouch = cmdTouch.load(ordering: .relaxed)
        s.touchHits = touchHits.load(ordering: .relaxed)
        s.touchMisses = touchMisses.load(ordering: .relaxed)
        s.cmdSet = cmdSet.load(ordering: .relaxed)
        s.casMisses = casMisses.load(ordering: .relaxed)
        s.casHits = casHits.load(ordering: .relaxed)
        s.casBadval = casBadval.load(ordering: .relaxed)
        s.storeTooLarge = storeTooLarge.load(ordering: .relaxed)
        s.storeNoMemory = storeNoMemory.load(ordering: .relaxed)
        s.deleteMisses = deleteMisses.load(ordering: .relaxed)
        s.deleteHits = deleteHits.load(ordering: .relaxed)
        s.incrMisses = incrMisses.load(ordering: .relaxed)
        s.incrHits = incrHits.load(ordering: .relaxed)
        s.decrMisses = decrMisses.load(ordering: .relaxed)
        s.decrHits = decrHits.load(ordering: .relaxed)
        s.cmdFlush = cmdFlush.load(ordering: .relaxed)
        s.cmdMeta = cmdMeta.load(ordering: .relaxed)
        s.authCmds = authCmds.load(ordering: .relaxed)
        s.authErrors = authErrors.load(ordering: .relaxed)
        s.bytesRead = bytesRead.load(ordering: .relaxed)
        s.bytesWritten = bytesWritten.load(ordering: .relaxed)
        s.connYields = connYields.load(ordering: .relaxed)
        return s
    }
}

extension Atomic where Value == UInt64 {
    /// Single-writer increment: relaxed load then relaxed store. Only the owning thread may call it.
    @inlinable @inline(__always)
    public func bump(by n: UInt64 = 1) {
        store(load(ordering: .relaxed) &+ n, ordering: .relaxed)
    }
}

/// Plain values of a `WorkerStats` (or a sum of several), for formatting `stats`.
public struct WorkerStatsSnapshot: Sendable, Equatable {
    public var cmdGet: UInt64 = 0
    public var getHits: UInt64 = 0
    public var getMisses: UInt64 = 0
    public var cmdTouch: UInt64 = 0
    public var touchHits: UInt64 = 0
    public var touchMisses: UInt64 = 0
    public var cmdSet: UInt64 = 0
    public var casMisses: UInt64 = 0
    public var casHits: UInt64 = 0
    public var casBadval: UInt64 = 0
    public var storeTooLarge: UInt64 = 0
    public var storeNoMemory: UInt64 = 0
    public var deleteMisses: UInt64 = 0
    public var deleteHits: UInt64 = 0
    public var incrMisses: UInt64 = 0
    public var incrHits: UInt64 = 0
    public var decrMisses: UInt64 = 0
    public var decrHits: UInt64 = 0
    public var cmdFlush: UInt64 = 0
    public var cmdMeta: UInt64 = 0
    public var authCmds: UInt64 = 0
    public var authErrors: UInt64 = 0
    public var bytesRead: UInt64 = 0
    public var bytesWritten: UInt64 = 0
    public var connYields: UInt64 = 0

    public init() {}

    /// Every counter of `self` and `other` added.
    public func adding(_ o: WorkerStatsSnapshot) -> WorkerStatsSnapshot {
        combined(with: o, &+)
    }

    func subtracting(_ o: WorkerStatsSnapshot) -> WorkerStatsSnapshot {
        combined(with: o, &-)
    }

    private func combined(with o: WorkerStatsSnapshot, _ op: (UInt64, UInt64) -> UInt64) -> WorkerStatsSnapshot {
        var s = WorkerStatsSnapshot()
        s.cmdGet = op(cmdGet, o.cmdGet)
        s.getHits = op(getHits, o.getHits)
        s.getMisses = op(getMisses, o.getMisses)
        s.cmdTouch = op(cmdTouch, o.cmdTouch)
        s.touchHits = op(touchHits, o.touchHits)
        s.touchMisses = op(touchMisses, o.touchMisses)
        s.cmdSet = op(cmdSet, o.cmdSet)
        s.casMisses = op(casMisses, o.casMisses)
        s.casHits = op(casHits, o.casHits)
        s.casBadval = op(casBadval, o.casBadval)
        s.storeTooLarge = op(storeTooLarge, o.storeTooLarge)
        s.storeNoMemory = op(storeNoMemory, o.storeNoMemory)
        s.deleteMisses = op(deleteMisses, o.deleteMisses)
        s.deleteHits = op(deleteHits, o.deleteHits)
        s.incrMisses = op(incrMisses, o.incrMisses)
        s.incrHits = op(incrHits, o.incrHits)
        s.decrMisses = op(decrMisses, o.decrMisses)
        s.decrHits = op(decrHits, o.decrHits)
        s.cmdFlush = op(cmdFlush, o.cmdFlush)
        s.cmdMeta = op(cmdMeta, o.cmdMeta)
        s.authCmds = op(authCmds, o.authCmds)
        s.authErrors = op(authErrors, o.authErrors)
        s.bytesRead = op(bytesRead, o.bytesRead)
        s.bytesWritten = op(bytesWritten, o.bytesWritten)
        s.connYields = op(connYields, o.connYields)
        return s
    }
}
