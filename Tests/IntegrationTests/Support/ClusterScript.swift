import Foundation

/// A fixed sequence of requests with the exact answers memcached 1.6.18 gives, written with
/// placeholders so the same script runs on a standalone node and through a cluster node with keys
/// another node owns.
///
/// - `{A}`, `{B}`, … in a request or an answer are replaced by the key bound to that letter.
/// - `<cas:name>` in an answer matches a decimal number and remembers it as `name`; a later
///   `<cas:name>` (in a request or an answer) is replaced by the remembered number. CAS values
///   differ between servers, so they are never written literally.
///
/// Each step is sent followed by `mn\r\n`; its answer is every byte before `MN\r\n`, so steps with
/// `noreply` or quiet mode are checked for answering nothing at all.
struct ClusterScript {
    struct Step {
        let request: String
        let expect: String
    }

    struct Failure: CustomStringConvertible {
        let step: Int
        let request: String
        let expected: String
        let got: String
        var description: String {
            "step \(step): request \(Escaping.show(Array(request.utf8)))\n  expected \(Escaping.show(Array(expected.utf8)))\n  got      \(Escaping.show(Array(got.utf8)))"
        }
    }

    let steps: [Step]

    /// Runs every step on `client` with `keys` bound to the letters; returns the failures (empty
    /// when every answer matched). A step whose answer does not match leaves its captures unset.
    func run(on client: TestClient, keys: [String: String]) throws -> [Failure] {
        var captures: [String: String] = [:]
        var failures: [Failure] = []
        for (index, step) in steps.enumerated() {
            let request = Self.substitute(Self.bindKeys(step.request, keys), captures)
            let expected = Self.bindKeys(step.expect, keys)
            let got = try client.callUntilNoop(request)
            if let found = Self.match(expected, got, captures) {
                captures.merge(found) { a, _ in a }
            } else {
                failures.append(Failure(step: index + 1, request: request,
                                        expected: Self.substitute(expected, captures), got: got))
            }
        }
        return failures
    }

    static func bindKeys(_ text: String, _ keys: [String: String]) -> String {
        var out = text
        for (letter, key) in keys { out = out.replacingOccurrences(of: "{\(letter)}", with: key) }
        return out
    }

    /// Replaces `<cas:name>` by remembered values (unknown names stay as they are).
    static func substitute(_ text: String, _ captures: [String: String]) -> String {
        var out = text
        for (name, value) in captures { out = out.replacingOccurrences(of: "<cas:\(name)>", with: value) }
        return out
    }

    /// Matches `got` against `pattern` (literal text and `<cas:name>` numbers); returns the new
    /// captures, or nil when it does not match.
    static func match(_ pattern: String, _ got: String, _ known: [String: String]) -> [String: String]? {
        let p = Array(substitute(pattern, known).utf8)
        let g = Array(got.utf8)
        var captures: [String: String] = [:]
        var i = 0, j = 0
        let open = Array("<cas:".utf8)
        while i < p.count {
            if p[i...].starts(with: open), let close = p[i...].firstIndex(of: UInt8(ascii: ">")) {
                let name = String(decoding: p[(i + open.count)..<close], as: UTF8.self)
                var end = j
                while end < g.count, g[end] >= 0x30, g[end] <= 0x39 { end += 1 }
                guard end > j else { return nil }
                let value = String(decoding: g[j..<end], as: UTF8.self)
                if let earlier = captures[name], earlier != value { return nil }
                captures[name] = value
                j = end
                i = close + 1
                continue
            }
            guard j < g.count, g[j] == p[i] else { return nil }
            i += 1
            j += 1
        }
        return j == g.count ? captures : nil
    }

