/// The classic text commands. Token counts, the `noreply` rule and every error follow memcached
/// 1.6.18's `proto_text.c` as measured (see `ErrorResponse`).
extension Parser {
    /// memcached's `set_noreply_maybe`: the last token, spelled exactly `noreply`.
    @inline(__always)
    static func isNoreply(_ base: UnsafeRawPointer, _ token: Span) -> Bool {
        base.matches(token, "noreply")
    }

    /// `get|gets|bget <key>+`, `gat|gats <exptime> <key>*`.
    @inline(__always)
    mutating func retrieval(_ kind: RetrievalKind, _ base: UnsafeRawPointer, _ tokens: inout LineTokens, _ consumed: Int) -> ParseResult {
        guard var first = tokens.next() else { return reject(ErrorResponse.error, consumed) }
        var exptime: Int64 = 0
        if kind.touches {
            guard let e = NumberParsing.int32(base, first) else { return reject(ErrorResponse.invalidExptime, consumed) }
            exptime = Int64(e)
            guard let key = tokens.next() else {
                // `gat 10` with no key: memcached answers END.
                let none = RetrievalCommand(kind: kind, exptime: exptime, keys: Span(start: first.end, count: 0), keyCount: 0)
                return .command(.retrieve(none), consumed: consumed)
            }
            first = key
        }
        if first.count > Parser.maxKeyLength {
            dropsStackedAnswers = true
            return reject(ErrorResponse.badCommandLineFormat, consumed)
        }
        var keyCount = 1
        var lastEnd = first.end
        while let key = tokens.next() {
            // memcached drops the answers of the keys before a long one, and every other answer
            // it still holds, and sends only the error.
            if key.count > Parser.maxKeyLength {
                dropsStackedAnswers = true
                retrievalBeforeBadKey = RetrievalCommand(
                    kind: kind, exptime: exptime, keys: Span(start: first.start, count: lastEnd - first.start), keyCount: keyCount)
                return reject(ErrorResponse.badCommandLineFormat, consumed)
            }
            keyCount += 1
            lastEnd = key.end
        }
        let keys = Span(start: first.start, count: lastEnd - first.start)
        return .command(.retrieve(RetrievalCommand(kind: kind, exptime: exptime, keys: keys, keyCount: keyCount)), consumed: consumed)
    }

    /// `set|add|replace|append|prepend <key> <flags> <exptime> <bytes> [noreply]`,
    /// `cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]`.
    @inline(__always)
    mutating func storage(
        _ kind: StoreKind, _ base: UnsafeRawPointer, _ tokens: inout LineTokens, _ consumed: Int, _ available: Int
    ) -> ParseResult {
        // Hot path: the tokens are taken one by one, no `Arguments`.
        guard let key = tokens.next(), let flagsToken = tokens.next(), let exptimeToken = tokens.next(),
            let lengthToken = tokens.next()
        else { return reject(ErrorResponse.error, consumed) }
        var last = lengthToken
        var casToken = Span.empty
        if kind == .cas {
            guard let c = tokens.next() else { return reject(ErrorResponse.error, consumed) }
            casToken = c
            last = c
        }
        if let extra = tokens.next() {
            if tokens.next() != nil { return reject(ErrorResponse.error, consumed) }
            last = extra
        }
        let noreply = Parser.isNoreply(base, last)
        let failure = noreply ? ErrorResponse.silent : ErrorResponse.badCommandLineFormat
        if key.count > Parser.maxKeyLength { return reject(failure, consumed) }
        guard let flags = NumberParsing.uint32(base, flagsToken),
            let exptime = NumberParsing.int32(base, exptimeToken),
            let length = NumberParsing.int32(base, lengthToken)
        else { return reject(failure, consumed) }
        var casUnique: UInt64 = 0
        if kind == .cas {
            guard let c = NumberParsing.uint64(base, casToken) else { return reject(failure, consumed) }
            casUnique = c
        }
        if length < 0 || length > Int32.max - 2 { return reject(failure, consumed) }
        let block = Int(length) + 2
        if block > maxItemSize {
            rejectedTooLarge = true
            if kind == .set { staleKey = StaleKey(key: key, base64: false) }
            let response = noreply ? ErrorResponse.silent : ErrorResponse.objectTooLarge
            return .reject(response: response, consumed: consumed, swallow: block)
        }
        let command = StoreCommand(
            kind: kind, key: key, flags: flags, exptime: Int64(exptime), casUnique: casUnique,
            data: Span(start: consumed, count: Int(length)), noreply: noreply)
        return awaitData(PendingData(command: .store(command), total: consumed + block, silentErrors: noreply), base, available)
    }

    /// `delete <key> [0] [noreply]`: only `0` may stand between key and `noreply`.
    func delete(_ base: UnsafeRawPointer, _ tokens: inout LineTokens, _ consumed: Int) -> ParseResult {
        let args = Arguments(&tokens)
        guard args.count >= 1 && args.count <= 3 else { return reject(ErrorResponse.error, consumed) }
        var noreply = false
        if args.count > 1 {
            let holdIsZero = base.matches(args.t1, "0")
            noreply = Parser.isNoreply(base, args.last)
            let valid = (args.count == 2 && (holdIsZero || noreply)) || (args.count == 3 && holdIsZero && noreply)
            if !valid { return reject(noreply ? ErrorResponse.silent : ErrorResponse.deleteUsage, consumed) }
        }
        if args.t0.count > Parser.maxKeyLength {
            return reject(noreply ? ErrorResponse.silent : ErrorResponse.badCommandLineFormat, consumed)
        }
        return .command(.delete(key: args.t0, noreply: noreply), consumed: consumed)
    }

