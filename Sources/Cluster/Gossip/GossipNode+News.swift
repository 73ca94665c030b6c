/// How news about a member changes what this node knows (SWIM's rules with memberlist's
/// details): a higher incarnation wins; at one incarnation alive < suspect < dead; a member
/// refutes news of its own suspicion or death by raising its incarnation.
extension GossipNode {
    mutating func apply(_ news: MemberNews, from sender: NodeAddress, viaPushPull: Bool, now: UInt64, _ actions: inout [GossipAction]) {
        guard news.incarnation <= GossipNode.maxIncarnation else { return }
        if news.identity == local.advertise && news.confirmed && news.incarnation >= incarnation
            && (news.state == .dead || news.state == .joining)
        {
            // Our death, declared with a majority in sight (or the others' word that we must
            // join again because of it): our keys moved while we were away, so what we hold may
            // be old. An alive node drops it (`returnedFromDeath`, before anything is sent) and
            // joins again, filled like a new one; a joining one says so above their news.
            switch selfState {
            case .alive where !leaving:
                incarnation = max(incarnation, news.incarnation)
                actions.append(.returnedFromDeath)
                actions += changeSelf(to: .joining, now: now)
                return
            case .joining:
                refute(above: news.incarnation, now: now, &actions)
                return
            default:
                if news.state == .dead { actions.append(.returnedFromDeath) }
            }
        }
        switch news.state {
        case .alive, .joining, .leaving:
            alive(news, now: now, &actions)
        case .suspect:
            suspect(news, now: now, &actions)
        case .dead where viaPushPull && members[news.identity]?.state != .dead:
            // memberlist's merge rule: a death in another's table is only a suspicion here, so
            // the member gets its chance to refute (it may be alive and on our side).
            var s = news
            s.state = .suspect
            s.confirmed = false
            if s.reporter.isEmpty { s.reporter = sender.advertise }
            suspect(s, now: now, &actions)
        case .dead, .left:
            dead(news, now: now, &actions)
        }
    }

    /// News of a live member (alive, joining or leaving).
    mutating func alive(_ news: MemberNews, now: UInt64, _ actions: inout [GossipAction]) {
        let id = news.identity
        if id == local.advertise {
            // News of an earlier life, or of a higher incarnation than ours: say we are alive
            // above it.
            if news.incarnation > incarnation || (news.bootID != bootID && news.incarnation >= incarnation) {
                refute(above: news.incarnation, now: now, &actions)
            }
            return
        }
        guard let known = members[id] else {
            members[id] = KnownMember(news: news, changedAt: now)
            queue.enqueue(news)
            actions.append(.changed(MemberChange(news: news, previous: nil, restarted: false)))
            return
        }
        // `joining` marked confirmed: the member was declared dead with a majority and must
        // join again (see below); at one incarnation that beats what it said of itself.
        let mustRejoinNews = news.state == .joining && news.confirmed
        let beatsSameIncarnation = mustRejoinNews && news.incarnation == known.news.incarnation
            && (known.state == .alive || known.state == .suspect || known.state == .leaving)
        guard news.incarnation > known.news.incarnation || beatsSameIncarnation else { return }
        var fresh = news
        fresh.confirmed = mustRejoinNews
        fresh.reporter = ""
        // A life the others declared dead with a majority comes back only by joining again: its
        // keys moved, and what it holds may be old. Until it says `joining` itself (it drops its
        // data first), this node keeps it off the ring however it announces itself.
        let mustRejoin = known.news.confirmed && (known.state == .dead || known.state == .joining)
        if mustRejoin && !mustRejoinNews && news.state != .joining && news.bootID == known.news.bootID {
            fresh.state = .joining
            fresh.confirmed = true
        }
        let restarted = known.news.bootID != 0 && news.bootID != known.news.bootID
        members[id] = KnownMember(news: fresh, changedAt: known.state == fresh.state ? known.changedAt : now)
        suspicions[id] = nil
        queue.enqueue(fresh)
        // Also a new incarnation alone: `cluster nodes` shows it.
        actions.append(.changed(MemberChange(news: fresh, previous: known.state, restarted: restarted)))
    }

