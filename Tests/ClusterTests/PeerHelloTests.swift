import Testing
@testable import Cluster

@Suite struct PeerHelloTests {
    static let digest = "0123456789abcdef0123456789abcdef"

    static func parse(_ text: String) -> PeerHelloCodec.ParseResult {
        withBytes(text) { PeerHelloCodec.parse($0) }
    }

    @Test func encodesTheDocumentedLines() {
        let hello = PeerHello(version: .current, node: "127.0.0.1:11211", ringDigest: Self.digest)
        #expect(String(decoding: PeerHelloCodec.encode(.hello(hello)), as: UTF8.self) == "rc_hello 1.0 127.0.0.1:11211 \(Self.digest)\r\n")
        #expect(String(decoding: PeerHelloCodec.encode(.accepted(hello)), as: UTF8.self) == "rc_hello_ok 1.0 127.0.0.1:11211 \(Self.digest)\r\n")
        #expect(String(decoding: PeerHelloCodec.encode(.refused(reason: "no\r\nway")), as: UTF8.self) == "rc_hello_refused no  way\r\n")
    }

    static let roundTrips: [PeerHelloMessage] = [
        .hello(PeerHello(version: .current, node: "127.0.0.1:11211", ringDigest: digest)),
        .hello(PeerHello(version: PeerProtocolVersion(major: 3, minor: 12), node: "[::1]:11300", ringDigest: "ab")),
        .accepted(PeerHello(version: .current, node: "cache-2.example:7000", ringDigest: digest)),
        .refused(reason: "unsupported peer protocol version 2.0; this node speaks 1.x"),
        .refused(reason: ""),
    ]

    /// Each message, whole and one byte at a time, followed by other traffic.
    @Test(arguments: roundTrips)
    func roundTrip(_ message: PeerHelloMessage) {
        let line = PeerHelloCodec.encode(message)
        let stream = line + Array("get k\r\n".utf8)
        #expect(stream.withUnsafeBytes { PeerHelloCodec.parse($0) } == .message(message, consumed: line.count))
        for n in 0..<line.count {
            #expect(stream[..<n].withUnsafeBytes { PeerHelloCodec.parse($0) } == .needMoreData, "prefix \(n)")
        }
    }

    static let invalid: [(String, String)] = [
        ("get foo\r\n", "not a peer hello"),
        ("rc_hello 1.0 127.0.0.1:11211\r\n", "not a peer hello"),
        ("rc_hello 1.0 127.0.0.1:11211 \(digest) extra\r\n", "not a peer hello"),
        ("rc_hello  1.0 127.0.0.1:11211 \(digest)\r\n", "not a peer hello"),
        ("rc_hello x.0 127.0.0.1:11211 \(digest)\r\n", "bad version"),
        ("rc_hello 1 127.0.0.1:11211 \(digest)\r\n", "bad version"),
        ("rc_hello 1.0 127.0.0.1 \(digest)\r\n", "bad node address"),
        ("rc_hello 1.0 127.0.0.1:11211@21211 \(digest)\r\n", "bad node address"),
        ("rc_hello 1.0 127.0.0.1:11211 ABCDEF\r\n", "bad ring digest"),
        ("rc_hello_refusedx\r\n", "not a peer hello"),
    ]

    @Test(arguments: invalid)
    func refusesMalformedLines(_ c: (String, String)) {
        guard case .invalid(let reason) = Self.parse(c.0) else {
            Issue.record("parsed \(c.0.debugDescription)")
            return
        }
        #expect(reason.contains(c.1), "reason: \(reason)")
    }

    @Test func refusesAnEndlessLine() {
        guard case .invalid = Self.parse(String(repeating: "x", count: 600)) else {
            Issue.record("accepted 600 bytes without a line end")
            return
        }
    }

    @Test func acceptsABareNewline() {
        let r = Self.parse("rc_hello 1.0 h:1 ab\n")
        #expect(r == .message(.hello(PeerHello(node: "h:1", ringDigest: "ab")), consumed: 20))
    }

    /// (opener version, acceptor version) → negotiated version, nil when refused.
    static let negotiation: [((UInt16, UInt16), (UInt16, UInt16), (UInt16, UInt16)?)] = [
        ((1, 0), (1, 0), (1, 0)),
        ((1, 3), (1, 1), (1, 1)),
        ((1, 1), (1, 4), (1, 1)),
        ((2, 0), (1, 0), nil),
        ((0, 9), (1, 0), nil),
    ]

    @Test(arguments: negotiation)
    func versionNegotiation(_ c: ((UInt16, UInt16), (UInt16, UInt16), (UInt16, UInt16)?)) {
        let opener = PeerHello(version: PeerProtocolVersion(major: c.0.0, minor: c.0.1), node: "a:1", ringDigest: "aa")
        let acceptor = PeerHello(version: PeerProtocolVersion(major: c.1.0, minor: c.1.1), node: "b:1", ringDigest: "aa")
        let answer = PeerHelloCodec.answer(opener, local: acceptor)
        #expect(answer.version == c.2.map { PeerProtocolVersion(major: $0.0, minor: $0.1) })
        let outcome = PeerHelloCodec.check(reply: answer.reply, sent: opener)
        if let expected = c.2 {
            let v = PeerProtocolVersion(major: expected.0, minor: expected.1)
            #expect(outcome == .accepted(version: v, peer: "b:1", ringDigestMatches: true))
        } else {
            guard case .refused(let reason) = outcome else {
                Issue.record("not refused: \(outcome)")
                return
            }
            #expect(reason.contains("unsupported peer protocol version \(c.0.0).\(c.0.1)"))
        }
    }

    @Test func ringDigestDifferenceIsReportedNotRefused() {
        let opener = PeerHello(node: "a:1", ringDigest: "aa")
        let acceptor = PeerHello(node: "b:1", ringDigest: "bb")
        let answer = PeerHelloCodec.answer(opener, local: acceptor)
        #expect(answer.ringDigestMatches == false)
        #expect(answer.reply == .accepted(PeerHello(node: "b:1", ringDigest: "bb")))
        #expect(PeerHelloCodec.check(reply: answer.reply, sent: opener) == .accepted(version: .current, peer: "b:1", ringDigestMatches: false))
    }

    @Test func openerRejectsAVersionItDoesNotSpeak() {
        let opener = PeerHello(version: PeerProtocolVersion(major: 1, minor: 0), node: "a:1", ringDigest: "aa")
        let bogus = PeerHello(version: PeerProtocolVersion(major: 1, minor: 2), node: "b:1", ringDigest: "aa")
        guard case .invalid = PeerHelloCodec.check(reply: .accepted(bogus), sent: opener) else {
            Issue.record("accepted a higher minor")
            return
        }
        guard case .invalid = PeerHelloCodec.check(reply: .hello(bogus), sent: opener) else {
            Issue.record("accepted a hello as a reply")
            return
        }
    }
}
