import Foundation

/// The periodic work of the gossip machine: probes, relays, gossip, push-pull, reconnecting and
/// forgetting.
extension GossipNode {
    mutating func tickRelays(now: UInt64, _ actions: inout [GossipAction]) {
        guard !relays.isEmpty else { return }
        for seq in relays.keys.sorted() {
            guard let relay = relays[seq] else { continue }
            if now >= relay.expiresAt {
                relays[seq] = nil
            } else if !relay.nackSent && now >= relay.nackAt {
                relays[seq]?.nackSent = true
                actions.append(.send(to: relay.requester, packet(.nack(seq: relay.seq))))
            }
        }
    }

    mutating func tickProbe(now: UInt64, _ actions: inout [GossipAction]) {
        if var p = probe {
            if !p.indirect && now >= p.timeoutAt {
                p.indirect = true
                // Started late (this node was stalled past the deadline): give the helpers a
                // probe timeout to answer rather than judge them, and ourselves, at once.
                p.deadline = max(p.deadline, now + timing.probeTimeout)
                nextProbeAt = max(nextProbeAt, p.deadline)
                if let target = members[p.target] {
                    let helpers = pick(timing.indirectChecks) { $0.state.isLive && $0.news.identity != p.target }
                    p.expectedNacks = helpers.count
                    for helper in helpers {
                        actions.append(.send(to: helper.address, withNews(.pingReq(seq: p.seq, target: target.news.address))))
                    }
                }
                probe = p
            }
            guard now >= p.deadline else { return }
            // Lifeguard: helpers that sent no nack either could not hear us or we could not hear
            // them; either way this node may be the slow one, so its own deadlines stretch.
            awareness.apply(p.expectedNacks > 0 ? p.expectedNacks - p.nacks : 1)
            probe = nil
            // Suspected already: this node's own failed probe is an independent confirmation.
            // At the incarnation the probe began with: a refutation that came meanwhile wins.
            if let target = members[p.target], target.state.isLive || target.state == .suspect {
                var news = suspectNews(of: target)
                news.incarnation = p.incarnation
                apply(news, from: local, viaPushPull: false, now: now, &actions)
            }
        }
        guard probe == nil, now >= nextProbeAt else { return }
        guard let target = nextProbeTarget() else {
            nextProbeAt = now + timing.probeInterval
            return
        }
        let seq = takeSeq()
        let deadline = now + awareness.scale(timing.probeInterval)
        probe = Probe(target: target.news.identity, incarnation: target.news.incarnation, seq: seq,
                      timeoutAt: now + timing.probeTimeout, deadline: deadline)
        nextProbeAt = deadline
        // The buddy system: a suspect hears of its suspicion from the ping itself.
        let buddy: MemberNews? = target.state == .suspect ? suspectNews(of: target, keepingReporter: true) : nil
        actions.append(.send(to: target.news.address, withNews(.ping(seq: seq, target: target.news.address), first: buddy)))
    }

    /// `member` as a suspicion reported by this node, or (`keepingReporter`) by whoever reported
    /// the suspicion it is under.
    func suspectNews(of member: KnownMember, keepingReporter: Bool = false) -> MemberNews {
        var news = member.news
        news.state = .suspect
        news.confirmed = false
        if !keepingReporter || news.reporter.isEmpty { news.reporter = local.advertise }
        return news
    }

    /// The next live (alive, joining, leaving) or suspect member in the shuffled round; a new shuffle after each round.
    mutating func nextProbeTarget() -> KnownMember? {
        for pass in 0..<2 {
            while probeIndex < probeOrder.count {
                let id = probeOrder[probeIndex]
                probeIndex += 1
                if let m = members[id], m.state.isLive || m.state == .suspect { return m }
            }
            guard pass == 0 else { break }
            probeOrder = members.keys.filter { $0 != local.advertise }.sorted()
            probeOrder.shuffle(using: &random)
            probeIndex = 0
        }
        return nil
    }