    /// `incr|decr <key> <delta> [noreply]`.
    func arithmetic(incr: Bool, _ base: UnsafeRawPointer, _ tokens: inout LineTokens, _ consumed: Int) -> ParseResult {
        let args = Arguments(&tokens)
        guard args.count == 2 || args.count == 3 else { return reject(ErrorResponse.error, consumed) }
        let noreply = Parser.isNoreply(base, args.last)
        if args.t0.count > Parser.maxKeyLength {
            return reject(noreply ? ErrorResponse.silent : ErrorResponse.badCommandLineFormat, consumed)
        }
        guard let delta = NumberParsing.uint64(base, args.t1) else {
            return reject(noreply ? ErrorResponse.silent : ErrorResponse.invalidDelta, consumed)
        }
        return .command(.arithmetic(incr: incr, key: args.t0, delta: delta, noreply: noreply), consumed: consumed)
    }

    /// `touch <key> <exptime> [noreply]`.
    func touch(_ base: UnsafeRawPointer, _ tokens: inout LineTokens, _ consumed: Int) -> ParseResult {
        let args = Arguments(&tokens)
        guard args.count == 2 || args.count == 3 else { return reject(ErrorResponse.error, consumed) }
        let noreply = Parser.isNoreply(base, args.last)
        if args.t0.count > Parser.maxKeyLength {
            return reject(noreply ? ErrorResponse.silent : ErrorResponse.badCommandLineFormat, consumed)
        }
        guard let exptime = NumberParsing.int32(base, args.t1) else {
            return reject(noreply ? ErrorResponse.silent : ErrorResponse.invalidExptime, consumed)
        }
        return .command(.touch(key: args.t0, exptime: Int64(exptime), noreply: noreply), consumed: consumed)
    }

    /// `flush_all [delay] [noreply]`; a third token after the delay is ignored, as memcached does.
    func flushAll(_ base: UnsafeRawPointer, _ tokens: inout LineTokens, _ consumed: Int) -> ParseResult {
        let args = Arguments(&tokens)
        guard args.count <= 2 else { return reject(ErrorResponse.error, consumed) }
        let noreply = args.count > 0 && Parser.isNoreply(base, args.last)
        var delay: Int64 = 0
        if flushAllDisabled { return .command(.flushAll(delay: 0, noreply: noreply), consumed: consumed) }
        if args.count != (noreply ? 1 : 0) {
            guard let d = NumberParsing.int32(base, args.t0) else {
                return reject(noreply ? ErrorResponse.silent : ErrorResponse.invalidExptime, consumed)
            }
            delay = Int64(d)
        }
        return .command(.flushAll(delay: delay, noreply: noreply), consumed: consumed)
    }

    /// `verbosity <level> [noreply]` (a second token that is not noreply is ignored).
    func verbosity(_ base: UnsafeRawPointer, _ tokens: inout LineTokens, _ consumed: Int) -> ParseResult {
        let args = Arguments(&tokens)
        guard args.count == 1 || args.count == 2 else { return reject(ErrorResponse.error, consumed) }
        let noreply = Parser.isNoreply(base, args.last)
        guard let level = NumberParsing.uint32(base, args.t0) else {
            return reject(noreply ? ErrorResponse.silent : ErrorResponse.badCommandLineFormat, consumed)
        }
        return .command(.verbosity(level: Int64(level), noreply: noreply), consumed: consumed)
    }

    /// `cache_memlimit <megabytes> [noreply]`; a bad number is plain `ERROR` in memcached.
    func cacheMemlimit(_ base: UnsafeRawPointer, _ tokens: inout LineTokens, _ consumed: Int) -> ParseResult {
        let args = Arguments(&tokens)
        guard args.count == 1 || args.count == 2 else { return reject(ErrorResponse.error, consumed) }
        let noreply = Parser.isNoreply(base, args.last)
        guard let megabytes = NumberParsing.uint32(base, args.t0) else {
            return reject(noreply ? ErrorResponse.silent : ErrorResponse.error, consumed)
        }
        return .command(.cacheMemlimit(megabytes: Int64(megabytes), noreply: noreply), consumed: consumed)
    }

    /// `stats [args]`: the arguments from the first to the end of the last (the executor splits
    /// them with `KeyIterator`); empty right after `stats` when there are none.
    func stats(_ base: UnsafeRawPointer, _ tokens: inout LineTokens, _ consumed: Int) -> ParseResult {
        .command(.stats(args: restOfLine(base, &tokens)), consumed: consumed)
    }

    /// The remaining tokens of a line, from the first to the end of the last; an empty span right
    /// after the command name when there are none.
    func restOfLine(_ base: UnsafeRawPointer, _ tokens: inout LineTokens) -> Span {
        let afterName = tokens.position
        guard let first = tokens.next() else { return Span(start: afterName, count: 0) }
        var lastEnd = first.end
        while let t = tokens.next() { lastEnd = t.end }
        return Span(start: first.start, count: lastEnd - first.start)
    }
}
