/// Big-endian fields for the payloads of the peer protocol's control frames (hello, members).
/// The hot frames (forward, answer) carry raw bytes and never use this.
public struct PeerWireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// Room for `capacity` bytes reserved up front.
    public init(capacity: Int) { bytes.reserveCapacity(capacity) }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xFF)) }
    public mutating func u32(_ v: UInt32) { for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8((v >> UInt32(shift)) & 0xFF)) } }
    public mutating func u64(_ v: UInt64) { for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((v >> UInt64(shift)) & 0xFF)) } }
    /// Up to 255 bytes, length first.
    public mutating func shortBytes(_ b: [UInt8]) {
        precondition(b.count <= 255, "peer wire: short field over 255 bytes")
        u8(UInt8(b.count))
        bytes += b
    }
    public mutating func string(_ s: String) { shortBytes(Array(s.utf8.prefix(255))) }
    public mutating func raw(_ b: [UInt8]) { bytes += b }
    public mutating func raw(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }
}

/// Reads what `PeerWireWriter` wrote; every read is bounds-checked and a short or malformed
/// payload is an error, never a crash.
public struct PeerWireReader {
    let bytes: UnsafeRawBufferPointer
    public private(set) var offset = 0

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public struct Truncated: Error {}

    public var remaining: Int { bytes.count - offset }

    public mutating func u8() throws(Truncated) -> UInt8 {
        guard remaining >= 1 else { throw Truncated() }
        defer { offset += 1 }
        return bytes[offset]
    }
    public mutating func u16() throws(Truncated) -> UInt16 {
        guard remaining >= 2 else { throw Truncated() }
        defer { offset += 2 }
        return bytes.loadBigEndianUInt16(at: offset)
    }
    public mutating func u32() throws(Truncated) -> UInt32 {
        guard remaining >= 4 else { throw Truncated() }
        defer { offset += 4 }
        return bytes.loadBigEndianUInt32(at: offset)
    }
    public mutating func u64() throws(Truncated) -> UInt64 {
        guard remaining >= 8 else { throw Truncated() }
        defer { offset += 8 }
        return bytes.loadBigEndianUInt64(at: offset)
    }
    public mutating func raw(_ count: Int) throws(Truncated) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw Truncated() }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }
    /// `count` bytes in place (valid as long as the payload is), no copy.
    public mutating func span(_ count: Int) throws(Truncated) -> UnsafeRawBufferPointer {
        guard count >= 0, remaining >= count else { throw Truncated() }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }
    public mutating func shortBytes() throws(Truncated) -> [UInt8] { try raw(Int(try u8())) }
    public mutating func string() throws(Truncated) -> String { String(decoding: try shortBytes(), as: UTF8.self) }
}