    mutating func suspect(_ news: MemberNews, now: UInt64, _ actions: inout [GossipAction]) {
        guard !refutedIfMine(news, now: now, &actions) else { return }
        let id = news.identity
        guard let known = members[id], news.incarnation >= known.news.incarnation else { return }
        switch known.state {
        case .dead, .left:
            return
        case .joining:
            // A joining member holds no keys, so it stays `joining` (a suspect would be on the
            // ring); the suspicion is timed all the same, so one that died is declared dead.
            if var s = suspicions[id] {
                if s.confirm(by: news.reporter) {
                    suspicions[id] = s
                    queue.enqueue(news)
                }
            } else {
                startSuspicion(id, news, now: now)
                queue.enqueue(news)
            }
        case .suspect:
            if var s = suspicions[id], s.confirm(by: news.reporter) {
                suspicions[id] = s
                queue.enqueue(news)
            }
        case .alive, .leaving:
            var record = news
            record.bootID = known.news.bootID
            record.confirmed = false
            members[id] = KnownMember(news: record, changedAt: now)
            startSuspicion(id, record, now: now)
            queue.enqueue(record)
            actions.append(.changed(MemberChange(news: record, previous: known.state, restarted: false)))
        }
    }

    mutating func dead(_ news: MemberNews, now: UInt64, _ actions: inout [GossipAction]) {
        guard !refutedIfMine(news, now: now, &actions) else { return }
        let id = news.identity
        guard let known = members[id], news.incarnation >= known.news.incarnation else { return }
        if news.incarnation == known.news.incarnation {
            switch (known.state, news.state) {
            case (.left, _): return
            case (.dead, .dead) where known.news.confirmed || !news.confirmed: return
            default: break
            }
        }
        var record = news
        if record.bootID == 0 { record.bootID = known.news.bootID }
        if record.state == .left { record.confirmed = false }
        members[id] = KnownMember(news: record, changedAt: now)
        suspicions[id] = nil
        queue.enqueue(record)
        actions.append(.changed(MemberChange(news: record, previous: known.state, restarted: false)))
    }

    /// Starts the timer of a suspicion of `id` (memberlist: k = multiplier − 2 confirmations
    /// expected, none when the cluster is too small to give them).
    mutating func startSuspicion(_ id: String, _ news: MemberNews, now: UInt64) {
        let bounds = suspicionBounds
        let n = estimatedNodes
        let expected = n - 2 < timing.suspicionMultiplier - 2 ? 0 : timing.suspicionMultiplier - 2
        suspicions[id] = Suspicion(
            incarnation: news.incarnation, reporter: news.reporter, startedAt: now, expected: expected,
            min: bounds.min, max: bounds.max)
    }

    /// A suspicion ran out: the member is dead, `confirmed` if this node sees a majority
    /// without it.
    mutating func declareDead(_ id: String, now: UInt64, _ actions: inout [GossipAction]) {
        guard let s = suspicions.removeValue(forKey: id), let known = members[id], known.state == .suspect || known.state == .joining else { return }
        var news = known.news
        news.state = .dead
        news.incarnation = max(news.incarnation, s.incarnation)
        news.reporter = local.advertise
        news.confirmed = health(now: now).seesMajority
        dead(news, now: now, &actions)
        // Tell the others now rather than at the next round.
        nextGossipAt = now
        gossipRound(now: now, &actions)
    }

    /// News of this node's own suspicion or death: refuted when it is not older than what this
    /// node says of itself (which costs local health a point). Whether the news was about this node.
    mutating func refutedIfMine(_ news: MemberNews, now: UInt64, _ actions: inout [GossipAction]) -> Bool {
        guard news.identity == local.advertise else { return false }
        if news.incarnation >= incarnation {
            refute(above: news.incarnation, now: now, &actions)
            awareness.apply(1)
        }
        return true
    }

    /// Raises this node's incarnation above `theirs` and says it is alive.
    mutating func refute(above theirs: UInt64, now: UInt64, _ actions: inout [GossipAction]) {
        incarnation = GossipNode.raised(max(incarnation, theirs))
        let news = selfNews
        members[local.advertise] = KnownMember(news: news, changedAt: members[local.advertise]?.changedAt ?? now)
        queue.enqueue(news)
    }
}
