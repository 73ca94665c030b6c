import Cluster
import EventLoop
import Logging
import TextProtocol

/// A worker's persistent link to one peer's peer port: pipelined requests, answers matched in
/// order.
///
/// Opened on first use with a non-blocking connect; the hello line goes first and requests are
/// pipelined right behind it (the peer answers the hello before anything else). Answers are read
/// with `ResponseReader` and handed, in order, to the connection that sent each request. A link
/// that fails (connect error, closed, garbage, or its oldest request older than `peer_timeout`)
/// fails every request in flight and waits out a backoff before it is opened again; during the
/// backoff requests fail at once, so a dead peer never holds up the worker's other connections.
/// Thread-confined to its worker.
final class PeerLink: EventHandler {
    enum State {
        case idle
        case connecting
        /// Connected; the peer's hello reply has not been read yet.
        case handshaking
        case ready
        case backoff(untilMillis: UInt64)
    }

    private struct Pending {
        let connection: Connection
        let work: ForwardWork
        let part: Int
        let shape: ResponseReader.AnswerShape
        let sentAt: UInt64
    }

    let peer: NodeAddress
    unowned(unsafe) let worker: Worker
    private let cluster: ClusterState
    private var state: State = .idle
    private var fd: Int32 = -1
    private var readEvent: IOEvent?
    private var writeEvent: IOEvent?
    private var input = ReadBuffer()
    private var output = OutputBuffer(capacity: 8 * 1024)
    private var written = 0
    private var reader = ResponseReader()
    private var pending: [Pending] = []
    private var head = 0
    /// The units of the head request read so far (multi-unit answers).
    private var collected = OutputBuffer(capacity: 4 * 1024)
    private var backoffMillis: UInt64 = 50
    private var dispatching = false
    /// Waiting for the worker's end-of-pass flush.
    private var flushScheduled = false
    private var helloSent: PeerHello

    init(peer: NodeAddress, worker: Worker, cluster: ClusterState) {
        self.peer = peer
        self.worker = worker
        self.cluster = cluster
        self.helloSent = PeerHello(node: cluster.local.advertise, ringDigest: cluster.ring.digest)
        super.init()
    }

    var isReady: Bool { if case .ready = state { return true } else { return false } }

    /// Queues one request. Returns false, queuing nothing, while the link is backing off after a
    /// failure: the caller answers at once that the peer is unavailable.
    func send(_ bytes: UnsafeRawBufferPointer, fence: Bool, connection: Connection, work: ForwardWork, part: Int,
              shape: ResponseReader.AnswerShape) -> Bool {
        let now = worker.context.clock.millis
        if case .backoff(let until) = state {
            guard now >= until else { return false }
            state = .idle
        }
        if case .idle = state, !open() { return false }
        output.append(bytes)
        if fence { output.append("mn\r\n") }
        pending.append(Pending(connection: connection, work: work, part: part, shape: shape, sentAt: now))
        // Written once per pass of the worker's loop: requests that many client connections
        // forward in the same pass leave in one send.
        if !dispatching, case .ready = state, !flushScheduled {
            flushScheduled = true
            worker.scheduleLinkFlush(self)
        }
        return true
    }

    /// Called by the worker's timer: fails the link when its oldest request is overdue.
    func checkTimeout(now: UInt64) {
        guard head < pending.count else { return }
        // The coarse clock is wall time: a step backwards must not look like a timeout.
        let sentAt = pending[head].sentAt
        if now > sentAt && now - sentAt > cluster.peerTimeoutMillis {
            fail("no answer within \(cluster.peerTimeoutMillis) ms")
        }
    }

    private func open() -> Bool {
        switch Socket.connectTCP(host: peer.host, port: Int(peer.peerPort)) {
        case .failure(let error):
            enterBackoff("connect to \(peer.peerEndpoint): \(error)")
            return false
        case .success(let (fd, inProgress)):
            self.fd = fd
            do {
                readEvent = try IOEvent(base: worker.base, fd: fd, kind: .read, persist: true, handler: self)
                writeEvent = try IOEvent(base: worker.base, fd: fd, kind: .write, persist: true, handler: self)
            } catch {
                Socket.close(fd)
                self.fd = -1
                enterBackoff("cannot watch link to \(peer.peerEndpoint): \(error)")
                return false
            }
            PeerHelloCodec.encode(.hello(helloSent)).withUnsafeBytes { output.append($0) }
            readEvent?.add()
            if inProgress {
                state = .connecting
                writeEvent?.add()
            } else {
                state = .handshaking
            }
            return true
        }
    }

    override func handleEvent(_ fd: Int32, _ kind: EventKind) {
        worker.releaseClosedConnections()
        if case .connecting = state, kind.contains(.write) {
            if let error = Socket.connectResult(fd) {
                fail("connect to \(peer.peerEndpoint): \(error)")
                return
            }
            state = .handshaking
        }
        if kind.contains(.write) { flush() }
        if kind.contains(.read) { readAnswers() }
    }

    /// The worker's end-of-pass flush.
    func scheduledFlush() {
        flushScheduled = false
        flush()
    }

