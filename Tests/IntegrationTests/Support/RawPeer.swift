import Cluster
import Foundation
import Glibc

/// A hand-driven peer for tests: speaks the peer protocol to a real node's peer port with the
/// Cluster module's codec, so a test can send what a real node never would (a replayed record, a
/// flipped byte, a wrong secret) and see the node refuse it.
final class RawPeer {
    let client: TestClient
    let identity: NodeAddress
    let keys: PeerKeys?
    private(set) var sealer: PeerRecordSealer?
    private(set) var opener: PeerRecordOpener?
    /// Every sealed record this peer sent, as sent (for replays).
    private(set) var sentRecords: [[UInt8]] = []
    let bootID: UInt64 = 0xDEAD_BEEF

    init(port: UInt16, identity: NodeAddress, secret: String?) throws {
        client = try TestClient(port: port)
        self.identity = identity
        keys = secret.map { PeerKeys(secrets: [Array($0.utf8)]) }
    }

    /// Hello → helloAck (checked) → auth; then sealed (with a secret). Throws if refused.
    func handshake(lane: PeerLane = .request, epoch: UInt64 = 0, members: [Member] = []) throws -> PeerHelloInfo {
        let challenge = Array(repeating: UInt8(0x5A), count: PeerHandshake.challengeSize)
        let hello = PeerHelloInfo(
            lane: lane, secured: keys != nil, node: identity, bootID: bootID, incarnation: 1, epoch: epoch,
            ringDigest: "00", challenge: challenge, members: members.isEmpty ? [Member(address: identity)] : members)
        try client.send(PeerFrameCodec.encode(PeerFrameHeader(type: .hello), payload: PeerHandshake.encode(hello)))
        let (header, payload) = try readPlainFrame()
        guard header.type == .helloAck else {
            throw IntegrationError("expected helloAck, got \(header.type): \(payload.withUnsafeBytes { PeerHandshake.decodeRefusal($0) })")
        }
        let ack = try payload.withUnsafeBytes { try PeerHandshake.decodeHello($0) }
        if let keys {
            let transcript = PeerHandshake.transcript(hello: hello, ack: ack)
            let proof = keys.proof(.opener, openerChallenge: challenge, acceptorChallenge: ack.challenge,
                                   opener: identity.advertise, acceptor: ack.node.advertise, transcript: transcript)
            try client.send(PeerFrameCodec.encode(PeerFrameHeader(type: .auth), payload: PeerHandshake.encodeAuth(proof: proof)))
            let session = keys.sessionKeys(secret: 0, openerChallenge: challenge, acceptorChallenge: ack.challenge, transcript: transcript)
            sealer = PeerRecordSealer(key: session.openerToAcceptor, bootID: bootID)
            opener = PeerRecordOpener(key: session.acceptorToOpener, peerBootID: ack.bootID, maxRecord: 1 << 21)
        }
        return ack
    }

    private func readPlainFrame() throws -> (PeerFrameHeader, [UInt8]) {
        var result: (PeerFrameHeader, [UInt8])?
        _ = try client.receive(what: "a peer frame") { bytes in
            guard case .frame(let h, let start, let count, let consumed) = bytes.withUnsafeBytes({ PeerFrameCodec.decode($0, maxFrame: 1 << 21) }) else {
                return nil
            }
            result = (h, Array(bytes[start..<(start + count)]))
            return consumed
        }
        return result!
    }

    /// The bytes one frame takes on the wire: sealed into a record with a secret.
    func wire(_ header: PeerFrameHeader, _ payload: [UInt8]) -> [UInt8] {
        let frame = PeerFrameCodec.encode(header, payload: payload)
        guard var s = sealer else { return frame }
        let record = frame.withUnsafeBytes { s.seal($0) }
        sealer = s
        sentRecords.append(record)
        return record
    }

    /// Sends a `forward` of `command` and returns the node's answer bytes.
    func forward(_ command: String, id: UInt64 = 1) throws -> [UInt8] {
        try client.send(wire(PeerFrameHeader(type: .forward, requestID: id), Array(command.utf8)))
        return try readFrame(expecting: .answer, id: id)
    }

    /// Reads the next frame of `type` (skipping pings), opening records on a secured link.
    func readFrame(expecting type: PeerFrameType, id: UInt64) throws -> [UInt8] {
        var plain: [UInt8] = []
        while true {
            if case .frame(let h, let start, let count, let consumed) = plain.withUnsafeBytes({ PeerFrameCodec.decode($0, maxFrame: 1 << 21) }) {
                let payload = Array(plain[start..<(start + count)])
                plain.removeFirst(consumed)
                if h.type == type && h.requestID == id { return payload }
                continue
            }
            if var o = opener {
                var opened: [UInt8] = []
                _ = try client.receive(what: "a sealed record") { bytes in
                    switch bytes.withUnsafeBytes({ o.open($0) }) {
                    case .record(let p, let consumed):
                        opened = p
                        return consumed
                    case .needMoreData: return nil
                    case .invalid(let reason): opened = Array("<invalid: \(reason)>".utf8); return bytes.count
                    }
                }
                opener = o
                plain += opened
            } else {
                plain += try client.receive(what: "a frame") { $0.isEmpty ? nil : $0.count }
            }
        }
    }

    /// Whether the node closed the connection within `timeout` seconds.
    func closedByNode(timeout: Double = 5) -> Bool {
        (try? client.waitForClose(timeout: timeout)) != nil
    }
}
