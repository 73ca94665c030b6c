import Testing
@testable import Cluster

/// The `replicate` / `replicateAck` payloads: what an owner ships and a backup answers.
@Suite struct ReplicaCodecTests {
    func encode(_ records: [(ReplicaRecord, String, String)]) -> [UInt8] {
        var writer = ReplicaCodec.begin(count: records.count, capacity: 64)
        for (record, key, value) in records {
            Array(key.utf8).withUnsafeBytes { k in Array(value.utf8).withUnsafeBytes { v in ReplicaCodec.append(record, key: k, value: v, to: &writer) } }
        }
        return writer.bytes
    }

    func decode(_ payload: [UInt8]) throws -> [(ReplicaRecord, String, String)] {
        var out: [(ReplicaRecord, String, String)] = []
        try payload.withUnsafeBytes { bytes in
            try ReplicaCodec.decode(bytes) { record, key, value in
                out.append((record, String(decoding: key, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            }
        }
        return out
    }

    let live = ReplicaRecord(clock: 0x0123_4567_89AB_CDEF, origin: 513, cas: 77, flags: 0xDEAD_BEEF, exptime: 1_800_000_000, bits: ReplicaRecord.Bit.stale)
    let tombstone = ReplicaRecord(clock: 9, origin: 1, cas: 0, flags: 0, exptime: 60, bits: ReplicaRecord.Bit.tombstone)

    @Test func recordsRoundTrip() throws {
        let payload = encode([(live, "key one", "a value\r\nwith CRLF"), (tombstone, "gone", "")])
        let back = try decode(payload)
        #expect(back.count == 2)
        #expect(back[0].0 == live && back[0].1 == "key one" && back[0].2 == "a value\r\nwith CRLF")
        #expect(back[1].0 == tombstone && back[1].1 == "gone" && back[1].2 == "")
    }

    @Test func everyTruncationAndGarbageIsRefusedWhole() {
        let payload = encode([(live, "k", "value"), (tombstone, "t", "")])
        for cut in 0..<payload.count {
            #expect(throws: ReplicaCodec.Malformed.self) { try decode(Array(payload[0..<cut])) }
        }
        #expect(throws: ReplicaCodec.Malformed.self) { try decode(payload + [0]) }
        var badBits = payload
        badBits[2] = 0x80
        #expect(throws: ReplicaCodec.Malformed.self) { try decode(badBits) }
        var noKey = payload
        noKey[3] = 0
        #expect(throws: ReplicaCodec.Malformed.self) { try decode(noKey) }
        #expect(throws: ReplicaCodec.Malformed.self) { try decode([0, 0]) }
        // A tombstone carrying a value is not a tombstone.
        let odd = encode([(tombstone, "t", "x")])
        #expect(throws: ReplicaCodec.Malformed.self) { try decode(odd) }
    }

    @Test func acknowledgementsRoundTripAndRefuseUnknownStatuses() {
        let statuses: [ReplicaStatus] = [.held, .notHolder, .staleEpoch, .clockSkew, .notStored]
        let bytes = ReplicaCodec.encodeAck(statuses)
        #expect(bytes.withUnsafeBytes { ReplicaCodec.decodeAck($0) } == statuses)
        #expect([UInt8(9)].withUnsafeBytes { ReplicaCodec.decodeAck($0) } == nil)
    }

    @Test func nodeIDsAreStableDistinctAndNeverZero() {
        let identities = (0..<300).map { "10.0.\($0 / 250).\($0 % 250):11211" }
        let ids = NodeIDs.assign(identities)
        #expect(Set(ids.values).count == identities.count)
        #expect(!ids.values.contains(0))
        #expect(NodeIDs.assign(identities.reversed()) == ids)
    }

    @Test func fencingRefusesNonHoldersAndStaleEpochs() throws {
        let ring = try KetamaRing(nodes: ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"].map { try NodeAddress(parsing: $0) }, local: nil)
        let key = Array("some key".utf8)
        let holders = key.withUnsafeBytes { ring.replicas(of: $0, count: 2) }
        let outsider = try #require((0..<3).map(NodeIndex.init).first { !holders.contains($0) })
        #expect(ReplicaFence.refusal(sender: holders[0], holders: holders, senderEpoch: 4, ownEpoch: 4) == nil)
        #expect(ReplicaFence.refusal(sender: holders[1], holders: holders, senderEpoch: 5, ownEpoch: 4) == nil)
        #expect(ReplicaFence.refusal(sender: outsider, holders: holders, senderEpoch: 4, ownEpoch: 4) == .notHolder)
        #expect(ReplicaFence.refusal(sender: nil, holders: holders, senderEpoch: 4, ownEpoch: 4) == .notHolder)
        #expect(ReplicaFence.refusal(sender: holders[0], holders: holders, senderEpoch: 3, ownEpoch: 4) == .staleEpoch)
    }
}
