import Cluster
import TextProtocol

/// One client command in flight to other nodes: what it waits for and how the answer is built.
///
/// A connection has at most one at a time; it parses nothing further until the work is done, so
/// answers keep the client's order. Worker-thread only.
final class ForwardWork {
    enum Kind {
        /// One command to its owner; the owner's answer is relayed as it is. A classic `noreply`
        /// command that fails stays silent, as memcached's noreply errors do.
        case single(silentOnFailure: Bool)
        /// A multi-key retrieval split by owner, answered in the client's key order.
        case multiGet(MultiGetAssembly)
        /// `flush_all`: every other node flushes too; the client gets this node's answer.
        case broadcast(localAnswer: [UInt8])
    }

    let kind: Kind
    /// Parts still outstanding.
    var remaining: Int

    init(kind: Kind, parts: Int) {
        self.kind = kind
        self.remaining = parts
    }
}

/// The answer to a split multi-get: one slot per key in the client's order, filled by the local
/// store and by each owner's answer.
final class MultiGetAssembly {
    /// The keys, in the client's order.
    private let keys: [[UInt8]]
    /// Per key: the `VALUE` block (line, data, CRLF) when it was a hit.
    private var blocks: [[UInt8]?]
    /// Per part (one per remote owner): the key positions it asked for, in order.
    private(set) var parts: [(node: NodeIndex, positions: [Int])] = []

    init(keys: [[UInt8]]) {
        self.keys = keys
        self.blocks = Array(repeating: nil, count: keys.count)
    }

    func addPart(node: NodeIndex, positions: [Int]) { parts.append((node, positions)) }

    /// A local answer for one key: `VALUE …\r\n<data>\r\nEND\r\n` or `END\r\n`.
    func fillLocal(position: Int, answer: UnsafeRawBufferPointer) {
        let end = 5  // "END\r\n"
        if answer.count > end { blocks[position] = Array(answer[0..<(answer.count - end)]) }
    }

    /// An owner's whole answer to the sub-get of `part`: its VALUE units, in its key order.
    func fill(part: Int, answer: UnsafeRawBufferPointer) {
        let positions = parts[part].positions
        var cursor = 0
        var reader = ResponseReader()
        var offset = 0
        while offset < answer.count {
            let rest = UnsafeRawBufferPointer(rebasing: answer[offset...])
            guard case .unit(let unit, let length) = reader.read(rest) else { return }
            if unit.kind == .value {
                let key = UnsafeRawBufferPointer(rebasing: rest[unit.key.start..<unit.key.end])
                // memcached answers hits in the order asked, skipping misses.
                while cursor < positions.count && !keys[positions[cursor]].elementsEqual(key) { cursor += 1 }
                if cursor < positions.count {
                    blocks[positions[cursor]] = Array(rest[0..<length])
                    cursor += 1
                }
            }
            offset += length
        }
    }

    /// How many keys `part` asked for (they become misses when the owner is unavailable).
    func keyCount(part: Int) -> Int { parts[part].positions.count }

    /// Appends the assembled answer.
    func write(into out: inout OutputBuffer) {
        for block in blocks {
            if let block { block.withUnsafeBytes { out.append($0) } }
        }
        out.append("END\r\n")
    }
}
