/// Reads memcached answers — the bytes a peer sends back over a peer link — one response unit at
/// a time, so the node that forwarded a request can relay the answer to its client.
///
/// A *unit* is the smallest piece a relay moves: one answer line, or one item (`VALUE …` or
/// `VA …` line plus its data block). The reader says where each unit ends (`length`) and what it
/// is (`ResponseUnit`, with spans into the buffer); the relay copies `buffer[0..<length]` to the
/// client as is, or picks it apart (a split multi-get matches `VALUE` units to keys by `key`).
///
/// Pure and resumable, like `Parser`: pass the unread bytes; after `.needMoreData` pass the same
/// bytes again plus what arrived (they may have moved; every position is an offset from the start
/// of the buffer); after `.unit` drop `length` bytes before the next call. A data block is not
/// rescanned: once its header line is parsed, each call is O(1) until the block is in.
/// `.invalid` means the stream cannot be trusted any more (a peer speaking something else, or a
/// data block without its `\r\n`): close the link.
///
/// ## Where one command's answer ends
///
/// The reader knows units, not commands; the caller, which knows what it sent and in which
/// order, counts units with `answerShape(of:in:)`:
///
/// - `get gets gat gats`: `VALUE` units (one per hit, keys in request order, a key asked twice
///   answered twice), then `END`. An error line instead ends the answer early, and memcached
///   then sends no `END` (for example `CLIENT_ERROR bad command line format` for a key over 250
///   bytes, even after hits); `ResponseUnit.endsMultiLineAnswer` covers both.
/// - `stats` (and its sub-commands that list): `STAT` (or other) lines, then `END` — except
///   `stats reset` (`RESET`) and `stats detail on|off` (`OK`), one line each.
/// - every other classic command: exactly one line, unless it carries `noreply`.
/// - meta commands: one unit (`VA` item, or an `HD EN NS EX NF MN ME` line, or an error line),
///   unless the `q` flag is set: then the "nothing to report" codes are suppressed (`EN` of `mg`,
///   `HD` of `ms md ma`; memcached 1.6.18 still sends `mg`'s `VA` and `HD`, `NS EX NF` and
///   errors), so zero or one unit comes back.
///
/// For the zero-or-one cases (`.zeroOrOne`: quiet meta commands, classic `noreply`) the relay
/// cannot count; it fences them: after forwarding such a command — or a run of them to the same
/// peer — it appends `mn\r\n`. memcached answers `mn` with `MN` after everything before it, so
/// the answers of the fenced commands are exactly the units before that `MN`, which the relay
/// then drops (it was not the client's). A client's own `mn` is forwarded as a normal `.one`
/// command and its `MN` relayed. Fencing keeps many requests in flight on a pipelined link: the
/// fence costs 4 bytes out and 4 back, not a round trip.
///
/// Hot path (relaying a small `VALUE`): one word-wise scan for `\n`, a token walk, digit loops;
/// no allocation, no String, no existential. One reader per peer link, used on its worker thread.
public struct ResponseReader: Sendable {
    /// Longest answer line accepted. memcached's longest lines are a `VA` line with a key and
    /// every return flag (well under 1 KB) and `STAT` lines; anything longer is not memcached.
    public static let maxLineLength = 8192
    /// Largest data block accepted (memcached's `-I` tops out at 1 GB).
    public static let maxDataLength = 1 << 30

    /// Bytes at the front of the buffer already known to hold no `\n`.
    var scanned = 0
    /// A `VALUE`/`VA` unit whose header is parsed, waiting for its data block (when
    /// `pendingTotal > 0`).
    var pendingUnit = ResponseUnit(kind: .other)
    /// Header + data + `\r\n`: the length of the pending unit; 0 when nothing is pending.
    var pendingTotal = 0

    public init() {}

    /// Forgets a partial unit (for a link that is re-opened).
    public mutating func reset() {
        scanned = 0
        pendingTotal = 0
    }

    /// How many bytes the front of the buffer must hold for the pending item to be complete, or
    /// 0 when no data block is awaited; the link can grow its read buffer to this at once.
    public var bytesAwaited: Int { pendingTotal }

