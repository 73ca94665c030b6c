/// The memcached 1.6.18 text and meta protocol parser: bytes at the front of a connection's
/// read buffer in, one `ParseResult` out.
///
/// Pure and resumable. The caller (one connection, on its worker thread) passes the unread bytes
/// each time; after `.needMoreData` it must pass the same bytes again plus whatever arrived
/// (they may have moved in memory: every position the parser keeps or returns is an offset from
/// the start of the buffer). After any other result the caller drops `consumed` bytes (and
/// swallows, see `ParseResult`) before calling again. The parser keeps a little state so large
/// input is not rescanned: how far the current line was already searched for `\n`, and a parsed
/// storage command waiting for its data block (then each call is O(1) until the block is in).
///
/// Hot path (a `get` with one key, a `set` of a small value): one word-wise scan for `\n` (and
/// NUL), a token walk, hand-parsed numbers; no allocation, no String, no existential, and a
/// `Command` small enough (120 bytes) to move without `memcpy`. Measured with callgrind on a
/// release build: ~560 instructions for `get <32-byte key>`, ~840 for a `set` of 100 bytes.
///
/// One `Parser` per connection: it remembers whether it has seen the connection's first byte
/// (0x80 there means a binary-protocol client, which is closed).
public struct Parser: Sendable {
    /// The item size limit (`-I`): a data block longer than this minus 2 is rejected before it
    /// is read (the store, which counts its header too, rejects the few that pass this cheap
    /// check but still do not fit, with the same answer).
    public let maxItemSize: Int

    /// memcached's threshold: this many unread bytes without a `\n` close the connection,
    /// unless they are a `get`/`gets` line.
    public static let maxLineWithoutNewline = 2048
    /// Longest key, in bytes, as memcached's KEY_MAX_LENGTH.
    public static let maxKeyLength = 250

    /// Bytes at the front of the buffer already known to hold no `\n` (the current line).
    var scanned = 0
    /// A storage command whose line is parsed, waiting for its data block (when
    /// `pending.total > 0`). Not an optional: testing it then needs no copy of the command.
    var pending = PendingData.none
    /// No command of this connection has been parsed yet.
    var atConnectionStart = true

    /// After a `.reject` for a `set` or `ms` whose data block is too large: the key whose
    /// current item the executor must delete before the connection drops the consumed bytes
    /// (memcached does this so a failed overwrite never leaves the old value readable; `add`,
    /// `replace`, `append`, `prepend` and `cas` leave it alone). nil after every other result.
    public internal(set) var staleKey: StaleKey? = nil

    /// The last result was `.reject` for a data block over the item size limit (memcached's
    /// `store_too_large` counter), whatever the command and even when `noreply` left the
    /// response empty. false after every other result.
    public internal(set) var rejectedTooLarge = false

    /// The last result was `.reject` for a retrieval with a key over 250 bytes: memcached then
    /// drops every answer it was still holding for this connection (its `conn_release_items`)
    /// before it writes the error. false after every other result.
    public internal(set) var dropsStackedAnswers = false

    /// With `dropsStackedAnswers`: the keys before the long one, which memcached has already
    /// fetched (and, for `gat`/`gats`, touched) when it meets the long key. The connection runs
    /// them for their effect and drops their answers. nil when the long key came first.
    public internal(set) var retrievalBeforeBadKey: RetrievalCommand? = nil

    /// `-F`: memcached refuses every `flush_all` before it reads the delay, so a bad delay gets
    /// the refusal too; the parser then hands the command on whatever its delay says.
    public let flushAllDisabled: Bool

    public init(maxItemSize: Int = 1 << 20, flushAllDisabled: Bool = false) {
        self.maxItemSize = maxItemSize
        self.flushAllDisabled = flushAllDisabled
    }

    /// Forgets the partial line or pending data block (for a connection that is reset).
    public mutating func reset() {
        scanned = 0
        pending = .none
        staleKey = nil
        rejectedTooLarge = false
        dropsStackedAnswers = false
        retrievalBeforeBadKey = nil
    }

    /// How many bytes the front of the buffer must hold before the pending storage command is
    /// complete (its line, data block and `\r\n`), or 0 when no data block is awaited. The
    /// connection can grow its read buffer to this size at once.
    public var bytesAwaited: Int { pending.total }

