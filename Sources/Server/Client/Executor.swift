import Storage
import TextProtocol

/// What the connection does after an executed command's answer is in the output buffer.
public enum ExecutionAction {
    /// Go on with the next command.
    case proceed
    /// Write what is in the output buffer, then close the connection (`quit`, `shutdown` with -A).
    case close
    /// `lru_crawler metadump`: stream the dump, then go on with the next command.
    case metadump(Metadump)
    /// `watch` (its `OK` is written): the connection turns into a log stream of these events.
    case watch(events: UInt32)
}

/// Runs one parsed command against the store and writes memcached 1.6.18's exact answer bytes.
///
/// One per worker thread; thread-confined (not `Sendable`). The hot path — a small `get` hit or a
/// `set` — allocates nothing, builds no String and makes no existential call: keys and data are
/// spans of the connection's read buffer, values are copied from the store's item into the output
/// buffer inside the store's read closure (the only copy), and counters are relaxed single-writer
/// atomics in `WorkerStats`. Only `stats`, `verbosity` and `shutdown` reach the `StatsSource`.
///
/// `noreply` on the classic commands suppresses every answer the command would write, errors from
/// the store included (memcached 1.6.18 sends none of them either). Meta `q` is per command; see
/// `Executor+Meta.swift`.
public struct Executor {
    let store: Store
    let stats: WorkerStats
    let context: any StatsSource
    /// The live log, prefix statistics and runtime settings of the operator commands.
    let operations: OperatorState
    /// The client connection whose command runs now (its fd names it in `watch` lines).
    public var connectionFD: Int32 = -1
    /// The connection holds answers not yet sent: `watch` and `metadump` refuse to start then,
    /// as memcached does ("cannot pipeline other commands before ..."). Set by the connection
    /// for operator commands only.
    public var hasStackedAnswers = false

    public init(store: Store, stats: WorkerStats, context: any StatsSource, operations: OperatorState = OperatorState()) {
        self.store = store
        self.stats = stats
        self.context = context
        self.operations = operations
    }

    public mutating func execute(
        _ command: Command, in buffer: UnsafeRawBufferPointer, into out: inout OutputBuffer
    ) -> ExecutionAction {
        switch command {
        case .retrieve(let r):
            retrieve(r, buffer, &out)
        case .store(let s):
            storeValue(s, buffer, &out)
        case .delete(let key, let noreply):
            delete(spanBytes(buffer, key), noreply: noreply, &out)
        case .arithmetic(let incr, let key, let delta, let noreply):
            arithmetic(incr: incr, key: spanBytes(buffer, key), delta: delta, noreply: noreply, &out)
        case .touch(let key, let exptime, let noreply):
            touch(spanBytes(buffer, key), exptime: exptime, noreply: noreply, &out)
        case .metaGet(let m):
            metaGet(m, buffer, &out)
        case .metaSet(let m):
            metaSet(m, buffer, &out)
        case .metaDelete(let m):
            metaDelete(m, buffer, &out)
        case .metaArithmetic(let m):
            metaArithmetic(m, buffer, &out)
        case .metaNoop:
            out.append("MN\r\n")
        case .metaDebug(let key, let base64):
            metaDebug(key: key, base64: base64, buffer, &out)
        case .flushAll(let delay, let noreply):
            // memcached counts a refused flush_all (-F) in cmd_flush too.
            stats.cmdFlush.bump()
            guard context.flushAllEnabled else {
                if !noreply { out.append("CLIENT_ERROR flush_all not allowed\r\n") }
                return .proceed
            }
            store.flushAll(delay: delay)
            if !noreply { out.append("OK\r\n") }
        case .version:
            out.append("VERSION ")
            out.append(string: RingcacheVersion.protocolVersionString)
            out.append("\r\n")
        case .verbosity(let level, let noreply):
            context.setVerbosity(level)
            if !noreply { out.append("OK\r\n") }
        case .quit:
            return .close
        case .stats(let args):
            statsCommand(args, buffer, &out)
        case .admin(let kind, let args):
            return admin(kind, args, buffer, &out)
        case .cacheMemlimit(let megabytes, let noreply):
            cacheMemlimit(megabytes: megabytes, noreply: noreply, &out)
        case .cluster:
            // Answered by the connection's router when the node is in a cluster (and hello only on
            // the peer port); a standalone node does not know them, as memcached would not.
            out.append("ERROR\r\n")
        case .shutdown:
            guard context.shutdownEnabled else {
                out.append("ERROR: shutdown not enabled\r\n")
                return .proceed
            }
            context.requestShutdown()
            return .close
        }
        return .proceed
    }

