import Cluster
import TextProtocol

/// One client command sent as it is to the node that owns its key; the owner's answer takes the
/// command's place in the client's answers when it comes (pipelined: the client's next commands
/// are parsed and sent meanwhile).
enum Forwarding {
    static func forward(_ command: Command, _ request: UnsafeRawBufferPointer, to node: NodeIndex, _ connection: Connection) -> RouteOutcome {
        let worker = connection.worker
        let counters = worker.cluster.counters
        let isRetrieval: Bool
        let isMeta: Bool
        switch command {
        case .retrieve: isRetrieval = true; isMeta = false
        case .metaGet: isRetrieval = true; isMeta = true
        case .metaSet, .metaDelete, .metaArithmetic, .metaDebug: isRetrieval = false; isMeta = true
        default: isRetrieval = false; isMeta = false
        }
        let link = worker.link(to: node)
        let silent = silentOnFailure(command, request)
        let write = Router.isWrite(command)
        if write, let refusal = Replication.refusal(worker, asOwner: false) {
            if !silent { connection.answerNow { $0.append(refusal) } }
            return .served
        }
        if link.isFull { return .waitForLink(link) }
        let work = ForwardWork(kind: .single(silentOnFailure: silent), parts: 1, slot: connection.openSlot(), connection: connection)
        // Kept for one retry if the receiver no longer owns the key, or, for a read, to ask the
        // next holder if the owner fails.
        if write || isRetrieval { work.retryRequest = Array(request) }
        work.readFailover = isRetrieval && !write && worker.router?.replicates == true
        work.singleTarget = worker.router?.ring.node(node).advertise
        if link.send(request, work: work, part: 0, waitsForCopies: write && worker.router?.replicates == true) == .sent {
            if isRetrieval { counters.forwardedGets.add(1, ordering: .relaxed) } else { counters.forwardedSets.add(1, ordering: .relaxed) }
        } else {
            work.failed(part: 0, counters: counters)
        }
        return .served
    }

    /// A classic noreply command stays silent even when it fails, as memcached's do.
    static func silentOnFailure(_ command: Command, _ request: UnsafeRawBufferPointer) -> Bool {
        switch command {
        case .metaGet, .metaSet, .metaDelete, .metaArithmetic, .metaDebug: return false
        default: return ResponseReader.answerShape(of: command, in: request) == .zeroOrOne
        }
    }

    /// A forwarded write the receiver refused as not its key's owner: routed once more on this
    /// worker's ring, now that it may be newer. To the (new) owner, or run here if this node
    /// owns it now; no further retry.
    static func retry(_ work: ForwardWork, _ connection: Connection) {
        let worker = connection.worker
        guard let request = work.retryRequest, let router = worker.router else {
            work.failed(part: 0, counters: worker.cluster.counters)
            return
        }
        work.retryRequest = nil
        var parser = Parser(maxItemSize: worker.context.configuration.maxItemSize,
                            flushAllDisabled: worker.context.configuration.disableFlushAll)
        request.withUnsafeBytes { bytes in
            guard case .command(let command, _) = parser.parse(bytes) else {
                work.failed(part: 0, counters: worker.cluster.counters)
                return
            }
            switch router.decide(command, bytes) {
            case .forward(let node):
                if worker.link(to: node).send(bytes, work: work, part: 0, waitsForCopies: Router.isWrite(command) && router.replicates) != .sent {
                    work.failed(part: 0, counters: worker.cluster.counters)
                }
            case .ownedWrite where router.replicates:
                if let refusal = Replication.refusal(worker) {
                    if !silentOnFailure(command, bytes) { work.slot.answer.append(refusal) }
                    work.partDone()
                    return
                }
                Replication.run(command, bytes, router, worker, slot: work.slot, waiter: connection,
                                silent: silentOnFailure(command, bytes))
            default:
                worker.withScratch { scratch in
                    _ = worker.executor.execute(command, in: bytes, into: &scratch)
                    work.slot.answer.append(scratch.bytes)
                }
                work.partDone()
            }
        }
    }
}
