@preconcurrency import Crypto
/// The peer handshake: what each side of a new link says about itself, and the member lists
/// that ride on it (and on `members` frames).
///
/// ```
/// opener   → acceptor   hello        (plain)  version, lane, secured, identity, boot id,
///                                              incarnation, epoch, ring digest, challenge, members
/// acceptor → opener     helloAck     (plain)  the same about itself, the version both use,
///                                              and its proof (secured links)
///                   or  helloRefused (plain)  a reason; the acceptor closes
/// opener   → acceptor   auth         (plain)  the opener's proof (secured links only)
/// then every frame is sealed (secured links) or plain (loopback links without a secret).
/// ```
/// Version rule: the opener sends the highest version it speaks; the acceptor refuses another
/// major version and otherwise answers with the version both use (same major, lower minor).
/// A node whose secret setting differs from the peer's is refused: a secured node never talks
/// in the clear, and a node without a secret cannot prove anything.
///
/// Pure; any thread.
public enum PeerLane: UInt8, Sendable, CaseIterable {
    /// Forwarded requests and their answers; one link per worker and peer.
    case request = 0
    /// Membership (the member lists of joins and leaves), between the nodes' coordinators.
    case control = 1
    /// Bulk transfer and anti-entropy (later issues): its own connection, so a slow bulk
    /// receiver never holds up a forwarded request.
    case bulk = 2
}

/// The version of the peer protocol, `major.minor`, carried in the hello.
///
/// Peers that share a major version can talk; they use the lower minor version of the two.
/// A different major version is refused.
public struct PeerProtocolVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var major: UInt16
    public var minor: UInt16

    /// What this build speaks.
    public static let current = PeerProtocolVersion(major: 2, minor: 0)

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

/// What one side of a link says about itself.
public struct PeerHelloInfo: Sendable, Equatable {
    /// In a hello, the highest version the opener speaks; in a helloAck, the one both use.
    public var version: PeerProtocolVersion
    public var lane: PeerLane
    /// The sender has a cluster secret: the link is authenticated and sealed.
    public var secured: Bool
    /// The sender's client and peer addresses (its identity is `node.advertise`).
    public var node: NodeAddress
    /// Random per process start: the sealing nonces of this life never meet another's.
    public var bootID: UInt64
    /// The sender's incarnation as a member.
    public var incarnation: UInt64
    /// The sender's membership epoch.
    public var epoch: UInt64
    /// The sender's ring digest (`Ring.digest`): a mismatch is counted and logged.
    public var ringDigest: String
    /// 32 random bytes; the other side proves it knows the secret by answering over them.
    public var challenge: [UInt8]
    /// The members the sender knows (itself included).
    public var members: [Member]
    /// helloAck only: the acceptor's proof (empty on a link without a secret).
    public var proof: [UInt8]

    public init(
        version: PeerProtocolVersion = .current, lane: PeerLane, secured: Bool, node: NodeAddress, bootID: UInt64,
        incarnation: UInt64, epoch: UInt64, ringDigest: String, challenge: [UInt8], members: [Member], proof: [UInt8] = []
    ) {
        self.version = version
        self.lane = lane
        self.secured = secured
        self.node = node
        self.bootID = bootID
        self.incarnation = incarnation
        self.epoch = epoch
        self.ringDigest = ringDigest
        self.challenge = challenge
        self.members = members
        self.proof = proof
    }
}

public enum PeerHandshake {
    /// The first bytes of every hello payload: not the client protocol, not a memcached frame.
    public static let magic: [UInt8] = Array("RCPF".utf8)
    public static let challengeSize = 32
    /// More members than any cluster we run; bounds what a hello may make a node allocate.
    public static let maxMembers = 4096

    public struct Malformed: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    // MARK: hello / helloAck