    /// The connection calls this for every `.reject` from the parser, after writing its response
    /// and before dropping the consumed bytes (`staleKey` points into them): an item too large for
    /// `-I` counts `store_too_large`, and for `set`/`ms` the key's current item is deleted, as
    /// memcached does so a failed overwrite never leaves the old value readable.
    public mutating func afterReject(
        _ response: StaticString, staleKey: StaleKey?, in buffer: UnsafeRawBufferPointer
    ) {
        let tooLarge = ErrorResponse.objectTooLarge
        let isTooLarge = staleKey != nil
            || (response.utf8CodeUnitCount == tooLarge.utf8CodeUnitCount
                && UnsafeRawBufferPointer(start: response.utf8Start, count: response.utf8CodeUnitCount)
                    .elementsEqual(UnsafeRawBufferPointer(start: tooLarge.utf8Start, count: tooLarge.utf8CodeUnitCount)))
        guard isTooLarge else { return }
        stats.storeTooLarge.bump()
        guard let staleKey else { return }
        _ = withKey(staleKey.key, binary: staleKey.base64, buffer) { key in
            _ = store.delete(key, .plain)
        }
    }

    // MARK: - Retrieval

    /// `get`/`gets`/`gat`/`gats`: a `VALUE` block per hit, in the client's key order, then `END`.
    func retrieve(_ r: RetrievalCommand, _ buffer: UnsafeRawBufferPointer, _ out: inout OutputBuffer) {
        let touches = r.kind.touches
        let withCas = r.kind.returnsCas
        let options = touches ? ReadOptions(touchExptime: r.exptime) : ReadOptions()
        let tracing = operations.tracing.load(ordering: .relaxed)
        var keys = KeyIterator(buffer, r.keys)
        while let span = keys.next() {
            let key = spanBytes(buffer, span)
            var hitClass = 0
            var hitSize = 0
            let result = store.read(key, options) { (item: borrowing ItemView) -> Void in
                Executor.appendValue(key: key, flags: item.flags, cas: withCas ? item.cas : nil, value: item.value, &out)
                if tracing != 0 {
                    hitClass = item.sizeClass
                    hitSize = item.value.count
                }
            }
            let hit: Bool
            switch result {
            case .hit, .vivified: hit = true
            case .miss: hit = false
            }
            if tracing != 0 { traceGet(tracing, key, hit: hit, sizeClass: hitClass, size: hitSize, prefix: true) }
            // memcached counts gat/gats as touches only, get/gets as gets only.
            if touches {
                stats.cmdTouch.bump()
                if hit { stats.touchHits.bump() } else { stats.touchMisses.bump() }
            } else {
                stats.cmdGet.bump()
                if hit { stats.getHits.bump() } else { stats.getMisses.bump() }
            }
        }
        out.append("END\r\n")
    }

    /// `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n`.
    @inline(__always)
    static func appendValue(
        key: UnsafeRawBufferPointer, flags: UInt32, cas: UInt64?, value: UnsafeRawBufferPointer, _ out: inout OutputBuffer
    ) {
        out.reserve(6 + key.count + 1 + 10 + 1 + 20 + 21 + 2 + value.count + 2)
        out.append("VALUE ")
        out.append(key)
        out.append(byte: UInt8(ascii: " "))
        out.append(decimal: UInt64(flags))
        out.append(byte: UInt8(ascii: " "))
        out.append(decimal: UInt64(value.count))
        if let cas {
            out.append(byte: UInt8(ascii: " "))
            out.append(decimal: cas)
        }
        out.append("\r\n")
        out.append(value)
        out.append("\r\n")
    }

    // MARK: - Storage

