@testable import Cluster

/// Runs `body` over the UTF-8 bytes of `text`.
func withBytes<R>(_ text: String, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    let bytes = Array(text.utf8)
    return try bytes.withUnsafeBytes(body)
}

func address(_ text: String) -> NodeAddress {
    do { return try NodeAddress(parsing: text) } catch { fatalError("bad test address \(text): \(error)") }
}

/// A hash whose answers can be worked out by hand: a key is a decimal number and hashes to
/// itself; a node's points are listed in `table` by ring name.
struct TableHashing: RingHashing {
    let table: [String: [UInt32]]

    func hash(key: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(String(decoding: key, as: UTF8.self))!
    }

    func points(forRingName ringName: String, nodeCount: Int) -> [UInt32] { table[ringName] ?? [] }
}

/// Ketama over different ring names than the nodes' own: to show that the name rule matters.
struct RenamedKetama: RingHashing {
    let rename: [String: String]

    func hash(key: UnsafeRawBufferPointer) -> UInt32 { KetamaMD5().hash(key: key) }

    func points(forRingName ringName: String, nodeCount: Int) -> [UInt32] {
        KetamaMD5().points(forRingName: rename[ringName] ?? ringName, nodeCount: nodeCount)
    }
}

extension Ring {
    /// The owner of a key given as text, as an advertise address ("" on an empty ring).
    func ownerAddress(_ key: String) -> String {
        withBytes(key) { ownerIndex(of: $0).map { node($0).advertise } ?? "" }
    }

    func replicaAddresses(_ key: String, count: Int) -> [String] {
        withBytes(key) { replicas(of: $0, count: count).map { node($0).advertise } }
    }
}

/// A small deterministic generator (tests must not depend on the run).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Decodes a gossip packet from an array (nil when malformed).
func decodeGossip(_ bytes: [UInt8]) -> GossipPacket? {
    bytes.withUnsafeBytes { raw -> GossipPacket? in
        do { return try GossipCodec.decode(raw) } catch { return nil }
    }
}
