import Cluster
import EventLoop
import Logging
import Storage
import Synchronization
import TextProtocol

/// A message for a worker, sent from another thread through its `WorkerMailbox`.
enum WorkerMessage: Sendable {
    /// A new client connection accepted by the listener.
    case connection(fd: Int32, role: Connection.Role, info: ConnectionInfo)
    /// Log lines are waiting for a `watch` connection of this worker.
    case watchOutput(Watcher)
    /// Finish what is in flight, close every connection and end the loop.
    case stop
}

/// The thread-safe face of a worker: a queue plus a wake-up, the only way other threads reach it.
final class WorkerMailbox: Sendable {
    private let queue = Mutex<[WorkerMessage]>([])
    // Set once by the worker before its thread starts; read-only afterwards.
    nonisolated(unsafe) private(set) var wakeup: Wakeup?

    func attach(_ wakeup: Wakeup) { self.wakeup = wakeup }

    func post(_ message: WorkerMessage) {
        queue.withLock { $0.append(message) }
        wakeup?.signal()
    }

    func takeAll() -> [WorkerMessage] {
        queue.withLock { q in
            let all = q
            q.removeAll(keepingCapacity: true)
            return all
        }
    }
}

/// One worker thread: its own event base, its client connections, its executor and counters.
///
/// Thread-confined: after `start`, everything here is used only on the worker's own thread; the
/// listener reaches it only through `mailbox`.
final class Worker: EventHandler {
    let index: Int
    let base: EventBase
    let mailbox = WorkerMailbox()
    let context: ServerContext
    let stats: WorkerStats
    var executor: Executor
    let logger: Logger
    /// The most input one command may occupy: the largest storage command (line + item + CRLF)
    /// or a multi-get line, which memcached leaves unbounded but we must not.
    let inputLimit: Int
    /// Settings read per request, kept here so the hot path does not copy the configuration.
    let maxOutputBuffer: Int
    let clock: CoarseClock
    /// The cluster this node belongs to, and the ring snapshot this worker routes by; nil standalone.
    let cluster: ClusterState?
    let router: Router?
    /// One link per ring node, opened on first use (nil for this node).
    private var links: [PeerLink?] = []
    private var timeoutTimer: IOEvent?
    private var scratch = OutputBuffer(capacity: 4 * 1024)
    private var wakeup: Wakeup?
    private var connections: [Int32: Connection] = [:]
    /// Connections closed during a callback: released at the next callback, never inside their own.
    private var closedConnections: [Connection] = []
    private var stopping = false

    init(index: Int, context: ServerContext, stats: WorkerStats) throws(EventLoopError) {
        self.index = index
        self.context = context
        self.stats = stats
        self.base = try EventBase()
        self.executor = Executor(store: context.store, stats: stats, context: context, operations: context.operations)
        self.inputLimit = max(2 * context.configuration.maxItemSize, 4 << 20)
        self.maxOutputBuffer = context.configuration.maxOutputBuffer
        self.clock = context.clock
        self.cluster = context.cluster
        self.router = context.cluster.map { Router(ring: $0.ring) }
        var logger = context.logger
        logger[metadataKey: "worker"] = "\(index)"
        self.logger = logger
        super.init()
        let wakeup = try Wakeup(base: base, handler: self)
        self.wakeup = wakeup
        mailbox.attach(wakeup)
        if let cluster {
            links = cluster.ring.nodes.enumerated().map { i, node in
                cluster.ring.isLocal(NodeIndex(i)) ? nil : PeerLink(peer: node, worker: self, cluster: cluster)
            }
            let checker = LinkTimeoutChecker(worker: self)
            let timer = try IOEvent(base: base, fd: -1, kind: [], persist: true, handler: checker)
            timer.add(timeoutMicros: Int(min(cluster.peerTimeoutMillis / 4, 100)) * 1000)
            timeoutTimer = timer
            timeoutChecker = checker
            let flushHandler = LinkFlushHandler(worker: self)
            linkFlusher = try IOEvent(base: base, fd: -1, kind: [], persist: false, handler: flushHandler)
            linkFlushHandler = flushHandler
        }
    }

    private var timeoutChecker: LinkTimeoutChecker?
    /// Links with requests to write at the end of this loop pass.
    private var dirtyLinks: [PeerLink] = []
    private var linkFlusher: IOEvent?
    private var linkFlushHandler: LinkFlushHandler?
    private var linkFlushPending = false

    /// Queues `link` to be written once the callbacks already due in this pass have run: an
    /// activated event goes to the end of libevent's active queue.
    func scheduleLinkFlush(_ link: PeerLink) {
        dirtyLinks.append(link)
        if !linkFlushPending, let linkFlusher {
            linkFlushPending = true
            linkFlusher.activate(.timeout)
        }
    }

    func flushDirtyLinks() {
        linkFlushPending = false
        let links = dirtyLinks
        dirtyLinks.removeAll(keepingCapacity: true)
        for link in links { link.scheduledFlush() }
    }

    /// The link to a ring node (never this node).
    func link(to node: NodeIndex) -> PeerLink { links[node.rawValue]! }

    /// Fails links whose oldest request is older than peer_timeout.
    func checkLinkTimeouts() {
        let now = context.clock.millis
        for link in links { link?.checkTimeout(now: now) }
    }

