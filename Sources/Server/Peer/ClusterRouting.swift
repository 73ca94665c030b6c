import Cluster
import TextProtocol

/// What became of a client's command in a cluster.
enum RouteOutcome {
    /// Taken care of: forwarded (its answer will take its place in the client's order) or
    /// answered by this node about the cluster.
    case served
    /// Serve it here, as a standalone node would.
    case local
    /// The owner's link has too many requests in flight: leave the command unparsed and wait.
    case waitForLink(PeerLink)
}

/// The cluster's part of a client command: one table says which room serves each command
/// (`Router.decide`), and each cluster operation has a type of its own — `Forwarding` (one
/// command to its owner), `SplitRetrieval` (a multi-get over several owners), `FlushBroadcast`
/// (`flush_all` everywhere) and `ClusterAdmin` (`cluster …`, `stats cluster`). They reach the
/// client only through its answer slots (`Connection.openSlot`, `answerNow`).
/// Worker-thread only.
enum ClusterRouting {
    static func route(
        _ command: Command, _ request: UnsafeRawBufferPointer, _ bytes: UnsafeRawBufferPointer, _ router: Router,
        _ connection: Connection
    ) -> RouteOutcome {
        let worker = connection.worker
        switch router.decide(command, bytes) {
        case .local:
            guard !Replication.refusesLocalRead(command, worker) else {
                connection.answerNow { $0.append(Replication.clusterUnavailable) }
                return .served
            }
            return .local
        case .ownedWrite:
            return Replication.ownedWrite(command, bytes, router, connection)
        case .admin:
            connection.answerNow { out in ClusterAdmin.answer(command, bytes, worker, router, into: &out) }
            return .served
        case .forward(let node):
            return Forwarding.forward(command, request, to: node, connection)
        case .split:
            guard case .retrieve(let r) = command else { return .local }
            return SplitRetrieval.run(r, bytes, router, connection)
        case .broadcast:
            // With -F the executor refuses it here, and nothing goes to the other nodes.
            guard case .flushAll = command, !worker.context.configuration.disableFlushAll else { return .local }
            return FlushBroadcast.run(command, bytes, connection)
        }
    }

    /// A `set`/`ms` too large for `-I` was refused here, before its data: memcached also drops
    /// the key's current item, and when another node owns the key, that node must drop it.
    static func staleKeyRejected(_ stale: StaleKey, _ bytes: UnsafeRawBufferPointer, _ router: Router, _ connection: Connection) {
        let keyText = UnsafeRawBufferPointer(rebasing: bytes[stale.key.start..<stale.key.end])
        guard let owner = router.owner(ofKey: stale.key, base64: stale.base64, bytes) else { return }
        guard case .remote(let node) = owner else {
            // Dropped here, its owner: the backups drop it too (its tombstone goes to them).
            guard router.replicates else { return }
            let work = ForwardWork(kind: .replicated(localAnswer: [], silentOnFailure: true, async: true), parts: 1,
                                   slot: AnswerSlot(), connection: connection)
            var flags = MetaFlags()
            if stale.base64 { flags.insert(UInt8(ascii: "b")) }
            let command = Command.metaDelete(MetaCommand(key: stale.key, flags: flags))
            Replication.forEachKey(command, bytes) { key in Replication.ship(key, router, connection.worker, work) }
            work.partDone()
            return
        }
        var request: [UInt8] = stale.base64 ? Array("md ".utf8) : Array("delete ".utf8)
        request += keyText
        request += Array((stale.base64 ? " b q\r\n" : " noreply\r\n").utf8)
        let work = ForwardWork(kind: .single(silentOnFailure: true), parts: 1, slot: AnswerSlot(), connection: connection)
        let sent = request.withUnsafeBytes { connection.worker.link(to: node).send($0, work: work, part: 0, waitsForCopies: router.replicates) }
        if sent != .sent { connection.worker.cluster.counters.forwardErrors.add(1, ordering: .relaxed) }
    }
}
