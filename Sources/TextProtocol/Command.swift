/// A run of bytes inside the buffer that was handed to `Parser.parse`.
///
/// Commands refer to their keys and data by span instead of copying them, so parsing a request
/// allocates nothing. A span is valid only as long as that buffer is unchanged: the connection
/// executes a command before it compacts or refills its read buffer.
public struct Span: Sendable, Equatable, Hashable {
    public var start: Int
    public var count: Int

    @inlinable public init(start: Int, count: Int) {
        self.start = start
        self.count = count
    }

    public static let empty = Span(start: 0, count: 0)

    @inlinable public var end: Int { start + count }
}

/// `get`, `gets`, `gat`, `gats`.
public enum RetrievalKind: UInt8, Sendable {
    case get, gets, gat, gats

    @inlinable public var returnsCas: Bool { self == .gets || self == .gats }
    @inlinable public var touches: Bool { self == .gat || self == .gats }
}

/// `get <key>*`, `gets <key>*`, `gat <exptime> <key>*`, `gats <exptime> <key>*`.
public struct RetrievalCommand: Sendable, Equatable {
    public var kind: RetrievalKind
    /// Only for `gat`/`gats`: the new exptime as the client wrote it (memcached's rules apply).
    public var exptime: Int64
    /// The text that holds the keys, separated by one or more spaces; iterate with `KeyIterator`.
    /// Every key in it is already checked to be 1...250 bytes.
    public var keys: Span
    public var keyCount: Int

    public init(kind: RetrievalKind, exptime: Int64, keys: Span, keyCount: Int) {
        self.kind = kind
        self.exptime = exptime
        self.keys = keys
        self.keyCount = keyCount
    }
}

/// `set add replace append prepend cas`.
public enum StoreKind: UInt8, Sendable {
    case set, add, replace, append, prepend, cas
}

/// A storage command with its data block already complete in the buffer.
public struct StoreCommand: Sendable, Equatable {
    public var kind: StoreKind
    public var key: Span
    public var flags: UInt32
    public var exptime: Int64
    /// Only for `cas`.
    public var casUnique: UInt64
    /// The data block without its trailing `\r\n`.
    public var data: Span
    public var noreply: Bool

    public init(kind: StoreKind, key: Span, flags: UInt32, exptime: Int64, casUnique: UInt64, data: Span, noreply: Bool) {
        self.kind = kind
        self.key = key
        self.flags = flags
        self.exptime = exptime
        self.casUnique = casUnique
        self.data = data
        self.noreply = noreply
    }
}