    /// A buffer for answers that are assembled before they reach a connection's output.
    func withScratch<R>(_ body: (inout OutputBuffer) -> R) -> R {
        scratch.removeAll()
        return body(&scratch)
    }

    /// Runs the loop on the current thread until a `.stop` message ends it.
    func run() {
        base.run()
        wakeup?.close()
        closedConnections.removeAll()
    }

    /// The wake-up fired: take the messages.
    override func handleEvent(_ fd: Int32, _ kind: EventKind) {
        releaseClosedConnections()
        wakeup?.drain()
        for message in mailbox.takeAll() {
            switch message {
            case .connection(let fd, let role, let info):
                if stopping { Socket.close(fd); context.connectionEnded(info); continue }
                do {
                    let connection = try Connection(fd: fd, role: role, info: info, worker: self)
                    connections[fd] = connection
                    logger.debug("<\(fd) new ascii client connection.", metadata: NodeLogHandler.verbatim)
                    if context.operations.tracing.load(ordering: .relaxed) & WatchEvents.connevents != 0 {
                        context.operations.watch.connectionOpened(peer: info.peer, fd: fd)
                    }
                } catch {
                    logger.warning("cannot watch connection \(fd): \(error)")
                    Socket.close(fd)
                    context.connectionEnded(info)
                }
            case .watchOutput(let watcher):
                connections[watcher.fd]?.pullWatchOutput(watcher)
            case .stop:
                stopping = true
                timeoutTimer?.free()
                linkFlusher?.free()
                for link in links { link?.shutdown() }
                for connection in Array(connections.values) { connection.finishAndClose() }
                base.stop()
            }
        }
    }

    func connectionClosed(_ connection: Connection) {
        // Keep it alive first: the caller is the connection itself, reached through an unretained
        // callback context, and the dictionary may hold the only other reference.
        closedConnections.append(connection)
        connections[connection.fd] = nil
        context.connectionEnded(connection.info)
        logger.debug("<\(connection.fd) connection closed.", metadata: NodeLogHandler.verbatim)
        if context.operations.tracing.load(ordering: .relaxed) & WatchEvents.connevents != 0 {
            context.operations.watch.connectionClosed(
                peer: connection.info.peer, fd: connection.fd, reason: stopping ? "shutdown" : connection.closeReason)
        }
    }

    /// -vv (or `verbosity 2`): log every command.
    @inline(__always) var logCommands: Bool { context.logCommands }

    func releaseClosedConnections() {
        if !closedConnections.isEmpty { closedConnections.removeAll(keepingCapacity: true) }
    }

    /// -vv: memcached's trace of a command, `<fd <its first line>`.
    func logCommand(fd: Int32, bytes: UnsafeRawBufferPointer, consumed: Int) {
        var lineEnd = 0
        while lineEnd < consumed && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
        if lineEnd > 0 && bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<min(lineEnd, 1024)]), as: UTF8.self)
        logger.debug("<\(fd) \(line)", metadata: NodeLogHandler.verbatim)
    }

    /// -vv: memcached's trace of an answer, `>fd <line>` per line (`>fd sending key <k>` for a
    /// value, whose data is not logged; `STAT` lines are not logged, as memcached does not).
    func logAnswer(fd: Int32, _ answer: UnsafeRawBufferPointer) {
        var position = 0
        while position < answer.count {
            var end = position
            while end < answer.count && answer[end] != UInt8(ascii: "\n") { end += 1 }
            var lineEnd = end
            if lineEnd > position && answer[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            let line = UnsafeRawBufferPointer(rebasing: answer[position..<lineEnd])
            position = end + 1
            var words = line.split(separator: UInt8(ascii: " "), maxSplits: 4, omittingEmptySubsequences: false)
            let first = words.isEmpty ? [] : Array(words.removeFirst())
            if first.elementsEqual("VALUE".utf8), words.count >= 3 {
                logger.debug(">\(fd) sending key \(String(decoding: words[0], as: UTF8.self))", metadata: NodeLogHandler.verbatim)
                position += (Int(String(decoding: words[2], as: UTF8.self)) ?? 0) + 2
            } else if first.elementsEqual("VA".utf8), let length = words.first.flatMap({ Int(String(decoding: $0, as: UTF8.self)) }) {
                logger.debug(">\(fd) \(String(decoding: line, as: UTF8.self))", metadata: NodeLogHandler.verbatim)
                position += length + 2
            } else if !first.elementsEqual("STAT".utf8) {
                logger.debug(">\(fd) \(String(decoding: line, as: UTF8.self))", metadata: NodeLogHandler.verbatim)
            }
        }
    }
}

/// The worker's periodic check of its peer links.
final class LinkTimeoutChecker: EventHandler {
    unowned(unsafe) let worker: Worker
    init(worker: Worker) {
        self.worker = worker
        super.init()
    }
    override func handleEvent(_ fd: Int32, _ kind: EventKind) { worker.checkLinkTimeouts() }
}

/// Runs the worker's end-of-pass write of its peer links.
final class LinkFlushHandler: EventHandler {
    unowned(unsafe) let worker: Worker
    init(worker: Worker) {
        self.worker = worker
        super.init()
    }
    override func handleEvent(_ fd: Int32, _ kind: EventKind) { worker.flushDirtyLinks() }
}
