import Cluster
import EventLoop
import TextProtocol

/// The accepting side of a peer connection, on the worker the listener handed it to.
///
/// - Request lane: each `forward` frame is one client command, served here with the same parser
///   and executor as a client's and never forwarded again (a command this node's ring gives to
///   another node is served anyway and counted as `ring_mismatch`); its answer goes back in an
///   `answer` frame with the same request id, empty when the command answers nothing.
/// - Control lane: member lists (`members`), and requests for ours (`membersRequest`).
/// - Any lane: the hello's member list and epoch go to the membership coordinator, so a node
///   that introduces itself is added.
/// Thread-confined to its worker.
final class PeerSession: PeerChannelDelegate {
    unowned(unsafe) let worker: Worker
    private(set) var channel: PeerChannel!

    init(fd: Int32, worker: Worker) throws(EventLoopError) {
        self.worker = worker
        self.channel = try PeerChannel(accepted: fd, host: worker, delegate: self)
        worker.cluster.counters.peerConnections.add(1, ordering: .relaxed)
    }

    func channelReady(_ channel: PeerChannel) {
        guard let hello = channel.peer else { return }
        if hello.ringDigest != worker.ringDigest {
            worker.cluster.counters.helloRingMismatch.add(1, ordering: .relaxed)
        }
        worker.coordinator?.post(.learned(members: hello.members, epoch: hello.epoch, from: hello.node, incarnation: hello.incarnation))
        worker.logger.info("peer link from \(hello.node.advertise) (\(hello.lane)) accepted")
    }

    func channelReceived(_ channel: PeerChannel, _ header: PeerFrameHeader, _ payload: UnsafeRawBufferPointer) {
        if let peer = channel.peer?.node { worker.noteEpoch(header.epoch, from: peer) }
        switch (channel.peerLane, header.type) {
        case (.request, .forward):
            serve(header.requestID, payload)
        case (.request, .handoffDone), (.bulk, .handoffDone):
            if let sender = channel.peer?.node, let view = worker.currentView {
                let needed = Set(view.members.filter { $0.state == .alive && $0.address.advertise != view.local.advertise }
                    .map(\.address.advertise))
                if worker.cluster.returning.handedOver(by: sender.advertise, needed: needed) {
                    worker.logger.notice("every member handed its copies back (the last: \(sender.advertise)): this node takes writes as owner again")
                }
            }
            sendAnswer(header.requestID, UnsafeRawBufferPointer(start: nil, count: 0))
        case (.request, .transferDone), (.bulk, .transferDone):
            if let sender = channel.peer?.node {
                worker.coordinator?.post(.transferDone(from: sender.advertise, move: String(decoding: payload, as: UTF8.self)))
            }
            sendAnswer(header.requestID, UnsafeRawBufferPointer(start: nil, count: 0))
        case (.request, .digest), (.bulk, .digest):
            let message: DigestMessage
            do throws(DigestMessage.Malformed) {
                message = try DigestMessage(decoding: payload)
            } catch {
                worker.cluster.counters.peerProtocolErrors.add(1, ordering: .relaxed)
                channel.close(reason: "malformed digest frame: \(error.reason)")
                return
            }
            let counters = worker.cluster.counters
            counters.digestsReceived.add(1, ordering: .relaxed)
            counters.digestBytesReceived.add(UInt64(payload.count), ordering: .relaxed)
            if let sender = channel.peer?.node {
                switch worker.cluster.antiEntropy.received(from: sender.advertise, message) {
                case .compared(let buckets):
                    counters.bucketsDiffering.add(UInt64(buckets.count), ordering: .relaxed)
                    if !buckets.isEmpty {
                        worker.logger.notice("anti-entropy round \(message.round): \(buckets.count) buckets differ from \(sender.advertise)'s; shipping their keys")
                    }
                case .waiting:
                    break
                case .stale, .otherRing:
                    counters.digestsDropped.add(1, ordering: .relaxed)
                }
            }
            sendAnswer(header.requestID, UnsafeRawBufferPointer(start: nil, count: 0))
        case (.request, .flush):
            var reader = PeerWireReader(payload)
            guard let cutoff = try? reader.u64(), reader.remaining == 0 else {
                worker.cluster.counters.peerProtocolErrors.add(1, ordering: .relaxed)
                channel.close(reason: "malformed flush frame")
                return
            }
            worker.executor.stats.cmdFlush.add(1, ordering: .relaxed)
            let refused = worker.context.configuration.disableFlushAll
            if !refused { worker.context.store.flushAll(cutoff: cutoff) }
            let answer: StaticString = refused ? "CLIENT_ERROR flush_all not allowed\r\n" : "OK\r\n"
            sendAnswer(header.requestID, UnsafeRawBufferPointer(start: answer.utf8Start, count: answer.utf8CodeUnitCount))
        case (.request, .replicate), (.bulk, .replicate):
            guard let sender = channel.peer?.node,
                  let ack = Replication.receive(payload, from: sender, epoch: header.epoch, worker)
            else {
                worker.cluster.counters.peerProtocolErrors.add(1, ordering: .relaxed)
                channel.close(reason: "malformed replicate frame")
                return
            }
            channel.send(PeerFrameHeader(type: .replicateAck, requestID: header.requestID, epoch: worker.viewEpoch), ack)
        case (_, .members):
            do throws(PeerHandshake.Malformed) {
                let members = try PeerHandshake.decodeMembers(payload)
                if let node = channel.peer?.node {
                    worker.coordinator?.post(.learned(members: members, epoch: header.epoch, from: node, incarnation: nil))
                }
            } catch {
                worker.cluster.counters.peerProtocolErrors.add(1, ordering: .relaxed)
                channel.close(reason: "bad member list: \(error)")
            }
        case (_, .membersRequest):
            let view = worker.currentView
            channel.send(PeerFrameHeader(type: .members, requestID: header.requestID, epoch: view?.epoch ?? 0),
                         PeerHandshake.encodeMembers(view?.members ?? []))
        case (.control, .gossip):
            if let from = channel.peer?.node { worker.cluster.gossipInbox.post(.stream(bytes: Array(payload), from: from)) }
        case (_, .pong):
            break
        default:
            worker.cluster.counters.peerProtocolErrors.add(1, ordering: .relaxed)
            channel.close(reason: "unexpected \(header.type) on a \(channel.peerLane) link")
        }
    }