/// The flags of a meta command (`mg ms md ma`), one field per flag memcached 1.6.18 documents.
///
/// Letters without a token are bits in `letters`; the flags that carry a token have a field
/// each. The order in which the client wrote the return flags matters for the answer, so the
/// raw flag text is kept in `flagText` as well (answers list flags "in the order specified").
public struct MetaFlags: Sendable, Equatable {
    /// One bit per ASCII letter present: bit (c - 'a') for a...z, bit 26 + (c - 'A') for A...Z.
    /// Flags are judged by their first byte, as memcached does (`vxyz` is `v`); the parser accepts
    /// the flags memcached 1.6.18 knows for every meta command (b c f h k l q s t u v I O P L N R
    /// T F C M J D) and rejects the others, so a command ignores those that do not concern it.
    public var letters: UInt64 = 0
    /// The flag tokens as written, after the key (and after the datalen for `ms`), from the
    /// first to the end of the last; empty when there are none. Split with `KeyIterator`.
    public var flagText: Span = .empty
    /// `O<token>`: opaque, the bytes after the `O` (at most 31: memcached limits the whole token,
    /// `O` included, to 32). Answers echo the token verbatim, `O` included.
    @inlinable public var opaque: Span? {
        get { present & Self.hasOpaque != 0 ? Span(start: Int(opaqueStart), count: Int(opaqueCount)) : nil }
        set {
            if let v = newValue {
                present |= Self.hasOpaque
                opaqueStart = Int32(truncatingIfNeeded: v.start)
                opaqueCount = Int32(truncatingIfNeeded: v.count)
            } else {
                present &= ~Self.hasOpaque
            }
        }
    }
    /// The `O` token is longer than memcached allows (32 bytes, `O` included): `mg` and `ma`
    /// answer `CLIENT_ERROR opaque token too long` when their answer reaches it.
    @inlinable public var opaqueTooLong: Bool {
        present & Self.hasOpaque != 0 && Int(opaqueCount) + 1 > Parser.maxOpaqueToken
    }
    /// `T<token>`: TTL.
    @inlinable public var ttl: Int64? {
        get { present & Self.hasTTL != 0 ? ttlValue : nil }
        set { ttlValue = newValue ?? 0; present = newValue == nil ? present & ~Self.hasTTL : present | Self.hasTTL }
    }
    /// `N<token>`: vivify (mg) / auto-create (ma) with this TTL.
    @inlinable public var vivifyTTL: Int64? {
        get { present & Self.hasVivify != 0 ? vivifyValue : nil }
        set { vivifyValue = newValue ?? 0; present = newValue == nil ? present & ~Self.hasVivify : present | Self.hasVivify }
    }
    /// `R<token>`: recache threshold in seconds.
    @inlinable public var recacheThreshold: Int64? {
        get { present & Self.hasRecache != 0 ? recacheValue : nil }
        set { recacheValue = newValue ?? 0; present = newValue == nil ? present & ~Self.hasRecache : present | Self.hasRecache }
    }
    /// `C<token>`: compare CAS.
    @inlinable public var compareCas: UInt64? {
        get { present & Self.hasCas != 0 ? casValue : nil }
        set { casValue = newValue ?? 0; present = newValue == nil ? present & ~Self.hasCas : present | Self.hasCas }
    }
    /// `F<token>`: client flags.
    @inlinable public var clientFlags: UInt32? {
        get { present & Self.hasClientFlags != 0 ? clientFlagsValue : nil }
        set {
            clientFlagsValue = newValue ?? 0
            present = newValue == nil ? present & ~Self.hasClientFlags : present | Self.hasClientFlags
        }
    }
    /// `D<token>`: delta for `ma` (default 1).
    @inlinable public var delta: UInt64? {
        get { present & Self.hasDelta != 0 ? deltaValue : nil }
        set { deltaValue = newValue ?? 0; present = newValue == nil ? present & ~Self.hasDelta : present | Self.hasDelta }
    }
    /// `J<token>`: initial value for `ma` auto-create (default 0).
    @inlinable public var initial: UInt64? {
        get { present & Self.hasInitial != 0 ? initialValue : nil }
        set { initialValue = newValue ?? 0; present = newValue == nil ? present & ~Self.hasInitial : present | Self.hasInitial }
    }
    /// `M<token>`: mode character (`ms`: S E A P R; `ma`: I + D -), as written. The parser has
    /// checked it is one of those for `ms` and `ma` (upper case only, as memcached 1.6.18);
    /// `mg` and `md` accept and ignore any.
    @inlinable public var mode: UInt8? {
        get { present & Self.hasMode != 0 ? modeValue : nil }
        set { modeValue = newValue ?? 0; present = newValue == nil ? present & ~Self.hasMode : present | Self.hasMode }
    }

    // Compact storage behind the optionals above: a `Command` is copied by value on every parse,
    // and Swift's `Int64?` takes 16 bytes; this keeps `MetaFlags` at 88 bytes instead of 147.
    @usableFromInline var casValue: UInt64 = 0
    @usableFromInline var deltaValue: UInt64 = 0
    @usableFromInline var initialValue: UInt64 = 0
    @usableFromInline var ttlValue: Int64 = 0
    @usableFromInline var vivifyValue: Int64 = 0
    @usableFromInline var recacheValue: Int64 = 0
    /// The opaque span; the parser never hands out offsets beyond Int32 (it refuses longer lines).
    @usableFromInline var opaqueStart: Int32 = 0
    @usableFromInline var opaqueCount: Int32 = 0
    @usableFromInline var clientFlagsValue: UInt32 = 0
    @usableFromInline var present: UInt16 = 0
    @usableFromInline var modeValue: UInt8 = 0

