import Foundation

/// The compatibility table: cases of request bytes and memcached's answers, parsed from
/// `Fixtures/compat-pairs.txt` (the format is described at the top of that file, which
/// `scripts/integration/record-compat.py` writes).
struct CompatCase: Sendable, CustomStringConvertible {
    enum Step: Sendable {
        case send([SendPiece])
        case recv(Pattern)
        case sleep(milliseconds: Int)
        case closed
    }

    let name: String
    let line: Int
    let steps: [Step]

    var description: String { name }
}

enum SendPiece: Sendable {
    case bytes([UInt8])
    case variable(String)
}

/// An expected answer: literal bytes and a few explicit wildcards.
struct Pattern: Sendable, CustomStringConvertible {
    enum Token: Sendable {
        case literal([UInt8])
        case digits                 // {d}
        case capture(String)        // {=name}
        case range(Int, Int)        // {lo..hi}
        case restOfLine             // {*}
    }

    var tokens: [Token]

    enum Match {
        case complete(consumed: Int, captures: [String: String])
        case needMore
        case mismatch(at: Int)
    }

    /// Matches a prefix of `buffer` against the whole pattern.
    func match(_ buffer: [UInt8]) -> Match {
        var pos = 0
        var captures: [String: String] = [:]
        for token in tokens {
            switch token {
            case .literal(let bytes):
                let available = min(bytes.count, buffer.count - pos)
                for i in 0..<available where buffer[pos + i] != bytes[i] { return .mismatch(at: pos + i) }
                if available < bytes.count { return .needMore }
                pos += bytes.count
            case .digits, .capture, .range:
                let start = pos
                if case .range = token, pos < buffer.count, buffer[pos] == UInt8(ascii: "-") { pos += 1 }
                let digitsStart = pos
                while pos < buffer.count, (48...57).contains(buffer[pos]) { pos += 1 }
                if pos == buffer.count { return .needMore }  // the number may go on
                if pos == digitsStart { return .mismatch(at: pos) }
                let text = String(decoding: buffer[start..<pos], as: UTF8.self)
                if case .capture(let name) = token { captures[name] = text }
                if case .range(let lo, let hi) = token {
                    guard let value = Int(text), (lo...hi).contains(value) else { return .mismatch(at: start) }
                }
            case .restOfLine:
                while pos < buffer.count, buffer[pos] != 13 { pos += 1 }
                if pos == buffer.count { return .needMore }
            }
        }
        return .complete(consumed: pos, captures: captures)
    }

    var description: String {
        tokens.map { token -> String in
            switch token {
            case .literal(let bytes): return String(Escaping.show(bytes, limit: 400).dropFirst().dropLast())
            case .digits: return "{d}"
            case .capture(let name): return "{=\(name)}"
            case .range(let lo, let hi): return "{\(lo)..\(hi)}"
            case .restOfLine: return "{*}"
            }
        }.joined()
    }
}

enum CompatFixture {
    static var path: String { PackagePaths.fixtures + "/compat-pairs.txt" }