    /// SHA-256 over both hellos as encoded (the ack without its proof, which covers this): what
    /// the proofs sign. Both sides compute it from the hellos they decoded or sent; `decodeHello`
    /// and `encode` round-trip exactly, so both get the same bytes.
    public static func transcript(hello: PeerHelloInfo, ack: PeerHelloInfo) -> [UInt8] {
        var unproved = ack
        unproved.proof = []
        var hasher = SHA256()
        hasher.update(data: encode(hello))
        hasher.update(data: encode(unproved))
        return Array(hasher.finalize())
    }

    public static func encode(_ info: PeerHelloInfo) -> [UInt8] {
        var w = PeerWireWriter()
        w.raw(magic)
        w.u16(info.version.major)
        w.u16(info.version.minor)
        w.u8(info.lane.rawValue)
        w.u8(info.secured ? 1 : 0)
        writeAddress(info.node, &w)
        w.u64(info.bootID)
        w.u64(info.incarnation)
        w.u64(info.epoch)
        w.string(info.ringDigest)
        w.shortBytes(info.challenge)
        writeMembers(info.members, &w)
        w.shortBytes(info.proof)
        return w.bytes
    }

    public static func decodeHello(_ payload: UnsafeRawBufferPointer) throws(Malformed) -> PeerHelloInfo {
        var r = PeerWireReader(payload)
        func field<T>(_ read: (inout PeerWireReader) throws(PeerWireReader.Truncated) -> T) throws(Malformed) -> T {
            do throws(PeerWireReader.Truncated) { return try read(&r) } catch { throw Malformed("truncated hello") }
        }
        guard try field({ r throws(PeerWireReader.Truncated) in try r.raw(4) }) == magic else { throw Malformed("not a peer hello (bad magic)") }
        let major = try field { r throws(PeerWireReader.Truncated) in try r.u16() }
        let minor = try field { r throws(PeerWireReader.Truncated) in try r.u16() }
        guard let lane = PeerLane(rawValue: try field({ r throws(PeerWireReader.Truncated) in try r.u8() })) else { throw Malformed("unknown lane") }
        let secured = try field { r throws(PeerWireReader.Truncated) in try r.u8() }
        guard secured <= 1 else { throw Malformed("bad secured flag") }
        let node = try readAddress(&r)
        let bootID = try field { r throws(PeerWireReader.Truncated) in try r.u64() }
        let incarnation = try field { r throws(PeerWireReader.Truncated) in try r.u64() }
        let epoch = try field { r throws(PeerWireReader.Truncated) in try r.u64() }
        let digest = try field { r throws(PeerWireReader.Truncated) in try r.string() }
        let challenge = try field { r throws(PeerWireReader.Truncated) in try r.shortBytes() }
        guard challenge.count == challengeSize else { throw Malformed("challenge of \(challenge.count) bytes") }
        let members = try readMembers(&r)
        let proof = try field { r throws(PeerWireReader.Truncated) in try r.shortBytes() }
        guard proof.isEmpty || proof.count == PeerKeys.proofSize else { throw Malformed("proof of \(proof.count) bytes") }
        guard r.remaining == 0 else { throw Malformed("\(r.remaining) bytes after the hello") }
        return PeerHelloInfo(
            version: PeerProtocolVersion(major: major, minor: minor), lane: lane, secured: secured == 1, node: node,
            bootID: bootID, incarnation: incarnation, epoch: epoch, ringDigest: digest, challenge: challenge,
            members: members, proof: proof)
    }

    /// The acceptor's decision on a hello: the version both use, or why it refuses.
    public static func negotiate(_ hello: PeerHelloInfo, localVersion: PeerProtocolVersion = .current, localSecured: Bool)
        -> Result<PeerProtocolVersion, Malformed>
    {
        guard hello.version.major == localVersion.major else {
            return .failure(Malformed("unsupported peer protocol version \(hello.version); this node speaks \(localVersion.major).x"))
        }
        guard hello.secured == localSecured else {
            return .failure(Malformed(localSecured
                ? "this node requires the cluster secret and the peer has none"
                : "the peer uses a cluster secret and this node has none"))
        }
        return .success(PeerProtocolVersion(major: localVersion.major, minor: min(hello.version.minor, localVersion.minor)))
    }

