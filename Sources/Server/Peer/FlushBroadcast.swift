import Cluster
import TextProtocol

/// `flush_all` in a cluster: this node flushes, then every other member, in parallel. The client
/// gets this node's answer when all of them did, or `SERVER_ERROR peer unavailable` when one
/// could not be reached (the ones reached did flush). An undelayed flush is one cluster event:
/// every member cuts at this node's cut-off version (a `flush` frame), so a copy that was in
/// flight is flushed on its backup exactly as on its owner, and never comes back in a failover.
/// A delayed one carries its delay; its cut-off is the deadline's second, the same everywhere.
enum FlushBroadcast {
    static func run(_ command: Command, _ bytes: UnsafeRawBufferPointer, _ connection: Connection) -> RouteOutcome {
        guard case .flushAll(let delay, _) = command else { return .local }
        let worker = connection.worker
        let counters = worker.cluster.counters
        let links = worker.peerLinks
        for link in links where link.isFull { return .waitForLink(link) }
        let localAnswer: [UInt8] = worker.withScratch { scratch in
            _ = worker.executor.execute(command, in: bytes, into: &scratch)
            return Array(scratch.bytes)
        }
        let slot = connection.openSlot()
        let work = ForwardWork(kind: .broadcast(localAnswer: localAnswer), parts: links.count + 1, slot: slot, connection: connection)
        // The others are told the delay as given here; noreply or not, each answers (the
        // answer is how this node knows it flushed).
        let request = Array("flush_all \(delay)\r\n".utf8)
        let store = worker.context.store
        let immediate = delay <= 0 && !localAnswer.starts(with: Array("CLIENT_ERROR".utf8))
        var cutoff = PeerWireWriter(capacity: 8)
        if immediate {
            // One cut-off for every member: a copy is flushed on its backup exactly as on its
            // owner. 50 ms past this node's clock covers the other clocks' lead; every member
            // raises its clock above it, so a write acknowledged after the OK is above it.
            let version = store.clusterFlushCutoff(aheadMillis: 50)
            store.flushAll(cutoff: version)
            cutoff.u64(version)
        }
        for (part, link) in links.enumerated() {
            counters.forwardedSets.add(1, ordering: .relaxed)
            let sent = immediate
                ? cutoff.bytes.withUnsafeBytes { link.send($0, type: .flush, work: work, part: part) }
                : request.withUnsafeBytes { link.send($0, work: work, part: part) }
            if sent != .sent { work.failed(part: part, counters: counters) }
        }
        work.partDone()
        return .served
    }
}