    /// `set add replace append prepend cas`.
    func storeValue(_ s: StoreCommand, _ buffer: UnsafeRawBufferPointer, _ out: inout OutputBuffer) {
        let mode: StoreMode
        switch s.kind {
        case .set: mode = .set
        case .add: mode = .add
        case .replace: mode = .replace
        case .append: mode = .append
        case .prepend: mode = .prepend
        case .cas: mode = .cas
        }
        let request = StoreRequest(
            mode: mode, flags: s.flags, exptime: s.exptime, compareCas: s.kind == .cas ? s.casUnique : nil)
        let outcome = store.store(spanBytes(buffer, s.key), spanBytes(buffer, s.data), request)
        countStore(outcome, casMode: s.kind == .cas)
        let tracing = operations.tracing.load(ordering: .relaxed)
        if tracing != 0 {
            traceStore(tracing, spanBytes(buffer, s.key), mode: mode, flags: s.flags, exptime: s.exptime,
                       valueLength: s.data.count, outcome: outcome, prefix: true)
        }
        guard !s.noreply else { return }
        switch outcome {
        case .stored: out.append("STORED\r\n")
        case .notStored: out.append("NOT_STORED\r\n")
        case .exists: out.append("EXISTS\r\n")
        case .notFound: out.append("NOT_FOUND\r\n")
        case .tooLarge: out.append("SERVER_ERROR object too large for cache\r\n")
        case .outOfMemory: out.append("SERVER_ERROR out of memory storing object\r\n")
        }
    }

    /// memcached counts `cmd_set` once the value is read into a new item, so not when the item
    /// could not be allocated (too large, no memory: those have counters of their own); the cas
    /// counters only for a real compare-and-swap.
    @inline(__always)
    func countStore(_ outcome: StoreOutcome, casMode: Bool) {
        switch outcome {
        case .tooLarge:
            stats.storeTooLarge.bump()
            return
        case .outOfMemory:
            stats.storeNoMemory.bump()
            return
        default:
            stats.cmdSet.bump()
        }
        guard casMode else { return }
        switch outcome {
        case .stored: stats.casHits.bump()
        case .exists: stats.casBadval.bump()
        case .notFound: stats.casMisses.bump()
        default: break
        }
    }

    // MARK: - Delete, arithmetic, touch

    func delete(_ key: UnsafeRawBufferPointer, noreply: Bool, _ out: inout OutputBuffer) {
        if operations.tracing.load(ordering: .relaxed) & OperatorState.Tracing.prefixStats != 0 {
            operations.prefixes.recordDelete(key)
        }
        switch store.delete(key, .plain) {
        case .deleted:
            stats.deleteHits.bump()
            if !noreply { out.append("DELETED\r\n") }
        case .notFound, .exists:
            stats.deleteMisses.bump()
            if !noreply { out.append("NOT_FOUND\r\n") }
        }
    }

    func arithmetic(incr: Bool, key: UnsafeRawBufferPointer, delta: UInt64, noreply: Bool, _ out: inout OutputBuffer) {
        switch store.arithmetic(key, ArithmeticRequest(incr: incr, delta: delta)) {
        case .value(let result):
            if incr { stats.incrHits.bump() } else { stats.decrHits.bump() }
            guard !noreply else { return }
            out.append(decimal: result.value)
            out.append("\r\n")
        case .notFound:
            if incr { stats.incrMisses.bump() } else { stats.decrMisses.bump() }
            if !noreply { out.append("NOT_FOUND\r\n") }
        case .nonNumeric:
            if !noreply { out.append("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n") }
        case .outOfMemory:
            if !noreply { out.append("SERVER_ERROR out of memory\r\n") }
        case .exists:
            // Only a compare CAS can give this, and incr/decr have none.
            if !noreply { out.append("EXISTS\r\n") }
        }
    }

    func touch(_ key: UnsafeRawBufferPointer, exptime: Int64, noreply: Bool, _ out: inout OutputBuffer) {
        stats.cmdTouch.bump()
        if store.touch(key, exptime: exptime) {
            stats.touchHits.bump()
            if !noreply { out.append("TOUCHED\r\n") }
        } else {
            stats.touchMisses.bump()
            if !noreply { out.append("NOT_FOUND\r\n") }
        }
    }

    // MARK: - Administration

    /// memcached refuses limits under 8 MB; the store evicts down to a smaller limit at once.
    func cacheMemlimit(megabytes: Int64, noreply: Bool, _ out: inout OutputBuffer) {
        guard megabytes >= 8 else {
            if !noreply { out.append("MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n") }
            return
        }
        guard megabytes <= 1_000_000_000 else {
            if !noreply { out.append("MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n") }
            return
        }
        let limit = megabytes >= Int64(Int.max >> 20) ? Int.max : Int(megabytes) << 20
        store.setMemoryLimit(limit)
        if !noreply { out.append("OK\r\n") }
    }