    // MARK: refusal, auth

    public static func encodeRefusal(_ reason: String) -> [UInt8] {
        var w = PeerWireWriter()
        w.string(reason)
        return w.bytes
    }

    public static func decodeRefusal(_ payload: UnsafeRawBufferPointer) -> String {
        var r = PeerWireReader(payload)
        return (try? r.string()) ?? "(unreadable reason)"
    }

    public static func encodeAuth(proof: [UInt8]) -> [UInt8] {
        var w = PeerWireWriter()
        w.shortBytes(proof)
        return w.bytes
    }

    public static func decodeAuth(_ payload: UnsafeRawBufferPointer) throws(Malformed) -> [UInt8] {
        var r = PeerWireReader(payload)
        guard let proof = try? r.shortBytes(), proof.count == PeerKeys.proofSize, r.remaining == 0 else {
            throw Malformed("malformed auth frame")
        }
        return proof
    }

    // MARK: members

    public static func encodeMembers(_ members: [Member]) -> [UInt8] {
        var w = PeerWireWriter()
        writeMembers(members, &w)
        return w.bytes
    }

    public static func decodeMembers(_ payload: UnsafeRawBufferPointer) throws(Malformed) -> [Member] {
        var r = PeerWireReader(payload)
        let members = try readMembers(&r)
        guard r.remaining == 0 else { throw Malformed("bytes after the member list") }
        return members
    }

    static func writeAddress(_ a: NodeAddress, _ w: inout PeerWireWriter) {
        w.string(a.host)
        w.u16(a.port)
        w.u16(a.peerPort)
    }

    static func readAddress(_ r: inout PeerWireReader) throws(Malformed) -> NodeAddress {
        guard let host = try? r.string(), let port = try? r.u16(), let peerPort = try? r.u16() else { throw Malformed("truncated address") }
        // Both ports travel explicitly: no default-peer-port rule applies (a client port above
        // 55535 has none).
        do throws(ClusterError) {
            return try NodeAddress(host: host, port: port, peerPort: peerPort)
        } catch {
            throw Malformed("bad node address: \(error.message)")
        }
    }

    static func writeMembers(_ members: [Member], _ w: inout PeerWireWriter) {
        w.u16(UInt16(min(members.count, maxMembers)))
        for m in members.prefix(maxMembers) {
            writeAddress(m.address, &w)
            w.u8(m.state.wireValue)
            w.u64(m.incarnation)
        }
    }

    static func readMembers(_ r: inout PeerWireReader) throws(Malformed) -> [Member] {
        guard let count = try? r.u16() else { throw Malformed("truncated member list") }
        guard Int(count) <= maxMembers else { throw Malformed("\(count) members") }
        var members: [Member] = []
        members.reserveCapacity(Int(count))
        for _ in 0..<count {
            let address = try readAddress(&r)
            guard let raw = try? r.u8(), let state = MemberState(wireValue: raw), let incarnation = try? r.u64() else {
                throw Malformed("truncated or bad member")
            }
            members.append(Member(address: address, state: state, incarnation: incarnation))
        }
        return members
    }
}

extension MemberState {
    var wireValue: UInt8 {
        switch self {
        case .alive: return 0
        case .suspect: return 1
        case .dead: return 2
        case .left: return 3
        case .joining: return 4
        case .leaving: return 5
        }
    }

    init?(wireValue: UInt8) {
        switch wireValue {
        case 0: self = .alive
        case 1: self = .suspect
        case 2: self = .dead
        case 3: self = .left
        case 4: self = .joining
        case 5: self = .leaving
        default: return nil
        }
    }
}
