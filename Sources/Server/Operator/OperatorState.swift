import Synchronization

/// What the operator commands change at runtime and every worker reads: the live log (`watch`),
/// per-prefix statistics (`stats detail`), and the settings memcached lets `slabs`,
/// `lru_crawler` and `lru` change (shown by `stats settings`).
///
/// Shared by all workers (`Sendable`): the request path reads only `tracing`, one relaxed atomic
/// load per command; everything else is behind atomics or a small mutex taken by operator
/// commands only.
public final class OperatorState: Sendable {
    /// Bits of `Tracing`: which per-command work is wanted now. 0 on the fast path.
    public let tracing = Atomic<UInt32>(0)
    public let watch: WatchHub
    public let prefixes: PrefixStats
    /// memcached's `slab_automove` (0, 1, 2; default 1). There are no slab pages to move here,
    /// so it only records the operator's choice.
    public let slabAutomove = Atomic<Int>(1)
    /// `lru_crawler enable|disable`: whether `lru_crawler crawl` and `metadump` run.
    public let crawlerEnabled = Atomic<Bool>(true)
    /// Runs of `lru_crawler crawl` and `metadump` (memcached's `lru_crawler_starts`).
    public let crawlerStarts = Atomic<UInt64>(0)
    /// A metadump is streaming now (memcached's `lru_crawler_running`).
    public let crawlersRunning = Atomic<Int>(0)
    /// `lru_crawler crawl`: the background sweep makes one whole pass at its next run.
    public let crawlRequested = Atomic<Bool>(false)
    /// `stats sizes_enable|sizes_disable`.
    public let trackSizes = Atomic<Bool>(false)
    /// `-X` turns these off: `stats cachedump`, `lru_crawler metadump`.
    public let dumpEnabled: Bool
    /// `-W` turns this off: `watch`.
    public let watchEnabled: Bool
    private let tunables = Mutex(Tunables())

    /// The settings memcached's `slabs automove ratio`, `lru_crawler sleep|tocrawl` and
    /// `lru tune` take, kept so `stats settings` shows what the operator set.
    public struct Tunables: Sendable, Equatable {
        public var slabAutomoveRatio = 0.8
        public var crawlerSleep: UInt32 = 100
        public var crawlerToCrawl: UInt32 = 0
        public var hotLRUPercent: UInt32 = 20
        public var warmLRUPercent: UInt32 = 40
        public var hotMaxFactor = 0.2
        public var warmMaxFactor = 2.0
    }

    public enum Tracing {
        /// `stats detail on`.
        public static let prefixStats: UInt32 = 1 << 8
    }

    /// `delimiter`: memcached's `-D` (`:` by default).
    public init(delimiter: UInt8 = UInt8(ascii: ":"), detailEnabled: Bool = false, dumpEnabled: Bool = true, watchEnabled: Bool = true) {
        self.dumpEnabled = dumpEnabled
        self.watchEnabled = watchEnabled
        watch = WatchHub()
        prefixes = PrefixStats(delimiter: delimiter)
        if detailEnabled { setDetail(true) }
    }

    /// `watch`: adds the watcher and turns on the events it wants.
    func addWatcher(_ watcher: Watcher) -> WatchHub.AddResult {
        watch.add(watcher) { union in setWatchBits(union) }
    }

    /// The watcher's connection closed.
    func removeWatcher(_ watcher: Watcher) {
        watch.remove(watcher) { union in setWatchBits(union) }
    }

    /// Called under the hub's lock, so two changes never publish their unions out of order.
    private func setWatchBits(_ union: UInt32) {
        var current = tracing.load(ordering: .relaxed)
        while true {
            let desired = (current & ~WatchEvents.all) | union
            let (done, original) = tracing.compareExchange(expected: current, desired: desired, ordering: .relaxed)
            if done { return }
            current = original
        }
    }

    public var detailEnabled: Bool { tracing.load(ordering: .relaxed) & Tracing.prefixStats != 0 }

    /// `stats detail on|off`: recording starts or stops; what was recorded stays for `dump`.
    public func setDetail(_ on: Bool) {
        if on {
            tracing.bitwiseOr(Tracing.prefixStats, ordering: .relaxed)
        } else {
            tracing.bitwiseAnd(~Tracing.prefixStats, ordering: .relaxed)
        }
    }

    public var currentTunables: Tunables { tunables.withLock { $0 } }

    public func update(_ change: (inout Tunables) -> Void) { tunables.withLock { change(&$0) } }
}