    /// Reads the unit at the front of `buffer`.
    public mutating func read(_ buffer: UnsafeRawBufferPointer) -> ResponseReadResult {
        let count = buffer.count
        guard count > 0, let base = buffer.baseAddress else { return .needMoreData }

        if pendingTotal > 0 {
            if count < pendingTotal { return .needMoreData }
            let total = pendingTotal
            pendingTotal = 0
            return finish(pendingUnit, total: total, base)
        }

        guard let (newline, _) = ByteSearch.lineEnd(in: base, from: scanned, to: count) else {
            scanned = count
            if count > ResponseReader.maxLineLength { return .invalid(reason: "answer line too long") }
            return .needMoreData
        }
        scanned = 0
        if newline > ResponseReader.maxLineLength { return .invalid(reason: "answer line too long") }
        var end = newline
        if newline > 0 && base.byte(newline - 1) == UInt8(ascii: "\r") { end = newline - 1 }
        return line(base, end: end, consumed: newline + 1, available: count)
    }

    /// Classifies the line `base[0..<end]` (`consumed` bytes with its line end).
    @inline(__always)
    mutating func line(_ base: UnsafeRawPointer, end: Int, consumed: Int, available: Int) -> ResponseReadResult {
        var unit = ResponseUnit(kind: .other)
        unit.line = Span(start: 0, count: end)
        var tokens = LineTokens(base, from: 0, to: end)
        guard let code = tokens.next() else { return .unit(unit, length: consumed) }
        unit.rest = ResponseReader.remainder(base, after: code, end: end)
        unit.kind = ResponseReader.kind(base, code)

        switch unit.kind {
        case .value:
            guard let key = tokens.next(), let flags = tokens.next(), let length = tokens.next() else {
                return .invalid(reason: "VALUE line with too few fields")
            }
            let cas = tokens.next()
            if tokens.next() != nil { return .invalid(reason: "VALUE line with too many fields") }
            guard ResponseReader.decimal(base, flags).map({ $0 <= UInt64(UInt32.max) }) == true,
                let dataLength = ResponseReader.decimal(base, length), dataLength <= UInt64(ResponseReader.maxDataLength)
            else { return .invalid(reason: "VALUE line with a bad number") }
            if let cas, ResponseReader.decimal(base, cas) == nil { return .invalid(reason: "VALUE line with a bad cas") }
            unit.key = key
            unit.flags = flags
            unit.length = length
            unit.cas = cas ?? .empty
            return awaitData(unit, header: consumed, dataLength: Int(dataLength), base, available)
        case .metaValue:
            guard let size = tokens.next(), let dataLength = ResponseReader.decimal(base, size),
                dataLength <= UInt64(ResponseReader.maxDataLength)
            else { return .invalid(reason: "VA line without a valid size") }
            unit.length = size
            unit.rest = ResponseReader.remainder(base, after: size, end: end)
            return awaitData(unit, header: consumed, dataLength: Int(dataLength), base, available)
        case .metaDebug:
            if let key = tokens.next() { unit.key = key }
            return .unit(unit, length: consumed)
        default:
            return .unit(unit, length: consumed)
        }
    }

    @inline(__always)
    mutating func awaitData(
        _ unit: ResponseUnit, header: Int, dataLength: Int, _ base: UnsafeRawPointer, _ available: Int
    ) -> ResponseReadResult {
        var unit = unit
        unit.data = Span(start: header, count: dataLength)
        let total = header + dataLength + 2
        if available >= total { return finish(unit, total: total, base) }
        pendingUnit = unit
        pendingTotal = total
        return .needMoreData
    }

    @inline(__always)
    func finish(_ unit: ResponseUnit, total: Int, _ base: UnsafeRawPointer) -> ResponseReadResult {
        guard base.byte(total - 2) == UInt8(ascii: "\r"), base.byte(total - 1) == UInt8(ascii: "\n") else {
            return .invalid(reason: "data block not followed by \\r\\n")
        }
        return .unit(unit, length: total)
    }

    /// The text after `token` (spaces skipped) to the end of the line; empty at the line's end.
    @inline(__always)
    static func remainder(_ base: UnsafeRawPointer, after token: Span, end: Int) -> Span {
        var i = token.end
        while i < end && base.byte(i) == UInt8(ascii: " ") { i &+= 1 }
        return Span(start: i, count: end - i)
    }

