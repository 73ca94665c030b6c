import Testing

@testable import Cluster

/// The peer protocol's pure parts: frames (resumable, bounded), the handshake payloads, the
/// proofs and sealed records, and the membership epoch.
@Suite struct PeerProtocolTests {
    static let maxFrame = 4096

    static func frame(_ type: PeerFrameType, id: UInt64, epoch: UInt64, _ payload: [UInt8]) -> [UInt8] {
        PeerFrameCodec.encode(PeerFrameHeader(type: type, requestID: id, epoch: epoch), payload: payload)
    }

    /// Decodes every frame of `bytes` fed `chunk` bytes at a time, as a link reads them.
    static func decodeAll(_ bytes: [UInt8], chunk: Int) -> [(PeerFrameHeader, [UInt8])]? {
        var buffer: [UInt8] = []
        var frames: [(PeerFrameHeader, [UInt8])] = []
        var offset = 0
        while offset < bytes.count || !buffer.isEmpty {
            if offset < bytes.count {
                buffer += bytes[offset..<min(offset + chunk, bytes.count)]
                offset += chunk
            }
            while true {
                let result = buffer.withUnsafeBytes { PeerFrameCodec.decode($0, maxFrame: maxFrame) }
                switch result {
                case .needMoreData:
                    if offset >= bytes.count && !buffer.isEmpty { return nil }
                case .invalid:
                    return nil
                case .frame(let header, let start, let count, let consumed):
                    frames.append((header, Array(buffer[start..<(start + count)])))
                    buffer.removeFirst(consumed)
                    continue
                }
                break
            }
        }
        return frames
    }

    @Test func framesDecodeWholeOneByteAtATimeAndManyPerBuffer() throws {
        let payloads: [[UInt8]] = [[], Array("get foo\r\n".utf8), Array(repeating: 0xAB, count: 4000), [0, 1, 2]]
        var stream: [UInt8] = []
        for (i, p) in payloads.enumerated() {
            stream += Self.frame(i % 2 == 0 ? .forward : .answer, id: UInt64(i) << 40 | 7, epoch: UInt64(i) * 3, p)
        }
        for chunk in [1, 3, 24, 25, 1000, stream.count] {
            let frames = try #require(Self.decodeAll(stream, chunk: chunk), "chunk \(chunk)")
            #expect(frames.count == payloads.count)
            for (i, (header, payload)) in frames.enumerated() {
                #expect(header.type == (i % 2 == 0 ? .forward : .answer))
                #expect(header.requestID == UInt64(i) << 40 | 7)
                #expect(header.epoch == UInt64(i) * 3)
                #expect(payload == payloads[i])
            }
        }
    }

    /// The length is judged before the body: a hostile or garbled length never waits for, nor
    /// makes room for, bytes it announces; client text on the peer port is refused at once.
    @Test(arguments: [
        ("get foo\r\n", "above max_frame"),
        ("set a 0 0 1\r\nx\r\n", "above max_frame"),
        ("\u{0}\u{0}\u{0}\u{1}", "below the header"),
    ])
    func notThePeerProtocolIsRefusedEarly(text: String, why: String) {
        let result = withBytes(text) { PeerFrameCodec.decode($0, maxFrame: Self.maxFrame) }
        guard case .invalid(let reason) = result else {
            Issue.record("\(text.debugDescription) gave \(result)")
            return
        }
        #expect(reason.contains(why))
    }

    @Test func oversizedLengthAndUnknownTypeAreRefused() {
        var big = Self.frame(.forward, id: 1, epoch: 0, [])
        let length = UInt32(Self.maxFrame + 20 + 1)
        big[0] = UInt8(length >> 24); big[1] = UInt8(length >> 16 & 0xFF); big[2] = UInt8(length >> 8 & 0xFF); big[3] = UInt8(length & 0xFF)
        #expect(big.withUnsafeBytes { PeerFrameCodec.decode($0, maxFrame: Self.maxFrame) } == .invalid(reason: "frame length \(length) is above max_frame (\(Self.maxFrame))"))
        var unknown = Self.frame(.ping, id: 1, epoch: 0, [])
        unknown[4] = 200
        #expect(unknown.withUnsafeBytes { PeerFrameCodec.decode($0, maxFrame: Self.maxFrame) } == .invalid(reason: "unknown frame type 200"))
        var reserved = Self.frame(.ping, id: 1, epoch: 0, [])
        reserved[7] = 1
        #expect(reserved.withUnsafeBytes { PeerFrameCodec.decode($0, maxFrame: Self.maxFrame) } == .invalid(reason: "reserved header bits set"))
    }

    static func hello(_ node: String, secured: Bool = true, proof: [UInt8] = []) -> PeerHelloInfo {
        PeerHelloInfo(
            lane: .control, secured: secured, node: address(node), bootID: 0x1234_5678_9ABC, incarnation: 42, epoch: 9,
            ringDigest: "abcdef", challenge: Array(repeating: 7, count: 32),
            members: [Member(address: address("127.0.0.1:11211"), state: .alive, incarnation: 3),
                      Member(address: address("[::1]:60000@60001"), state: .suspect, incarnation: 4)],
            proof: proof)
    }