    /// `stats [reset|settings|items|slabs|sizes|conns|detail ...]`; anything else is `ERROR`, as in
    /// memcached. Only the first word counts (memcached ignores the rest).
    func statsCommand(_ args: Span, _ buffer: UnsafeRawBufferPointer, _ out: inout OutputBuffer) {
        var words = KeyIterator(buffer, args)
        guard let first = words.next() else {
            let workers = context.workerStats.reduce(WorkerStatsSnapshot()) { $0.adding($1.snapshot()) }
            StatsReport.general(server: context.serverStats(), workers: workers, store: store.statistics(), into: &out)
            return
        }
        let word = spanBytes(buffer, first)
        if word.elementsEqual("reset".utf8) {
            for w in context.workerStats { w.reset() }
            store.resetStatistics()
            context.resetServerStats()
            out.append("RESET\r\n")
        } else if word.elementsEqual("settings".utf8) {
            StatsReport.settings(context.settingsStats(), into: &out)
        } else if word.elementsEqual("items".utf8) {
            StatsReport.items(store.statistics(), into: &out)
        } else if word.elementsEqual("slabs".utf8) {
            StatsReport.slabs(store.statistics(), into: &out)
        } else if word.elementsEqual("sizes".utf8) {
            sizes(&out)
        } else if word.elementsEqual("sizes_enable".utf8) {
            // memcached answers these two with the status line alone, no END.
            operations.trackSizes.store(true, ordering: .relaxed)
            out.append("STAT sizes_status enabled\r\n")
        } else if word.elementsEqual("sizes_disable".utf8) {
            operations.trackSizes.store(false, ordering: .relaxed)
            out.append("STAT sizes_status disabled\r\n")
        } else if word.elementsEqual("conns".utf8) {
            StatsReport.conns(context.connectionStats(askingFD: connectionFD), into: &out)
        } else if word.elementsEqual("detail".utf8) {
            detail(Words(buffer, args), &out)
        } else if word.elementsEqual("cachedump".utf8) {
            cachedump(Words(buffer, args), &out)
        } else {
            out.append("ERROR\r\n")
        }
    }
}

// MARK: - Tracing (`watch`, `stats detail`): only reached when `OperatorState.tracing` is set.

extension Executor {
    /// A key read by a client: the `fetchers` line and, for the classic gets, the prefix count.
    @inline(never)
    func traceGet(_ tracing: UInt32, _ key: UnsafeRawBufferPointer, hit: Bool, sizeClass: Int, size: Int, prefix: Bool) {
        if tracing & WatchEvents.fetchers != 0 {
            operations.watch.itemGet(key: key, found: hit, sizeClass: hit ? sizeClass : 0, fd: connectionFD, size: hit ? size : 0)
        }
        if prefix && tracing & OperatorState.Tracing.prefixStats != 0 { operations.prefixes.recordGet(key, hit: hit) }
    }

    /// A storage command's result: the `mutations` line and, for the classic ones, the prefix count.
    @inline(never)
    func traceStore(
        _ tracing: UInt32, _ key: UnsafeRawBufferPointer, mode: StoreMode, flags: UInt32, exptime: Int64,
        valueLength: Int, outcome: StoreOutcome, prefix: Bool
    ) {
        if tracing & WatchEvents.mutations != 0 {
            let status: String
            switch outcome {
            case .stored: status = "stored"
            case .notStored: status = "not_stored"
            case .exists: status = "exists"
            case .notFound: status = "not_found"
            case .tooLarge: status = "too_large"
            case .outOfMemory: status = "no_memory"
            }
            let command: String
            switch mode {
            case .set: command = "set"
            case .add: command = "add"
            case .replace: command = "replace"
            case .append: command = "append"
            case .prepend: command = "prepend"
            case .cas: command = "cas"
            }
            let ttl = store.remainingTTL(forExptime: exptime)
            operations.watch.itemStore(
                key: key, status: status, command: command, ttl: ttl < 0 ? 0 : ttl,
                sizeClass: Store.sizeClass(keyLength: key.count, valueLength: valueLength, flags: flags),
                fd: connectionFD, size: valueLength)
        }
        if prefix && tracing & OperatorState.Tracing.prefixStats != 0 { operations.prefixes.recordSet(key) }
    }
}

/// The bytes of `span` inside the parsed buffer.
@inline(__always)
func spanBytes(_ buffer: UnsafeRawBufferPointer, _ span: Span) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(rebasing: buffer[span.start..<span.end])
}
