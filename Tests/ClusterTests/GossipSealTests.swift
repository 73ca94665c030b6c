import Testing
@testable import Cluster

@Suite struct GossipSealTests {
    static func open(_ seal: inout GossipSeal, _ bytes: [UInt8]) -> Result<(plaintext: [UInt8], boot: UInt64), GossipSeal.Refusal> {
        bytes.withUnsafeBytes { seal.open($0, as: "r") }
    }

    @Test func opensWhatTheSameSecretSealedOnceAndRefusesReplaysForgeriesAndOtherSecrets() {
        var sender = GossipSeal(secrets: [Array("one".utf8)], bootID: 7)
        var receiver = GossipSeal(secrets: [Array("one".utf8)], bootID: 8)
        var stranger = GossipSeal(secrets: [Array("two".utf8)], bootID: 9)
        let first = sender.seal(Array("hello".utf8), to: "r")
        let second = sender.seal(Array("again".utf8), to: "r")
        guard case .success(let got) = Self.open(&receiver, second) else { Issue.record("not opened"); return }
        #expect(got.plaintext == Array("again".utf8) && got.boot == 7)
        // Out of order within the window is fine; the same datagram twice is not.
        guard case .success = Self.open(&receiver, first) else { Issue.record("reordered refused"); return }
        #expect(Self.open(&receiver, first).failure == .replayed)
        #expect(Self.open(&receiver, second).failure == .replayed)
        #expect(Self.open(&stranger, sender.seal([1, 2, 3], to: "r")).failure == .forged)
        for i in 0..<first.count {
            var flipped = sender.seal(Array("x".utf8), to: "r")
            flipped[i % flipped.count] ^= 0x40
            #expect(Self.open(&receiver, flipped).failure != nil)
        }
        #expect(Self.open(&receiver, Array(first.prefix(20))).failure == .short)
    }

    /// Sealed for one member, a datagram opens at no other (each has its own replay window).
    @Test func aDatagramSealedForOneMemberOpensNowhereElse() {
        var sender = GossipSeal(secrets: [Array("one".utf8)], bootID: 7)
        var other = GossipSeal(secrets: [Array("one".utf8)], bootID: 9)
        let sealed = sender.seal([1, 2, 3], to: "10.0.0.1:11211")
        let elsewhere = sealed.withUnsafeBytes { other.open($0, as: "10.0.0.2:11211") }
        #expect(elsewhere.failure == .forged)
        let there = sealed.withUnsafeBytes { other.open($0, as: "10.0.0.1:11211") }
        #expect(there.failure == nil)
    }

    /// Rotation: a receiver holding the new secret first and the old one second opens both.
    @Test func anySecretOfTheListOpens() {
        var old = GossipSeal(secrets: [Array("old".utf8)], bootID: 1)
        var new = GossipSeal(secrets: [Array("new".utf8), Array("old".utf8)], bootID: 2)
        var receiver = GossipSeal(secrets: [Array("new".utf8), Array("old".utf8)], bootID: 3)
        #expect(Self.open(&receiver, old.seal([1], to: "r")).failure == nil)
        #expect(Self.open(&receiver, new.seal([2], to: "r")).failure == nil)
    }

    @Test func theReplayWindowSlides() {
        var w = ReplayWindow()
        for c: UInt64 in [5, 3, 70, 69, 7] where w.isNew(c) { w.accept(c) }
        #expect(!w.isNew(70) && !w.isNew(69) && !w.isNew(7))
        #expect(w.isNew(71) && w.isNew(8))
        #expect(!w.isNew(5))   // 65 below the highest: outside the window, refused
    }
}

extension Result {
    var failure: Failure? { if case .failure(let f) = self { return f } else { return nil } }
}
