/// The meta commands `mg ms md ma me`, with memcached 1.6.18's flag rules and error order
/// (see `ErrorResponse`).
enum MetaKind {
    case get, set, delete, arithmetic
}

/// What reading a meta command's flags found wrong, if anything.
struct MetaFlagProblems {
    /// The answer for a bad flag (memcached's `_meta_flag_preparse` error string), or nil.
    var error: StaticString?
    /// The `O` token is longer than 32 bytes (checked by each command after the flags).
    var opaqueTooLong = false
}

extension Parser {
    /// memcached refuses a meta command line of more than this many tokens (MFLAG_MAX_OPT_LENGTH,
    /// counting its end marker): 17 flags for `mg md ma`, 16 for `ms`.
    static let maxMetaTokens = 20
    /// Longest `O` token, the `O` included.
    public static let maxOpaqueToken = 32

    /// `mg|md|ma <key> <flag>*`, `ms <key> <datalen> <flag>*`.
    mutating func metaCommand(
        _ kind: MetaKind, _ base: UnsafeRawPointer, _ tokens: inout LineTokens, _ consumed: Int, _ available: Int
    ) -> ParseResult {
        guard let key = tokens.next() else { return reject(ErrorResponse.error, consumed) }
        if key.count > Parser.maxKeyLength { return reject(ErrorResponse.badCommandLineFormat, consumed) }
        // MetaFlags keeps the opaque's offset in 32 bits; no client sends a 2 GB meta line.
        if consumed > Int(Int32.max) { return reject(ErrorResponse.badCommandLineFormat, consumed) }
        var datalen = Span.empty
        if kind == .set {
            guard let d = tokens.next() else { return reject(ErrorResponse.badCommandLineFormat, consumed) }
            datalen = d
        }
        let flagsStart = tokens.position

        var counter = tokens
        var tokenCount = kind == .set ? 3 : 2
        while tokenCount < LineTokens.maxTokens, counter.next() != nil { tokenCount += 1 }
        if tokenCount + 1 > Parser.maxMetaTokens {
            return reject(kind == .get ? ErrorResponse.flagsAreTooLong : ErrorResponse.flagsTooLong, consumed)
        }

        var length = 0
        if kind == .set {
            guard let l = NumberParsing.int32(base, datalen), l >= 0, l <= Int32.max - 2 else {
                return reject(ErrorResponse.badCommandLineFormat, consumed)
            }
            length = Int(l)
        }
        // From here on an `ms` error skips the data block, as memcached does.
        let swallow = kind == .set ? length + 2 : 0

        var flags = MetaFlags()
        var flagTokens = LineTokens(base, from: flagsStart, to: tokens.end)
        let problems = Parser.readMetaFlags(base, key: key, &flagTokens, into: &flags)
        if let error = problems.error {
            let response = (kind == .delete || kind == .arithmetic) ? ErrorResponse.invalidOrDuplicateFlag : error
            return reject(response, consumed, swallow: swallow)
        }

        switch kind {
        case .get:
            // memcached looks at the `O` length only while it writes the answer, after the
            // lookup (and after any `T`/`N` written before it): the executor checks it there.
            return .command(.metaGet(MetaCommand(key: key, flags: flags)), consumed: consumed)

        case .delete:
            if problems.opaqueTooLong { return reject(ErrorResponse.opaqueTooLong, consumed) }
            return .command(.metaDelete(MetaCommand(key: key, flags: flags)), consumed: consumed)

        case .arithmetic:
            switch flags.mode {
            case nil, UInt8(ascii: "I"), UInt8(ascii: "+"), UInt8(ascii: "D"), UInt8(ascii: "-"): break
            default: return reject(ErrorResponse.invalidArithmeticMode, consumed)
            }
            // As for mg, the `O` length is checked after the arithmetic, by the executor.
            return .command(.metaArithmetic(MetaCommand(key: key, flags: flags)), consumed: consumed)

        case .set:
            switch flags.mode {
            case nil, UInt8(ascii: "E"), UInt8(ascii: "A"), UInt8(ascii: "P"), UInt8(ascii: "R"), UInt8(ascii: "S"): break
            default: return reject(ErrorResponse.invalidSetMode, consumed, swallow: swallow)
            }
            if problems.opaqueTooLong { return reject(ErrorResponse.opaqueTooLong, consumed, swallow: swallow) }
            if length + 2 > maxItemSize {
                rejectedTooLarge = true
                // memcached drops the key's current item in every mode (`q` hides no error).
                staleKey = StaleKey(key: key, base64: flags.has(UInt8(ascii: "b")))
                return reject(ErrorResponse.objectTooLarge, consumed, swallow: swallow)
            }
            let command = MetaCommand(key: key, flags: flags, data: Span(start: consumed, count: length))
            return awaitData(PendingData(command: .metaSet(command), total: consumed + length + 2, silentErrors: false), base, available)
        }
    }