    @Test func helloRoundTripsAndCarriesBothPortsExplicitly() throws {
        // A client port above 55535 has no default peer port: the hello names both.
        let info = Self.hello("127.0.0.1:60000@60001", proof: Array(repeating: 1, count: 32))
        let decoded = try PeerHandshake.encode(info).withUnsafeBytes { try PeerHandshake.decodeHello($0) }
        #expect(decoded == info)
        #expect(decoded.node.peerPort == 60001)
    }

    @Test func truncatedOrGarbledHellosAreRefusedNeverCrash() {
        let bytes = PeerHandshake.encode(Self.hello("127.0.0.1:11211"))
        for n in 0..<bytes.count {
            let prefix = Array(bytes[0..<n])
            #expect(throws: PeerHandshake.Malformed.self) { try prefix.withUnsafeBytes { try PeerHandshake.decodeHello($0) } }
        }
        var generator = SplitMix64(state: 11)
        for _ in 0..<2000 {
            var garbled = bytes
            garbled[Int.random(in: 4..<garbled.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            _ = try? garbled.withUnsafeBytes { try PeerHandshake.decodeHello($0) }
        }
    }

    @Test func negotiationRefusesAnotherMajorAndAMismatchedSecret() {
        var other = Self.hello("127.0.0.1:11211")
        other.version = PeerProtocolVersion(major: 9, minor: 0)
        #expect(throws: PeerHandshake.Malformed.self) { try PeerHandshake.negotiate(other, localSecured: true).get() }
        #expect(throws: PeerHandshake.Malformed.self) { try PeerHandshake.negotiate(Self.hello("127.0.0.1:11211", secured: false), localSecured: true).get() }
        var newer = Self.hello("127.0.0.1:11211")
        newer.version = PeerProtocolVersion(major: PeerProtocolVersion.current.major, minor: 7)
        #expect((try? PeerHandshake.negotiate(newer, localSecured: true).get()) == PeerProtocolVersion.current)
    }

    // MARK: - Secrets

    static let oChallenge = Array(repeating: UInt8(1), count: 32)
    static let aChallenge = Array(repeating: UInt8(2), count: 32)
    static let transcript = Array(repeating: UInt8(3), count: 32)

    @Test func proofsNeedTheSecretAndAnswerOnlyThisHandshake() {
        let keys = PeerKeys(secrets: [Array("new secret, sixteen+".utf8), Array("old secret, sixteen+".utf8)])
        let oldOnly = PeerKeys(secrets: [Array("old secret, sixteen+".utf8)])
        let wrong = PeerKeys(secrets: [Array("wrong secret, 16+ bytes".utf8)])
        let proof = oldOnly.proof(.acceptor, openerChallenge: Self.oChallenge, acceptorChallenge: Self.aChallenge, opener: "a", acceptor: "b", transcript: Self.transcript)
        // Rotation: a node with both secrets accepts a proof made with the second.
        #expect(keys.verify(proof, .acceptor, openerChallenge: Self.oChallenge, acceptorChallenge: Self.aChallenge, opener: "a", acceptor: "b", transcript: Self.transcript) == 1)
        #expect(wrong.verify(proof, .acceptor, openerChallenge: Self.oChallenge, acceptorChallenge: Self.aChallenge, opener: "a", acceptor: "b", transcript: Self.transcript) == nil)
        // Another role, challenge or identity: not valid.
        #expect(keys.verify(proof, .opener, openerChallenge: Self.oChallenge, acceptorChallenge: Self.aChallenge, opener: "a", acceptor: "b", transcript: Self.transcript) == nil)
        #expect(keys.verify(proof, .acceptor, openerChallenge: Self.aChallenge, acceptorChallenge: Self.oChallenge, opener: "a", acceptor: "b", transcript: Self.transcript) == nil)
        #expect(keys.verify(proof, .acceptor, openerChallenge: Self.oChallenge, acceptorChallenge: Self.aChallenge, opener: "a", acceptor: "c", transcript: Self.transcript) == nil)
        // Another transcript (a hello changed on the way): not valid.
        #expect(keys.verify(proof, .acceptor, openerChallenge: Self.oChallenge, acceptorChallenge: Self.aChallenge, opener: "a", acceptor: "b",
                            transcript: Array(repeating: 4, count: 32)) == nil)
    }

