import Cluster
import TextProtocol

/// The cluster's admin commands, answered by the node asked about its own view:
/// `cluster nodes` (a `NODE <advertise> <peer endpoint> <state> <incarnation> [myself]` row per
/// member), `cluster route <key>` (the owner, then the backups), `cluster forget <host:port>`
/// (a dead or left member, at once), `cluster local <key>` (this node's own copy, as `gets`
/// would show it, without routing: for checking that copies agree), `stats cluster`.
enum ClusterAdmin {
    static func answer(_ command: Command, _ bytes: UnsafeRawBufferPointer, _ worker: Worker, _ router: Router,
                       into out: inout OutputBuffer) {
        let cluster = worker.cluster
        let view = worker.currentView ?? cluster.view
        switch command {
        case .stats:
            let c = cluster.counters
            let store = worker.context.store.statistics()
            let g = cluster.gossipCounters
            let lines: [(String, String)] = [
                ("node_id", cluster.local.advertise),
                ("members", String(view.members.count)),
                ("membership_epoch", String(view.epoch)),
                ("ring_points", String(view.ring.count)),
                ("ring_digest", view.ring.digest),
                ("secured", cluster.keys == nil ? "no" : "yes"),
                ("forwarded_gets", String(c.forwardedGets.load(ordering: .relaxed))),
                ("forwarded_sets", String(c.forwardedSets.load(ordering: .relaxed))),
                ("forward_errors", String(c.forwardErrors.load(ordering: .relaxed))),
                ("forward_unavailable_key_misses", String(c.unavailableKeyMisses.load(ordering: .relaxed))),
                ("forward_backpressure", String(c.forwardBackpressure.load(ordering: .relaxed))),
                ("peer_links_open", String(c.peerLinksOpen.load(ordering: .relaxed))),
                ("peer_connections", String(c.peerConnections.load(ordering: .relaxed))),
                ("peer_auth_failures", String(c.peerAuthFailures.load(ordering: .relaxed))),
                ("peer_protocol_errors", String(c.peerProtocolErrors.load(ordering: .relaxed))),
                ("peer_unmatched_answers", String(c.unmatchedAnswers.load(ordering: .relaxed))),
                ("ring_mismatch", String(c.ringMismatch.load(ordering: .relaxed))),
                ("hello_ring_mismatch", String(c.helloRingMismatch.load(ordering: .relaxed))),
                ("membership_changes", String(c.membershipChanges.load(ordering: .relaxed))),
                ("members_known", String(g.known.load(ordering: .relaxed))),
                ("members_visible", String(g.visible.load(ordering: .relaxed))),
                ("sees_majority", g.visible.load(ordering: .relaxed) * 2 > g.known.load(ordering: .relaxed) ? "yes" : "no"),
                ("isolated", g.isolated.load(ordering: .relaxed) ? "yes" : "no"),
                ("local_health", String(g.awareness.load(ordering: .relaxed))),
                ("incarnation", String(g.incarnation.load(ordering: .relaxed))),
                ("gossip_packets_sent", String(g.packetsSent.load(ordering: .relaxed))),
                ("gossip_packets_received", String(g.packetsReceived.load(ordering: .relaxed))),
                ("gossip_bytes_sent", String(g.bytesSent.load(ordering: .relaxed))),
                ("gossip_bytes_received", String(g.bytesReceived.load(ordering: .relaxed))),
                ("gossip_auth_failures", String(g.authFailures.load(ordering: .relaxed))),
                ("gossip_malformed", String(g.malformed.load(ordering: .relaxed))),
                ("replicas", String(cluster.replicas)),
                ("replication", cluster.replicationAsync ? "async" : "sync"),
                ("partition_policy", cluster.partitionAvailable ? "available" : "majority"),
                ("writes_allowed", cluster.partitionAvailable || GossipService.now() < g.writeLeaseUntil.load(ordering: .relaxed) ? "yes" : "no"),
                ("replicated_writes", String(c.replicatedWrites.load(ordering: .relaxed))),
                ("copies_sent", String(c.copiesSent.load(ordering: .relaxed))),
                ("replication_failures", String(c.replicationFailures.load(ordering: .relaxed))),
                ("replication_async_failures", String(c.replicationAsyncFailures.load(ordering: .relaxed))),
                ("replication_dropped", String(c.replicationDropped.load(ordering: .relaxed))),
                ("replication_lag_ms", String(c.lastReplicationMillis.load(ordering: .relaxed))),
                ("copies_applied", String(c.copiesApplied.load(ordering: .relaxed))),
                ("copies_kept", String(c.copiesKept.load(ordering: .relaxed))),
                ("copies_fenced", String(c.copiesFenced.load(ordering: .relaxed))),
                ("copies_clock_skew", String(c.copiesClockSkew.load(ordering: .relaxed))),
                ("copies_not_stored", String(c.copiesNotStored.load(ordering: .relaxed))),
                ("not_owner_answered", String(c.notOwnerAnswered.load(ordering: .relaxed))),
                ("not_owner_retries", String(c.notOwnerRefusals.load(ordering: .relaxed))),
                ("repair_pending", String(c.repairPending.load(ordering: .relaxed))),
                ("repaired_keys", String(c.repairedKeys.load(ordering: .relaxed))),
                ("repaired_bytes", String(c.repairedBytes.load(ordering: .relaxed))),
                ("repair_passes", String(c.repairPasses.load(ordering: .relaxed))),
                ("copies_discarded", String(c.copiesDiscarded.load(ordering: .relaxed))),
                ("member_state", view.member(cluster.local.advertise)?.state.rawValue ?? "alive"),
                ("moving_members", String(view.moving.count)),
                ("transfer_pending", String(c.transferPending.load(ordering: .relaxed))),
                ("transferred_keys", String(c.transferredKeys.load(ordering: .relaxed))),
                ("transferred_bytes", String(c.transferredBytes.load(ordering: .relaxed))),
                ("transfer_passes", String(c.transferPasses.load(ordering: .relaxed))),
                ("joins_completed", String(c.joinsCompleted.load(ordering: .relaxed))),
                ("join_timeouts", String(c.joinTimeouts.load(ordering: .relaxed))),
                ("leave_timeouts", String(c.leaveTimeouts.load(ordering: .relaxed))),
                ("rejoin_discarded", String(c.rejoinDiscarded.load(ordering: .relaxed))),
                ("anti_entropy_rounds", String(c.antiEntropyRounds.load(ordering: .relaxed))),
                ("anti_entropy_skipped", String(c.antiEntropySkipped.load(ordering: .relaxed))),
                ("anti_entropy_walk_ms", String(c.antiEntropyWalkMillis.load(ordering: .relaxed))),
                ("digests_sent", String(c.digestsSent.load(ordering: .relaxed))),
                ("digest_bytes_sent", String(c.digestBytesSent.load(ordering: .relaxed))),
                ("digests_received", String(c.digestsReceived.load(ordering: .relaxed))),
                ("digest_bytes_received", String(c.digestBytesReceived.load(ordering: .relaxed))),
                ("digests_dropped", String(c.digestsDropped.load(ordering: .relaxed))),
                ("buckets_differing", String(c.bucketsDiffering.load(ordering: .relaxed))),
                ("anti_entropy_pending", String(c.antiEntropyPending.load(ordering: .relaxed))),
                ("anti_entropy_keys", String(c.antiEntropyKeys.load(ordering: .relaxed))),
                ("anti_entropy_bytes", String(c.antiEntropyBytes.load(ordering: .relaxed))),
                ("read_failovers", String(c.readFailovers.load(ordering: .relaxed))),
                ("minority_write_refusals", String(c.minorityWriteRefusals.load(ordering: .relaxed))),
                ("returning", cluster.returning.holds(now: GossipService.now()) ? "yes" : "no"),
                ("returning_write_refusals", String(c.returningWriteRefusals.load(ordering: .relaxed))),
                ("owned_items", String(store.currItems - store.copyItems)),
                ("owned_bytes", String(store.sizeClasses.reduce(0) { $0 + $1.memory } - store.copyBytes)),
                ("backup_items", String(store.copyItems)),
                ("backup_bytes", String(store.copyBytes)),
                ("evictions_owned", String(store.evictions &- store.evictedCopies)),
                ("evictions_backup", String(store.evictedCopies)),
                ("tombstones", String(store.tombstones)),
                ("tombstone_bytes", String(store.tombstoneBytes)),
            ]
            for (name, value) in lines { out.append(string: "STAT \(name) \(value)\r\n") }
            out.append("END\r\n")
        case .cluster(let args):
            var tokens = KeyIterator(bytes, args)
            let sub = tokens.next()
            if let sub, equals(bytes, sub, "nodes"), tokens.next() == nil {
                for member in view.members.sorted(by: { $0.address < $1.address }) {
                    let me = member.address.advertise == cluster.local.advertise ? " myself" : ""
                    out.append(string: "NODE \(member.address.advertise) \(member.address.peerEndpoint) \(member.state.rawValue) \(member.incarnation)\(me)\r\n")
                }
                out.append("END\r\n")
            } else if let sub, equals(bytes, sub, "route") {
                guard let key = tokens.next(), tokens.next() == nil, key.count <= 250 else {
                    out.append("CLIENT_ERROR bad command line format\r\n")
                    return
                }
                let keyBytes = slice(bytes, key)
                var line = "ROUTE " + String(decoding: keyBytes, as: UTF8.self)
                for node in router.ring.replicas(of: keyBytes, count: cluster.replicas) {
                    line += " " + router.ring.node(node).advertise
                }
                out.append(string: line + "\r\nEND\r\n")
            } else if let sub, equals(bytes, sub, "local") {
                guard let key = tokens.next(), tokens.next() == nil, key.count <= 250 else {
                    out.append("CLIENT_ERROR bad command line format\r\n")
                    return
                }
                let keyBytes = slice(bytes, key)
                let copy: String? = worker.context.store.export(keyBytes) { state, value in
                    guard !state.tombstone else { return nil }
                    return "VALUE \(String(decoding: keyBytes, as: UTF8.self)) \(state.flags) \(value.count) \(state.cas)\r\n"
                        + String(decoding: value, as: UTF8.self) + "\r\n"
                } ?? nil
                out.append(string: (copy ?? "") + "END\r\n")
            } else if let sub, equals(bytes, sub, "forget") {
                guard let target = tokens.next(), tokens.next() == nil,
                      let address = try? NodeAddress(parsing: String(decoding: slice(bytes, target), as: UTF8.self)) else {
                    out.append("CLIENT_ERROR bad command line format\r\n")
                    return
                }
                guard address.advertise != cluster.local.advertise else {
                    out.append("CLIENT_ERROR a node cannot forget itself\r\n")
                    return
                }
                guard let member = view.member(address.advertise) else {
                    out.append("NOT_FOUND\r\n")
                    return
                }
                guard !(member.state == .dead && member.holdsKeys) else {
                    // Forgetting it here alone would take it off this node's ring only.
                    out.append(string: "CLIENT_ERROR \(address.advertise) was declared dead without a majority and keeps its keys; it can be forgotten once a majority confirms its death\r\n")
                    return
                }
                guard member.state == .dead || member.state == .left else {
                    out.append(string: "CLIENT_ERROR \(address.advertise) is \(member.state.rawValue); only a dead or left member can be forgotten\r\n")
                    return
                }
                cluster.gossipInbox.post(.forget(address.advertise))
                out.append("OK\r\n")
            } else {
                out.append("CLIENT_ERROR unknown cluster command; use cluster nodes, cluster route <key>, cluster local <key> or cluster forget <host:port>\r\n")
            }
        default:
            out.append("ERROR\r\n")
        }
    }
}
