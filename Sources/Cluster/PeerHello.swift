/// The version of the peer protocol (forwarding over peer links), `major.minor`.
///
/// Peers that share a major version can talk; they use the lower minor version of the two.
/// A different major version is refused.
public struct PeerProtocolVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var major: UInt16
    public var minor: UInt16

    /// What this build speaks.
    public static let current = PeerProtocolVersion(major: 1, minor: 0)

    public init(major: UInt16, minor: UInt16) {
        self.major = major
        self.minor = minor
    }

    public static func < (a: PeerProtocolVersion, b: PeerProtocolVersion) -> Bool {
        (a.major, a.minor) < (b.major, b.minor)
    }

    public var description: String { "\(major).\(minor)" }

    /// Parses `major.minor` (decimal, each 0...65535).
    public init?(_ text: Substring) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = PeerProtocolVersion.number(parts[0]),
            let minor = PeerProtocolVersion.number(parts[1])
        else { return nil }
        self.init(major: major, minor: minor)
    }

    static func number(_ s: Substring) -> UInt16? {
        guard !s.isEmpty, s.count <= 5, s.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return UInt16(s)
    }
}

/// What one side of a peer link says about itself in the hello.
public struct PeerHello: Equatable, Sendable {
    /// For `rc_hello`: the highest version the opener speaks. For `rc_hello_ok`: the version
    /// both sides now use.
    public var version: PeerProtocolVersion
    /// The sender's identity, its advertise `host:port` (`NodeAddress.advertise`).
    public var node: String
    /// The sender's current ring digest (`Ring.digest`).
    public var ringDigest: String

    public init(version: PeerProtocolVersion = .current, node: String, ringDigest: String) {
        self.version = version
        self.node = node
        self.ringDigest = ringDigest
    }
}

/// One hello line.
public enum PeerHelloMessage: Equatable, Sendable {
    /// The opener's `rc_hello`.
    case hello(PeerHello)
    /// The acceptor's `rc_hello_ok`.
    case accepted(PeerHello)
    /// The acceptor's `rc_hello_refused`; it closes the link after sending it.
    case refused(reason: String)
}

/// The peer hello: the line each side of a new peer link sends before any forwarded request.
///
/// ```
/// opener   → acceptor:  rc_hello <major>.<minor> <advertise host:port> <ring digest>\r\n
/// acceptor → opener:    rc_hello_ok <major>.<minor> <advertise host:port> <ring digest>\r\n
///                   or  rc_hello_refused <reason, free text>\r\n   (then the acceptor closes)
/// ```
///
/// - Tokens are separated by one space; lines end in `\r\n` (a bare `\n` is accepted) and are
///   at most `maxLineLength` bytes. The address is written as in `--advertise` (IPv6 in
///   brackets); the ring digest is `Ring.digest`, 1–64 lower-case hex digits (32 today).
/// - Version rule: the opener sends the highest version it speaks. The acceptor refuses a
///   different major version (`rc_hello_refused unsupported peer protocol version 2.0; this
///   node speaks 1.x`) and otherwise answers with the version both use: the same major, the
///   lower of the two minors. The opener closes the link if that answer has another major, or
///   a minor above its own.
/// - A different ring digest is not a refusal: both sides go on (a forwarded request is served
///   where it arrives) and count and log the difference.
/// - The opener sends requests only after `rc_hello_ok` (it may pipeline them right behind its
///   hello only if it is ready to drop them on a refusal).
///
/// Pure functions; any thread.
public enum PeerHelloCodec {
    public static let maxLineLength = 512

