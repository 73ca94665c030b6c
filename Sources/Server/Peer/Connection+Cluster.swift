import Cluster
import TextProtocol

/// The cluster side of a connection: routing a client's command to its owner, relaying the
/// answer, splitting multi-gets, broadcasting `flush_all`, the admin commands, and — on the peer
/// port — the hello and the ring-mismatch count.
extension Connection {
    /// Takes care of `command` when it is not simply served here; returns false to let the
    /// executor run it locally.
    func route(_ command: Command, _ bytes: UnsafeRawBufferPointer, _ consumed: Int, _ router: Router) -> Bool {
        guard let cluster = worker.cluster else { return false }
        switch role {
        case .peer:
            if case .peerHello(let line) = command {
                answerHello(UnsafeRawBufferPointer(rebasing: bytes[line.start..<consumed]), cluster)
                return true
            }
            // Served here even when our ring disagrees: a forwarded request is never forwarded again.
            if !router.isOwnedHere(command, bytes) { cluster.counters.ringMismatch.add(1, ordering: .relaxed) }
            return false
        case .client:
            switch router.decide(command, bytes) {
            case .local:
                return false
            case .admin:
                answerAdmin(command, bytes, cluster, router)
                return true
            case .forward(let node, let shape):
                forward(command, UnsafeRawBufferPointer(rebasing: bytes[0..<consumed]), to: node, shape: shape, cluster)
                return true
            case .split:
                guard case .retrieve(let r) = command else { return false }
                splitRetrieval(r, bytes, router, cluster)
                return true
            case .broadcast:
                // With -F the executor refuses it here, and nothing goes to the other nodes.
                guard case .flushAll(let delay, _) = command, !worker.context.configuration.disableFlushAll else { return false }
                broadcastFlush(command, delay: delay, bytes, cluster)
                return true
            }
        }
    }

    // MARK: - Forwarding

    private func forward(_ command: Command, _ request: UnsafeRawBufferPointer, to node: NodeIndex,
                         shape: ResponseReader.AnswerShape, _ cluster: ClusterState) {
        let isMeta: Bool
        let isRetrieval: Bool
        switch command {
        case .metaGet, .metaSet, .metaDelete, .metaArithmetic, .metaDebug: isMeta = true; isRetrieval = false
        case .retrieve: isMeta = false; isRetrieval = true
        default: isMeta = false; isRetrieval = false
        }
        if isRetrieval || command.isMetaGet {
            cluster.counters.forwardedGets.add(1, ordering: .relaxed)
        } else {
            cluster.counters.forwardedSets.add(1, ordering: .relaxed)
        }
        // A classic noreply command stays silent even when it fails, as memcached's do.
        let work = ForwardWork(kind: .single(silentOnFailure: shape == .zeroOrOne && !isMeta), parts: 1)
        let link = worker.link(to: node)
        if link.send(request, fence: shape == .zeroOrOne, connection: self, work: work, part: 0, shape: shape) {
            setState(.awaitingPeer(work))
        } else {
            cluster.counters.forwardErrors.add(1, ordering: .relaxed)
            if case .single(let silent) = work.kind, !silent { appendOutput("SERVER_ERROR peer unavailable\r\n") }
        }
    }

