import Foundation
import Testing
@testable import Cluster

@Suite struct DistributionTests {
    /// 100,000 keys over 3, 5 and 10 ketama nodes: reports the spread and checks that every
    /// node gets a sane share (160 points per node: a few percent to ~15% off the mean).
    @Test(arguments: [3, 5, 10])
    func spread(_ nodeCount: Int) throws {
        let nodes = (1...nodeCount).map { address("10.0.0.\($0):11211") }
        let ring = try Ring(nodes: nodes, local: nil)
        let keyCount = 100_000
        var counts = [Int](repeating: 0, count: nodeCount)
        var key: [UInt8] = []
        for i in 0..<keyCount {
            key.removeAll(keepingCapacity: true)
            key.append(contentsOf: "key:\(i)".utf8)
            let owner = key.withUnsafeBytes { ring.ownerIndex(of: $0) }!
            counts[owner.rawValue] += 1
        }
        let mean = Double(keyCount) / Double(nodeCount)
        let shares = counts.map { Double($0) / mean }
        let lines = zip(nodes, counts).map { "\($0.ringName)=\($1)" }.joined(separator: " ")
        let stddev = (counts.map { pow(Double($0) - mean, 2) }.reduce(0, +) / Double(nodeCount)).squareRoot()
        print(
            "ketama spread over \(nodeCount) nodes, \(keyCount) keys: \(lines); min \(String(format: "%.3f", shares.min()!)) "
                + "max \(String(format: "%.3f", shares.max()!)) of the mean, stddev \(String(format: "%.1f%%", 100 * stddev / mean))")
        #expect(counts.reduce(0, +) == keyCount)
        #expect(shares.min()! > 0.75, "a node gets less than 75% of its share: \(lines)")
        #expect(shares.max()! < 1.25, "a node gets more than 125% of its share: \(lines)")
    }
}