    private func flush() {
        guard fd >= 0 else { return }
        if case .connecting = state { return }
        while written < output.count {
            switch Socket.send(fd, UnsafeRawBufferPointer(rebasing: output.bytes[written...])) {
            case .bytes(let n):
                written += n
            case .wouldBlock:
                if let writeEvent, !writeEvent.isPending { writeEvent.add() }
                return
            case .closed, .failed(_):
                fail("link to \(peer.peerEndpoint) closed while sending")
                return
            }
        }
        output.removeAll()
        written = 0
        if let writeEvent, writeEvent.isPending { writeEvent.remove() }
    }

    private func readAnswers() {
        while fd >= 0 {
            guard input.prepareForRead(limit: worker.inputLimit * 2) else {
                fail("answer from \(peer.peerEndpoint) too large")
                return
            }
            let room = input.freeCount
            switch Socket.read(fd, into: input.freeSpace, count: room) {
            case .bytes(let n):
                input.end += n
                dispatch()
                if n < room { return }
            case .wouldBlock:
                return
            case .closed, .failed(_):
                fail("link to \(peer.peerEndpoint) closed by the peer")
                return
            }
        }
    }

    /// Hands every complete answer to the connection that waits for it.
    private func dispatch() {
        dispatching = true
        defer {
            dispatching = false
            if fd >= 0, case .ready = state, written < output.count { flush() }
        }
        if case .handshaking = state {
            switch PeerHelloCodec.parse(input.unread) {
            case .needMoreData:
                return
            case .invalid(let reason):
                fail("bad hello reply from \(peer.peerEndpoint): \(reason)")
                return
            case .message(let reply, let consumed):
                input.start += consumed
                switch PeerHelloCodec.check(reply: reply, sent: helloSent) {
                case .accepted(_, _, let digestMatches):
                    if !digestMatches {
                        cluster.counters.helloRingMismatch.add(1, ordering: .relaxed)
                        worker.logger.warning("peer \(peer.advertise) routes with a different ring (digest differs)")
                    }
                    state = .ready
                    backoffMillis = 50
                    cluster.counters.peerLinksOpen.add(1, ordering: .relaxed)
                    worker.logger.info("peer link to \(peer.peerEndpoint) open")
                case .refused(let reason):
                    worker.logger.error("peer \(peer.advertise) refused our link: \(reason)")
                    fail("refused: \(reason)")
                    return
                case .invalid(let reason):
                    fail("bad hello reply from \(peer.peerEndpoint): \(reason)")
                    return
                }
            }
        }
        while fd >= 0 && input.unreadCount > 0 {
            guard head < pending.count else {
                fail("unexpected bytes from \(peer.peerEndpoint)")
                return
            }
            let bytes = input.unread
            switch reader.read(bytes) {
            case .needMoreData:
                return
            case .invalid(let reason):
                fail("bad answer from \(peer.peerEndpoint): \(reason)")
                return
            case .unit(let unit, let length):
                let p = pending[head]
                let unitBytes = UnsafeRawBufferPointer(rebasing: bytes[0..<length])
                switch p.shape {
                case .one, .none:
                    complete(p, unitBytes)
                case .throughEnd:
                    if unit.endsMultiLineAnswer {
                        if collected.isEmpty {
                            complete(p, unitBytes)
                        } else {
                            collected.append(unitBytes)
                            complete(p, collected.bytes)
                        }
                    } else {
                        collected.append(unitBytes)
                    }
                case .zeroOrOne:
                    if unit.kind == .metaNoop {
                        complete(p, collected.bytes)
                    } else {
                        collected.append(unitBytes)
                    }
                }
                input.start += length
            }
        }
    }

    private func complete(_ p: Pending, _ answer: UnsafeRawBufferPointer) {
        head += 1
        if head == pending.count {
            pending.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 256 && head * 2 >= pending.count {
            pending.removeFirst(head)
            head = 0
        }
        p.connection.peerAnswered(work: p.work, part: p.part, answer: answer)
        collected.removeAll()
    }

    /// Closes the link and fails every request in flight.
    private func fail(_ reason: String) {
        let failed = pending[head...]
        pending = []
        head = 0
        closeSocket()
        enterBackoff(reason)
        for p in failed { p.connection.peerFailed(work: p.work, part: p.part) }
    }

    private func enterBackoff(_ reason: String) {
        worker.logger.warning("peer \(peer.advertise) unavailable: \(reason); retrying in \(backoffMillis) ms")
        state = .backoff(untilMillis: worker.context.clock.millis + backoffMillis)
        backoffMillis = min(backoffMillis * 2, 2000)
    }

    private func closeSocket() {
        if case .ready = state { cluster.counters.peerLinksOpen.subtract(1, ordering: .relaxed) }
        readEvent?.free()
        writeEvent?.free()
        readEvent = nil
        writeEvent = nil
        if fd >= 0 { Socket.close(fd) }
        fd = -1
        state = .idle
        flushScheduled = false
        output.removeAll()
        written = 0
        collected.removeAll()
        reader = ResponseReader()
        input.start = 0
        input.end = 0
    }

    /// The worker is stopping.
    func shutdown() {
        let failed = pending[head...]
        pending = []
        head = 0
        closeSocket()
        for p in failed { p.connection.peerFailed(work: p.work, part: p.part) }
    }
}
