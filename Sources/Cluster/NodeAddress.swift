/// A member's addresses, written the Redis Cluster way: `host:port[@peerport]`.
///
/// `port` is the client port (memcached protocol), `peerPort` the port peers connect to for
/// forwarded requests; it defaults to `port + 10000`. IPv6 hosts are written in brackets,
/// `[::1]:11211@21211`; `host` holds them without brackets.
///
/// Three names derive from it, and each has one use:
/// - `advertise` (`host:port`, IPv6 in brackets): the node's identity, what `--advertise` and
///   seeds match on, what `cluster nodes`/`cluster route` print and what the peer hello carries;
/// - `peerEndpoint` (`host:peerport`): where peer links connect;
/// - `ringName`: what ketama hashes, `host:port`, or `host` alone when the port is 11211.
///   This is twemproxy's rule for a `servers:` entry `host:port:weight` without a name (its
///   `conf_add_server` drops the port when it equals 11211 "to maintain backward compatibility
///   with libmemcached"; a `host:port:weight name` entry would hash `name` instead, which we
///   do not offer). The host is used as written, with no brackets for IPv6, because twemproxy
///   takes `::1:11212:1` and hashes `::1:11212`.
///
/// Value type; any thread.
public struct NodeAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The port twemproxy and libmemcached leave out of the ring name.
    public static let defaultKetamaPort: UInt16 = 11211
    /// Redis Cluster's convention: the peer port is the client port plus this.
    public static let peerPortOffset = 10000

    public let host: String
    public let port: UInt16
    public let peerPort: UInt16
    /// `host:port` (`[v6]:port`): the node's identity. Kept, not built per use: identities are
    /// compared on hot paths (a copy's sender, links by identity).
    public let advertise: String

    /// Validates `host` (no brackets) and the ports. `peerPort` nil means `port + 10000`.
    public init(host: String, port: UInt16, peerPort: UInt16? = nil) throws(ClusterError) {
        try NodeAddress.checkHost(host, bracketed: host.contains(":"), whole: host)
        guard port > 0 else { throw ClusterError(.badAddress, "port 0 is not a valid port for \(host)") }
        self.host = host
        self.port = port
        self.advertise = NodeAddress.identity(host: host, port: port)
        if let peerPort {
            guard peerPort > 0 else { throw ClusterError(.badAddress, "peer port 0 is not a valid port for \(host)") }
            self.peerPort = peerPort
        } else {
            self.peerPort = try NodeAddress.defaultPeerPort(for: port, whole: "\(host):\(port)")
        }
    }

    /// Parses `host:port`, `host:port@peerport`, `[v6]:port`, `[v6]:port@peerport`.
    public init(parsing text: String) throws(ClusterError) {
        let bytes = Array(text.utf8)
        var end = bytes.count
        var peerPort: UInt16? = nil
        // The peer port: after the last '@' (a host never holds one).
        if let at = bytes.lastIndex(of: UInt8(ascii: "@")) {
            peerPort = try NodeAddress.parsePort(bytes[(at + 1)...], what: "peer port", whole: text)
            end = at
        }
        let hostPort = bytes[..<end]
        guard let colon = hostPort.lastIndex(of: UInt8(ascii: ":")) else {
            throw ClusterError(.badAddress, "'\(text)' is not an address: expected host:port[@peerport]")
        }
        let port = try NodeAddress.parsePort(hostPort[(colon + 1)..<end], what: "port", whole: text)
        var hostBytes = hostPort[..<colon]
        let bracketed = hostBytes.first == UInt8(ascii: "[")
        if bracketed {
            guard hostBytes.count >= 2, hostBytes.last == UInt8(ascii: "]") else {
                throw ClusterError(.badAddress, "'\(text)' is not an address: a '[' needs its ']' before the port")
            }
            hostBytes = hostBytes.dropFirst().dropLast()
        }
        let host = String(decoding: hostBytes, as: UTF8.self)
        try NodeAddress.checkHost(host, bracketed: bracketed, whole: text)
        self.host = host
        self.port = port
        self.advertise = NodeAddress.identity(host: host, port: port)
        if let peerPort {
            self.peerPort = peerPort
        } else {
            self.peerPort = try NodeAddress.defaultPeerPort(for: port, whole: text)
        }
    }

    /// Parses a comma-separated list (`--seeds`); spaces around entries are ignored, empty
    /// entries are not allowed, neither is the same `advertise` twice.
    public static func parseList(_ text: String) throws(ClusterError) -> [NodeAddress] {
        var result: [NodeAddress] = []
        for piece in text.split(separator: ",", omittingEmptySubsequences: false) {
            let entry = piece.trimmingSpaces
            guard !entry.isEmpty else { throw ClusterError(.badAddress, "empty entry in the address list '\(text)'") }
            result.append(try NodeAddress(parsing: entry))
        }
        try checkDistinct(result)
        return result
    }

    /// Throws when two addresses share an identity (`advertise`) or a ring name.
    public static func checkDistinct(_ addresses: [NodeAddress]) throws(ClusterError) {
        var identities = Set<String>()
        var ringNames = Set<String>()
        for a in addresses {
            guard identities.insert(a.advertise).inserted else {
                throw ClusterError(.duplicateNode, "\(a.advertise) is listed twice")
            }
            guard ringNames.insert(a.ringName).inserted else {
                throw ClusterError(.duplicateNode, "two nodes have the ring name \(a.ringName)")
            }
        }
    }

    public var isIPv6: Bool { host.utf8.contains(UInt8(ascii: ":")) }

    static func identity(host: String, port: UInt16) -> String {
        host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The host as it is written before `:port`: IPv6 in brackets.
    public var hostInAddress: String { isIPv6 ? "[\(host)]" : host }

    /// Where peers connect: `host:peerport` (IPv6 in brackets).
    public var peerEndpoint: String { "\(hostInAddress):\(peerPort)" }

    /// What ketama hashes: `host:port`, or `host` when the port is 11211 (twemproxy's rule).
    public var ringName: String { port == NodeAddress.defaultKetamaPort ? host : "\(host):\(port)" }

    /// `host:port@peerport`, the form `--seeds` takes; parses back to the same value.
    public var description: String { "\(advertise)@\(peerPort)" }

    /// Ordered by host text, then port (numerically), then peer port: the order `cluster nodes`
    /// prints and the order a membership hands nodes to the ring.
    public static func < (a: NodeAddress, b: NodeAddress) -> Bool {
        if a.host != b.host { return a.host < b.host }
        if a.port != b.port { return a.port < b.port }
        return a.peerPort < b.peerPort
    }

    // MARK: - Parsing helpers

    static func defaultPeerPort(for port: UInt16, whole: String) throws(ClusterError) -> UInt16 {
        let peer = Int(port) + peerPortOffset
        guard peer <= Int(UInt16.max) else {
            throw ClusterError(
                .badAddress,
                "'\(whole)': the default peer port \(port)+\(peerPortOffset) = \(peer) is above 65535; give one with @peerport")
        }
        return UInt16(peer)
    }

    static func parsePort(_ digits: ArraySlice<UInt8>, what: String, whole: String) throws(ClusterError) -> UInt16 {
        guard !digits.isEmpty, digits.count <= 5,
            digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else {
            throw ClusterError(.badAddress, "'\(whole)': the \(what) must be a number from 1 to 65535")
        }
        let value = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard value >= 1 && value <= 65535 else {
            throw ClusterError(.badAddress, "'\(whole)': the \(what) must be a number from 1 to 65535")
        }
        return UInt16(value)
    }

    static func checkHost(_ host: String, bracketed: Bool, whole: String) throws(ClusterError) {
        guard !host.isEmpty else { throw ClusterError(.badAddress, "'\(whole)' has no host before the port") }
        guard host.utf8.count <= 255 else { throw ClusterError(.badAddress, "'\(whole)': the host name is too long") }
        for c in host.utf8 {
            let letterOrDigit =
                (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
            if letterOrDigit || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") { continue }
            if bracketed && (c == UInt8(ascii: ":") || c == UInt8(ascii: "%")) { continue }
            if c == UInt8(ascii: ":") {
                throw ClusterError(.badAddress, "'\(whole)': write an IPv6 host in brackets, as [::1]:11211")
            }
            throw ClusterError(.badAddress, "'\(whole)': the host may hold only letters, digits, '.', '-' and '_'")
        }
        if bracketed && !host.contains(":") {
            throw ClusterError(.badAddress, "'\(whole)': only IPv6 addresses go in brackets")
        }
    }
}

extension Substring {
    var trimmingSpaces: String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
