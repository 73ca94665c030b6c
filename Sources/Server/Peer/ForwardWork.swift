import Cluster
import TextProtocol

/// One client command in flight to other nodes: what it waits for, and where its answer goes.
///
/// A client connection may have many at once (`max_forwards`); each holds an `AnswerSlot` in the
/// connection's answer queue, so answers leave in the client's order whatever order the peers
/// answer in. Worker-thread only.
final class ForwardWork {
    enum Kind {
        /// One command to its owner; the owner's answer is relayed as it is. A classic `noreply`
        /// command that fails stays silent, as memcached's noreply errors do.
        case single(silentOnFailure: Bool)
        /// A multi-key retrieval split by owner, answered in the client's key order.
        case multiGet(MultiGetAssembly)
        /// `flush_all`: every other member flushes too; the client gets this node's answer, or
        /// `SERVER_ERROR peer unavailable` if a member could not be reached.
        case broadcast(localAnswer: [UInt8])
    }

    let kind: Kind
    /// Parts still outstanding.
    var remaining: Int
    /// Parts that failed (unreachable peer, timeout).
    var failures = 0
    /// Where the answer goes when the work is done.
    let slot: AnswerSlot
    /// The client connection waiting; held until the work ends (answered, failed or timed out),
    /// even if the client has gone meanwhile.
    let connection: Connection

    init(kind: Kind, parts: Int, slot: AnswerSlot, connection: Connection) {
        self.kind = kind
        self.remaining = parts
        self.slot = slot
        self.connection = connection
    }

    /// A peer answered one part.
    func answered(part: Int, _ answer: UnsafeRawBufferPointer) {
        switch kind {
        case .single: slot.answer.append(answer)
        case .multiGet(let assembly): assembly.fill(part: part, answer: answer)
        case .broadcast: break
        }
        partDone()
    }

    /// A part could not be served: its link failed, timed out or refused it.
    func failed(part: Int, counters: ClusterCounters) {
        counters.forwardErrors.add(1, ordering: .relaxed)
        failures += 1
        switch kind {
        case .single(let silent):
            if !silent { slot.answer.append("SERVER_ERROR peer unavailable\r\n") }
        case .multiGet(let assembly):
            counters.unavailableKeyMisses.add(UInt64(assembly.keyCount(part: part)), ordering: .relaxed)
        case .broadcast:
            break
        }
        partDone()
    }

    /// Called once more for each part when the work has no remote part left (all local).
    func partDone() {
        remaining -= 1
        guard remaining <= 0, !slot.done else { return }
        switch kind {
        case .single:
            break
        case .multiGet(let assembly):
            assembly.write(into: &slot.answer)
        case .broadcast(let localAnswer):
            // Every member it could reach flushed; a silent flush (noreply) stays silent.
            if localAnswer.isEmpty {
            } else if failures > 0 {
                slot.answer.append("SERVER_ERROR peer unavailable\r\n")
            } else {
                localAnswer.withUnsafeBytes { slot.answer.append($0) }
            }
        }
        slot.done = true
        connection.slotDone()
    }
}

/// A forwarded command's place in a client connection's answers: the answer once its peers
/// gave it, then the answers of the local commands the client sent after it (which must not
/// overtake it). The connection writes a slot out when it and every slot before it are done.
final class AnswerSlot {
    var answer = OutputBuffer(capacity: 256)
    var trailing = OutputBuffer(capacity: 256)
    var done = false

    /// Empty again, for reuse by the same connection.
    func reset() {
        answer.removeAll()
        trailing.removeAll()
        answer.shrinkIfLarger(than: 64 * 1024, to: 256)
        trailing.shrinkIfLarger(than: 64 * 1024, to: 256)
        done = false
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
    private(set) var parts: [[Int]] = []

    init(keys: [[UInt8]]) {
        self.keys = keys
        self.blocks = Array(repeating: nil, count: keys.count)
    }

    func addPart(positions: [Int]) { parts.append(positions) }

    /// A local answer for one key: `VALUE …\r\n<data>\r\nEND\r\n` or `END\r\n`.
    func fillLocal(position: Int, answer: UnsafeRawBufferPointer) {
        let end = 5  // "END\r\n"
        if answer.count > end { blocks[position] = Array(answer[0..<(answer.count - end)]) }
    }

    /// An owner's whole answer to the sub-get of `part`: its VALUE units, in its key order.
    func fill(part: Int, answer: UnsafeRawBufferPointer) {
        let positions = parts[part]
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
    func keyCount(part: Int) -> Int { parts[part].count }

    /// Appends the assembled answer.
    func write(into out: inout OutputBuffer) {
        for block in blocks {
            if let block { block.withUnsafeBytes { out.append($0) } }
        }
        out.append("END\r\n")
    }
}