    /// Parses the command at the front of `buffer` (the connection's unread bytes).
    public mutating func parse(_ buffer: UnsafeRawBufferPointer) -> ParseResult {
        staleKey = nil
        rejectedTooLarge = false
        dropsStackedAnswers = false
        retrievalBeforeBadKey = nil
        let count = buffer.count
        guard count > 0, let base = buffer.baseAddress else { return .needMoreData }

        if pending.total > 0 {
            if count < pending.total { return .needMoreData }
            let result = finish(pending, base)
            pending.total = 0
            return result
        }

        if atConnectionStart && base.byte(0) == 0x80 { return .close(response: ErrorResponse.silent) }

        guard let (newline, nulAfterScanned) = ByteSearch.lineEnd(in: base, from: scanned, to: count) else {
            scanned = count
            if count > Parser.maxLineWithoutNewline && !Parser.startsLikeGet(base, count) {
                return .close(response: ErrorResponse.silent)
            }
            return .needMoreData
        }
        var nul = nulAfterScanned
        if scanned > 0, let early = ByteSearch.first(0, in: base, from: 0, to: scanned) { nul = early }
        scanned = 0
        atConnectionStart = false

        var end = newline
        if newline > 1 && base.byte(newline - 1) == UInt8(ascii: "\r") { end = newline - 1 }
        // memcached works on a C string: a NUL ends the command line.
        if nul < end { end = nul }
        return parseLine(base, end: end, consumed: newline + 1, available: count)
    }

    /// memcached keeps buffering a line without `\n` past 2048 bytes only for a multi-get.
    static func startsLikeGet(_ base: UnsafeRawPointer, _ count: Int) -> Bool {
        var i = 0
        while i < count && base.byte(i) == UInt8(ascii: " ") { i += 1 }
        if i > 100 { return false }
        let rest = Span(start: i, count: count - i)
        return base.hasPrefix(rest, "get ") || base.hasPrefix(rest, "gets ")
    }

    // MARK: - Dispatch

    /// Parses one complete command line `base[0..<end]` (without its line end); the line with its
    /// end is `consumed` bytes long; `available` bytes are in the buffer.
    @inline(__always)
    mutating func parseLine(_ base: UnsafeRawPointer, end: Int, consumed: Int, available: Int) -> ParseResult {
        var tokens = LineTokens(base, from: 0, to: end)
        guard let name = tokens.next(), name.count >= 2 else { return reject(ErrorResponse.error, consumed) }
        let first = base.byte(name.start)
        let second = base.byte(name.start + 1)

        if first == UInt8(ascii: "m") && name.count == 2 {
            switch second {
            case UInt8(ascii: "g"): return metaCommand(.get, base, &tokens, consumed, available)
            case UInt8(ascii: "s"): return metaCommand(.set, base, &tokens, consumed, available)
            case UInt8(ascii: "d"): return metaCommand(.delete, base, &tokens, consumed, available)
            case UInt8(ascii: "a"): return metaCommand(.arithmetic, base, &tokens, consumed, available)
            case UInt8(ascii: "n"): return .command(.metaNoop, consumed: consumed)
            case UInt8(ascii: "e"): return metaDebug(base, &tokens, consumed)
            default: return reject(ErrorResponse.error, consumed)
            }
        }

        switch name.count {
        case 3:
            if base.matches(name, "get") { return retrieval(.get, base, &tokens, consumed) }
            if base.matches(name, "lru") {
                // memcached wants at least one argument before it looks at them.
                let args = restOfLine(base, &tokens)
                if args.count == 0 { return reject(ErrorResponse.error, consumed) }
                return .command(.admin(.lru, args: args), consumed: consumed)
            }
            if base.matches(name, "set") { return storage(.set, base, &tokens, consumed, available) }
            if base.matches(name, "gat") { return retrieval(.gat, base, &tokens, consumed) }
            if base.matches(name, "add") { return storage(.add, base, &tokens, consumed, available) }
            if base.matches(name, "cas") { return storage(.cas, base, &tokens, consumed, available) }
        case 4:
            if base.matches(name, "gets") { return retrieval(.gets, base, &tokens, consumed) }
            if base.matches(name, "gats") { return retrieval(.gats, base, &tokens, consumed) }
            if base.matches(name, "incr") { return arithmetic(incr: true, base, &tokens, consumed) }
            if base.matches(name, "decr") { return arithmetic(incr: false, base, &tokens, consumed) }
            if base.matches(name, "quit") { return .command(.quit, consumed: consumed) }
            // memcached still knows the old name of get.
            if base.matches(name, "bget") { return retrieval(.get, base, &tokens, consumed) }
        case 5:
            if base.matches(name, "touch") { return touch(base, &tokens, consumed) }
            if base.matches(name, "stats") { return stats(base, &tokens, consumed) }
            if base.matches(name, "watch") { return .command(.admin(.watch, args: restOfLine(base, &tokens)), consumed: consumed) }
            if base.matches(name, "slabs") { return .command(.admin(.slabs, args: restOfLine(base, &tokens)), consumed: consumed) }
        case 6:
            if base.matches(name, "delete") { return delete(base, &tokens, consumed) }
            if base.matches(name, "append") { return storage(.append, base, &tokens, consumed, available) }
        case 7:
            if base.matches(name, "replace") { return storage(.replace, base, &tokens, consumed, available) }
            if base.matches(name, "prepend") { return storage(.prepend, base, &tokens, consumed, available) }
            if base.matches(name, "version") { return .command(.version, consumed: consumed) }
            if base.matches(name, "cluster") {
                return .command(.cluster(args: restOfLine(base, &tokens)), consumed: consumed)
            }
        case 8:
            if base.matches(name, "shutdown") { return .command(.shutdown, consumed: consumed) }
        case 9:
            if base.matches(name, "flush_all") { return flushAll(base, &tokens, consumed) }
            if base.matches(name, "verbosity") { return verbosity(base, &tokens, consumed) }
        case 11:
            if base.matches(name, "lru_crawler") {
                return .command(.admin(.lruCrawler, args: restOfLine(base, &tokens)), consumed: consumed)
            }
        case 14:
            if base.matches(name, "cache_memlimit") { return cacheMemlimit(base, &tokens, consumed) }
        default:
            break
        }
        return unknown(base, name: name, &tokens, consumed)
    }

