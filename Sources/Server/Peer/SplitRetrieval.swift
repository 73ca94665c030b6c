import Cluster
import TextProtocol

/// A multi-key retrieval whose keys have several owners: the local keys are read at once, one
/// sub-get per other owner goes out in parallel, and the answer is assembled in the client's key
/// order. A part whose owner is unavailable answers its keys as misses.
enum SplitRetrieval {
    static func run(_ r: RetrievalCommand, _ bytes: UnsafeRawBufferPointer, _ router: Router, _ connection: Connection) -> RouteOutcome {
        let worker = connection.worker
        let counters = worker.cluster.counters
        var keys: [[UInt8]] = []
        var owners: [Owner] = []
        var localSpans: [(Int, Span)] = []
        var iterator = KeyIterator(bytes, r.keys)
        while let span = iterator.next() {
            let key = slice(bytes, span)
            let owner = router.ring.owner(of: key)
            if owner == .local { localSpans.append((keys.count, span)) }
            keys.append(Array(key))
            owners.append(owner)
        }
        // Remote keys: one sub-request per owner, in the client's order of first appearance.
        var groups: [(NodeIndex, [Int])] = []
        for (position, owner) in owners.enumerated() {
            guard case .remote(let node) = owner else { continue }
            if let g = groups.firstIndex(where: { $0.0 == node }) { groups[g].1.append(position) } else { groups.append((node, [position])) }
        }
        // Every owner's link must take its part, or none is sent (the command waits whole).
        for (node, _) in groups where worker.link(to: node).isFull {
            return .waitForLink(worker.link(to: node))
        }
        let assembly = MultiGetAssembly(keys: keys)
        for (position, span) in localSpans {
            let single = Command.retrieve(RetrievalCommand(kind: r.kind, exptime: r.exptime, keys: span, keyCount: 1))
            worker.withScratch { scratch in
                _ = worker.executor.execute(single, in: bytes, into: &scratch)
                assembly.fillLocal(position: position, answer: scratch.bytes)
            }
        }
        let slot = connection.openSlot()
        // One part more than the remote ones, finished below once every part is sent, so the
        // work cannot complete while parts are still being sent.
        let work = ForwardWork(kind: .multiGet(assembly), parts: groups.count + 1, slot: slot, connection: connection)
        let name: String
        switch r.kind {
        case .get: name = "get"
        case .gets: name = "gets"
        case .gat: name = "gat"
        case .gats: name = "gats"
        }
        for (part, (node, positions)) in groups.enumerated() {
            assembly.addPart(positions: positions)
            var line = Array(name.utf8)
            if r.kind.touches { line += Array(" \(r.exptime)".utf8) }
            for p in positions {
                line.append(UInt8(ascii: " "))
                line += keys[p]
            }
            line += [13, 10]
            counters.forwardedGets.add(1, ordering: .relaxed)
            let sent = line.withUnsafeBytes { worker.link(to: node).send($0, work: work, part: part) }
            if sent != .sent { work.failed(part: part, counters: counters) }
        }
        work.partDone()
        return .served
    }
}