    /// The transcript both sides compute: equal from the decoded hellos, different when
    /// anything a hello says changes (members, epoch), and blind to the ack's proof.
    @Test func theTranscriptCoversEverythingBothHellosSay() throws {
        let a = try NodeAddress(parsing: "127.0.0.1:11211")
        let b = try NodeAddress(parsing: "127.0.0.1:11212")
        let hello = PeerHelloInfo(lane: .control, secured: true, node: a, bootID: 1, incarnation: 5, epoch: 3, ringDigest: "d",
                                  challenge: Self.oChallenge, members: [Member(address: a), Member(address: b)])
        var ack = PeerHelloInfo(lane: .control, secured: true, node: b, bootID: 2, incarnation: 6, epoch: 3, ringDigest: "d",
                                challenge: Self.aChallenge, members: [Member(address: a), Member(address: b)])
        let t = PeerHandshake.transcript(hello: hello, ack: ack)
        let decodedHello = try PeerHandshake.encode(hello).withUnsafeBytes { try PeerHandshake.decodeHello($0) }
        ack.proof = Array(repeating: 9, count: PeerKeys.proofSize)
        let decodedAck = try PeerHandshake.encode(ack).withUnsafeBytes { try PeerHandshake.decodeHello($0) }
        #expect(PeerHandshake.transcript(hello: decodedHello, ack: decodedAck) == t)
        var fewer = hello
        fewer.members = [Member(address: a)]
        #expect(PeerHandshake.transcript(hello: fewer, ack: ack) != t)
        var later = ack
        later.epoch = .max
        #expect(PeerHandshake.transcript(hello: hello, ack: later) != t)
    }

    static func pair() -> (PeerRecordSealer, PeerRecordOpener) {
        let keys = PeerKeys(secrets: [Array("a cluster secret of 16+ bytes".utf8)])
        let session = keys.sessionKeys(secret: 0, openerChallenge: oChallenge, acceptorChallenge: aChallenge, transcript: transcript)
        return (PeerRecordSealer(key: session.openerToAcceptor, bootID: 77),
                PeerRecordOpener(key: session.openerToAcceptor, peerBootID: 77, maxRecord: 1 << 16))
    }

    @Test func sealedRecordsOpenInOrderAndNothingElseOpens() throws {
        var (sealer, opener) = Self.pair()
        let records = (0..<3).map { i in Array("frame \(i)".utf8) }.map { p in p.withUnsafeBytes { sealer.seal($0) } }
        for (i, r) in records.enumerated() {
            guard case .record(let plain, let consumed) = r.withUnsafeBytes({ opener.open($0) }) else {
                Issue.record("record \(i) did not open")
                return
            }
            #expect(plain == Array("frame \(i)".utf8) && consumed == r.count)
        }
        // Replayed: the counter moved on, the nonce differs.
        var (_, replay) = Self.pair()
        _ = records[0].withUnsafeBytes { replay.open($0) }
        guard case .invalid = records[0].withUnsafeBytes({ replay.open($0) }) else { Issue.record("a replayed record opened"); return }
        // Reordered: the second record first.
        var (_, reordered) = Self.pair()
        guard case .invalid = records[1].withUnsafeBytes({ reordered.open($0) }) else { Issue.record("a reordered record opened"); return }
        // One flipped bit anywhere, or a truncated tag.
        for index in 0..<records[0].count {
            var flipped = records[0]
            flipped[index] ^= 0x10
            var (_, fresh) = Self.pair()
            switch flipped.withUnsafeBytes({ fresh.open($0) }) {
            case .record: Issue.record("a record with byte \(index) flipped opened")
            case .needMoreData, .invalid: break
            }
        }
        // Another link's keys (other challenges): nothing opens.
        let keys = PeerKeys(secrets: [Array("a cluster secret of 16+ bytes".utf8)])
        let other = keys.sessionKeys(secret: 0, openerChallenge: Self.aChallenge, acceptorChallenge: Self.oChallenge, transcript: Self.transcript)
        var foreign = PeerRecordOpener(key: other.openerToAcceptor, peerBootID: 77, maxRecord: 1 << 16)
        guard case .invalid = records[0].withUnsafeBytes({ foreign.open($0) }) else { Issue.record("opened under another link's key"); return }
    }

    @Test func anOversizedRecordIsRefusedBeforeItIsRead() {
        var (_, opener) = Self.pair()
        let header: [UInt8] = [0x7F, 0xFF, 0xFF, 0xFF]
        guard case .invalid(let reason) = header.withUnsafeBytes({ opener.open($0) }) else {
            Issue.record("waited for 2 GB")
            return
        }
        #expect(reason.contains("above the limit"))
    }

    // MARK: - Membership epoch

    @Test func theEpochCountsChangesThisNodeMakesAndRisesToWhatItSees() throws {
        var m = try Membership(local: address("127.0.0.1:11211"), seeds: [address("127.0.0.1:11211"), address("127.0.0.1:11212")])
        #expect(m.epoch == 0)
        let added = m.apply(Member(address: address("127.0.0.1:11213")))
        #expect(added && m.epoch == 1)
        let again = m.apply(Member(address: address("127.0.0.1:11213")))
        #expect(!again && m.epoch == 1)
        // A peer's list: its news is taken, its epoch adopted, not counted again.
        let merged = m.merge([Member(address: address("127.0.0.1:11214"), incarnation: 5)], epoch: 7)
        #expect(merged && m.epoch == 7 && m.members.count == 4)
        let nothing = m.merge([], epoch: 3)
        #expect(!nothing && m.epoch == 7)
        // News about this node itself is its own to make.
        let aboutMe = m.merge([Member(address: address("127.0.0.1:11211"), state: .dead, incarnation: 99)], epoch: 7)
        #expect(!aboutMe)
        #expect(m.member(address("127.0.0.1:11211"))?.state == .alive)
    }
}