    /// An unknown command: `ERROR`, or a closed connection for what looks like an HTTP request.
    func unknown(_ base: UnsafeRawPointer, name: Span, _ tokens: inout LineTokens, _ consumed: Int) -> ParseResult {
        // memcached answers names starting like its common commands (and the admin commands
        // ringcached does not serve) inside their branches, before it looks for HTTP.
        switch base.byte(name.start) {
        case UInt8(ascii: "g"), UInt8(ascii: "s"), UInt8(ascii: "a"), UInt8(ascii: "c"),
            UInt8(ascii: "i"), UInt8(ascii: "d"), UInt8(ascii: "t"):
            return reject(ErrorResponse.error, consumed)
        default:
            break
        }
        if base.matches(name, "extstore") { return reject(ErrorResponse.error, consumed) }
        var last = name
        var seen = 1
        while seen < LineTokens.maxTokens, let t = tokens.next() {
            last = t
            seen += 1
        }
        if base.hasPrefix(last, "HTTP/") { return .close(response: ErrorResponse.silent) }
        return reject(ErrorResponse.error, consumed)
    }

    @inline(__always)
    func reject(_ response: StaticString, _ consumed: Int, swallow: Int = 0) -> ParseResult {
        .reject(response: response, consumed: consumed, swallow: swallow)
    }

    // MARK: - Data blocks

    /// Either completes a storage command whose data block is already in the buffer, or
    /// remembers it and asks for more.
    @inline(__always)
    mutating func awaitData(_ waiting: PendingData, _ base: UnsafeRawPointer, _ available: Int) -> ParseResult {
        if available >= waiting.total { return finish(waiting, base) }
        pending = waiting
        return .needMoreData
    }

    /// The data block is in: memcached took exactly length+2 bytes and wants them to end in
    /// `\r\n`; otherwise it answers bad data chunk and goes on right after those bytes.
    @inline(__always)
    func finish(_ waiting: PendingData, _ base: UnsafeRawPointer) -> ParseResult {
        if base.byte(waiting.total - 2) == UInt8(ascii: "\r") && base.byte(waiting.total - 1) == UInt8(ascii: "\n") {
            return .command(waiting.command, consumed: waiting.total)
        }
        let response = waiting.silentErrors ? ErrorResponse.silent : ErrorResponse.badDataChunk
        return .reject(response: response, consumed: waiting.total, swallow: 0)
    }
}

/// A storage command waiting for its data block.
struct PendingData: Sendable {
    /// The command, its `data` span already set.
    var command: Command
    /// Line + data + `\r\n`: the bytes the command takes from the front of the buffer; 0 when
    /// nothing is pending.
    var total: Int
    /// Classic `noreply`: memcached does not answer bad data chunk either. (`ms` with `q` does.)
    var silentErrors: Bool

    static let none = PendingData(command: .version, total: 0, silentErrors: false)
}

/// The key whose item must be deleted after an oversized `set`/`ms` (see `Parser.staleKey`).
public struct StaleKey: Sendable, Equatable {
    /// The key as written in the rejected line, which is inside the consumed bytes.
    public var key: Span
    /// The key is base64 (`ms … b`): decode it with `Base64.decode` first.
    public var base64: Bool

    public init(key: Span, base64: Bool) {
        self.key = key
        self.base64 = base64
    }
}
