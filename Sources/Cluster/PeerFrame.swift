/// The frames of the peer protocol, on the peer TCP port (and, sealed the same way, later the
/// gossip packets).
///
/// ```
///  0  u32  body length: the bytes after this field (20 + payload), at most max_frame + 20
///  4  u8   type (PeerFrameType)
///  5  u8   flags (per type: `PeerFrameFlags`)
///  6  u16  reserved, 0
///  8  u64  request id: an answer carries the id of its request; 0 where there is none
/// 16  u64  membership epoch of the sender (0 in the hello frames, which carry it inside)
/// 24       payload
/// ```
/// All integers are big-endian. The length is checked against `maxFrame` before a byte of the
/// body is looked at or buffered, so a garbled or hostile length can never make a node allocate.
/// With a cluster secret the frames after the handshake travel inside sealed records
/// (`PeerRecordSealer`); the frame layout is the same inside.
///
/// Pure: no I/O. `PeerFrameDecoder` is resumable across partial input like the text parser.
public enum PeerFrameType: UInt8, Sendable, CaseIterable {
    /// The opener's first frame (plain): version, identity, challenge, members.
    case hello = 1
    /// The acceptor's answer (plain): the version both use, identity, challenge, proof.
    case helloAck = 2
    /// The acceptor's refusal (plain): a reason; it closes the link after it.
    case helloRefused = 3
    /// The opener's proof (plain) when a secret is set; every frame after it is sealed.
    case auth = 4
    /// A client's command, its bytes unchanged; answered by `answer` with the same request id.
    case forward = 5
    /// The answer bytes to a `forward`, unchanged (empty when the command answers nothing).
    case answer = 6
    /// Liveness of an idle link; answered by `pong` with the same request id.
    case ping = 7
    case pong = 8
    /// The sender's member list (push on change, and the answer to `membersRequest`).
    case members = 9
    /// Asks for the receiver's member list (a frame from a higher epoch was seen).
    case membersRequest = 10
    /// A gossip packet (`GossipCodec`), the push-pull of whole member tables, on a control link.
    case gossip = 11
    /// `flush_all` as one cluster event: a u64 cut-off version every member applies (request
    /// lane; answered by an `answer`, `OK`).
    case flush = 12
    /// To a node that came (back) onto the ring: the sender has copied every key it holds to
    /// the key's holders (request lane, empty; answered by an empty `answer`).
    case handoffDone = 13
    /// Copies of items or tombstones with their versions (`ReplicaCodec`), and their statuses.
    case replicate = 16
    case replicateAck = 17
    /// The sender's transfer pass for a move (join or leave) is done (request lane; payload: the
    /// move's digest, `current ring digest>future ring digest`, UTF-8; answered empty).
    case transferDone = 18
    /// Reserved (unused).
    case transferAck = 19
    /// Anti-entropy: the sender's summary of one round of the keys it shares with the receiver
    /// (`DigestMessage`; bulk lane, taken on the request lane too; answered empty). Each side ships its own entries of the
    /// buckets that differ.
    case digest = 20
    /// Reserved (unused).
    case digestAck = 21
}

/// Bits of a frame header's `flags`.
public enum PeerFrameFlags {
    /// On an `answer`: more of it follows in the next `answer` frames with the same request id;
    /// the last one has this bit clear. An answer longer than `max_frame` (a multi-get of large
    /// values) travels this way, so no single frame is over the limit.
    public static let continued: UInt8 = 0x01
    /// On an `answer` (empty): the command is a write and the receiver does not own its key in
    /// its view, so it did nothing; the sender may retry once on its refreshed ring.
    public static let notOwner: UInt8 = 0x02
}

/// A decoded frame header.
public struct PeerFrameHeader: Sendable, Equatable {
    public var type: PeerFrameType
    public var flags: UInt8
    public var requestID: UInt64
    public var epoch: UInt64

    public init(type: PeerFrameType, flags: UInt8 = 0, requestID: UInt64 = 0, epoch: UInt64 = 0) {
        self.type = type
        self.flags = flags
        self.requestID = requestID
        self.epoch = epoch
    }
}