    /// A plain decimal number (digits only, at most 20, no overflow), as memcached writes them.
    @inline(__always)
    static func decimal(_ base: UnsafeRawPointer, _ span: Span) -> UInt64? {
        guard span.count > 0 && span.count <= 20 else { return nil }
        var value: UInt64 = 0
        for i in span.start..<span.end {
            let d = base.byte(i) &- UInt8(ascii: "0")
            if d > 9 { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            value = a
        }
        return value
    }

    /// The kind of a line from its first token.
    @inline(__always)
    static func kind(_ base: UnsafeRawPointer, _ code: Span) -> ResponseKind {
        let first = base.byte(code.start)
        switch code.count {
        case 2:
            let second = base.byte(code.start + 1)
            switch (first, second) {
            case (UInt8(ascii: "V"), UInt8(ascii: "A")): return .metaValue
            case (UInt8(ascii: "H"), UInt8(ascii: "D")): return .metaHit
            case (UInt8(ascii: "E"), UInt8(ascii: "N")): return .metaMiss
            case (UInt8(ascii: "N"), UInt8(ascii: "S")): return .metaNotStored
            case (UInt8(ascii: "E"), UInt8(ascii: "X")): return .metaExists
            case (UInt8(ascii: "N"), UInt8(ascii: "F")): return .metaNotFound
            case (UInt8(ascii: "M"), UInt8(ascii: "N")): return .metaNoop
            case (UInt8(ascii: "M"), UInt8(ascii: "E")): return .metaDebug
            case (UInt8(ascii: "O"), UInt8(ascii: "K")): return .ok
            default: break
            }
        case 3:
            if base.matches(code, "END") { return .end }
        case 4:
            if base.matches(code, "STAT") { return .stat }
        case 5:
            if base.matches(code, "VALUE") { return .value }
            if base.matches(code, "ERROR") { return .error }
            if base.matches(code, "RESET") { return .reset }
        case 6:
            if base.matches(code, "STORED") { return .stored }
            if base.matches(code, "EXISTS") { return .exists }
            // memcached's `shutdown` without -A answers `ERROR: shutdown not enabled`.
            if base.matches(code, "ERROR:") { return .error }
        case 7:
            if base.matches(code, "DELETED") { return .deleted }
            if base.matches(code, "TOUCHED") { return .touched }
            if base.matches(code, "VERSION") { return .version }
        case 9:
            if base.matches(code, "NOT_FOUND") { return .notFound }
        case 10:
            if base.matches(code, "NOT_STORED") { return .notStored }
        case 12:
            if base.matches(code, "CLIENT_ERROR") { return .clientError }
            if base.matches(code, "SERVER_ERROR") { return .serverError }
        default:
            break
        }
        if first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9") && decimal(base, code) != nil { return .number }
        return .other
    }

    // MARK: - Answer shapes

    /// How many units a forwarded command's answer has (see the type's documentation).
    public enum AnswerShape: Sendable, Equatable {
        /// Exactly one unit.
        case one
        /// Units up to and including the first one that `endsMultiLineAnswer` (`END` or an error).
        case throughEnd
        /// Zero or one unit (quiet meta, classic `noreply`): fence it with `mn` and read to `MN`.
        case zeroOrOne
        /// Nothing, ever, and the connection ends (`quit`); never forward it.
        case none
    }

    /// The shape of the answer memcached (and ringcached) gives `command`, parsed from `buffer`
    /// (needed for `stats` arguments).
    public static func answerShape(of command: Command, in buffer: UnsafeRawBufferPointer) -> AnswerShape {
        switch command {
        case .retrieve:
            return .throughEnd
        case .store(let s):
            return s.noreply ? .zeroOrOne : .one
        case .delete(_, let noreply), .arithmetic(_, _, _, let noreply), .touch(_, _, let noreply),
            .flushAll(_, let noreply), .verbosity(_, let noreply), .cacheMemlimit(_, let noreply):
            return noreply ? .zeroOrOne : .one
        case .version, .metaNoop, .metaDebug, .shutdown:
            return .one
        case .quit, .cluster, .admin:
            // Admin, operator and hello lines are answered by the node that receives them, never relayed.
            return .none
        case .stats(let args):
            guard let base = buffer.baseAddress else { return .throughEnd }
            var tokens = LineTokens(base, from: args.start, to: args.end)
            if let first = tokens.next() {
                if base.matches(first, "reset") { return .one }
                if base.matches(first, "detail"), let second = tokens.next(),
                    base.matches(second, "on") || base.matches(second, "off")
                {
                    return .one
                }
            }
            return .throughEnd
        case .metaGet(let m), .metaSet(let m), .metaDelete(let m), .metaArithmetic(let m):
            return m.flags.has(UInt8(ascii: "q")) ? .zeroOrOne : .one
        }
    }
}

/// What `ResponseReader.read` found at the front of the buffer.
public enum ResponseReadResult: Sendable, Equatable {
    /// No whole unit yet: read more and call again with the same bytes first.
    case needMoreData
    /// One unit, the first `length` bytes of the buffer (for an item: line, data and `\r\n`).
    case unit(ResponseUnit, length: Int)
    /// Not a memcached answer: close the link.
    case invalid(reason: StaticString)

