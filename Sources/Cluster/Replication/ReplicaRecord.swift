/// The payloads of the `replicate` and `replicateAck` frames: copies of items (or tombstones)
/// with their versions, as the owner ships them to the backups. Pure; no I/O.
///
/// ```
/// replicate:     u16 count, then per record:
///                  u8 bits (1 tombstone, 2 stale, 4 binary key), u8 key length (1...250),
///                  u16 origin, u64 clock, u64 cas, u32 flags, u32 exptime, u32 value length,
///                  key, value
/// replicateAck:  one u8 `ReplicaStatus` per record, in order
/// ```

/// One record's fields besides its key and value.
public struct ReplicaRecord: Sendable, Equatable {
    public var clock: UInt64
    public var origin: UInt16
    public var cas: UInt64
    public var flags: UInt32
    /// Absolute unix seconds, 0 = never.
    public var exptime: UInt32
    public var bits: UInt8

    public enum Bit {
        public static let tombstone: UInt8 = 1
        public static let stale: UInt8 = 2
        public static let binaryKey: UInt8 = 4
    }

    public init(clock: UInt64, origin: UInt16, cas: UInt64, flags: UInt32, exptime: UInt32, bits: UInt8) {
        self.clock = clock
        self.origin = origin
        self.cas = cas
        self.flags = flags
        self.exptime = exptime
        self.bits = bits
    }

    /// Bytes a record takes besides its key and value.
    public static let fixedSize = 1 + 1 + 2 + 8 + 8 + 4 + 4 + 4
}

/// What a backup did with one record.
public enum ReplicaStatus: UInt8, Sendable, CaseIterable {
    /// It holds this version or a newer one (or the change was flushed).
    case held = 0
    /// Refused: in the receiver's view the sender holds no copy of the key (a stale owner).
    case notHolder = 1
    /// Refused: the sender's membership epoch is older than the receiver's.
    case staleEpoch = 2
    /// Refused: the version's clock is too far ahead of the receiver's wall clock.
    case clockSkew = 3
    /// Not stored: no memory, or larger than the receiver's item size limit.
    case notStored = 4
}

public enum ReplicaCodec {
    public struct Malformed: Error, CustomStringConvertible {
        public let description: String
    }

    /// At most this many records in one frame.
    public static let maxRecords = 4096

    /// Starts a payload of `count` records.
    public static func begin(count: Int, capacity: Int) -> PeerWireWriter {
        precondition(count >= 1 && count <= maxRecords, "replica batch of \(count)")
        var writer = PeerWireWriter(capacity: capacity + 2)
        writer.u16(UInt16(count))
        return writer
    }

    /// Appends one record.
    public static func append(
        _ record: ReplicaRecord, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, to writer: inout PeerWireWriter
    ) {
        precondition(key.count >= 1 && key.count <= 250, "replica key of \(key.count) bytes")
        writer.u8(record.bits)
        writer.u8(UInt8(key.count))
        writer.u16(record.origin)
        writer.u64(record.clock)
        writer.u64(record.cas)
        writer.u32(record.flags)
        writer.u32(record.exptime)
        writer.u32(UInt32(value.count))
        writer.raw(key)
        writer.raw(value)
    }

    /// Every record of a payload, in order. The spans point into `payload`. Nothing is handed
    /// out unless the whole payload is well formed.
    public static func decode(
        _ payload: UnsafeRawBufferPointer,
        _ body: (ReplicaRecord, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void
    ) throws(Malformed) {
        let records: [(ReplicaRecord, UnsafeRawBufferPointer, UnsafeRawBufferPointer)]
        do {
            records = try parse(payload)
        } catch let error as Malformed {
            throw error
        } catch {
            throw Malformed(description: "truncated")
        }
        for (record, key, value) in records { body(record, key, value) }
    }

    private static func parse(_ payload: UnsafeRawBufferPointer) throws -> [(ReplicaRecord, UnsafeRawBufferPointer, UnsafeRawBufferPointer)] {
        var reader = PeerWireReader(payload)
        let count = Int(try reader.u16())
        guard count >= 1 && count <= maxRecords else { throw Malformed(description: "a batch of \(count) records") }
        let known = ReplicaRecord.Bit.tombstone | ReplicaRecord.Bit.stale | ReplicaRecord.Bit.binaryKey
        var records: [(ReplicaRecord, UnsafeRawBufferPointer, UnsafeRawBufferPointer)] = []
        records.reserveCapacity(count)
        for _ in 0..<count {
            let bits = try reader.u8()
            guard bits & ~known == 0 else { throw Malformed(description: "unknown record bits \(bits)") }
            let keyLength = Int(try reader.u8())
            guard keyLength >= 1 && keyLength <= 250 else { throw Malformed(description: "a key of \(keyLength) bytes") }
            let origin = try reader.u16()
            let clock = try reader.u64()
            let cas = try reader.u64()
            let flags = try reader.u32()
            let exptime = try reader.u32()
            let valueLength = Int(try reader.u32())
            if bits & ReplicaRecord.Bit.tombstone != 0 && valueLength != 0 {
                throw Malformed(description: "a tombstone with a value")
            }
            let key = try reader.span(keyLength)
            let value = try reader.span(valueLength)
            records.append((ReplicaRecord(clock: clock, origin: origin, cas: cas, flags: flags, exptime: exptime, bits: bits), key, value))
        }
        guard reader.remaining == 0 else { throw Malformed(description: "\(reader.remaining) bytes after the records") }
        return records
    }

    /// The acknowledgement of a batch.
    public static func encodeAck(_ statuses: [ReplicaStatus]) -> [UInt8] { statuses.map(\.rawValue) }

    /// The statuses of an acknowledgement; nil if a byte is not a status.
    public static func decodeAck(_ payload: UnsafeRawBufferPointer) -> [ReplicaStatus]? {
        var statuses: [ReplicaStatus] = []
        statuses.reserveCapacity(payload.count)
        for byte in payload {
            guard let status = ReplicaStatus(rawValue: byte) else { return nil }
            statuses.append(status)
        }
        return statuses
    }
}

/// Fencing: whether a holder applies a copy from `sender`. Only a node that holds the key in the
/// receiver's view (`holders`, owner first) may send one, and only from a membership epoch not
/// older than the receiver's: a node with a stale view (an old owner that has not heard of a
/// ring change) cannot overwrite. nil: apply it.
public enum ReplicaFence {
    public static func refusal(sender: NodeIndex?, holders: ReplicaSet, senderEpoch: UInt64, ownEpoch: UInt64) -> ReplicaStatus? {
        if senderEpoch < ownEpoch { return .staleEpoch }
        guard let sender, holders.contains(sender) else { return .notHolder }
        return nil
    }
}