    private func splitRetrieval(_ r: RetrievalCommand, _ bytes: UnsafeRawBufferPointer, _ router: Router, _ cluster: ClusterState) {
        var keys: [[UInt8]] = []
        var owners: [Owner] = []
        var iterator = KeyIterator(bytes, r.keys)
        var localSpans: [(Int, Span)] = []
        while let span = iterator.next() {
            let key = slice(bytes, span)
            let owner = router.ring.owner(of: key)
            if owner == .local { localSpans.append((keys.count, span)) }
            keys.append(Array(key))
            owners.append(owner)
        }
        let assembly = MultiGetAssembly(keys: keys)
        // Local keys: one single-key retrieval each, answered into the worker's scratch buffer.
        for (position, span) in localSpans {
            let single = Command.retrieve(RetrievalCommand(kind: r.kind, exptime: r.exptime, keys: span, keyCount: 1))
            worker.withScratch { scratch in
                _ = worker.executor.execute(single, in: bytes, into: &scratch)
                assembly.fillLocal(position: position, answer: scratch.bytes)
            }
        }
        // Remote keys: one sub-request per owner, in the client's order of first appearance.
        var groups: [(NodeIndex, [Int])] = []
        for (position, owner) in owners.enumerated() {
            guard case .remote(let node) = owner else { continue }
            if let g = groups.firstIndex(where: { $0.0 == node }) { groups[g].1.append(position) } else { groups.append((node, [position])) }
        }
        let work = ForwardWork(kind: .multiGet(assembly), parts: 0)
        let name: StaticString
        switch r.kind {
        case .get: name = "get"
        case .gets: name = "gets"
        case .gat: name = "gat"
        case .gats: name = "gats"
        }
        for (part, (node, positions)) in groups.enumerated() {
            assembly.addPart(node: node, positions: positions)
            var line: [UInt8] = Array(UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            if r.kind.touches { line += Array(" \(r.exptime)".utf8) }
            for p in positions {
                line.append(UInt8(ascii: " "))
                line += keys[p]
            }
            line += [13, 10]
            cluster.counters.forwardedGets.add(1, ordering: .relaxed)
            let sent = line.withUnsafeBytes {
                worker.link(to: node).send($0, fence: false, connection: self, work: work, part: part, shape: .throughEnd)
            }
            if sent {
                work.remaining += 1
            } else {
                cluster.counters.forwardErrors.add(1, ordering: .relaxed)
                cluster.counters.unavailableKeyMisses.add(UInt64(positions.count), ordering: .relaxed)
            }
        }
        if work.remaining == 0 {
            withOutput { assembly.write(into: &$0) }
        } else {
            setState(.awaitingPeer(work))
        }
    }

    private func broadcastFlush(_ command: Command, delay: Int64, _ bytes: UnsafeRawBufferPointer, _ cluster: ClusterState) {
        let localAnswer: [UInt8] = worker.withScratch { scratch in
            _ = worker.executor.execute(command, in: bytes, into: &scratch)
            return Array(scratch.bytes)
        }
        let work = ForwardWork(kind: .broadcast(localAnswer: localAnswer), parts: 0)
        let request = Array("flush_all \(delay)\r\n".utf8)
        for (i, _) in cluster.ring.nodes.enumerated() where !cluster.ring.isLocal(NodeIndex(i)) {
            cluster.counters.forwardedSets.add(1, ordering: .relaxed)
            let sent = request.withUnsafeBytes {
                worker.link(to: NodeIndex(i)).send($0, fence: false, connection: self, work: work, part: i, shape: .one)
            }
            if sent { work.remaining += 1 } else { cluster.counters.forwardErrors.add(1, ordering: .relaxed) }
        }
        if work.remaining == 0 {
            localAnswer.withUnsafeBytes { appendOutput($0) }
        } else {
            setState(.awaitingPeer(work))
        }
    }

    /// A peer link delivers the answer to one part of the work this connection waits for.
    func peerAnswered(work: ForwardWork, part: Int, answer: UnsafeRawBufferPointer) {
        guard case .awaitingPeer(let current) = currentState, current === work else { return }
        switch work.kind {
        case .single: appendOutput(answer)
        case .multiGet(let assembly): assembly.fill(part: part, answer: answer)
        case .broadcast: break
        }
        finishPart(of: work)
    }

    /// A peer link failed (timeout, closed) before answering one part.
    func peerFailed(work: ForwardWork, part: Int) {
        guard case .awaitingPeer(let current) = currentState, current === work, let cluster = worker.cluster else { return }
        cluster.counters.forwardErrors.add(1, ordering: .relaxed)
        switch work.kind {
        case .single(let silent):
            if !silent { appendOutput("SERVER_ERROR peer unavailable\r\n") }
        case .multiGet(let assembly):
            cluster.counters.unavailableKeyMisses.add(UInt64(assembly.keyCount(part: part)), ordering: .relaxed)
        case .broadcast:
            break
        }
        finishPart(of: work)
    }

    private func finishPart(of work: ForwardWork) {
        work.remaining -= 1
        guard work.remaining == 0 else { return }
        switch work.kind {
        case .single: break
        case .multiGet(let assembly): withOutput { assembly.write(into: &$0) }
        case .broadcast(let localAnswer): localAnswer.withUnsafeBytes { appendOutput($0) }
        }
        resumeAfterForward()
    }

    // MARK: - Peer port

    private func answerHello(_ line: UnsafeRawBufferPointer, _ cluster: ClusterState) {
        guard case .message(.hello(let hello), _) = PeerHelloCodec.parse(line) else {
            appendOutput("CLIENT_ERROR bad peer hello\r\n")
            setState(.closingAfterWrite)
            return
        }
        let local = PeerHello(node: cluster.local.advertise, ringDigest: cluster.ring.digest)
        let answer = PeerHelloCodec.answer(hello, local: local)
        PeerHelloCodec.encode(answer.reply).withUnsafeBytes { appendOutput($0) }
        if answer.version == nil {
            worker.logger.error("refused peer link from \(hello.node) (\(info.peer)): protocol version \(hello.version)")
            setState(.closingAfterWrite)
            return
        }
        if !answer.ringDigestMatches {
            cluster.counters.helloRingMismatch.add(1, ordering: .relaxed)
            worker.logger.warning("peer \(hello.node) routes with a different ring (digest \(hello.ringDigest), ours \(cluster.ring.digest))")
        }
        worker.logger.info("peer link from \(hello.node) accepted")
    }

    // MARK: - Admin

    private func answerAdmin(_ command: Command, _ bytes: UnsafeRawBufferPointer, _ cluster: ClusterState, _ router: Router) {
        switch command {
        case .stats:
            let c = cluster.counters
            let lines: [(String, String)] = [
                ("node_id", cluster.local.advertise),
                ("members", String(cluster.membership.members.count)),
                ("ring_points", String(cluster.ring.count)),
                ("forwarded_gets", String(c.forwardedGets.load(ordering: .relaxed))),
                ("forwarded_sets", String(c.forwardedSets.load(ordering: .relaxed))),
                ("forward_errors", String(c.forwardErrors.load(ordering: .relaxed))),
                ("forward_unavailable_key_misses", String(c.unavailableKeyMisses.load(ordering: .relaxed))),
                ("peer_links_open", String(c.peerLinksOpen.load(ordering: .relaxed))),
                ("ring_mismatch", String(c.ringMismatch.load(ordering: .relaxed))),
                ("hello_ring_mismatch", String(c.helloRingMismatch.load(ordering: .relaxed))),
            ]
            for (name, value) in lines { appendOutput(string: "STAT \(name) \(value)\r\n") }
            appendOutput("END\r\n")
        case .cluster(let args):
            var tokens = KeyIterator(bytes, args)
            let sub = tokens.next()
            if let sub, equals(bytes, sub, "nodes"), tokens.next() == nil {
                for member in cluster.membership.members.sorted(by: { $0.address < $1.address }) {
                    let me = member.address.advertise == cluster.local.advertise ? " myself" : ""
                    appendOutput(string: "NODE \(member.address.advertise) \(member.address.peerEndpoint) \(member.state.rawValue) \(member.incarnation)\(me)\r\n")
                }
                appendOutput("END\r\n")
            } else if let sub, equals(bytes, sub, "route") {
                guard let key = tokens.next(), tokens.next() == nil, key.count <= 250 else {
                    appendOutput("CLIENT_ERROR bad command line format\r\n")
                    return
                }
                let keyBytes = slice(bytes, key)
                var line = "ROUTE " + String(decoding: keyBytes, as: UTF8.self)
                for node in router.ring.replicas(of: keyBytes, count: cluster.replicas) {
                    line += " " + router.ring.node(node).advertise
                }
                appendOutput(string: line + "\r\nEND\r\n")
            } else {
                appendOutput("CLIENT_ERROR unknown cluster command; use cluster nodes or cluster route <key>\r\n")
            }
        default:
            appendOutput("ERROR\r\n")
        }
    }
}

extension Command {
    var isMetaGet: Bool { if case .metaGet = self { return true } else { return false } }
}