    /// Reads the flag tokens into `flags` the way memcached's `_meta_flag_preparse` does: each
    /// token is judged by its first byte; a repeated first byte or an unknown flag stops at once,
    /// a bad token argument is remembered (the last one's message wins) and reading goes on.
    static func readMetaFlags(
        _ base: UnsafeRawPointer, key: Span, _ tokens: inout LineTokens, into flags: inout MetaFlags
    ) -> MetaFlagProblems {
        var seenLow: UInt64 = 0
        var seenHigh: UInt64 = 0
        var failed = false
        var message = ErrorResponse.badCommandLineFormat
        var problems = MetaFlagProblems()
        var firstStart = -1
        var lastEnd = tokens.position
        while let t = tokens.next() {
            if firstStart < 0 { firstStart = t.start }
            lastEnd = t.end
            let letter = base.byte(t.start)
            if letter >= 127 { return MetaFlagProblems(error: ErrorResponse.duplicateFlag) }
            let bit: UInt64 = 1 << UInt64(letter & 63)
            if letter < 64 {
                if seenLow & bit != 0 { return MetaFlagProblems(error: ErrorResponse.duplicateFlag) }
                seenLow |= bit
            } else {
                if seenHigh & bit != 0 { return MetaFlagProblems(error: ErrorResponse.duplicateFlag) }
                seenHigh |= bit
            }
            let argument = Span(start: t.start + 1, count: t.count - 1)
            switch letter {
            case UInt8(ascii: "b"):
                if Base64.decodedCount(base, key) == nil {
                    message = ErrorResponse.errorDecodingKey
                    failed = true
                }
            case UInt8(ascii: "N"), UInt8(ascii: "T"), UInt8(ascii: "R"):
                if let v = NumberParsing.int32(base, argument) {
                    switch letter {
                    case UInt8(ascii: "N"): flags.vivifyTTL = Int64(v)
                    case UInt8(ascii: "T"): flags.ttl = Int64(v)
                    default: flags.recacheThreshold = Int64(v)
                    }
                } else {
                    message = ErrorResponse.badToken
                    failed = true
                }
            case UInt8(ascii: "O"):
                flags.opaque = argument
                if t.count > Parser.maxOpaqueToken { problems.opaqueTooLong = true }
            case UInt8(ascii: "l"), UInt8(ascii: "P"), UInt8(ascii: "L"), UInt8(ascii: "k"), UInt8(ascii: "s"),
                UInt8(ascii: "t"), UInt8(ascii: "c"), UInt8(ascii: "f"), UInt8(ascii: "v"), UInt8(ascii: "h"),
                UInt8(ascii: "u"), UInt8(ascii: "q"), UInt8(ascii: "I"):
                break
            case UInt8(ascii: "F"):
                // memcached sets no message of its own here: the default one is answered.
                if let v = NumberParsing.uint32(base, argument) { flags.clientFlags = v } else { failed = true }
            case UInt8(ascii: "C"):
                if let v = NumberParsing.uint64(base, argument) {
                    flags.compareCas = v
                } else {
                    message = ErrorResponse.badToken
                    failed = true
                }
            case UInt8(ascii: "M"):
                if t.count != 2 {
                    message = ErrorResponse.modeTokenLength
                    failed = true
                } else {
                    flags.mode = base.byte(t.start + 1)
                }
            case UInt8(ascii: "J"):
                if let v = NumberParsing.uint64(base, argument) {
                    flags.initial = v
                } else {
                    message = ErrorResponse.invalidInitialValue
                    failed = true
                }
            case UInt8(ascii: "D"):
                if let v = NumberParsing.uint64(base, argument) {
                    flags.delta = v
                } else {
                    message = ErrorResponse.invalidDeltaValue
                    failed = true
                }
            default:
                return MetaFlagProblems(error: ErrorResponse.invalidFlag)
            }
            flags.insert(letter)
        }
        flags.flagText = firstStart < 0 ? Span(start: lastEnd, count: 0) : Span(start: firstStart, count: lastEnd - firstStart)
        if failed { problems.error = message }
        return problems
    }

    /// `me <key> [b]`: anything after the optional `b` is ignored, as memcached does.
    func metaDebug(_ base: UnsafeRawPointer, _ tokens: inout LineTokens, _ consumed: Int) -> ParseResult {
        guard let key = tokens.next(), key.count <= Parser.maxKeyLength else {
            return reject(ErrorResponse.badCommandLineFormat, consumed)
        }
        var base64 = false
        if let flag = tokens.next(), base.matches(flag, "b") {
            guard Base64.decodedCount(base, key) != nil else { return reject(ErrorResponse.badCommandLineFormat, consumed) }
            base64 = true
        }
        return .command(.metaDebug(key: key, base64: base64), consumed: consumed)
    }
}
