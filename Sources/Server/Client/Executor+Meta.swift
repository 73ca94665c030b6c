import Storage
import TextProtocol

/// The meta commands `mg ms md ma me`, answered as memcached 1.6.18 does.
///
/// Findings from the real memcached 1.6.18 that shape this file:
/// - Return flags come out in the order the client wrote them; `W`/`X`/`Z` are not flags the client
///   sends but are appended at the end in the order `Z X W`.
/// - `q` hides: `EN` for `mg` (a hit's `HD`/`VA` is still sent); `HD` for `ms` and `md` (`NS`, `EX`,
///   `NF` are sent); for `ma` every success (`HD` and `VA`) except when `N` just created the item.
///   Errors (`CLIENT_ERROR`, `SERVER_ERROR`) are always sent.
/// - A miss, and the failure codes of `ms md ma`, echo only `O` and `k` (and `ms` also `c0`).
/// - `t` shows the TTL at its place in the flag loop: `mg k t T30` answers the TTL before the touch,
///   `mg k T30 t` after it (likewise `N` on a vivify and `ma`'s `T` and `N`).
/// - `k` echoes the key base64-encoded followed by ` b` for binary keys.
/// - `me` prints `exp` as the negated remaining TTL (`exp=-47` for 47 s left), `-1` for never
///   (`DebugInfo.exp` already holds it that way).
extension Executor {
    // MARK: - mg

    func metaGet(_ m: MetaCommand, _ buffer: UnsafeRawBufferPointer, _ out: inout OutputBuffer) {
        let binary = m.flags.has(MetaLetter.b)
        let decoded = withKey(m.key, binary: binary, buffer) { key in
            metaGet(m, key: key, binary: binary, buffer, &out)
        }
        if !decoded { out.append("CLIENT_ERROR error decoding key\r\n") }
    }

    @inline(__always)
    func metaGet(
        _ m: MetaCommand, key: UnsafeRawBufferPointer, binary: Bool, _ buffer: UnsafeRawBufferPointer,
        _ out: inout OutputBuffer
    ) {
        let f = m.flags
        let order = FlagOrder(f, buffer)
        if f.opaqueTooLong {
            metaGetRefusingOpaque(m, key: key, order: order, &out)
            return
        }
        let options = ReadOptions(
            touchExptime: f.ttl, bumpLRU: !f.has(MetaLetter.u), vivifyTTL: f.vivifyTTL,
            recacheThreshold: f.recacheThreshold,
            touchAfterVivify: order.T < 0 || order.N < 0 || order.T > order.N,
            touchBeforeRecache: order.T < 0 || order.R < 0 || order.T < order.R)
        let store = self.store
        let tracing = operations.tracing.load(ordering: .relaxed)
        var hitClass = 0
        var hitSize = 0
        let result = store.read(key, options) { (item: borrowing ItemView) -> Void in
            let value = item.value
            if tracing != 0 {
                hitClass = item.sizeClass
                hitSize = value.count
            }
            if f.has(MetaLetter.v) {
                out.reserve(3 + 10 + 2 + value.count + 2)
                out.append("VA ")
                out.append(decimal: UInt64(value.count))
            } else {
                out.append("HD")
            }
            if f.flagText.count > 0 {
                var tokens = KeyIterator(buffer, f.flagText)
                while let token = tokens.next() {
                    switch buffer[token.start] {
                    case MetaLetter.c:
                        out.append(" c")
                        out.append(decimal: item.cas)
                    case MetaLetter.f:
                        out.append(" f")
                        out.append(decimal: UInt64(item.flags))
                    case MetaLetter.h:
                        out.append(item.fetchedBefore ? " h1" : " h0")
                    case MetaLetter.k:
                        // On a hit memcached prints the key as the item was stored (binary or not).
                        Executor.appendKey(key, binary: item.binaryKey, &out)
                    case MetaLetter.l:
                        out.append(" l")
                        out.append(signed: item.lastAccessAgo)
                    case MetaLetter.O:
                        out.append(byte: UInt8(ascii: " "))
                        out.append(spanBytes(buffer, token))
                    case MetaLetter.s:
                        out.append(" s")
                        out.append(decimal: UInt64(value.count))
                    case MetaLetter.t:
                        out.append(" t")
                        out.append(signed: order.ttlAtT(
                            before: item.ttlBefore, after: item.ttlRemaining,
                            vivified: Executor.looksVivified(item), flags: f, store: store))
                    default:
                        break
                    }
                }
            }
            if item.alreadyWon { out.append(" Z") }
            if item.stale { out.append(" X") }
            if item.won { out.append(" W") }
            out.append("\r\n")
            if f.has(MetaLetter.v) {
                out.append(value)
                out.append("\r\n")
            }
        }
        if tracing != 0 {
            let hit: Bool
            if case .miss = result { hit = false } else { hit = true }
            traceGet(tracing, key, hit: hit, sizeClass: hitClass, size: hitSize, prefix: false)
        }
        switch result {
        case .hit, .vivified:
            // memcached: a hit with T counts as a touch, anything else (a vivify too) as a get hit.
            if f.ttl != nil {
                stats.cmdTouch.bump()
                stats.touchHits.bump()
            } else {
                stats.cmdGet.bump()
                stats.getHits.bump()
            }
        case .miss:
            stats.cmdGet.bump()
            stats.getMisses.bump()
            guard !f.has(MetaLetter.q) else { return }
            out.append("EN")
            appendEcho(f, buffer, key: key, binary: binary, cas: nil, &out)
            out.append("\r\n")
        }
    }