    @usableFromInline static var hasOpaque: UInt16 { 1 }
    @usableFromInline static var hasTTL: UInt16 { 2 }
    @usableFromInline static var hasVivify: UInt16 { 4 }
    @usableFromInline static var hasRecache: UInt16 { 8 }
    @usableFromInline static var hasCas: UInt16 { 16 }
    @usableFromInline static var hasClientFlags: UInt16 { 32 }
    @usableFromInline static var hasDelta: UInt16 { 64 }
    @usableFromInline static var hasInitial: UInt16 { 128 }
    @usableFromInline static var hasMode: UInt16 { 256 }

    public init() {}

    @inlinable public static func bit(_ letter: UInt8) -> UInt64 {
        if letter >= UInt8(ascii: "a") && letter <= UInt8(ascii: "z") { return 1 << UInt64(letter - UInt8(ascii: "a")) }
        if letter >= UInt8(ascii: "A") && letter <= UInt8(ascii: "Z") { return 1 << UInt64(26 + letter - UInt8(ascii: "A")) }
        return 0
    }

    @inlinable public func has(_ letter: UInt8) -> Bool { letters & MetaFlags.bit(letter) != 0 }
    @inlinable public mutating func insert(_ letter: UInt8) { letters |= MetaFlags.bit(letter) }

    public static func == (a: MetaFlags, b: MetaFlags) -> Bool {
        a.letters == b.letters && a.flagText == b.flagText && a.opaque == b.opaque && a.ttl == b.ttl
            && a.vivifyTTL == b.vivifyTTL && a.recacheThreshold == b.recacheThreshold && a.compareCas == b.compareCas
            && a.clientFlags == b.clientFlags && a.delta == b.delta && a.initial == b.initial && a.mode == b.mode
    }
}

/// One meta command. The key is as written; with the `b` flag it is base64 and the
/// executor decodes it with `Base64.decode` (the parser has checked it decodes; the 250-byte
/// limit applies to the encoded form, as in memcached).
public struct MetaCommand: Sendable, Equatable {
    public var key: Span
    public var flags: MetaFlags
    /// `ms` only: the data block without its trailing `\r\n`.
    public var data: Span

    public init(key: Span, flags: MetaFlags, data: Span = .empty) {
        self.key = key
        self.flags = flags
        self.data = data
    }
}

/// Everything a client can ask on the client port.
public enum Command: Sendable, Equatable {
    case retrieve(RetrievalCommand)
    case store(StoreCommand)
    case delete(key: Span, noreply: Bool)
    case arithmetic(incr: Bool, key: Span, delta: UInt64, noreply: Bool)
    case touch(key: Span, exptime: Int64, noreply: Bool)
    /// `flush_all [delay] [noreply]`; delay 0 when absent.
    case flushAll(delay: Int64, noreply: Bool)
    case version
    case verbosity(level: Int64, noreply: Bool)
    case quit
    /// `stats [args]`: the text after `stats` (may be empty), e.g. `settings`, `items`, `reset`.
    case stats(args: Span)
    case metaGet(MetaCommand)
    case metaSet(MetaCommand)
    case metaDelete(MetaCommand)
    case metaArithmetic(MetaCommand)
    /// `mn`: answers `MN`.
    case metaNoop
    /// `me <key> [b]`.
    case metaDebug(key: Span, base64: Bool)
    /// `cache_memlimit <megabytes> [noreply]`.
    case cacheMemlimit(megabytes: Int64, noreply: Bool)
    /// `shutdown [anything]` (memcached answers `ERROR: shutdown not enabled` unless started
    /// with -A; the parser keeps no arguments, since ringcached does not offer -A).
    case shutdown
    /// `cluster <args>` (`cluster nodes`, `cluster route <key>`): the cluster's admin commands;
    /// the arguments as `stats` has them.
    case cluster(args: Span)
    /// memcached's operator commands that take words (`watch`, `lru_crawler`, `lru`, `slabs`):
    /// the arguments as `stats` has them; the executor reads them as memcached does.
    case admin(AdminCommand, args: Span)
}

