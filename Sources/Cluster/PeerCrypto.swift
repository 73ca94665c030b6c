@preconcurrency import Crypto
import Foundation

/// The cluster secret's keys: the handshake proofs and the per-link sealing keys, from
/// swift-crypto (HKDF-SHA256, HMAC-SHA256, ChaCha20-Poly1305).
///
/// - A node may hold several secrets: the first is the one it proves with; every one is tried
///   on a proof it receives, so an operator rotates by adding the new secret second everywhere,
///   then first, then removing the old one (memberlist's keyring).
/// - Proofs: HMAC-SHA256 under `HKDF(secret, "ringcache peer auth")` over the role, both
///   challenges, both identities and the transcript (a digest of both hellos), so a proof
///   answers exactly this handshake and nothing a hello says can be changed on the way.
/// - Sealing keys: `HKDF(secret, salt: both challenges and the transcript, info: direction)`, fresh for every link
///   and each direction, so a record captured from one link means nothing on another.
///
/// Pure computation; any thread.
public struct PeerKeys: @unchecked Sendable {
    public static let proofSize = 32

    /// The secrets, the sending one first. Never logged or printed. (`@unchecked Sendable`:
    /// swift-crypto's keys are immutable values it has not marked Sendable.)
    let secrets: [SymmetricKey]

    /// `secrets`: the raw secret bytes, in order; at least one.
    public init(secrets: [[UInt8]]) {
        precondition(!secrets.isEmpty, "PeerKeys needs a secret")
        self.secrets = secrets.map { SymmetricKey(data: $0) }
    }

    public var count: Int { secrets.count }

    public enum Role: UInt8, Sendable {
        case opener = 1
        case acceptor = 2
    }

    /// The proof `role` sends with secret number `index`. `transcript` is
    /// `PeerHandshake.transcript(hello:ack:)`: the proof covers everything both hellos say
    /// (members, epoch, incarnation, lane, version), so a hello altered on the way fails.
    public func proof(_ role: Role, secret index: Int = 0, openerChallenge: [UInt8], acceptorChallenge: [UInt8],
                      opener: String, acceptor: String, transcript: [UInt8]) -> [UInt8] {
        let authKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: secrets[index], info: Array("ringcache peer auth v1".utf8), outputByteCount: 32)
        var message: [UInt8] = [role.rawValue]
        message += openerChallenge
        message += acceptorChallenge
        message += Array(opener.utf8) + [0] + Array(acceptor.utf8) + [0]
        message += transcript
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: authKey))
    }

    /// The index of the secret that makes `proof` valid, or nil (a wrong secret, or a forgery).
    public func verify(_ proof: [UInt8], _ role: Role, openerChallenge: [UInt8], acceptorChallenge: [UInt8],
                       opener: String, acceptor: String, transcript: [UInt8]) -> Int? {
        guard proof.count == PeerKeys.proofSize else { return nil }
        for index in secrets.indices {
            let expected = self.proof(role, secret: index, openerChallenge: openerChallenge, acceptorChallenge: acceptorChallenge,
                                      opener: opener, acceptor: acceptor, transcript: transcript)
            if constantTimeEquals(expected, proof) { return index }
        }
        return nil
    }

    /// The two sealing keys of one link, from the secret both sides proved with.
    public func sessionKeys(secret index: Int, openerChallenge: [UInt8], acceptorChallenge: [UInt8], transcript: [UInt8])
        -> (openerToAcceptor: PeerSessionKey, acceptorToOpener: PeerSessionKey)
    {
        let salt = openerChallenge + acceptorChallenge + transcript
        func key(_ direction: String) -> PeerSessionKey {
            PeerSessionKey(HKDF<SHA256>.deriveKey(
                inputKeyMaterial: secrets[index], salt: salt, info: Array("ringcache peer seal v1 \(direction)".utf8),
                outputByteCount: 32))
        }
        return (key("opener->acceptor"), key("acceptor->opener"))
    }

    func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}

/// One direction's sealing key of one link.
public struct PeerSessionKey: @unchecked Sendable {
    let key: SymmetricKey
    init(_ key: SymmetricKey) { self.key = key }
}

/// Seals a link's outgoing bytes into records:
/// `u32 length (of what follows) | ciphertext | 16-byte tag`, ChaCha20-Poly1305 with the length
/// as associated data. The nonce is not sent: it is the sender's boot id (low 32 bits) and a
/// counter that starts at 0 and counts the records of this link and direction. The receiver
/// computes the same nonce, so a replayed, reordered, dropped, truncated or altered record
/// fails to open, and the key is fresh for every link, so no nonce repeats under one key.
public struct PeerRecordSealer: Sendable {
    public static let tagSize = 16
    public static let overhead = 4 + tagSize

    private let key: PeerSessionKey
    private let boot: UInt32
    private var counter: UInt64 = 0

