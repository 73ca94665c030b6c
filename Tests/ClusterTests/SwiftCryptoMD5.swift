import Crypto
@testable import Cluster

/// MD5 through swift-crypto (`Insecure.MD5`), kept as the reference the hand-written `MD5` is
/// tested against and benchmarked with. Not used on the hot path: on Linux each call goes
/// through a class-backed BoringSSL context (an allocation per hash).
enum SwiftCryptoMD5 {
    static func words(_ data: UnsafeRawBufferPointer) -> MD5.Words {
        var hasher = Insecure.MD5()
        hasher.update(bufferPointer: data)
        let digest = hasher.finalize()
        return digest.withUnsafeBytes { bytes in
            (
                UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
                UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
                UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
                UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
            )
        }
    }
}