    /// `mg` with an `O` token over 32 bytes. memcached finds that out only while it writes the
    /// answer flag by flag, after the lookup: a `T` or `N` written before the `O` has already
    /// changed the item (an `N` after it leaves the new item without a TTL), the answer is the
    /// error, and a hit is not counted while a miss is.
    func metaGetRefusingOpaque(_ m: MetaCommand, key: UnsafeRawBufferPointer, order: FlagOrder, _ out: inout OutputBuffer) {
        let f = m.flags
        let options = ReadOptions(
            touchExptime: order.T >= 0 && order.T < order.O ? f.ttl : nil, bumpLRU: !f.has(MetaLetter.u),
            vivifyTTL: f.vivifyTTL.map { order.N < order.O ? $0 : 0 },
            touchAfterVivify: order.T < 0 || order.N < 0 || order.T > order.N)
        let result = store.read(key, options) { (_: borrowing ItemView) -> Void in }
        if case .miss = result {
            stats.cmdGet.bump()
            stats.getMisses.bump()
        }
        out.append(ErrorResponse.opaqueTooLong)
    }

    /// Whether an item handed to `mg`'s read closure was just created by `N`. Only consulted when
    /// `t` sits between `N` and `T`. A vivified item is empty, unlimited before the read, won and
    /// not stale; a hit that wins (`R`) has a TTL, and a stale one has `X`.
    // TODO: use a flag from ItemView once Storage provides one (asked in notes-for-storage.md).
    static func looksVivified(_ item: borrowing ItemView) -> Bool {
        let (won, stale, ttlBefore, empty) = (item.won, item.stale, item.ttlBefore, item.value.count == 0)
        return won && !stale && ttlBefore == -1 && empty
    }

    // MARK: - ms

    func metaSet(_ m: MetaCommand, _ buffer: UnsafeRawBufferPointer, _ out: inout OutputBuffer) {
        let binary = m.flags.has(MetaLetter.b)
        let decoded = withKey(m.key, binary: binary, buffer) { key in
            metaSet(m, key: key, binary: binary, buffer, &out)
        }
        if !decoded { out.append("CLIENT_ERROR error decoding key\r\n") }
    }

    @inline(__always)
    func metaSet(
        _ m: MetaCommand, key: UnsafeRawBufferPointer, binary: Bool, _ buffer: UnsafeRawBufferPointer,
        _ out: inout OutputBuffer
    ) {
        let f = m.flags
        let mode: StoreMode
        switch f.mode {
        case nil, MetaLetter.S: mode = .set
        case MetaLetter.E: mode = .add
        case MetaLetter.A: mode = .append
        case MetaLetter.P: mode = .prepend
        case MetaLetter.R: mode = .replace
        default:
            out.append("CLIENT_ERROR invalid mode for ms M token\r\n")
            return
        }
        let request = StoreRequest(
            mode: mode, flags: f.clientFlags ?? 0, exptime: f.ttl ?? 0, compareCas: f.compareCas,
            invalidate: f.has(MetaLetter.I), dropExistingOnFailure: true, binaryKey: f.has(MetaLetter.b))
        let outcome = store.store(key, spanBytes(buffer, m.data), request)
        // memcached turns set/replace with C into a cas; only that counts cas hits/misses/badval.
        let casMode = f.compareCas != nil && (mode == .set || mode == .replace)
        countStore(outcome, casMode: casMode)
        let tracing = operations.tracing.load(ordering: .relaxed)
        if tracing != 0 {
            traceStore(tracing, key, mode: casMode ? .cas : mode, flags: f.clientFlags ?? 0, exptime: f.ttl ?? 0,
                       valueLength: m.data.count, outcome: outcome, prefix: false)
        }
        var cas: UInt64 = 0
        switch outcome {
        case .stored(let newCas):
            guard !f.has(MetaLetter.q) else { return }
            out.append("HD")
            cas = newCas
        case .notStored: out.append("NS")
        case .exists: out.append("EX")
        case .notFound: out.append("NF")
        case .tooLarge:
            out.append("SERVER_ERROR object too large for cache\r\n")
            return
        case .outOfMemory:
            out.append("SERVER_ERROR out of memory storing object\r\n")
            return
        }
        appendEcho(f, buffer, key: key, binary: binary, cas: cas, &out)
        out.append("\r\n")
    }