/// What the front of a peer link's input holds.
public enum PeerFrameResult: Sendable, Equatable {
    /// Not a whole frame yet; `bytesAwaited` bytes in all make it whole (0: not known yet).
    case needMoreData(bytesAwaited: Int)
    /// One frame: its payload is `payload` (offsets into the buffer passed in); drop `consumed`
    /// bytes after acting on it.
    case frame(PeerFrameHeader, payloadStart: Int, payloadCount: Int, consumed: Int)
    /// Not the peer protocol, or a frame it forbids: close the link and count it.
    case invalid(reason: String)
}

public enum PeerFrameCodec {
    /// Bytes before the payload.
    public static let headerSize = 24
    /// The default bound on a payload: the largest item (1 MiB) plus its command line and room.
    public static let defaultMaxFrame = (1 << 20) + 64 * 1024

    /// Parses the frame at the front of `buffer`. Checks the declared length against
    /// `maxFrame` before anything else.
    public static func decode(_ buffer: UnsafeRawBufferPointer, maxFrame: Int) -> PeerFrameResult {
        guard buffer.count >= 4 else { return .needMoreData(bytesAwaited: 0) }
        let bodyLength = Int(buffer.loadBigEndianUInt32(at: 0))
        guard bodyLength >= headerSize - 4 else { return .invalid(reason: "frame length \(bodyLength) is below the header's") }
        guard bodyLength - (headerSize - 4) <= maxFrame else {
            return .invalid(reason: "frame length \(bodyLength) is above max_frame (\(maxFrame))")
        }
        let total = 4 + bodyLength
        guard buffer.count >= headerSize else { return .needMoreData(bytesAwaited: total) }
        guard let type = PeerFrameType(rawValue: buffer[4]) else { return .invalid(reason: "unknown frame type \(buffer[4])") }
        guard buffer.loadBigEndianUInt16(at: 6) == 0 else { return .invalid(reason: "reserved header bits set") }
        guard buffer.count >= total else { return .needMoreData(bytesAwaited: total) }
        let header = PeerFrameHeader(
            type: type, flags: buffer[5], requestID: buffer.loadBigEndianUInt64(at: 8), epoch: buffer.loadBigEndianUInt64(at: 16))
        return .frame(header, payloadStart: headerSize, payloadCount: total - headerSize, consumed: total)
    }

    /// Writes the 24-byte header of a frame whose payload is `payloadCount` bytes at `pointer`.
    @inlinable
    public static func writeHeader(_ header: PeerFrameHeader, payloadCount: Int, at pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: UInt32(truncatingIfNeeded: payloadCount + headerSize - 4).bigEndian, as: UInt32.self)
        pointer.storeBytes(of: header.type.rawValue, toByteOffset: 4, as: UInt8.self)
        pointer.storeBytes(of: header.flags, toByteOffset: 5, as: UInt8.self)
        pointer.storeBytes(of: UInt16(0), toByteOffset: 6, as: UInt16.self)
        pointer.storeBytes(of: header.requestID.bigEndian, toByteOffset: 8, as: UInt64.self)
        pointer.storeBytes(of: header.epoch.bigEndian, toByteOffset: 16, as: UInt64.self)
    }

    /// A whole frame as bytes (for the handshake and tests; the hot path writes in place).
    public static func encode(_ header: PeerFrameHeader, payload: [UInt8]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: headerSize + payload.count)
        bytes.withUnsafeMutableBytes { raw in
            writeHeader(header, payloadCount: payload.count, at: raw.baseAddress!)
            if !payload.isEmpty { (raw.baseAddress! + headerSize).copyMemory(from: payload, byteCount: payload.count) }
        }
        return bytes
    }
}

extension UnsafeRawBufferPointer {
    @inlinable func loadBigEndianUInt16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    @inlinable func loadBigEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16 | UInt32(self[offset + 2]) << 8 | UInt32(self[offset + 3])
    }

    @inlinable func loadBigEndianUInt64(at offset: Int) -> UInt64 {
        UInt64(loadBigEndianUInt32(at: offset)) << 32 | UInt64(loadBigEndianUInt32(at: offset + 4))
    }
}