extension Command {
    /// memcached 1.6.18 writes out every answer it holds right after these (its `conn_mwrite`
    /// after a get, and `mn`); after the others the answers stay stacked until it runs out of
    /// input. What is stacked is lost if the connection closes on a protocol error, waits while
    /// a data block is swallowed, and stops `watch` or `metadump` from starting.
    @inlinable public var flushesAnswers: Bool {
        switch self {
        case .retrieve, .metaNoop: return true
        default: return false
        }
    }
}

/// The operator commands of `Command.admin`.
public enum AdminCommand: UInt8, Sendable {
    /// `watch [fetchers|mutations|evictions|connevents|sysevents|rawcmds ...]`: the connection
    /// turns into a live log stream.
    case watch
    /// `lru_crawler crawl|metadump|tocrawl|sleep|enable|disable ...`.
    case lruCrawler
    /// `lru tune|mode|temp_ttl ...`.
    case lru
    /// `slabs automove|reassign ...`.
    case slabs
}

/// What the parser made of the bytes at the front of the buffer.
///
/// Byte accounting, for the connection:
/// - `consumed` counts bytes from the start of the buffer that was passed to `parse`; they are
///   always all in that buffer. Drop them after acting on the result (spans in a command point
///   into them, so execute first).
/// - `swallow` counts the bytes that come right after those `consumed` in the stream, whether
///   they are already in the buffer or not: drop what is buffered now, then keep dropping
///   incoming bytes until `swallow` bytes in all are gone (memcached's `conn_swallow`; the bytes
///   are not looked at, `\r\n` or not). Only then call `parse` again, with the bytes that follow.
/// - An empty `response` means send nothing (a classic command's `noreply` also silences its
///   errors in memcached).
public enum ParseResult: Sendable {
    /// Not a whole command yet: read more and call again with the same bytes first (plus the
    /// new ones). `Parser.bytesAwaited` tells how many a pending data block needs.
    case needMoreData
    /// A whole command, taking the first `consumed` bytes of the buffer (for storage commands
    /// and `ms`: the line, the data block and its `\r\n`).
    case command(Command, consumed: Int)
    /// Answer `response` (a complete line such as `CLIENT_ERROR bad data chunk\r\n`, or empty),
    /// drop the first `consumed` bytes, then swallow `swallow` more (the data block of a storage
    /// command rejected before its data was read: `swallow` is its length + 2).
    /// After `SERVER_ERROR object too large for cache` for `set` or `ms`, `Parser.staleKey`
    /// names a key the executor must delete first (memcached drops the old item).
    case reject(response: StaticString, consumed: Int, swallow: Int)
    /// Answer `response` if it is not empty, then close the connection: more than 2048 bytes
    /// without a line end that are not a multi-get, the binary protocol's magic byte as the
    /// connection's first byte, an HTTP request line. (memcached sends nothing in all three.)
    case close(response: StaticString)
}

/// Iterates the space-separated keys of a retrieval command without allocating.
public struct KeyIterator: IteratorProtocol {
    @usableFromInline let base: UnsafeRawBufferPointer
    @usableFromInline var position: Int
    @usableFromInline let end: Int

    @inlinable public init(_ base: UnsafeRawBufferPointer, _ span: Span) {
        self.base = base
        self.position = span.start
        self.end = span.end
    }

    @inlinable public mutating func next() -> Span? {
        while position < end && base[position] == UInt8(ascii: " ") { position += 1 }
        if position >= end { return nil }
        let start = position
        while position < end && base[position] != UInt8(ascii: " ") { position += 1 }
        return Span(start: start, count: position - start)
    }
}

extension ParseResult: Equatable {
    public static func == (a: ParseResult, b: ParseResult) -> Bool {
        switch (a, b) {
        case (.needMoreData, .needMoreData): return true
        case let (.command(c1, n1), .command(c2, n2)): return c1 == c2 && n1 == n2
        case let (.reject(r1, c1, s1), .reject(r2, c2, s2)): return r1.description == r2.description && c1 == c2 && s1 == s2
        case let (.close(r1), .close(r2)): return r1.description == r2.description
        default: return false
        }
    }
}