    // MARK: - md

    func metaDelete(_ m: MetaCommand, _ buffer: UnsafeRawBufferPointer, _ out: inout OutputBuffer) {
        let binary = m.flags.has(MetaLetter.b)
        let decoded = withKey(m.key, binary: binary, buffer) { key in
            let f = m.flags
            let invalidate = f.has(MetaLetter.I)
            switch store.delete(key, DeleteRequest(compareCas: f.compareCas, invalidate: invalidate, ttl: f.ttl)) {
            case .deleted:
                // memcached counts a delete hit only for a real delete, not for marking stale.
                if !invalidate { stats.deleteHits.bump() }
                guard !f.has(MetaLetter.q) else { return }
                out.append("HD")
            case .notFound:
                stats.deleteMisses.bump()
                out.append("NF")
            case .exists:
                stats.deleteMisses.bump()
                out.append("EX")
            }
            appendEcho(f, buffer, key: key, binary: binary, cas: nil, &out)
            out.append("\r\n")
        }
        // memcached decodes the key while checking flags and reports it as a flag error here.
        if !decoded { out.append("CLIENT_ERROR invalid or duplicate flag\r\n") }
    }

    // MARK: - ma

    func metaArithmetic(_ m: MetaCommand, _ buffer: UnsafeRawBufferPointer, _ out: inout OutputBuffer) {
        let binary = m.flags.has(MetaLetter.b)
        let decoded = withKey(m.key, binary: binary, buffer) { key in
            metaArithmetic(m, key: key, binary: binary, buffer, &out)
        }
        if !decoded { out.append("CLIENT_ERROR invalid or duplicate flag\r\n") }
    }

