import Cluster
import EventLoop
import Glibc
import Logging
import TextProtocol

/// What a `PeerChannel` needs from the thread that owns it (a worker, or the membership
/// coordinator on the listener thread).
protocol PeerChannelHost: AnyObject {
    var base: EventBase { get }
    var cluster: ClusterState { get }
    var logger: Logger { get }
    /// Milliseconds on the monotonic clock.
    var nowMillis: UInt64 { get }
    /// Write `channel` once the callbacks already due in this pass of the loop have run, so the
    /// frames many connections queue in one pass leave in one send (and one sealed record).
    func scheduleFlush(_ channel: PeerChannel)
    /// This node as it introduces itself on a link of `lane` now.
    func localHello(lane: PeerLane, challenge: [UInt8]) -> PeerHelloInfo
    /// A ping (answered by the channel itself) carried the peer's membership epoch.
    func pinged(epoch: UInt64, from peer: NodeAddress)
}

/// What a channel tells its user.
protocol PeerChannelDelegate: AnyObject {
    /// The handshake is done: `channel.peer` says who answered; frames may flow.
    func channelReady(_ channel: PeerChannel)
    /// One frame after the handshake (pings are answered by the channel itself). `payload` is
    /// valid only during the call.
    func channelReceived(_ channel: PeerChannel, _ header: PeerFrameHeader, _ payload: UnsafeRawBufferPointer)
    /// The channel closed (by either side, a failure, or `close`): nothing more will come.
    func channelClosed(_ channel: PeerChannel, reason: String)
}

/// One TCP connection of the peer protocol, either side: the handshake, the frames, and the
/// sealing of every frame after the handshake when the cluster has a secret.
///
/// The opener sends `hello` and waits for `helloAck`; with a secret it proves itself with `auth`
/// and from then on seals what it sends. The acceptor waits for `hello`, answers `helloAck` (with
/// its proof) or `helloRefused`, and with a secret waits for `auth` before anything else. Frames
/// are decoded as they arrive (`PeerFrameCodec`, the length checked against `max_frame` first);
/// with a secret the bytes are first opened record by record (`PeerRecordOpener`). Anything that
/// does not fit (another protocol, a bad proof, a record that does not authenticate) closes the
/// channel and is counted: `peer_protocol_errors` or `peer_auth_failures`.
///
/// Thread-confined to its host's event base.
final class PeerChannel: EventHandler {
    enum Role { case opener, acceptor }

    enum State {
        case connecting
        case awaitingAck
        case awaitingHello
        case awaitingAuth
        case ready
        case closed
    }

    let role: Role
    let lane: PeerLane
    unowned(unsafe) let host: PeerChannelHost
    weak var delegate: PeerChannelDelegate?
    private(set) var state: State
    private(set) var fd: Int32 = -1
    /// The other side's hello, once the handshake has read it.
    private(set) var peer: PeerHelloInfo?
    /// Bytes queued for the socket.
    var pendingBytes: Int { wireOut.count - written + frames.count }
    /// When a frame last arrived (monotonic ms): for the owner's liveness checks.
    private(set) var lastReceived: UInt64 = 0

    private var readEvent: IOEvent?
    private var writeEvent: IOEvent?
    private var wireIn = ReadBuffer()
    private var plainIn: [UInt8] = []
    private var plainStart = 0
    /// Frames waiting to be sealed (secured links); on other links frames go to `wireOut` directly.
    private var frames = OutputBuffer(capacity: 8 * 1024)
    private var wireOut = OutputBuffer(capacity: 8 * 1024)
    private var written = 0
    /// The opener: the member it meant to reach; a helloAck from another identity is refused
    /// (a reassigned address, or a seed that names a node otherwise than it names itself).
    private var expected: NodeAddress?
    /// Both hellos' digest, once both are known (secured links): what the proofs and keys bind.
    private var transcript: [UInt8] = []
    private var sealer: PeerRecordSealer?
    private var opener: PeerRecordOpener?
    private var challenge: [UInt8]
    private var sentHello: PeerHelloInfo?
    private var flushScheduled = false
    private let maxFrame: Int
    private var dispatching = false

