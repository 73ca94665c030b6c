@testable import Cluster

/// Many `GossipNode`s on one manual clock and an in-memory network: datagrams are lost with a
/// probability and delayed within a range; streams (push-pull) arrive unless the pair is cut;
/// pairs can be partitioned; a node can be killed (its messages dropped), stopped like SIGSTOP
/// (what reaches it waits until it continues) and restarted in a new life. Every packet goes
/// through the codec both ways, so the simulation exercises it too.
final class GossipSimulation {
    struct InFlight {
        let to: Int
        let bytes: [UInt8]
        let stream: Bool
    }

    let step: UInt64
    let timing: GossipTiming
    private(set) var now: UInt64 = 0
    private(set) var nodes: [GossipNode?]
    let addresses: [NodeAddress]
    private var index: [String: Int] = [:]
    private var random: GossipRandom
    var loss = 0.0
    var delay: ClosedRange<UInt64> = 1...3
    private var cut: Set<Int> = []  // a * n + b for a pair that cannot talk
    private var stopped: Set<Int> = []
    private var held: [Int: [InFlight]] = [:]
    private var due: [UInt64: [InFlight]] = [:]
    private(set) var sentPackets: [Int]
    private(set) var sentBytes: [Int]
    private var boots = 0
    /// Tick a node only when its `nextDeadline` has come (as the gossip thread does), instead of
    /// every step.
    var deadlineDriven = false
    private var wake: [UInt64]
    private(set) var ticks = 0
    /// Every member change each node reported: (time, node, change).
    private(set) var changes: [(UInt64, Int, MemberChange)] = []
    /// A node that joins (again, after its confirmed death) is promoted this long after it
    /// began, as the membership coordinator does once the transfers to it are done.
    var promoteJoiningAfter: UInt64 = 200
    private var joiningSince: [Int: UInt64] = [:]

    /// `count` nodes, none started. Node addresses are 10.0.x.y:11211.
    init(count: Int, timing: GossipTiming, step: UInt64 = 5, seed: UInt64 = 1) {
        self.step = step
        self.timing = timing
        self.random = GossipRandom(seed: seed)
        addresses = (0..<count).map { i in
            do { return try NodeAddress(host: "10.0.\(i / 256).\(i % 256)", port: 11211) } catch { fatalError("\(error)") }
        }
        nodes = Array(repeating: nil, count: count)
        sentPackets = Array(repeating: 0, count: count)
        sentBytes = Array(repeating: 0, count: count)
        wake = Array(repeating: 0, count: count)
        for (i, a) in addresses.enumerated() { index[a.advertise] = i }
    }

    var count: Int { addresses.count }

    /// Starts (or restarts, in a new life) node `i` with these seeds.
    func start(_ i: Int, seeds: [Int]) {
        boots += 1
        var node = GossipNode(
            local: addresses[i], bootID: UInt64(boots) &* 0x9E37_79B9 | 1, incarnation: 1_000_000 + now,
            seeds: seeds.map { addresses[$0] }, timing: timing, randomSeed: random.next(), now: now)
        stopped.remove(i)
        held[i] = nil
        wake[i] = now
        let actions = node.start(now: now)
        nodes[i] = node
        perform(actions, from: i)
    }

    func kill(_ i: Int) {
        nodes[i] = nil
        stopped.remove(i)
        held[i] = nil
    }

    func stop(_ i: Int) { stopped.insert(i) }
    func resume(_ i: Int) { stopped.remove(i) }

    func leave(_ i: Int) {
        guard var node = nodes[i] else { return }
        let actions = node.leave(now: now)
        nodes[i] = node
        perform(actions, from: i)
    }

    /// Cuts (or heals) every pair between `a` and `b`.
    func partition(_ a: [Int], _ b: [Int], cut on: Bool = true) {
        for x in a { for y in b {
            for key in [x * count + y, y * count + x] { if on { cut.insert(key) } else { cut.remove(key) } }
        } }
    }

