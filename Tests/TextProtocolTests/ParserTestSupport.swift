@testable import TextProtocol

/// Feeds bytes to a `Parser` the way the connection does — unread bytes in, consumed bytes
/// dropped, `swallow` bytes skipped as they arrive — and writes down what happened:
/// rejections as their exact response bytes, commands as `{name args…}` placeholders (their
/// answers come from the executor), `{unlink key}` when the parser names a stale key, and
/// `<close>` when the connection would be closed.
struct SimulatedConnection {
    var parser: Parser
    var unread: [UInt8] = []
    var swallowing = 0
    var transcript = ""
    var closed = false
    /// Results other than needMoreData, in order.
    var results: [ParseResult] = []

    init(maxItemSize: Int = 1 << 20) {
        parser = Parser(maxItemSize: maxItemSize)
    }

    mutating func receive(_ bytes: ArraySlice<UInt8>) {
        guard !closed else { return }
        unread.append(contentsOf: bytes)
        process()
    }

    mutating func process() {
        while !closed {
            if swallowing > 0 {
                let n = min(swallowing, unread.count)
                unread.removeFirst(n)
                swallowing -= n
                if swallowing > 0 { return }
            }
            if unread.isEmpty { return }
            var p = parser
            let (result, text) = unread.withUnsafeBytes { buffer -> (ParseResult, String) in
                let r = p.parse(buffer)
                return (r, SimulatedConnection.describe(r, stale: p.staleKey, buffer))
            }
            parser = p
            if case .needMoreData = result { return }
            results.append(result)
            transcript += text
            switch result {
            case .needMoreData:
                return
            case .command(let command, let consumed):
                unread.removeFirst(consumed)
                if command == .quit { closed = true }
            case .reject(_, let consumed, let swallow):
                unread.removeFirst(consumed)
                swallowing = swallow
            case .close:
                closed = true
            }
        }
    }

    /// Runs `bytes` through a fresh connection in pieces of `chunk` bytes (nil: all at once).
    static func run(_ bytes: [UInt8], chunk: Int? = nil, maxItemSize: Int = 1 << 20) -> SimulatedConnection {
        var c = SimulatedConnection(maxItemSize: maxItemSize)
        let step = chunk ?? max(bytes.count, 1)
        var i = 0
        while i < bytes.count {
            c.receive(bytes[i..<min(i + step, bytes.count)])
            i += step
        }
        return c
    }

    /// Runs explicit pieces through a fresh connection.
    static func run(pieces: [[UInt8]]) -> SimulatedConnection {
        var c = SimulatedConnection()
        for piece in pieces { c.receive(piece[...]) }
        return c
    }

    static func describe(_ result: ParseResult, stale: StaleKey?, _ buffer: UnsafeRawBufferPointer) -> String {
        switch result {
        case .needMoreData:
            return ""
        case .command(let command, _):
            return "{" + describe(command, buffer) + "}"
        case .reject(let response, _, _):
            var text = ""
            if let stale { text += "{unlink \(string(buffer, stale.key))\(stale.base64 ? " b" : "")}" }
            return text + response.description
        case .close(let response):
            return response.description + "<close>"
        }
    }

    static func describe(_ command: Command, _ b: UnsafeRawBufferPointer) -> String {
        func nr(_ noreply: Bool) -> String { noreply ? " noreply" : "" }
        switch command {
        case .retrieve(let r):
            var s = "\(r.kind)"
            if r.kind.touches { s += " \(r.exptime)" }
            var keys = KeyIterator(b, r.keys)
            while let k = keys.next() { s += " " + string(b, k) }
            return s
        case .store(let s):
            return "\(s.kind) \(string(b, s.key))\(nr(s.noreply))"
        case .delete(let key, let noreply):
            return "delete \(string(b, key))\(nr(noreply))"
        case .arithmetic(let incr, let key, let delta, let noreply):
            return "\(incr ? "incr" : "decr") \(string(b, key)) \(delta)\(nr(noreply))"
        case .touch(let key, let exptime, let noreply):
            return "touch \(string(b, key)) \(exptime)\(nr(noreply))"
        case .flushAll(let delay, let noreply):
            return "flush_all \(delay)\(nr(noreply))"
        case .version:
            return "version"
        case .verbosity(let level, let noreply):
            return "verbosity \(level)\(nr(noreply))"
        case .quit:
            return "quit"
        case .stats(let args):
            return args.count == 0 ? "stats" : "stats \(string(b, args))"
        case .metaGet(let m):
            return "mg \(string(b, m.key))"
        case .metaSet(let m):
            return "ms \(string(b, m.key)) \(string(b, m.data))"
        case .metaDelete(let m):
            return "md \(string(b, m.key))"
        case .metaArithmetic(let m):
            return "ma \(string(b, m.key))"
        case .metaNoop:
            return "mn"
        case .metaDebug(let key, let base64):
            return "me \(string(b, key))\(base64 ? " b" : "")"
        case .cacheMemlimit(let megabytes, let noreply):
            return "cache_memlimit \(megabytes)\(nr(noreply))"
        case .shutdown:
            return "shutdown"
        case .cluster(let args):
            return "cluster [\(string(b, args))]"
        case .admin(let kind, let args):
            return "\(kind) [\(string(b, args))]"
        }
    }

    static func string(_ b: UnsafeRawBufferPointer, _ span: Span) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: b[span.start..<span.end]), as: UTF8.self)
    }
}

/// A request's bytes, with a helper to name the spans a parsed command should hold.
struct Request: Sendable {
    let bytes: [UInt8]

    init(_ text: String) { bytes = Array(text.utf8) }
    init(bytes: [UInt8]) { self.bytes = bytes }

    /// The span of the `nth` occurrence (0-based) of `needle`.
    func span(_ needle: String, _ nth: Int = 0) -> Span {
        let n = Array(needle.utf8)
        var found = 0
        var i = 0
        while i + n.count <= bytes.count {
            if Array(bytes[i..<i + n.count]) == n {
                if found == nth { return Span(start: i, count: n.count) }
                found += 1
            }
            i += 1
        }
        fatalError("\(needle) not in request")
    }

    /// An empty span at `offset`.
    func empty(at offset: Int) -> Span { Span(start: offset, count: 0) }

    /// The offset right after the first `\n`.
    var lineLength: Int { bytes.firstIndex(of: UInt8(ascii: "\n"))! + 1 }
}

func parseOnce(_ bytes: [UInt8], maxItemSize: Int = 1 << 20) -> ParseResult {
    var p = Parser(maxItemSize: maxItemSize)
    return bytes.withUnsafeBytes { p.parse($0) }
}