    static func load() throws -> [CompatCase] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IntegrationError("cannot read the compatibility table at \(path)")
        }
        return try parse(Array(data))
    }

    static func parse(_ bytes: [UInt8]) throws -> [CompatCase] {
        var cases: [CompatCase] = []
        var name: String?
        var caseLine = 0
        var steps: [CompatCase.Step] = []
        var names = Set<String>()

        func finish() {
            if let name { cases.append(CompatCase(name: name, line: caseLine, steps: steps)) }
            steps = []
        }

        let lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
        for (index, rawLine) in lines.enumerated() {
            let lineNumber = index + 1
            let line = Array(rawLine)
            if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
            let text = String(decoding: line, as: UTF8.self)
            let (directive, rest): (String, [UInt8]) = {
                if let space = line.firstIndex(of: 32) {
                    return (String(decoding: line[..<space], as: UTF8.self), Array(line[(space + 1)...]))
                }
                return (text, [])
            }()
            func fail(_ message: String) -> IntegrationError {
                IntegrationError("\(path):\(lineNumber): \(message): \(text)")
            }
            switch directive {
            case "case":
                finish()
                let caseName = String(decoding: rest, as: UTF8.self)
                guard !caseName.isEmpty, names.insert(caseName).inserted else { throw fail("empty or duplicate case name") }
                name = caseName
                caseLine = lineNumber
            case "note":
                continue
            case "send", "recv", "sleep", "closed":
                guard name != nil else { throw fail("\(directive) outside a case") }
                switch directive {
                case "send":
                    steps.append(.send(try parsePayload(rest, allowPatterns: false).pieces))
                case "recv":
                    let tokens = try parsePayload(rest, allowPatterns: true).tokens
                    if case .recv(let previous)? = steps.last {
                        steps[steps.count - 1] = .recv(Pattern(tokens: previous.tokens + tokens))
                    } else {
                        steps.append(.recv(Pattern(tokens: tokens)))
                    }
                case "sleep":
                    guard let ms = Int(String(decoding: rest, as: UTF8.self)) else { throw fail("bad sleep") }
                    steps.append(.sleep(milliseconds: ms))
                default:
                    steps.append(.closed)
                }
            default:
                throw fail("unknown directive")
            }
        }
        finish()
        return cases
    }

    struct ParsedPayload {
        var pieces: [SendPiece] = []
        var tokens: [Pattern.Token] = []
        var literal: [UInt8] = []

        mutating func flushLiteral() {
            guard !literal.isEmpty else { return }
            pieces.append(.bytes(literal))
            tokens.append(.literal(literal))
            literal = []
        }
    }

    /// Decodes escapes and brace constructs of one payload.
    static func parsePayload(_ text: [UInt8], allowPatterns: Bool) throws -> ParsedPayload {
        var out = ParsedPayload()
        var i = 0
        while i < text.count {
            let c = text[i]
            if c == UInt8(ascii: "\\") {
                let (byte, next) = try unescape(text, at: i)
                out.literal.append(byte)
                i = next
            } else if c == UInt8(ascii: "{") {
                var j = i + 1
                var inner: [UInt8] = []
                while j < text.count, text[j] != UInt8(ascii: "}") {
                    if text[j] == UInt8(ascii: "\\"), j + 1 < text.count {
                        inner.append(text[j]); inner.append(text[j + 1]); j += 2
                    } else {
                        inner.append(text[j]); j += 1
                    }
                }
                guard j < text.count else { throw IntegrationError("unclosed { in payload") }
                i = j + 1
                let body = String(decoding: inner, as: UTF8.self)
                if let star = inner.firstIndex(of: UInt8(ascii: "*")), star > 0,
                   let count = Int(String(decoding: inner[..<star], as: UTF8.self)) {
                    var unit: [UInt8] = []
                    var k = star + 1
                    while k < inner.count {
                        if inner[k] == UInt8(ascii: "\\") {
                            let (byte, next) = try unescape(inner, at: k)
                            unit.append(byte)
                            k = next
                        } else {
                            unit.append(inner[k]); k += 1
                        }
                    }
                    for _ in 0..<count { out.literal.append(contentsOf: unit) }
                } else if body.hasPrefix("$") && !allowPatterns {
                    out.flushLiteral()
                    out.pieces.append(.variable(String(body.dropFirst())))
                } else if allowPatterns {
                    out.flushLiteral()
                    if body == "d" {
                        out.tokens.append(.digits)
                    } else if body == "*" {
                        out.tokens.append(.restOfLine)
                    } else if body.hasPrefix("=") {
                        out.tokens.append(.capture(String(body.dropFirst())))
                    } else if let dots = body.range(of: ".."), let lo = Int(body[..<dots.lowerBound]),
                              let hi = Int(body[dots.upperBound...]) {
                        out.tokens.append(.range(lo, hi))
                    } else {
                        throw IntegrationError("unknown pattern {\(body)}")
                    }
                } else {
                    throw IntegrationError("unknown construct {\(body)} in a send payload")
                }
            } else {
                out.literal.append(c)
                i += 1
            }
        }
        out.flushLiteral()
        return out
    }

    private static func unescape(_ text: [UInt8], at i: Int) throws -> (UInt8, Int) {
        guard i + 1 < text.count else { throw IntegrationError("dangling backslash") }
        switch text[i + 1] {
        case UInt8(ascii: "r"): return (13, i + 2)
        case UInt8(ascii: "n"): return (10, i + 2)
        case UInt8(ascii: "t"): return (9, i + 2)
        case UInt8(ascii: "0"): return (0, i + 2)
        case UInt8(ascii: "\\"), UInt8(ascii: "{"), UInt8(ascii: "}"): return (text[i + 1], i + 2)
        case UInt8(ascii: "x"):
            guard i + 3 < text.count,
                  let value = UInt8(String(decoding: text[(i + 2)...(i + 3)], as: UTF8.self), radix: 16) else {
                throw IntegrationError("bad \\x escape")
            }
            return (value, i + 4)
        default:
            throw IntegrationError("unknown escape \\\(UnicodeScalar(text[i + 1]))")
        }
    }
}