    func healAll() { cut.removeAll() }

    /// What node `observer` thinks of node `member` (nil: not known, or the observer is down).
    func state(of member: Int, at observer: Int) -> MemberState? {
        nodes[observer]?.members[addresses[member].advertise]?.state
    }

    func news(of member: Int, at observer: Int) -> MemberNews? {
        nodes[observer]?.members[addresses[member].advertise]?.news
    }

    var running: [Int] { (0..<count).filter { nodes[$0] != nil } }

    /// Advances until `done` holds (checked every step) or `limit` ms pass; the time it took.
    @discardableResult
    func run(for limit: UInt64, until done: () -> Bool = { false }) -> UInt64? {
        let start = now
        while now - start < limit {
            advance()
            if done() { return now - start }
        }
        return nil
    }

    private func advance() {
        now += step
        if let arriving = due.removeValue(forKey: now) {
            for message in arriving { deliver(message) }
        }
        for i in 0..<count where nodes[i] != nil {
            if stopped.contains(i) { continue }
            if let waiting = held.removeValue(forKey: i) { for message in waiting { deliver(message) } }
            guard var node = nodes[i] else { continue }
            if deadlineDriven && now < wake[i] { continue }
            ticks += 1
            var actions = node.tick(now: now)
            if node.selfState == .joining {
                let since = joiningSince[i] ?? now
                joiningSince[i] = since
                if now >= since + promoteJoiningAfter {
                    actions += node.promote(now: now)
                    joiningSince[i] = nil
                }
            } else {
                joiningSince[i] = nil
            }
            wake[i] = node.nextDeadline(now: now)
            nodes[i] = node
            perform(actions, from: i)
        }
    }

    private func deliver(_ message: InFlight) {
        let i = message.to
        guard nodes[i] != nil else { return }
        if stopped.contains(i) {
            held[i, default: []].append(message)
            return
        }
        guard let packet = decodeGossip(message.bytes) else { fatalError("the codec could not read its own packet") }
        guard var node = nodes[i] else { return }
        let actions = node.receive(packet, now: now)
        // The gossip thread ticks right after a packet; what is due then is due now.
        wake[i] = now
        nodes[i] = node
        perform(actions, from: i)
    }

    private func perform(_ actions: [GossipAction], from i: Int) {
        for action in actions {
            switch action {
            case .send(let to, let packet): post(packet, from: i, to: to, stream: false)
            case .stream(let to, let packet): post(packet, from: i, to: to, stream: true)
            case .changed(let change): changes.append((now, i, change))
            case .forgotten, .returnedFromDeath: break
            }
        }
    }

    private func post(_ packet: GossipPacket, from i: Int, to address: NodeAddress, stream: Bool) {
        let bytes = GossipCodec.encode(packet)
        sentPackets[i] += 1
        sentBytes[i] += bytes.count
        guard let j = index[address.advertise] else { return }
        guard !cut.contains(i * count + j), nodes[j] != nil else { return }
        if !stream && loss > 0 && Double(random.next() % 1_000_000) / 1_000_000 < loss { return }
        let span = delay.upperBound - delay.lowerBound + 1
        let d = delay.lowerBound + random.next() % span
        let at = ((now + max(d, 1) + step - 1) / step) * step
        due[at, default: []].append(InFlight(to: j, bytes: bytes, stream: stream))
    }

    // MARK: - Questions the tests ask

    /// Every running node in `observers` sees every member of `members` in `state`.
    func all(_ observers: [Int], see members: [Int], as state: MemberState) -> Bool {
        observers.allSatisfy { o in members.allSatisfy { m in self.state(of: m, at: o) == state } }
    }

    /// Whether any node ever reported `member` dead (or only `by` these observers).
    func everDeclaredDead(_ member: Int, by observers: Set<Int>? = nil) -> Bool {
        changes.contains { _, o, c in
            c.news.identity == addresses[member].advertise && c.news.state == .dead && (observers?.contains(o) ?? true)
        }
    }
}