    func metaArithmetic(
        _ m: MetaCommand, key: UnsafeRawBufferPointer, binary: Bool, _ buffer: UnsafeRawBufferPointer,
        _ out: inout OutputBuffer
    ) {
        let f = m.flags
        let incr: Bool
        switch f.mode {
        case nil, MetaLetter.I, UInt8(ascii: "+"): incr = true
        case MetaLetter.D, UInt8(ascii: "-"): incr = false
        default:
            out.append("CLIENT_ERROR invalid mode for ma M token\r\n")
            return
        }
        let order = FlagOrder(f, buffer)
        // With an `O` over 32 bytes memcached still does the arithmetic, applies the `T` and `N`
        // written before the `O` (an `N` after it leaves a created item without a TTL), and then
        // answers the error instead (see metaGetRefusingOpaque).
        let refusesOpaque = f.opaqueTooLong
        let request = ArithmeticRequest(
            incr: incr, delta: f.delta ?? 1, compareCas: f.compareCas,
            autoCreateInitial: f.vivifyTTL == nil ? nil : (f.initial ?? 0),
            autoCreateTTL: f.vivifyTTL.map { !refusesOpaque || order.N < order.O ? $0 : 0 },
            newTTL: !refusesOpaque || (order.T >= 0 && order.T < order.O) ? f.ttl : nil,
            touchAfterVivify: order.T < 0 || order.N < 0 || order.T > order.N)
        let outcome = store.arithmetic(key, request)
        if refusesOpaque {
            switch outcome {
            case .nonNumeric: out.append("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
            case .outOfMemory: out.append("SERVER_ERROR out of memory\r\n")
            case .value(let result):
                if !result.created {
                    if incr { stats.incrHits.bump() } else { stats.decrHits.bump() }
                }
                out.append(ErrorResponse.opaqueTooLong)
            case .notFound:
                if incr { stats.incrMisses.bump() } else { stats.decrMisses.bump() }
                out.append(ErrorResponse.opaqueTooLong)
            case .exists:
                out.append(ErrorResponse.opaqueTooLong)
            }
            return
        }
        switch outcome {
        case .value(let result):
            if !result.created {
                if incr { stats.incrHits.bump() } else { stats.decrHits.bump() }
                if f.has(MetaLetter.q) { return }
            }
            let digits = Executor.decimalDigits(result.value)
            if f.has(MetaLetter.v) {
                out.append("VA ")
                out.append(decimal: UInt64(digits))
            } else {
                out.append("HD")
            }
            var tokens = KeyIterator(buffer, f.flagText)
            while let token = tokens.next() {
                switch buffer[token.start] {
                case MetaLetter.c:
                    out.append(" c")
                    out.append(decimal: result.cas)
                case MetaLetter.t:
                    out.append(" t")
                    out.append(signed: order.ttlAtT(
                        before: result.ttlBefore, after: result.ttlRemaining, vivified: result.created,
                        flags: f, store: store))
                case MetaLetter.O:
                    out.append(byte: UInt8(ascii: " "))
                    out.append(spanBytes(buffer, token))
                case MetaLetter.k:
                    Executor.appendKey(key, binary: binary, &out)
                default:
                    break
                }
            }
            out.append("\r\n")
            if f.has(MetaLetter.v) {
                out.append(decimal: result.value)
                out.append("\r\n")
            }
        case .notFound:
            if incr { stats.incrMisses.bump() } else { stats.decrMisses.bump() }
            out.append("NF")
            appendEcho(f, buffer, key: key, binary: binary, cas: nil, &out)
            out.append("\r\n")
        case .exists:
            out.append("EX")
            appendEcho(f, buffer, key: key, binary: binary, cas: nil, &out)
            out.append("\r\n")
        case .nonNumeric:
            out.append("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
        case .outOfMemory:
            out.append("SERVER_ERROR out of memory\r\n")
        }
    }

    // MARK: - me

    /// `ME <key> exp=<> la=<> cas=<> fetch=<yes|no> cls=<> size=<>`, or `EN`.
    func metaDebug(key span: Span, base64: Bool, _ buffer: UnsafeRawBufferPointer, _ out: inout OutputBuffer) {
        stats.cmdMeta.bump()
        let decoded = withKey(span, binary: base64, buffer) { key in
            guard let info = store.debug(key) else {
                out.append("EN\r\n")
                return
            }
            out.append("ME ")
            // memcached prints the key base64-encoded (without the ` b` of `k`) only when the item
            // was stored with a binary key; how this request wrote the key does not matter.
            if info.binaryKey {
                Executor.appendBase64(key, &out)
            } else {
                out.append(key)
            }
            out.append(" exp=")
            out.append(signed: info.exp)
            out.append(" la=")
            out.append(signed: info.lastAccessAgo)
            out.append(" cas=")
            out.append(decimal: info.cas)
            out.append(info.fetched ? " fetch=yes" : " fetch=no")
            out.append(" cls=")
            out.append(signed: Int64(info.sizeClass))
            out.append(" size=")
            out.append(signed: Int64(info.size))
            out.append("\r\n")
        }
        if !decoded { out.append("CLIENT_ERROR bad command line format\r\n") }
    }

    // MARK: - Helpers

    /// Runs `body` with the key's bytes: the span itself, or its base64 decoding (`b` flag) in a
    /// stack buffer. `false` if the key is not base64 (the parser normally rejects that first).
    @inline(__always)
    func withKey(
        _ span: Span, binary: Bool, _ buffer: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        let text = spanBytes(buffer, span)
        guard binary else {
            body(text)
            return true
        }
        return withUnsafeTemporaryAllocation(byteCount: Base64.decodedCapacity(text.count) + 3, alignment: 1) { scratch in
            guard let n = Base64.decode(text, into: scratch.baseAddress!) else { return false }
            body(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            return true
        }
    }

    /// The flags every meta answer echoes whatever happened: `O<opaque>` and `k<key>` in the
    /// client's order, and `c<cas>` when `cas` is given (`ms`).
    func appendEcho(
        _ f: MetaFlags, _ buffer: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, binary: Bool, cas: UInt64?,
        _ out: inout OutputBuffer
    ) {
        guard f.flagText.count > 0 else { return }
        var tokens = KeyIterator(buffer, f.flagText)
        while let token = tokens.next() {
            switch buffer[token.start] {
            case MetaLetter.O:
                out.append(byte: UInt8(ascii: " "))
                out.append(spanBytes(buffer, token))
            case MetaLetter.k:
                Executor.appendKey(key, binary: binary, &out)
            case MetaLetter.c:
                if let cas {
                    out.append(" c")
                    out.append(decimal: cas)
                }
            default:
                break
            }
        }
    }

    /// ` k<key>`, or ` k<base64 key> b` for a binary key.
    static func appendKey(_ key: UnsafeRawBufferPointer, binary: Bool, _ out: inout OutputBuffer) {
        out.append(" k")
        if binary {
            appendBase64(key, &out)
            out.append(" b")
        } else {
            out.append(key)
        }
    }

    static func appendBase64(_ bytes: UnsafeRawBufferPointer, _ out: inout OutputBuffer) {
        let n = Base64.encodedCount(bytes.count)
        withUnsafeTemporaryAllocation(byteCount: max(n, 1), alignment: 1) { scratch in
            Base64.encode(bytes, into: scratch.baseAddress!)
            out.append(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
        }
    }

    static func decimalDigits(_ v: UInt64) -> Int {
        var digits = 1
        var v = v
        while v >= 10 {
            v /= 10
            digits += 1
        }
        return digits
    }
}

/// ASCII letters of meta flags and modes.
enum MetaLetter {
    static let b = UInt8(ascii: "b"), c = UInt8(ascii: "c"), f = UInt8(ascii: "f"), h = UInt8(ascii: "h")
    static let k = UInt8(ascii: "k"), l = UInt8(ascii: "l"), q = UInt8(ascii: "q"), s = UInt8(ascii: "s")
    static let t = UInt8(ascii: "t"), u = UInt8(ascii: "u"), v = UInt8(ascii: "v")
    static let A = UInt8(ascii: "A"), D = UInt8(ascii: "D"), E = UInt8(ascii: "E"), I = UInt8(ascii: "I")
    static let N = UInt8(ascii: "N"), O = UInt8(ascii: "O"), P = UInt8(ascii: "P"), R = UInt8(ascii: "R")
    static let S = UInt8(ascii: "S"), T = UInt8(ascii: "T")
}

/// Where `t`, `T`, `N` and `R` sit among a meta command's flags (-1: absent). memcached applies
/// `T` and `N` at their place in its flag loop, so what `t` reports, and whether `R` sees the
/// touched TTL, depend on the order the client wrote them.
struct FlagOrder {
    var t = -1
    var T = -1
    var N = -1
    var R = -1
    /// Only looked for when the `O` token is too long (otherwise its place does not matter).
    var O = Int.max

    @inline(__always)
    init(_ f: MetaFlags, _ buffer: UnsafeRawBufferPointer) {
        let relevant = MetaFlags.bit(MetaLetter.t) | MetaFlags.bit(MetaLetter.T) | MetaFlags.bit(MetaLetter.N) | MetaFlags.bit(MetaLetter.R)
        guard f.letters & relevant != 0 || f.opaqueTooLong else { return }
        var tokens = KeyIterator(buffer, f.flagText)
        var index = 0
        while let token = tokens.next() {
            switch buffer[token.start] {
            case MetaLetter.t: t = index
            case MetaLetter.T: T = index
            case MetaLetter.N: N = index
            case MetaLetter.R: R = index
            case MetaLetter.O: O = index
            default: break
            }
            index += 1
        }
    }

    /// The TTL `t` reports: `before` if no change to the TTL precedes it, `after` if every change
    /// does; if only the first of a `T` and an applied `N` does (`N30 t T60`), that one's TTL.
    /// `N` applies only to an item it created (`vivified`).
    func ttlAtT(before: Int64, after: Int64, vivified: Bool, flags f: MetaFlags, store: Store) -> Int64 {
        let touchBefore = T >= 0 && T < t
        let vivifyApplies = vivified && N >= 0
        let vivifyBefore = vivifyApplies && N < t
        let changes = (T >= 0 ? 1 : 0) + (vivifyApplies ? 1 : 0)
        let changesBefore = (touchBefore ? 1 : 0) + (vivifyBefore ? 1 : 0)
        if changesBefore == 0 { return before }
        if changesBefore == changes { return after }
        let exptime = touchBefore ? (f.ttl ?? 0) : (f.vivifyTTL ?? 0)
        return store.remainingTTL(forExptime: exptime)
    }
}
