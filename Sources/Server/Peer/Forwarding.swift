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
        if link.isFull { return .waitForLink(link) }
        // A classic noreply command stays silent even when it fails, as memcached's do.
        let silent = !isMeta && ResponseReader.answerShape(of: command, in: request) == .zeroOrOne
        let work = ForwardWork(kind: .single(silentOnFailure: silent), parts: 1, slot: connection.openSlot(), connection: connection)
        if link.send(request, work: work, part: 0) == .sent {
            if isRetrieval { counters.forwardedGets.add(1, ordering: .relaxed) } else { counters.forwardedSets.add(1, ordering: .relaxed) }
        } else {
            work.failed(part: 0, counters: counters)
        }
        return .served
    }
}