    public init(key: PeerSessionKey, bootID: UInt64) {
        self.key = key
        self.boot = UInt32(truncatingIfNeeded: bootID)
    }

    /// The sealed record of `plaintext`.
    public mutating func seal(_ plaintext: UnsafeRawBufferPointer) -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(PeerRecordSealer.overhead + plaintext.count)
        seal(plaintext) { record.append(contentsOf: $0) }
        return record
    }

    /// Seals `plaintext` and hands the record to `append` in two pieces (its length, then the
    /// ciphertext and tag), copied straight from swift-crypto's buffer: the link writes them
    /// into its output without an array in between.
    public mutating func seal(_ plaintext: UnsafeRawBufferPointer, _ append: (UnsafeRawBufferPointer) -> Void) {
        let nonce = PeerRecordSealer.nonce(boot: boot, counter: counter)
        counter += 1
        var length = UInt32(plaintext.count + PeerRecordSealer.tagSize).bigEndian
        withUnsafeBytes(of: &length) { aad in
            // A sealing failure would mean a bad key size, which the init rules out.
            let box = try! ChaChaPoly.seal(plaintext, using: key.key, nonce: nonce, authenticating: aad)
            append(aad)
            // `combined` is nonce | ciphertext | tag; the nonce is not sent.
            box.combined.withUnsafeBytes { append(UnsafeRawBufferPointer(rebasing: $0[PeerRecordSealer.nonceSize...])) }
        }
    }

    static let nonceSize = 12

    static func nonce(boot: UInt32, counter: UInt64) -> ChaChaPoly.Nonce {
        var bytes = lengthBytes(boot)
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((counter >> UInt64(shift)) & 0xFF)) }
        return try! ChaChaPoly.Nonce(data: bytes)
    }

    static func lengthBytes(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }
}

/// Opens the records `PeerRecordSealer` made on the other side of a link.
public struct PeerRecordOpener: Sendable {
    private let key: PeerSessionKey
    private let boot: UInt32
    private var counter: UInt64 = 0
    /// The largest record accepted: checked before a byte of it is buffered or decrypted.
    public let maxRecord: Int

    public init(key: PeerSessionKey, peerBootID: UInt64, maxRecord: Int) {
        self.key = key
        self.boot = UInt32(truncatingIfNeeded: peerBootID)
        self.maxRecord = maxRecord
    }

    public enum Result: Sendable, Equatable {
        case needMoreData(bytesAwaited: Int)
        /// The plaintext of one record, `consumed` bytes of the input.
        case record([UInt8], consumed: Int)
        /// Forged, replayed, reordered, truncated or oversized: close the link and count it.
        case invalid(reason: String)
    }

    public mutating func open(_ buffer: UnsafeRawBufferPointer) -> Result {
        var plain: [UInt8] = []
        switch open(buffer, { plain.append(contentsOf: $0) }) {
        case .needMoreData(let awaited): return .needMoreData(bytesAwaited: awaited)
        case .invalid(let reason): return .invalid(reason: reason)
        case .opened(let consumed): return .record(plain, consumed: consumed)
        }
    }

    public enum Outcome: Sendable, Equatable {
        case needMoreData(bytesAwaited: Int)
        /// One record opened: its plaintext went to `deliver`; `consumed` bytes of the input.
        case opened(consumed: Int)
        case invalid(reason: String)
    }

    /// Opens the first record of `buffer` if it is whole and hands its plaintext to `deliver`
    /// (valid only during the call).
    public mutating func open(_ buffer: UnsafeRawBufferPointer, _ deliver: (UnsafeRawBufferPointer) -> Void) -> Outcome {
        guard buffer.count >= 4 else { return .needMoreData(bytesAwaited: 0) }
        let length = Int(buffer.loadBigEndianUInt32(at: 0))
        guard length >= PeerRecordSealer.tagSize else { return .invalid(reason: "record shorter than its tag") }
        guard length <= maxRecord else { return .invalid(reason: "record length \(length) is above the limit (\(maxRecord))") }
        guard buffer.count >= 4 + length else { return .needMoreData(bytesAwaited: 4 + length) }
        // swift-crypto takes the box as nonce | ciphertext | tag, in one buffer.
        var combined = Data(capacity: PeerRecordSealer.nonceSize + length)
        PeerRecordSealer.nonce(boot: boot, counter: counter).withUnsafeBytes { combined.append(contentsOf: $0) }
        combined.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[4..<(4 + length)]))
        do {
            let box = try ChaChaPoly.SealedBox(combined: combined)
            let plain = try ChaChaPoly.open(box, using: key.key, authenticating: UnsafeRawBufferPointer(rebasing: buffer[0..<4]))
            counter += 1
            plain.withUnsafeBytes { deliver($0) }
            return .opened(consumed: 4 + length)
        } catch {
            return .invalid(reason: "record \(counter) does not authenticate (wrong secret, or forged, replayed or altered)")
        }
    }
}