    /// Every storage, retrieval, arithmetic, touch, delete and meta command, with noreply, quiet
    /// mode and opaque values. Keys: A, B (strings), C (always missing until ma autovivifies it),
    /// M (meta), N (a counter). The answers are memcached 1.6.18's, recorded byte for byte.
    static let everyCommand = ClusterScript(steps: [
        Step(request: "set {A} 5 0 3\r\nabc\r\n", expect: "STORED\r\n"),
        Step(request: "get {A}\r\n", expect: "VALUE {A} 5 3\r\nabc\r\nEND\r\n"),
        Step(request: "add {A} 0 0 1\r\nx\r\n", expect: "NOT_STORED\r\n"),
        Step(request: "add {B} 7 0 2\r\nbb\r\n", expect: "STORED\r\n"),
        Step(request: "replace {C} 0 0 1\r\nx\r\n", expect: "NOT_STORED\r\n"),
        Step(request: "replace {B} 8 0 3\r\nBBB\r\n", expect: "STORED\r\n"),
        Step(request: "append {A} 0 0 2\r\nde\r\nprepend {A} 0 0 2\r\nzz\r\nget {A}\r\n",
             expect: "STORED\r\nSTORED\r\nVALUE {A} 5 7\r\nzzabcde\r\nEND\r\n"),
        Step(request: "append {C} 0 0 1\r\nx\r\nprepend {C} 0 0 1\r\nx\r\n", expect: "NOT_STORED\r\nNOT_STORED\r\n"),
        Step(request: "gets {A}\r\n", expect: "VALUE {A} 5 7 <cas:a1>\r\nzzabcde\r\nEND\r\n"),
        Step(request: "cas {A} 9 0 1 <cas:a1>\r\nq\r\n", expect: "STORED\r\n"),
        Step(request: "cas {A} 9 0 1 <cas:a1>\r\nr\r\n", expect: "EXISTS\r\n"),
        Step(request: "cas {C} 0 0 1 1\r\nx\r\n", expect: "NOT_FOUND\r\n"),
        Step(request: "set {N} 0 0 2\r\n10\r\nincr {N} 5\r\ndecr {N} 20\r\nincr {N} 18446744073709551615\r\nincr {N} 2\r\n"
                + "incr {C} 1\r\ndecr {C} 1\r\nincr {A} 1\r\n",
             expect: "STORED\r\n15\r\n0\r\n18446744073709551615\r\n1\r\nNOT_FOUND\r\nNOT_FOUND\r\n"
                + "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
        Step(request: "touch {A} 100\r\ntouch {C} 1\r\n", expect: "TOUCHED\r\nNOT_FOUND\r\n"),
        Step(request: "gat 0 {A}\r\ngats 0 {A} {B}\r\ngat 0 {C}\r\n",
             expect: "VALUE {A} 9 1\r\nq\r\nEND\r\nVALUE {A} 9 1 <cas:a2>\r\nq\r\nVALUE {B} 8 3 <cas:b1>\r\nBBB\r\nEND\r\nEND\r\n"),
        Step(request: "cas {B} 8 0 2 <cas:b1>\r\nb2\r\n", expect: "STORED\r\n"),
        Step(request: "get {B} {A} {C} {B}\r\n", expect: "VALUE {B} 8 2\r\nb2\r\nVALUE {A} 9 1\r\nq\r\nVALUE {B} 8 2\r\nb2\r\nEND\r\n"),
        Step(request: "delete {B}\r\ndelete {B}\r\n", expect: "DELETED\r\nNOT_FOUND\r\n"),
        Step(request: "set {B} 1 0 1 noreply\r\nx\r\nadd {B} 0 0 1 noreply\r\ny\r\nappend {B} 0 0 1 noreply\r\nz\r\n"
                + "prepend {B} 0 0 1 noreply\r\nw\r\nreplace {C} 0 0 1 noreply\r\nq\r\nincr {N} 1 noreply\r\n"
                + "decr {N} 1 noreply\r\ntouch {B} 0 noreply\r\ncas {A} 0 0 1 1 noreply\r\nx\r\nget {B}\r\n"
                + "delete {B} noreply\r\nget {B}\r\n",
             expect: "VALUE {B} 1 3\r\nwxz\r\nEND\r\nEND\r\n"),
        Step(request: "ms {M} 2 T0 F3\r\nhi\r\nmg {M} v f t s k O42\r\nmg {M} s v\r\nmg {C} v q\r\nmg {C} v q O7\r\n"
                + "mg {M} v q O8\r\nmg {M}\r\nmg {C}\r\nmg {C} v O77 k\r\n",
             expect: "HD\r\nVA 2 f3 t-1 s2 k{M} O42\r\nhi\r\nVA 2 s2\r\nhi\r\nVA 2 O8\r\nhi\r\nHD\r\nEN\r\nEN O77 k{C}\r\n"),
        Step(request: "mg {M} c\r\n", expect: "HD c<cas:m1>\r\n"),
        Step(request: "ms {M} 2 C<cas:m1>\r\nhe\r\n", expect: "HD\r\n"),
        Step(request: "ms {M} 2 C<cas:m1> O3\r\nhe\r\n", expect: "EX O3\r\n"),
        Step(request: "ms {M} 1 q\r\nx\r\nms {M} 1 C1 q\r\nx\r\nms {C} 1 MR q\r\nx\r\nms {M} 1 MA\r\ny\r\nmg {M} v\r\n",
             expect: "EX\r\nNS\r\nHD\r\nVA 2\r\nxy\r\n"),
        Step(request: "ma {N}\r\nma {N} v\r\nma {N} MD D2 v\r\nma {C} q\r\nma {C}\r\nma {C} N0 J13 v\r\nma {C} q O5\r\nma {N} q\r\n",
             expect: "HD\r\nVA 1\r\n3\r\nVA 1\r\n1\r\nNF\r\nNF\r\nVA 2\r\n13\r\n"),
        Step(request: "md {M} q\r\nmd {M}\r\nmd {M} q O9\r\nmd {C} q\r\nmg {C} v\r\nmd {C} O5\r\nma {C} O6\r\n",
             expect: "NF\r\nNF O9\r\nEN\r\nNF O5\r\nNF O6\r\n"),
    ])
}