    /// Up to `count` random other members that pass `filter`.
    mutating func pick(_ count: Int, _ filter: (KnownMember) -> Bool) -> [MemberNews] {
        guard count > 0 else { return [] }
        var candidates = members.values.filter { $0.news.identity != local.advertise && filter($0) }.map(\.news)
        candidates.sort { $0.address < $1.address }
        candidates.shuffle(using: &random)
        return Array(candidates.prefix(count))
    }

    /// Queued news to `gossipFanout` random alive or suspect members, and to one member dead for
    /// less than 30 s (memberlist's gossip to the dead, so a member wrongly declared dead hears
    /// of it) without taking a place from the living.
    mutating func gossipRound(now: UInt64, _ actions: inout [GossipAction]) {
        nextGossipAt = now + timing.gossipInterval
        guard !queue.isEmpty else { return }
        // The fanout goes to members that can pass it on; one member dead for less than 30 s
        // gets it on top, so news of its own death reaches a member that is in fact alive.
        let targets = pick(timing.gossipFanout) { m in m.state.isLive || m.state == .suspect }
            + pick(1) { m in m.state == .dead && now < m.changedAt + 30_000 }
        for target in targets {
            let p = withNews(.gossip)
            guard !p.news.isEmpty else { break }
            actions.append(.send(to: target.address, p))
        }
    }

    /// The whole table with one random alive member. memberlist's `pushPullScale`: beyond 32
    /// members the interval grows with log2 of the cluster size.
    mutating func pushPullRound(now: UInt64, _ actions: inout [GossipAction]) {
        let n = estimatedNodes
        let scale: UInt64 = n <= 32 ? 1 : UInt64((log2(Double(n)) - 5).rounded(.up)) + 1
        nextPushPullAt = now + timing.pushPullInterval * scale
        if let target = pick(1, { $0.state.isLive }).first {
            actions.append(.stream(to: target.address, packet(.pushPull(members: fullTable, reply: false))))
        }
    }

    /// Forgets deaths and leaves grown old, and asks one dead member or absent seed for a
    /// push-pull: the two sides of a healed partition meet this way, without an operator.
    mutating func reconnectRound(now: UInt64, _ actions: inout [GossipAction]) {
        nextReconnectAt = now + timing.reconnectInterval
        for id in members.keys.sorted() where id != local.advertise {
            guard let m = members[id], now >= m.changedAt + timing.deadForgetAfter else { continue }
            // Only a death confirmed with a majority visible is ever forgotten automatically, so
            // a long partition cannot shrink the majority a side needs.
            if (m.state == .dead && m.news.confirmed) || m.state == .left {
                _ = forget(id, &actions)
            }
        }
        // A death declared while no majority was visible keeps its keys; once a majority is
        // visible again it is judged anew: suspected, so it is probed and can refute, and
        // declared dead again (confirmed this time) if it stays silent.
        if health(now: now).seesMajority {
            for id in members.keys.sorted() {
                guard let m = members[id], m.state == .dead && !m.news.confirmed else { continue }
                let news = suspectNews(of: m)
                members[id] = KnownMember(news: news, changedAt: now)
                startSuspicion(id, news, now: now)
                actions.append(.changed(MemberChange(news: news, previous: .dead, restarted: false)))
            }
        }
        var candidates = members.values.filter { $0.state == .dead }.map(\.news.address)
        // A seed is absent when it is not alive or suspect, or never heard from (boot id 0).
        for seed in seeds where !(members[seed.advertise].map { ($0.state.isLive || $0.state == .suspect) && $0.news.bootID != 0 } ?? false) {
            if !candidates.contains(seed) { candidates.append(seed) }
        }
        guard !candidates.isEmpty else { return }
        candidates.sort()
        let target = candidates[Int(random.next() % UInt64(candidates.count))]
        actions.append(.stream(to: target, packet(.pushPull(members: fullTable, reply: false))))
    }
}