    func channelClosed(_ channel: PeerChannel, reason: String) {
        worker.cluster.counters.peerConnections.subtract(1, ordering: .relaxed)
        worker.sessionClosed(self)
    }

    /// Serves one forwarded command and answers it. A write is taken only by the key's owner in
    /// this node's view (else `notOwner`, and the sender retries), under the majority rule, and
    /// answered once its copies are made.
    private func serve(_ id: UInt64, _ command: UnsafeRawBufferPointer) {
        var parser = Parser(maxItemSize: worker.context.configuration.maxItemSize,
                            flushAllDisabled: worker.context.configuration.disableFlushAll)
        let parsed = parser.parse(command)
        if case .command(let write, let consumed) = parsed, consumed == command.count, Router.isWrite(write),
           let router = worker.router
        {
            if !router.isOwnedHere(write, command) {
                worker.cluster.counters.ringMismatch.add(1, ordering: .relaxed)
                worker.cluster.counters.notOwnerAnswered.add(1, ordering: .relaxed)
                channel.send(PeerFrameHeader(type: .answer, flags: PeerFrameFlags.notOwner, requestID: id, epoch: worker.viewEpoch), [])
                return
            }
            let silent = Forwarding.silentOnFailure(write, command)
            if let refusal = Replication.refusal(worker) {
                sendAnswer(id, silent ? UnsafeRawBufferPointer(start: nil, count: 0)
                                      : UnsafeRawBufferPointer(start: refusal.utf8Start, count: refusal.utf8CodeUnitCount))
                return
            }
            if router.replicates {
                let reply = PeerReply(session: self, requestID: id)
                Replication.run(write, command, router, worker, slot: reply.slot, waiter: reply, silent: silent)
                return
            }
        }
        if case .command(let read, _) = parsed, Replication.refusesLocalRead(read, worker) {
            let refusal = Replication.clusterUnavailable
            sendAnswer(id, UnsafeRawBufferPointer(start: refusal.utf8Start, count: refusal.utf8CodeUnitCount))
            return
        }
        worker.withScratch { answer in
            switch parsed {
            case .command(let parsed, let consumed) where consumed == command.count:
                if let router = worker.router, !router.isOwnedHere(parsed, command) {
                    worker.cluster.counters.ringMismatch.add(1, ordering: .relaxed)
                }
                worker.executor.connectionFD = channel.fd
                _ = worker.executor.execute(parsed, in: command, into: &answer)
            case .reject(let response, _, _):
                answer.append(response)
                worker.executor.afterReject(response, staleKey: parser.staleKey, in: command)
            default:
                // The sender parsed it as one whole command; anything else is a broken sender.
                answer.append("SERVER_ERROR forwarded command is not one whole command\r\n")
            }
            sendAnswer(id, answer.bytes)
        }
    }

    /// One forwarded command's answer; one longer than a frame goes in several, all but the
    /// last marked `continued`.
    func sendAnswer(_ id: UInt64, _ bytes: UnsafeRawBufferPointer) {
        guard !channel.isClosed else { return }
        let limit = worker.cluster.maxFrame
        var offset = 0
        repeat {
            let n = min(limit, bytes.count - offset)
            let more = offset + n < bytes.count
            channel.send(PeerFrameHeader(type: .answer, flags: more ? PeerFrameFlags.continued : 0, requestID: id,
                                         epoch: worker.viewEpoch),
                         UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]))
            offset += n
        } while offset < bytes.count
    }
}