/// Replays compatibility cases against a running server.
enum CompatReplayer {
    static let answerTimeout = 10.0
    static let closeTimeout = 3.0

    /// Runs one case on a fresh connection; returns nil on success or a failure description.
    static func run(_ testCase: CompatCase, port: UInt16) -> String? {
        do {
            let control = try TestClient(port: port, timeout: 5)
            let ok = try control.call("flush_all\r\n")
            control.close()
            guard ok == "OK" else { return "control flush_all answered \(ok)" }

            let client = try TestClient(port: port, timeout: answerTimeout)
            defer { client.close() }
            var captures: [String: String] = [:]
            for (index, step) in testCase.steps.enumerated() {
                switch step {
                case .send(let pieces):
                    var bytes: [UInt8] = []
                    for piece in pieces {
                        switch piece {
                        case .bytes(let b): bytes += b
                        case .variable(let name):
                            guard let value = captures[name] else { return "step \(index + 1): {$\(name)} was not captured" }
                            bytes += Array(value.utf8)
                        }
                    }
                    do {
                        try client.send(bytes)
                    } catch let error as SocketError where error.isConnectionGone {
                        return "step \(index + 1): the server closed the connection before this send (\(error)); received: \(Escaping.show(client.pending))"
                    }
                    // Steps that expect nothing yet go out as separate segments.
                    if index + 1 < testCase.steps.count, case .send = testCase.steps[index + 1] { usleep(5_000) }
                case .recv(let pattern):
                    var mismatch: String?
                    do {
                        _ = try client.receive(timeout: answerTimeout, what: "the answer \(pattern)") { buffer in
                            switch pattern.match(buffer) {
                            case .complete(let consumed, let got):
                                captures.merge(got) { _, new in new }
                                return consumed
                            case .needMore:
                                return nil
                            case .mismatch(let at):
                                mismatch = "step \(index + 1): answer differs at byte \(at)\n  expected: \(pattern)\n  received: \(Escaping.show(buffer))"
                                return 0
                            }
                        }
                    } catch {
                        return "step \(index + 1): \(error)\n  expected: \(pattern)"
                    }
                    if let mismatch { return mismatch }
                case .sleep(let ms):
                    usleep(UInt32(ms) * 1000)
                case .closed:
                    guard let rest = try client.waitForClose(timeout: closeTimeout) else {
                        return "step \(index + 1): expected the server to close the connection; it stayed open for \(closeTimeout) s"
                            + (client.pending.isEmpty ? "" : " and sent \(Escaping.show(client.pending))")
                    }
                    if !rest.isEmpty { return "step \(index + 1): expected a close with no more bytes, received \(Escaping.show(rest))" }
                }
            }
            return nil
        } catch {
            return "\(error)"
        }
    }
}
