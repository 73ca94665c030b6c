import Foundation
import Testing
@testable import Cluster

@Suite struct MD5Tests {
    /// RFC 1321's test suite.
    static let vectors: [(String, String)] = [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
        (String(repeating: "1234567890", count: 8), "57edf4a22be3c955ac49da2e2107b67a"),
    ]

    @Test(arguments: vectors)
    func rfc1321(_ v: (String, String)) {
        #expect(MD5.hex(v.0) == v.1)
    }

    /// Every length across the one-block / two-block / multi-block boundaries, against swift-crypto.
    @Test func matchesSwiftCryptoForEveryLength() {
        var rng = SplitMix64(state: 42)
        for length in 0...300 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            bytes.withUnsafeBytes { b in
                let ours = MD5.words(b)
                let theirs = SwiftCryptoMD5.words(b)
                #expect(ours == theirs, "length \(length)")
            }
        }
    }

    @Test func keyHashIsFirstFourBytesLittleEndian() {
        // md5("abc") = 90 01 50 98 ...: the key hash is 0x98500190.
        #expect(withBytes("abc") { KetamaMD5().hash(key: $0) } == 0x9850_0190)
    }

    /// Timing of both implementations (run with RINGCACHE_BENCH=1, ideally `-c release`).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["RINGCACHE_BENCH"] != nil))
    func benchmark() {
        let keys = (0..<1024).map { Array("user:profile:\($0):0123456789abcdef".utf8) }  // 32–35 bytes
        let rounds = 1000
        func measure(_ name: String, _ hash: (UnsafeRawBufferPointer) -> UInt32) {
            var sink: UInt32 = 0
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<rounds {
                for k in keys { sink ^= k.withUnsafeBytes(hash) }
            }
            let ns = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(rounds * keys.count)
            print("md5 \(name): \(String(format: "%.1f", ns)) ns per 32-byte key (sink \(sink))")
        }
        measure("hand-written") { MD5.words($0).0 }
        measure("swift-crypto Insecure.MD5") { SwiftCryptoMD5.words($0).0 }
    }

    /// Hashes many keys with one implementation, for counting allocations from outside
    /// (`valgrind` "total heap usage"): RINGCACHE_MD5_PROBE=ours|crypto, RINGCACHE_MD5_COUNT=N.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["RINGCACHE_MD5_PROBE"] != nil))
    func allocationProbe() {
        let env = ProcessInfo.processInfo.environment
        let count = Int(env["RINGCACHE_MD5_COUNT"] ?? "1000") ?? 1000
        let useCrypto = env["RINGCACHE_MD5_PROBE"] == "crypto"
        let key = Array("user:profile:42:0123456789abcdef".utf8)
        var sink: UInt32 = 0
        key.withUnsafeBytes { k in
            for _ in 0..<count { sink ^= useCrypto ? SwiftCryptoMD5.words(k).0 : MD5.words(k).0 }
        }
        print("probe \(useCrypto ? "crypto" : "ours") x\(count) sink \(sink)")
    }
}