    /// An opener to `peer`'s peer port, from this node's own address.
    init(connectingTo peer: NodeAddress, lane: PeerLane, host: PeerChannelHost, delegate: PeerChannelDelegate) throws(EventLoopError) {
        self.role = .opener
        self.expected = peer
        self.lane = lane
        self.host = host
        self.delegate = delegate
        self.state = .connecting
        self.maxFrame = host.cluster.maxFrame
        self.challenge = PeerChannel.randomChallenge()
        super.init()
        switch Socket.connectTCP(host: peer.host, port: Int(peer.peerPort), bindHost: host.cluster.local.host) {
        case .failure(let error):
            throw error
        case .success(let (fd, inProgress)):
            self.fd = fd
            try watch()
            let hello = host.localHello(lane: lane, challenge: challenge)
            sentHello = hello
            appendPlain(PeerFrameHeader(type: .hello), PeerHandshake.encode(hello))
            state = .awaitingAck
            if inProgress {
                state = .connecting
                writeEvent?.add()
            } else {
                // Connected at once (loopback): the hello must still go out.
                flush()
            }
        }
    }

    /// An opener to `peer`, or nil if the connection failed at once (in `connect`, or in the
    /// first send inside the init, which closed it before the caller held it).
    static func connect(to peer: NodeAddress, lane: PeerLane, host: PeerChannelHost, delegate: PeerChannelDelegate)
        -> Result<PeerChannel, EventLoopError>?
    {
        do throws(EventLoopError) {
            let channel = try PeerChannel(connectingTo: peer, lane: lane, host: host, delegate: delegate)
            return channel.isClosed ? nil : .success(channel)
        } catch {
            return .failure(error)
        }
    }

    /// The acceptor of a connection the listener accepted on the peer port.
    init(accepted fd: Int32, host: PeerChannelHost, delegate: PeerChannelDelegate) throws(EventLoopError) {
        self.role = .acceptor
        self.lane = .request  // replaced by the hello's lane
        self.host = host
        self.delegate = delegate
        self.state = .awaitingHello
        self.maxFrame = host.cluster.maxFrame
        self.challenge = PeerChannel.randomChallenge()
        super.init()
        self.fd = fd
        try watch()
    }

    private func watch() throws(EventLoopError) {
        do throws(EventLoopError) {
            readEvent = try IOEvent(base: host.base, fd: fd, kind: .read, persist: true, handler: self)
            writeEvent = try IOEvent(base: host.base, fd: fd, kind: .write, persist: true, handler: self)
        } catch {
            Socket.close(fd)
            fd = -1
            throw error
        }
        readEvent?.add()
        lastReceived = host.nowMillis
        openedAt = lastReceived
    }

    /// When the connection was made (monotonic ms).
    private var openedAt: UInt64 = 0

    /// The handshake must be done within `limit` ms of the connection: a peer that connects and
    /// says nothing (or stops halfway) is closed, so it cannot hold a socket for ever. Counted
    /// on the accepting side: no hello is a protocol error, no proof an authentication failure.
    func checkHandshake(now: UInt64, limit: UInt64) {
        guard fd >= 0, now > openedAt, now - openedAt > limit else { return }
        switch state {
        case .awaitingHello: fail("no hello within \(limit) ms", counter: .protocolError)
        case .awaitingAuth: fail("no proof within \(limit) ms", counter: .authFailure)
        case .connecting, .awaitingAck: fail("no handshake within \(limit) ms", counter: nil)
        case .ready, .closed: break
        }
    }