    /// The line for `message`, `\r\n` included. Refusal reasons have line ends and control
    /// bytes replaced by spaces.
    public static func encode(_ message: PeerHelloMessage) -> [UInt8] {
        var line: String
        switch message {
        case .hello(let h): line = "rc_hello \(h.version) \(h.node) \(h.ringDigest)"
        case .accepted(let h): line = "rc_hello_ok \(h.version) \(h.node) \(h.ringDigest)"
        case .refused(let reason):
            let clean = String(decoding: reason.utf8.map { $0 < 0x20 || $0 == 0x7F ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
            line = "rc_hello_refused \(clean)"
        }
        var bytes = Array(line.utf8.prefix(maxLineLength - 2))
        bytes.append(UInt8(ascii: "\r"))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// What the front of `buffer` holds.
    public enum ParseResult: Equatable, Sendable {
        /// No whole line yet.
        case needMoreData
        /// One hello line, `consumed` bytes long with its line end; bytes after it are the
        /// peer's next traffic.
        case message(PeerHelloMessage, consumed: Int)
        /// Not a hello (or a line too long): close the link, logging `reason`.
        case invalid(reason: String)
    }

    /// Parses the hello line at the front of `buffer`.
    public static func parse(_ buffer: UnsafeRawBufferPointer) -> ParseResult {
        guard let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) else {
            return buffer.count >= maxLineLength ? .invalid(reason: "no hello line in the first \(maxLineLength) bytes") : .needMoreData
        }
        guard newline < maxLineLength else { return .invalid(reason: "hello line longer than \(maxLineLength) bytes") }
        var end = newline
        if end > 0 && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[0..<end]), as: UTF8.self)
        let consumed = newline + 1
        let printable = line.utf8.prefix(60)
        let shown = String(decoding: printable.map { $0 < 0x20 || $0 > 0x7E ? UInt8(ascii: "?") : $0 }, as: UTF8.self)

        if line.hasPrefix("rc_hello_refused") {
            let rest = line.utf8.dropFirst("rc_hello_refused".utf8.count)
            if rest.isEmpty { return .message(.refused(reason: ""), consumed: consumed) }
            guard rest.first == UInt8(ascii: " ") else { return .invalid(reason: "not a peer hello: '\(shown)'") }
            return .message(.refused(reason: String(decoding: rest.dropFirst(), as: UTF8.self)), consumed: consumed)
        }
        let tokens = line.split(separator: " ", omittingEmptySubsequences: false)
        guard tokens.count == 4, tokens[0] == "rc_hello" || tokens[0] == "rc_hello_ok" else {
            return .invalid(reason: "not a peer hello: '\(shown)'")
        }
        guard let version = PeerProtocolVersion(tokens[1]) else {
            return .invalid(reason: "peer hello with a bad version '\(tokens[1])'")
        }
        let node = String(tokens[2])
        guard !node.contains("@"), let address = try? NodeAddress(parsing: node), address.advertise == node else {
            return .invalid(reason: "peer hello with a bad node address '\(node)'")
        }
        let digest = tokens[3]
        guard !digest.isEmpty, digest.utf8.count <= 64,
            digest.utf8.allSatisfy({ ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) })
        else {
            return .invalid(reason: "peer hello with a bad ring digest '\(digest)'")
        }
        let hello = PeerHello(version: version, node: node, ringDigest: String(digest))
        return .message(tokens[0] == "rc_hello" ? .hello(hello) : .accepted(hello), consumed: consumed)
    }

    /// The acceptor's decision on an opener's hello.
    public struct Answer: Equatable, Sendable {
        /// Send this (encode it); after a refusal, close the link.
        public var reply: PeerHelloMessage
        /// The version both sides use, nil when refused.
        public var version: PeerProtocolVersion?
        /// Whether the opener's ring digest equals ours (count and log when not).
        public var ringDigestMatches: Bool
    }

    /// Answers `hello` as the node described by `local` (its version, identity and digest).
    public static func answer(_ hello: PeerHello, local: PeerHello) -> Answer {
        let matches = hello.ringDigest == local.ringDigest
        guard hello.version.major == local.version.major else {
            return Answer(
                reply: .refused(
                    reason: "unsupported peer protocol version \(hello.version); this node speaks \(local.version.major).x"),
                version: nil, ringDigestMatches: matches)
        }
        let version = PeerProtocolVersion(major: local.version.major, minor: min(hello.version.minor, local.version.minor))
        var reply = local
        reply.version = version
        return Answer(reply: .accepted(reply), version: version, ringDigestMatches: matches)
    }

    /// What the opener makes of the acceptor's reply to its hello `sent`.
    public enum Outcome: Equatable, Sendable {
        /// Go ahead at `version`; `peer` is who answered.
        case accepted(version: PeerProtocolVersion, peer: String, ringDigestMatches: Bool)
        /// The acceptor refused (it closes); log `reason` and retry later with backoff.
        case refused(reason: String)
        /// Not a valid reply: close and log.
        case invalid(reason: String)
    }

    /// Checks the acceptor's reply against the hello the opener sent.
    public static func check(reply: PeerHelloMessage, sent: PeerHello) -> Outcome {
        switch reply {
        case .refused(let reason):
            return .refused(reason: reason)
        case .hello:
            return .invalid(reason: "the peer answered a hello with a hello")
        case .accepted(let h):
            guard h.version.major == sent.version.major, h.version.minor <= sent.version.minor else {
                return .invalid(reason: "the peer chose protocol version \(h.version), which this node (\(sent.version)) does not speak")
            }
            return .accepted(version: h.version, peer: h.node, ringDigestMatches: h.ringDigest == sent.ringDigest)
        }
    }
}
