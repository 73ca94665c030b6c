@preconcurrency import Crypto
import Foundation

/// Seals and opens gossip datagrams with the cluster secret.
///
/// UDP has no session to derive fresh keys from, so each sender life gets its own key:
/// `HKDF(secret, salt: sender boot id, info: "ringcache gossip seal v1")`, and the nonce is a
/// counter that starts at 0 in every life. No nonce repeats under one key as long as boot ids
/// differ (64 random bits per process start). A datagram is
/// `u64 boot · u64 counter · ciphertext · 16-byte tag` (ChaCha20-Poly1305, the first 16 bytes
/// and the destination's identity as associated data). The receiver keeps, per sender life, the highest counter seen and a
/// 64-wide window below it, so a replayed datagram is refused; a forged or altered one fails
/// to open. With several secrets the first seals and every one is tried on receipt.
///
/// One value per gossip thread; not shared.
public struct GossipSeal: @unchecked Sendable {
    public static let headerSize = 16
    public static let overhead = headerSize + 16
    /// Sender lives remembered for replay windows; beyond this the oldest is dropped.
    public static let maxLives = 4096

    private let secrets: [SymmetricKey]
    private let bootID: UInt64
    private var counter: UInt64 = 0
    private var sendKey: SymmetricKey
    private var receiveKeys: [UInt64: [SymmetricKey]] = [:]
    private var windows: [UInt64: ReplayWindow] = [:]
    private var lifeOrder: [UInt64] = []

    /// Why a datagram was refused.
    public enum Refusal: Error, Sendable, Equatable {
        case short, forged, replayed
    }

    public init(secrets: [[UInt8]], bootID: UInt64) {
        precondition(!secrets.isEmpty, "GossipSeal needs a secret")
        self.secrets = secrets.map { SymmetricKey(data: $0) }
        self.bootID = bootID
        self.sendKey = GossipSeal.key(self.secrets[0], boot: bootID)
    }

    /// The same secrets as the peer links'.
    public init(keys: PeerKeys, bootID: UInt64) {
        self.secrets = keys.secrets
        self.bootID = bootID
        self.sendKey = GossipSeal.key(keys.secrets[0], boot: bootID)
    }

    static func key(_ secret: SymmetricKey, boot: UInt64) -> SymmetricKey {
        var salt = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { salt[i] = UInt8(truncatingIfNeeded: boot >> (56 - 8 * UInt64(i))) }
        return HKDF<SHA256>.deriveKey(inputKeyMaterial: secret, salt: salt, info: Array("ringcache gossip seal v1".utf8), outputByteCount: 32)
    }

    static func header(boot: UInt64, counter: UInt64) -> [UInt8] {
        var w = PeerWireWriter()
        w.u64(boot)
        w.u64(counter)
        return w.bytes
    }

    static func nonce(_ counter: UInt64) -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for i in 0..<8 { bytes[4 + i] = UInt8(truncatingIfNeeded: counter >> (56 - 8 * UInt64(i))) }
        // 12 bytes is always a valid ChaCha20-Poly1305 nonce.
        return try! ChaChaPoly.Nonce(data: bytes)
    }

    /// The sealed datagram of `plaintext` for the member `destination` (its identity): bound to
    /// it, so a datagram captured on its way to one member opens nowhere else (each receiver
    /// keeps its own replay window, and the sender's counter is shared by all destinations).
    public mutating func seal(_ plaintext: [UInt8], to destination: String) -> [UInt8] {
        let header = GossipSeal.header(boot: bootID, counter: counter)
        let nonce = GossipSeal.nonce(counter)
        counter += 1
        // Sealing with a valid key and nonce cannot fail.
        let box = try! ChaChaPoly.seal(plaintext, using: sendKey, nonce: nonce, authenticating: header + Array(destination.utf8))
        return header + Array(box.ciphertext) + Array(box.tag)
    }

    /// The plaintext of a datagram sealed for `me` (this node's identity) and the sender life it
    /// claims, or why it was refused.
    public mutating func open(_ datagram: UnsafeRawBufferPointer, as me: String) -> Result<(plaintext: [UInt8], boot: UInt64), Refusal> {
        guard datagram.count >= GossipSeal.overhead else { return .failure(.short) }
        let boot = datagram.loadBigEndianUInt64(at: 0)
        let counter = datagram.loadBigEndianUInt64(at: 8)
        if let window = windows[boot], !window.isNew(counter) { return .failure(.replayed) }
        let header = Data(datagram[0..<GossipSeal.headerSize]) + Data(me.utf8)
        let body = datagram[GossipSeal.headerSize..<(datagram.count - 16)]
        let tag = datagram[(datagram.count - 16)...]
        guard let box = try? ChaChaPoly.SealedBox(nonce: GossipSeal.nonce(counter), ciphertext: Data(body), tag: Data(tag)) else {
            return .failure(.forged)
        }
        for key in keys(for: boot) {
            if let plain = try? ChaChaPoly.open(box, using: key, authenticating: header) {
                remember(boot, counter)
                return .success((Array(plain), boot))
            }
        }
        return .failure(.forged)
    }

    private mutating func keys(for boot: UInt64) -> [SymmetricKey] {
        if let known = receiveKeys[boot] { return known }
        let derived = secrets.map { GossipSeal.key($0, boot: boot) }
        // Keys are cached only for lives that proved themselves (see `remember`).
        return derived
    }

    private mutating func remember(_ boot: UInt64, _ counter: UInt64) {
        if windows[boot] == nil {
            lifeOrder.append(boot)
            windows[boot] = ReplayWindow()
            receiveKeys[boot] = secrets.map { GossipSeal.key($0, boot: boot) }
            if lifeOrder.count > GossipSeal.maxLives {
                let oldest = lifeOrder.removeFirst()
                windows[oldest] = nil
                receiveKeys[oldest] = nil
            }
        }
        windows[boot]?.accept(counter)
    }
}

/// The highest counter seen and which of the 64 below it were seen (IPsec's anti-replay window).
struct ReplayWindow: Sendable {
    private var highest: UInt64 = 0
    private var seen: UInt64 = 0
    private var any = false

    func isNew(_ counter: UInt64) -> Bool {
        guard any else { return true }
        if counter > highest { return true }
        let age = highest - counter
        guard age < 64 else { return false }
        return seen & (1 << age) == 0
    }

    mutating func accept(_ counter: UInt64) {
        guard any else {
            any = true
            highest = counter
            seen = 1
            return
        }
        if counter > highest {
            let shift = counter - highest
            seen = shift >= 64 ? 1 : (seen << shift) | 1
            highest = counter
        } else {
            seen |= 1 << (highest - counter)
        }
    }
}
