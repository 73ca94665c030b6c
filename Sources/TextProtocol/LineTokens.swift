/// Walks the space-separated tokens of one command line, as memcached's tokenizer splits them:
/// on ' ' only, runs of spaces count as one, leading and trailing spaces are ignored.
struct LineTokens {
    /// memcached keeps at most 23 tokens of a line (MAX_TOKENS 24, one slot for the end marker);
    /// the rest is one unsplit remainder. It matters where a command counts its tokens (meta
    /// flag limits) or looks at the last one (`HTTP/`).
    static let maxTokens = 23

    let base: UnsafeRawPointer
    var position: Int
    let end: Int

    init(_ base: UnsafeRawPointer, from position: Int, to end: Int) {
        self.base = base
        self.position = position
        self.end = end
    }

    @inline(__always)
    mutating func next() -> Span? {
        var i = position
        while i < end && base.load(fromByteOffset: i, as: UInt8.self) == UInt8(ascii: " ") { i &+= 1 }
        if i >= end {
            position = end
            return nil
        }
        let start = i
        if let space = ByteSearch.first(UInt8(ascii: " "), in: base, from: i, to: end) {
            i = space
        } else {
            i = end
        }
        position = i
        return Span(start: start, count: i - start)
    }
}

/// The arguments of a classic command (the tokens after its name), up to seven of them.
///
/// Kept in stored properties, not an array, so collecting them allocates nothing. `count`
/// saturates at eight: every fixed-arity command takes at most seven tokens after its name,
/// so eight means "too many" whatever the real number.
struct Arguments {
    static let capacity = 7

    var count = 0
    var t0 = Span.empty, t1 = Span.empty, t2 = Span.empty, t3 = Span.empty
    var t4 = Span.empty, t5 = Span.empty, t6 = Span.empty

    init(_ tokens: inout LineTokens) {
        while count <= Arguments.capacity, let t = tokens.next() {
            switch count {
            case 0: t0 = t
            case 1: t1 = t
            case 2: t2 = t
            case 3: t3 = t
            case 4: t4 = t
            case 5: t5 = t
            case 6: t6 = t
            default: break
            }
            count += 1
        }
    }

    subscript(_ i: Int) -> Span {
        switch i {
        case 0: return t0
        case 1: return t1
        case 2: return t2
        case 3: return t3
        case 4: return t4
        case 5: return t5
        default: return t6
        }
    }

    /// The last argument (valid when `1...capacity` arguments were found).
    var last: Span { self[count - 1] }
}

/// Byte comparisons on spans of the parse buffer.
extension UnsafeRawPointer {
    @inline(__always)
    func byte(_ i: Int) -> UInt8 { load(fromByteOffset: i, as: UInt8.self) }

    /// Whether `span` holds exactly the bytes of `literal`.
    @inline(__always)
    func matches(_ span: Span, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard span.count == n else { return false }
        let p = literal.utf8Start
        for i in 0..<n where load(fromByteOffset: span.start &+ i, as: UInt8.self) != p[i] { return false }
        return true
    }

    /// Whether `span` starts with the bytes of `literal`.
    @inline(__always)
    func hasPrefix(_ span: Span, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard span.count >= n else { return false }
        let p = literal.utf8Start
        for i in 0..<n where load(fromByteOffset: span.start &+ i, as: UInt8.self) != p[i] { return false }
        return true
    }
}