    static func randomChallenge() -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<PeerHandshake.challengeSize).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    var isReady: Bool { if case .ready = state { return true } else { return false } }
    var isClosed: Bool { if case .closed = state { return true } else { return false } }

    /// The lane the peer opened this link for (an acceptor learns it from the hello).
    var peerLane: PeerLane { peer?.lane ?? lane }

    // MARK: - Sending

    /// Queues one frame whose payload `write` puts at the pointer it gets (exactly
    /// `payloadCount` bytes): the hot path builds forwards and answers in place.
    func sendFrame(_ header: PeerFrameHeader, payloadCount: Int, _ write: (UnsafeMutableRawPointer) -> Void) {
        guard case .ready = state else { return }
        let total = PeerFrameCodec.headerSize + payloadCount
        if sealer != nil {
            frames.appendUninitialized(total) { p in
                PeerFrameCodec.writeHeader(header, payloadCount: payloadCount, at: p)
                write(p + PeerFrameCodec.headerSize)
            }
        } else {
            wireOut.appendUninitialized(total) { p in
                PeerFrameCodec.writeHeader(header, payloadCount: payloadCount, at: p)
                write(p + PeerFrameCodec.headerSize)
            }
        }
        scheduleFlush()
    }

    func send(_ header: PeerFrameHeader, _ payload: UnsafeRawBufferPointer) {
        sendFrame(header, payloadCount: payload.count) { p in
            if payload.count > 0 { p.copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
        }
    }

    func send(_ header: PeerFrameHeader, _ payload: [UInt8]) {
        payload.withUnsafeBytes { send(header, $0) }
    }

    private func appendPlain(_ header: PeerFrameHeader, _ payload: [UInt8]) {
        let bytes = PeerFrameCodec.encode(header, payload: payload)
        bytes.withUnsafeBytes { wireOut.append($0) }
    }

    private func scheduleFlush() {
        guard !flushScheduled, !dispatching else { return }
        flushScheduled = true
        host.scheduleFlush(self)
    }

    /// The host's end-of-pass flush.
    func scheduledFlush() {
        flushScheduled = false
        flush()
    }

    /// Seals what is queued (secured links) and writes what the socket takes.
    func flush() {
        guard fd >= 0 else { return }
        if case .connecting = state { return }
        if var s = sealer, frames.count > 0 {
            // One record per flush, split only when it would pass the receiver's limit.
            var offset = 0
            let chunk = maxFrame + PeerFrameCodec.headerSize
            while offset < frames.count {
                let n = min(chunk, frames.count - offset)
                s.seal(UnsafeRawBufferPointer(rebasing: frames.bytes[offset..<(offset + n)])) { wireOut.append($0) }
                offset += n
            }
            sealer = s
            frames.removeAll()
            frames.shrinkIfLarger(than: 1 << 20, to: 8 * 1024)
        }
        while written < wireOut.count {
            switch Socket.send(fd, UnsafeRawBufferPointer(rebasing: wireOut.bytes[written...])) {
            case .bytes(let n):
                written += n
            case .wouldBlock:
                if let writeEvent, !writeEvent.isPending { writeEvent.add() }
                resumeInputIfDrained()
                return
            case .closed, .failed:
                fail("connection closed while sending", counter: nil)
                return
            }
        }
        wireOut.removeAll()
        written = 0
        wireOut.shrinkIfLarger(than: 1 << 20, to: 8 * 1024)
        if let writeEvent, writeEvent.isPending { writeEvent.remove() }
        resumeInputIfDrained()
    }

    // MARK: - Receiving

    override func handleEvent(_ fd: Int32, _ kind: EventKind) {
        // libevent calls us through an unretained pointer, and closing drops the owner's (the
        // session's, the link's) reference: keep this object alive until the callback returns.
        withExtendedLifetime(self) {
            if case .connecting = state, kind.contains(.write) {
                if let error = Socket.connectResult(fd) {
                    fail("connect: \(error)", counter: nil)
                    return
                }
                state = .awaitingAck
            }
            if kind.contains(.write) { flush() }
            if kind.contains(.read) { readInput() }
        }
    }

    /// Answers queued for a peer that does not read them: past this the channel stops taking
    /// frames (and reading) until half of it has gone out, so a peer that sends without
    /// reading costs a bounded amount of memory.
    private var maxQueued: Int { max(64 << 20, 4 * maxFrame) }
    private var inputPaused = false

    private func pauseInput() {
        guard !inputPaused else { return }
        inputPaused = true
        readEvent?.remove()
        if let writeEvent, !writeEvent.isPending { writeEvent.add() }
    }

    /// After a write: take input again once the queue has drained below half the limit.
    private func resumeInputIfDrained() {
        guard inputPaused, fd >= 0, pendingBytes <= maxQueued / 2 else { return }
        inputPaused = false
        readEvent?.add()
        process()
    }

    private func readInput() {
        while fd >= 0 && !inputPaused {
            guard wireIn.prepareForRead(limit: maxFrame + 2 * PeerFrameCodec.headerSize + PeerRecordSealer.overhead + 4096) else {
                fail("input over the frame limit", counter: .protocolError)
                return
            }
            let room = wireIn.freeCount
            switch Socket.read(fd, into: wireIn.freeSpace, count: room) {
            case .bytes(let n):
                wireIn.end += n
                lastReceived = host.nowMillis
                process()
                if n < room { return }
            case .wouldBlock:
                return
            case .closed:
                fail("closed by the peer", counter: nil)
                return
            case .failed(let error):
                fail("read: \(error)", counter: nil)
                return
            }
        }
    }

    /// Everything whole in the input: the handshake, then frames (opened from records first on
    /// a secured link).
    private func process() {
        dispatching = true
        defer {
            dispatching = false
            if fd >= 0 && (frames.count > 0 || written < wireOut.count) { scheduleFlush() }
        }
        while fd >= 0 {
            switch state {
            case .closed, .connecting:
                return
            case .ready where opener != nil:
                // Open every whole record into the plaintext stream, then take frames from it.
                while fd >= 0 && wireIn.unreadCount > 0 {
                    let outcome = opener!.open(wireIn.unread) { plain in
                        if plainStart == plainIn.count {
                            plainIn.removeAll(keepingCapacity: true)
                        } else if plainStart > 0 {
                            plainIn.removeFirst(plainStart)
                        }
                        plainStart = 0
                        plainIn.append(contentsOf: plain)
                    }
                    switch outcome {
                    case .needMoreData:
                        break
                    case .invalid(let reason):
                        fail("sealed input refused: \(reason)", counter: .authFailure)
                        return
                    case .opened(let consumed):
                        wireIn.start += consumed
                        continue
                    }
                    break
                }
                guard deliverFrames(fromPlain: true) else { return }
                return
            default:
                if isReady && pendingBytes > maxQueued {
                    pauseInput()
                    return
                }
                guard let frame = nextFrame(fromPlain: false) else { return }
                guard handle(frame.header, frame.payload) else { return }
                wireIn.start += frame.consumed
            }
        }
    }

    /// Takes the frames that are whole; false if the channel closed meanwhile.
    private func deliverFrames(fromPlain: Bool) -> Bool {
        while fd >= 0 {
            if isReady && pendingBytes > maxQueued {
                pauseInput()
                return true
            }
            guard let frame = nextFrame(fromPlain: fromPlain) else { return fd >= 0 }
            guard handle(frame.header, frame.payload) else { return false }
            if fromPlain { plainStart += frame.consumed } else { wireIn.start += frame.consumed }
        }
        return false
    }

    private struct Decoded {
        let header: PeerFrameHeader
        let payload: UnsafeRawBufferPointer
        let consumed: Int
    }

    /// The whole frame at the front of the input, or nil (more data needed, or failed).
    private func nextFrame(fromPlain: Bool) -> Decoded? {
        let bytes: UnsafeRawBufferPointer
        if fromPlain {
            guard plainStart < plainIn.count else { return nil }
            bytes = plainIn.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[plainStart...]) }
        } else {
            bytes = wireIn.unread
        }
        switch PeerFrameCodec.decode(bytes, maxFrame: maxFrame) {
        case .needMoreData:
            return nil
        case .invalid(let reason):
            fail("not the peer protocol: \(reason)", counter: .protocolError)
            return nil
        case .frame(let header, let start, let count, let consumed):
            return Decoded(header: header, payload: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + count)]), consumed: consumed)
        }
    }

    /// One frame: the handshake's, a ping, or the delegate's. False if the channel closed.
    private func handle(_ header: PeerFrameHeader, _ payload: UnsafeRawBufferPointer) -> Bool {
        switch state {
        case .awaitingHello:
            guard header.type == .hello else {
                fail("first frame is \(header.type), not hello", counter: .protocolError)
                return false
            }
            return answerHello(payload)
        case .awaitingAck:
            switch header.type {
            case .helloAck: return takeAck(payload)
            case .helloRefused:
                fail("refused: \(PeerHandshake.decodeRefusal(payload))", counter: nil)
                return false
            default:
                fail("expected helloAck, got \(header.type)", counter: .protocolError)
                return false
            }
        case .awaitingAuth:
            guard header.type == .auth else {
                fail("expected auth, got \(header.type)", counter: .authFailure)
                return false
            }
            return takeAuth(payload)
        case .ready:
            switch header.type {
            case .hello, .helloAck, .helloRefused, .auth:
                fail("handshake frame \(header.type) after the handshake", counter: .protocolError)
                return false
            case .ping:
                send(PeerFrameHeader(type: .pong, requestID: header.requestID, epoch: header.epoch), [])
                if let peer = peer?.node { host.pinged(epoch: header.epoch, from: peer) }
                return fd >= 0
            default:
                delegate?.channelReceived(self, header, payload)
                return fd >= 0
            }
        case .connecting, .closed:
            return false
        }
    }

    // MARK: - Handshake

    private var keys: PeerKeys? { host.cluster.keys }

    private func answerHello(_ payload: UnsafeRawBufferPointer) -> Bool {
        let hello: PeerHelloInfo
        do throws(PeerHandshake.Malformed) {
            hello = try PeerHandshake.decodeHello(payload)
        } catch {
            fail("bad hello: \(error)", counter: .protocolError)
            return false
        }
        switch PeerHandshake.negotiate(hello, localSecured: keys != nil) {
        case .failure(let why):
            appendPlain(PeerFrameHeader(type: .helloRefused), PeerHandshake.encodeRefusal(why.description))
            flush()
            fail("refused \(hello.node.advertise): \(why)", counter: hello.secured != (keys != nil) ? .authFailure : .protocolError)
            return false
        case .success(let version):
            var ack = host.localHello(lane: hello.lane, challenge: challenge)
            ack.version = version
            if let keys {
                transcript = PeerHandshake.transcript(hello: hello, ack: ack)
                ack.proof = keys.proof(.acceptor, openerChallenge: hello.challenge, acceptorChallenge: challenge,
                                       opener: hello.node.advertise, acceptor: ack.node.advertise, transcript: transcript)
            }
            peer = hello
            sentHello = ack
            appendPlain(PeerFrameHeader(type: .helloAck), PeerHandshake.encode(ack))
            flush()
            if keys != nil {
                state = .awaitingAuth
            } else {
                state = .ready
                delegate?.channelReady(self)
            }
            return fd >= 0
        }
    }

    private func takeAck(_ payload: UnsafeRawBufferPointer) -> Bool {
        let ack: PeerHelloInfo
        do throws(PeerHandshake.Malformed) {
            ack = try PeerHandshake.decodeHello(payload)
        } catch {
            fail("bad helloAck: \(error)", counter: .protocolError)
            return false
        }
        guard let sent = sentHello, ack.version.major == sent.version.major, ack.version.minor <= sent.version.minor else {
            fail("the peer chose protocol version \(ack.version), which this node does not speak", counter: .protocolError)
            return false
        }
        guard ack.secured == (keys != nil) else {
            fail("the peer's cluster secret setting differs from ours", counter: .authFailure)
            return false
        }
        if let expected, ack.node.advertise != expected.advertise {
            fail("\(expected.peerEndpoint) answered as \(ack.node.advertise), not \(expected.advertise)", counter: .protocolError)
            return false
        }
        peer = ack
        if let keys {
            transcript = PeerHandshake.transcript(hello: sent, ack: ack)
            guard let index = keys.verify(ack.proof, .acceptor, openerChallenge: challenge, acceptorChallenge: ack.challenge,
                                          opener: sent.node.advertise, acceptor: ack.node.advertise, transcript: transcript) else {
                fail("the peer's proof does not match any cluster secret", counter: .authFailure)
                return false
            }
            let proof = keys.proof(.opener, secret: index, openerChallenge: challenge, acceptorChallenge: ack.challenge,
                                   opener: sent.node.advertise, acceptor: ack.node.advertise, transcript: transcript)
            appendPlain(PeerFrameHeader(type: .auth), PeerHandshake.encodeAuth(proof: proof))
            startSealing(secret: index, openerChallenge: challenge, acceptorChallenge: ack.challenge, peerBootID: ack.bootID)
        }
        state = .ready
        flush()
        delegate?.channelReady(self)
        return fd >= 0
    }

    private func takeAuth(_ payload: UnsafeRawBufferPointer) -> Bool {
        guard let keys, let hello = peer, let sent = sentHello else { return false }
        let proof: [UInt8]
        do throws(PeerHandshake.Malformed) {
            proof = try PeerHandshake.decodeAuth(payload)
        } catch {
            fail("bad auth frame", counter: .authFailure)
            return false
        }
        guard let index = keys.verify(proof, .opener, openerChallenge: hello.challenge, acceptorChallenge: challenge,
                                      opener: hello.node.advertise, acceptor: sent.node.advertise, transcript: transcript) else {
            fail("\(hello.node.advertise)'s proof does not match any cluster secret", counter: .authFailure)
            return false
        }
        startSealing(secret: index, openerChallenge: hello.challenge, acceptorChallenge: challenge, peerBootID: hello.bootID)
        state = .ready
        delegate?.channelReady(self)
        return fd >= 0
    }

    private func startSealing(secret index: Int, openerChallenge: [UInt8], acceptorChallenge: [UInt8], peerBootID: UInt64) {
        guard let keys else { return }
        let session = keys.sessionKeys(secret: index, openerChallenge: openerChallenge, acceptorChallenge: acceptorChallenge,
                                       transcript: transcript)
        let (mine, theirs) = role == .opener ? (session.openerToAcceptor, session.acceptorToOpener)
                                             : (session.acceptorToOpener, session.openerToAcceptor)
        sealer = PeerRecordSealer(key: mine, bootID: host.cluster.bootID)
        opener = PeerRecordOpener(key: theirs, peerBootID: peerBootID,
                                  maxRecord: maxFrame + PeerFrameCodec.headerSize + PeerRecordSealer.tagSize)
    }

    // MARK: - Closing

    enum Failure { case protocolError, authFailure }

    private func fail(_ reason: String, counter failure: Failure?) {
        guard !isClosed else { return }
        // A peer that got our challenge and left without proving itself failed to authenticate.
        var counter = failure
        if counter == nil, case .awaitingAuth = state { counter = .authFailure }
        switch counter {
        case .protocolError?: host.cluster.counters.peerProtocolErrors.add(1, ordering: .relaxed)
        case .authFailure?: host.cluster.counters.peerAuthFailures.add(1, ordering: .relaxed)
        case nil: break
        }
        if counter != nil { host.logger.warning("peer link \(describe): \(reason)") }
        close(reason: reason)
    }

    /// Who is at the other end, for log lines.
    var describe: String {
        if let peer { return "\(peer.node.advertise) (\(peer.lane))" }
        return role == .acceptor ? "from \(Socket.peerName(fd))" : "(connecting)"
    }

    /// Closes the socket and tells the delegate (once).
    func close(reason: String) {
        guard !isClosed else { return }
        state = .closed
        readEvent?.free()
        writeEvent?.free()
        readEvent = nil
        writeEvent = nil
        if fd >= 0 { Socket.close(fd) }
        fd = -1
        delegate?.channelClosed(self, reason: reason)
    }
}