    public static func == (a: ResponseReadResult, b: ResponseReadResult) -> Bool {
        switch (a, b) {
        case (.needMoreData, .needMoreData): return true
        case let (.unit(u1, l1), .unit(u2, l2)): return u1 == u2 && l1 == l2
        case let (.invalid(r1), .invalid(r2)): return r1.description == r2.description
        default: return false
        }
    }
}

/// What a response unit is, by its first token.
public enum ResponseKind: UInt8, Sendable {
    /// `VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n`
    case value
    /// `END`
    case end
    case stored, notStored, exists, notFound, deleted, touched, ok
    /// An `incr`/`decr` result: a decimal number.
    case number
    /// `ERROR` (also `ERROR <text>` and `ERROR: <text>`).
    case error
    /// `CLIENT_ERROR <text>`
    case clientError
    /// `SERVER_ERROR <text>`
    case serverError
    /// `VERSION <text>`
    case version
    /// `RESET`
    case reset
    /// `STAT <name> <value>`
    case stat
    /// `VA <size> <flags>*\r\n<data>\r\n`
    case metaValue
    /// `HD <flags>*`
    case metaHit
    /// `EN`
    case metaMiss
    /// `NS <flags>*`
    case metaNotStored
    /// `EX <flags>*`
    case metaExists
    /// `NF <flags>*`
    case metaNotFound
    /// `MN`
    case metaNoop
    /// `ME <key> <k>=<v>*`
    case metaDebug
    /// Any other line (`ITEM …` of `stats cachedump`, an empty line, …).
    case other
}

/// One response unit: spans into the buffer that was passed to `ResponseReader.read`, valid until
/// the caller drops or moves those bytes.
public struct ResponseUnit: Sendable, Equatable {
    public var kind: ResponseKind
    /// The first line, without its line end.
    public var line = Span.empty
    /// The text after the first token (spaces skipped), to the end of the line: the message of
    /// `CLIENT_ERROR`/`SERVER_ERROR`/`VERSION`, `name value` of `STAT`, the flags of
    /// `HD NS EX NF`, the flags after the size of `VA`, `key k=v…` of `ME`; empty when none.
    public var rest = Span.empty
    /// `VALUE` and `ME`: the key.
    public var key = Span.empty
    /// `VALUE`: the flags token.
    public var flags = Span.empty
    /// `VALUE`: the bytes token; `VA`: the size token.
    public var length = Span.empty
    /// `VALUE`: the cas token (`gets`/`gats`), empty when absent.
    public var cas = Span.empty
    /// `VALUE` and `VA`: the data block, without its `\r\n`.
    public var data = Span.empty

    public init(kind: ResponseKind) { self.kind = kind }

    /// `END`, or an error line: the last unit of a `.throughEnd` answer.
    @inlinable public var endsMultiLineAnswer: Bool {
        switch kind {
        case .end, .error, .clientError, .serverError: return true
        default: return false
        }
    }

    /// `ERROR`, `CLIENT_ERROR`, `SERVER_ERROR`.
    @inlinable public var isError: Bool { kind == .error || kind == .clientError || kind == .serverError }

    /// For `VA HD NS EX NF`: the token of the return flag `letter` (the bytes after the letter:
    /// the opaque of `O`, the key of `k`), or nil when the flag is absent.
    public func metaFlag(_ letter: UInt8, in buffer: UnsafeRawBufferPointer) -> Span? {
        guard let base = buffer.baseAddress else { return nil }
        var tokens = LineTokens(base, from: rest.start, to: rest.end)
        while let t = tokens.next() {
            if base.byte(t.start) == letter { return Span(start: t.start + 1, count: t.count - 1) }
        }
        return nil
    }
}
