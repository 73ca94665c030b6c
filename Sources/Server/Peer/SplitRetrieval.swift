import Cluster
import TextProtocol

/// A multi-key retrieval whose keys have several owners (or a suspect owner): the local keys
/// are read at once, one sub-get per other node goes out in parallel, and the answer is
/// assembled in the client's key order. A key goes to its owner, or to the next holder when the
/// owner is suspect; a part whose node fails is asked again of the keys' next holders
/// (`ReadFailover`); a key no holder can serve is a miss.
enum SplitRetrieval {
    static func run(_ r: RetrievalCommand, _ bytes: UnsafeRawBufferPointer, _ router: Router, _ connection: Connection) -> RouteOutcome {
        let worker = connection.worker
        var keys: [[UInt8]] = []
        var iterator = KeyIterator(bytes, r.keys)
        while let span = iterator.next() { keys.append(Array(slice(bytes, span))) }
        // Every node's link must take its part, or none is sent (the command waits whole).
        for key in keys {
            let owner = key.withUnsafeBytes { router.readOwner(of: $0) }
            if case .remote(let node)? = owner, worker.link(to: node).isFull { return .waitForLink(worker.link(to: node)) }
        }
        let assembly = MultiGetAssembly(keys: keys, kind: r.kind, exptime: r.exptime)
        // One part more than the remote ones, finished below once every part is sent, so the
        // work cannot complete while parts are still being sent.
        let work = ForwardWork(kind: .multiGet(assembly), parts: 1, slot: connection.openSlot(), connection: connection)
        work.readFailover = !r.kind.touches && router.replicates
        gather(Array(keys.indices), of: assembly, into: work, router, worker, excluding: nil)
        work.partDone()
        return .served
    }

    /// Reads the keys at `positions` of `assembly`: the ones this node holds here, the others
    /// with one sub-get per node (new parts of `work`). `excluding`: a node that just failed.
    static func gather(
        _ positions: [Int], of assembly: MultiGetAssembly, into work: ForwardWork, _ router: Router, _ worker: Worker,
        excluding: String?
    ) {
        let counters = worker.cluster.counters
        var groups: [(NodeIndex, [Int])] = []
        for position in positions {
            let owner = assembly.key(position).withUnsafeBytes { key in
                excluding == nil ? router.readOwner(of: key) : router.readOwner(of: key, excluding: excluding)
            }
            switch owner {
            case .local?:
                assembly.key(position).withUnsafeBytes { key in
                    let single = Command.retrieve(RetrievalCommand(
                        kind: assembly.kind, exptime: assembly.exptime, keys: Span(start: 0, count: key.count), keyCount: 1))
                    worker.withScratch { scratch in
                        _ = worker.executor.execute(single, in: key, into: &scratch)
                        assembly.fillLocal(position: position, answer: scratch.bytes)
                    }
                }
            case .remote(let node)?:
                if let g = groups.firstIndex(where: { $0.0 == node }) { groups[g].1.append(position) } else { groups.append((node, [position])) }
            case nil:
                counters.unavailableKeyMisses.add(1, ordering: .relaxed)
            }
        }
        for (node, keyPositions) in groups {
            let part = assembly.addPart(positions: keyPositions, node: router.ring.node(node).advertise, failover: excluding != nil)
            work.remaining += 1
            let line = assembly.subRequest(part)
            counters.forwardedGets.add(1, ordering: .relaxed)
            let sent = line.withUnsafeBytes { worker.link(to: node).send($0, work: work, part: part) }
            if sent != .sent { work.failed(part: part, counters: counters) }
        }
    }
}
