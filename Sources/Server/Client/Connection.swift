import EventLoop
import Logging
import TextProtocol

/// One client connection: its socket, its input and output bytes, and its place in the protocol.
///
/// The connection is a small state machine in the manner of memcached's `conn_*` states, driven
/// by one libevent callback: read what the socket has into `input`, parse and execute every
/// complete command in place, gather all answers in `output`, and write them with one send.
/// `EV_WRITE` is armed only while the socket is full. Thread-confined to its worker.
final class Connection: EventHandler, AnswerWaiter {
    /// Which port a connection came in on.
    enum Role {
        /// The client port: commands for other nodes' keys are forwarded.
        case client
        /// The peer port: a `PeerSession` serves it, never a `Connection`.
        case peer
    }

    enum State {
        /// Waiting for or parsing commands (forwarded ones may be in flight meanwhile).
        case parsing
        /// Dropping the data block of a rejected storage command (memcached's `conn_swallow`).
        case swallowing(remaining: Int)
        /// `lru_crawler metadump`: more of the dump is written each time the output drains;
        /// input waits in the socket until it is done.
        case dumping(Metadump)
        /// `watch`: the connection only carries log lines now; what the client sends is ignored.
        case watching(Watcher)
        /// Answers are written, then the connection closes (`quit`, a fatal protocol error).
        case closingAfterWrite
        case closed
    }

    let fd: Int32
    let info: ConnectionInfo
    unowned(unsafe) let worker: Worker
    private var state: State = .parsing
    private var input = ReadBuffer()
    private var output = OutputBuffer(capacity: 8 * 1024)
    /// Bytes of `output` already sent while the rest waits for the socket to drain.
    private var written = 0
    /// Where the answers memcached would still hold begin in `output` (see
    /// `Command.flushesAnswers`): those after it are dropped if the connection closes on a
    /// protocol error and are held back while a data block is being swallowed.
    private var stackStart = 0
    /// Commands served since the last read or memcached-style yield (see `process`).
    private var commandsInBatch = 0
    private var firstBatchOfRead = true
    private var parser: Parser
    private var readEvent: IOEvent?
    private var writeEvent: IOEvent?
    /// The client closed its sending side; close once everything it sent is answered.
    private var inputEnded = false
    /// Forwarded commands in flight, in the client's order (see `AnswerSlot`). Local answers of
    /// commands after the first of them wait in the last slot, so nothing overtakes it.
    private var slots: [AnswerSlot] = []
    private var slotsHead = 0
    /// Reading stopped: `max_forwards` in flight, or a full peer link.
    private var paused = false

    init(fd: Int32, info: ConnectionInfo, worker: Worker) throws(EventLoopError) {
        self.fd = fd
        self.info = info
        self.worker = worker
        self.parser = Parser(maxItemSize: worker.context.configuration.maxItemSize,
                             flushAllDisabled: worker.context.configuration.disableFlushAll)
        super.init()
        readEvent = try IOEvent(base: worker.base, fd: fd, kind: .read, persist: true, handler: self)
        writeEvent = try IOEvent(base: worker.base, fd: fd, kind: .write, persist: true, handler: self)
        readEvent?.add()
    }

    var isClosed: Bool { if case .closed = state { return true } else { return false } }

    override func handleEvent(_ fd: Int32, _ kind: EventKind) {
        worker.releaseClosedConnections()
        if kind.contains(.write) { flush() }
        guard kind.contains(.read) else { return }
        switch state {
        case .parsing, .swallowing: readAndProcess()
        case .watching: discardInput()
        case .dumping, .closingAfterWrite, .closed: break
        }
    }

    /// A watcher's client may send anything; memcached ignores it. Only its close matters.
    private func discardInput() {
        var scratch = [UInt8](repeating: 0, count: 4096)
        let result = scratch.withUnsafeMutableBytes { Socket.read(fd, into: $0.baseAddress!, count: $0.count) }
        switch result {
        case .bytes(let n): worker.stats.addBytesRead(n)
        case .wouldBlock: break
        case .closed:
            closeReason = "normal"
            close()
        case .failed: close()
        }
    }

    /// Reads what the socket holds (a few rounds at most, so one busy client cannot starve the
    /// others of this worker), executes every complete command, then writes the answers once.
    private func readAndProcess() {
        var rounds = 0
        reading: while rounds < 4 {
            rounds += 1
            if paused { break reading }
            guard input.prepareForRead(limit: worker.inputLimit) else {
                worker.logger.info("closing connection \(fd) (\(info.peer)): one command exceeds \(worker.inputLimit) bytes")
                close()
                return
            }
            let room = input.freeCount
            switch Socket.read(fd, into: input.freeSpace, count: room) {
            case .bytes(let n):
                input.end += n
                commandsInBatch = 0
                firstBatchOfRead = true
                worker.stats.addBytesRead(n)
                process()
                if isClosed { return }
                switch state {
                case .closingAfterWrite, .dumping, .watching: break reading
                default: break
                }
                if n < room || paused { break reading }
            case .wouldBlock:
                break reading
            case .closed:
                closeReason = "normal"
                // Ending in the middle of a data block: memcached closes with the answers it
                // was holding unsent.
                if holdingStack { output.truncate(to: max(stackStart, written)) }
                // The client finished sending. Answers to what it sent still go out (a forwarded
                // command's answer may still be on its way); then the connection closes.
                inputEnded = true
                readEvent?.remove()
                if hasSlots { flush(); return }
                state = .closingAfterWrite
                break reading
            case .failed:
                close()
                return
            }
        }
        flush()
    }

    /// Parses and executes the complete commands at the front of `input`.
    private func process() {
        info.touch(worker.clock.seconds)
        while true {
            if case .swallowing(let remaining) = state {
                let dropped = min(remaining, input.unreadCount)
                input.start += dropped
                if remaining > dropped {
                    state = .swallowing(remaining: remaining - dropped)
                    return
                }
                state = .parsing
                info.phase = .reading
            }
            guard case .parsing = state, input.unreadCount > 0 else {
                // Out of command lines: memcached writes out what it holds here.
                if case .parsing = state, parser.bytesAwaited == 0 { lastCommandFlushes = true }
                return
            }
            if hasSlots, slots.count - slotsHead >= worker.cluster.maxForwards {
                pause()
                return
            }
            // memcached serves 21 commands of a read (then 20 after each yield) and, before it
            // starts the next command line, writes out what it holds: another point where the
            // stacked answers leave. Not while a data block is awaited (it reads, not parses).
            if commandsInBatch == (firstBatchOfRead ? 21 : 20) && parser.bytesAwaited == 0 {
                stackStart = output.count
                lastCommandFlushes = true
                commandsInBatch = 0
                firstBatchOfRead = false
            }
            let bytes = input.unread
            switch parser.parse(bytes) {
            case .needMoreData:
                if parser.bytesAwaited == 0 { lastCommandFlushes = true }
                return
            case .command(let command, let consumed):
                let tracing = worker.logCommands && !hasSlots
                let answerStart = output.count
                if tracing { worker.logCommand(fd: fd, bytes: bytes, consumed: consumed) }
                defer {
                    if tracing && output.count > answerStart {
                        worker.logAnswer(fd: fd, UnsafeRawBufferPointer(rebasing: output.bytes[answerStart...]))
                    }
                }
                if hasSlots, case .admin(let which, _) = command, which == .watch || which == .lruCrawler {
                    // `metadump` and `watch` write to the socket themselves: they wait until
                    // every forwarded answer before them is out, as memcached has written a
                    // get's answer before it starts them.
                    waitingForSlots = true
                    streamFollowsFlush = lastCommandFlushes
                    pause(counting: false)
                    return
                }
                if let router = worker.router {
                    switch ClusterRouting.route(command, UnsafeRawBufferPointer(rebasing: bytes[0..<consumed]), bytes, router, self) {
                    case .served:
                        input.start += consumed
                        lastCommandFlushes = command.flushesAnswers
                        // Answered at once (its link failed at send): written out like a local get's.
                        if command.flushesAnswers && !hasSlots { stackStart = output.count }
                        continue
                    case .local:
                        break
                    case .waitForLink(let link):
                        // The owner's link is full: leave the command unparsed until it has room.
                        link.waitForRoom(self)
                        pause()
                        return
                    }
                }
                worker.executor.connectionFD = fd
                if case .admin = command { worker.executor.hasStackedAnswers = output.count > max(stackStart, written) }
                let action = execute(command, bytes)
                input.start += consumed
                lastCommandFlushes = command.flushesAnswers
                if command.flushesAnswers { stackStart = output.count }
                switch action {
                case .proceed: break
                case .close:
                    closeReason = "normal"
                    state = .closingAfterWrite
                case .metadump(let dump):
                    startDump(dump)
                    return
                case .watch(let events):
                    startWatching(events)
                    return
                }
            case .reject(let response, let consumed, let swallow) where hasSlots:
                lastCommandFlushes = false
                // Behind forwarded commands: the refusal keeps its place in the client's order.
                slots[slots.count - 1].trailing.append(response)
                afterReject(response, bytes)
                input.start += consumed
                if swallow > 0 {
                    state = .swallowing(remaining: swallow)
                    info.phase = .swallowing
                }
            case .reject(let response, let consumed, let swallow):
                lastCommandFlushes = false
                if parser.dropsStackedAnswers {
                    // memcached fetched (and touched) the keys before the long one: same effect
                    // here, and their answers go with everything else it held.
                    if let earlier = parser.retrievalBeforeBadKey {
                        _ = worker.executor.execute(.retrieve(earlier), in: bytes, into: &output)
                    }
                    output.truncate(to: max(stackStart, written))
                }
                if worker.logCommands {
                    worker.logCommand(fd: fd, bytes: bytes, consumed: consumed)
                    if response.utf8CodeUnitCount > 0 {
                        worker.logAnswer(fd: fd, UnsafeRawBufferPointer(start: response.utf8Start, count: response.utf8CodeUnitCount))
                    }
                }
                output.append(response)
                afterReject(response, bytes)
                input.start += consumed
                if swallow > 0 {
                    state = .swallowing(remaining: swallow)
                    info.phase = .swallowing
                }
            case .close(let response):
                lastCommandFlushes = false
                // memcached closes at once: the answers it still held are never sent.
                // Behind forwarded commands the refusal waits its turn, and the close waits for
                // their answers (a cluster node answers what it was asked before it closes).
                if !hasSlots { output.truncate(to: max(stackStart, written)) }
                if response.utf8CodeUnitCount > 0 { answerNow { $0.append(response) } }
                state = .closingAfterWrite
            }
            commandsInBatch += 1
            // Answers held behind a forwarded command count too (they grow in the last slot).
            if output.count - written > worker.maxOutputBuffer
                || (hasSlots && slots[slots.count - 1].trailing.count > worker.maxOutputBuffer)
            {
                worker.context.counters.outputOverflows.add(1, ordering: .relaxed)
                worker.logger.info("closing connection \(fd) (\(info.peer)): unread answers exceed max_output_buffer")
                close()
                return
            }
        }
    }

    /// Writes as much of `output` as the socket takes; arms `EV_WRITE` for the rest. Once all
    /// is written, moves the connection on (close, next dump slice, next log lines).
    private func flush() {
        guard drainOutput() else { return }
        switch state {
        case .closingAfterWrite: if !hasSlots { close() }
        case .dumping: continueDump()
        case .watching(let watcher): pullWatchOutput(watcher)
        default: break
        }
    }

    /// While a data block is read or swallowed, memcached holds its stacked answers (a refused
    /// block's answer among them) until the block is complete: it writes only when it needs
    /// another command line.
    private var holdingStack: Bool {
        if case .swallowing = state { return true }
        return parser.bytesAwaited > 0
    }

    /// Sends what the socket takes. True when everything is written; false when the rest waits
    /// for `EV_WRITE` or the connection closed.
    private func drainOutput() -> Bool {
        let end = holdingStack ? max(stackStart, written) : output.count
        let held = end < output.count
        while written < end {
            let pending = UnsafeRawBufferPointer(rebasing: output.bytes[written..<end])
            switch Socket.send(fd, pending) {
            case .bytes(let n):
                written += n
                worker.stats.addBytesWritten(n)
            case .wouldBlock:
                if let writeEvent, !writeEvent.isPending {
                    writeEvent.add()
                    if info.phase == .reading { info.phase = .writing }
                }
                return false
            case .closed, .failed:
                close()
                return false
            }
        }
        if held {
            if let writeEvent, writeEvent.isPending { writeEvent.remove() }
            return false
        }
        output.removeAll()
        written = 0
        stackStart = 0
        output.shrinkIfLarger(than: 1 << 20, to: 8 * 1024)
        if let writeEvent, writeEvent.isPending {
            writeEvent.remove()
            if info.phase == .writing { info.phase = .reading }
        }
        return true
    }

    /// Sends what can be sent without waiting, then closes: used when the worker stops.
    func finishAndClose() {
        guard !isClosed else { return }
        _ = drainOutput()
        close()
    }

    // MARK: - metadump and watch

    /// Bytes of dump or log lines a connection holds at most before the socket takes them.
    private static let streamSlice = 64 * 1024

    private func startDump(_ dump: Metadump) {
        state = .dumping(dump)
        info.phase = .watching
        // memcached hands the connection to its crawler and drops what was read with the line.
        input.start = input.end
        worker.context.operations.crawlersRunning.add(1, ordering: .relaxed)
        readEvent?.remove()
        continueDump()
    }

    /// Adds dump lines a slice at a time while the socket takes them; when it is full, the
    /// write event brings the connection back here through `flush`.
    private func continueDump() {
        while case .dumping(var dump) = state {
            var done = false
            while !done && output.count - written < Connection.streamSlice {
                done = dump.pump(worker.context.store, into: &output, budget: 512)
            }
            if done {
                worker.context.operations.crawlersRunning.subtract(1, ordering: .relaxed)
                state = .parsing
                info.phase = .reading
                if !inputEnded, let readEvent, !readEvent.isPending { readEvent.add() }
                if inputEnded { state = .closingAfterWrite }
                flush()
                return
            }
            state = .dumping(dump)
            guard drainOutput() else { return }
        }
    }

    private func startWatching(_ events: UInt32) {
        let watcher = Watcher(fd: fd, events: events, owner: worker.mailbox)
        guard worker.context.operations.addWatcher(watcher) == .added else {
            output.append("WATCHER_TOO_MANY log watcher limit reached\r\n")
            return
        }
        state = .watching(watcher)
        info.phase = .watching
        // memcached drops whatever the client sent after `watch`.
        input.start = input.end
        flush()
    }

    /// Log lines for this watcher arrived (the worker got its wake-up), or the output drained.
    /// While the socket is slow the lines wait in the watcher, which skips what does not fit.
    func pullWatchOutput(_ watcher: Watcher) {
        while case .watching(let current) = state, current === watcher, output.count - written < Connection.streamSlice {
            let lines = watcher.take()
            guard !lines.isEmpty else { return }
            lines.withUnsafeBytes { output.append($0) }
            guard drainOutput() else { return }
        }
    }

    // MARK: - Forwarded commands in flight

    private var hasSlots: Bool { slotsHead < slots.count }

    /// Runs a command here, its answer going where it belongs in the client's order.
    private func execute(_ command: Command, _ bytes: UnsafeRawBufferPointer) -> ExecutionAction {
        guard hasSlots else { return worker.executor.execute(command, in: bytes, into: &output) }
        let slot = slots[slots.count - 1]
        return worker.executor.execute(command, in: bytes, into: &slot.trailing)
    }

    /// A place in this client's answers for work that other nodes will answer.
    func openSlot() -> AnswerSlot {
        let slot = spareSlots.popLast() ?? AnswerSlot()
        slots.append(slot)
        return slot
    }

    /// Slots written out, for the next forwards: a slot is done only when its work has no
    /// part left to answer, so nothing writes to it after it leaves the queue.
    private var spareSlots: [AnswerSlot] = []

    /// An answer known now (a cluster command answered here): after everything before it.
    func answerNow(_ body: (inout OutputBuffer) -> Void) {
        if hasSlots { body(&slots[slots.count - 1].trailing) } else { body(&output) }
    }

    /// After a refusal: counters, and the item an oversized `set`/`ms` leaves stale is deleted
    /// here and, when another node owns the key, on its owner too (memcached deletes it).
    private func afterReject(_ response: StaticString, _ bytes: UnsafeRawBufferPointer) {
        worker.executor.afterReject(response, staleKey: parser.staleKey, in: bytes)
        if let stale = parser.staleKey, let router = worker.router {
            ClusterRouting.staleKeyRejected(stale, bytes, router, self)
        }
    }

    /// A slot finished: every slot done at the front leaves, in order; reading resumes if it
    /// had stopped at the forward limit.
    func slotDone() {
        guard !isClosed else { return }
        while slotsHead < slots.count && slots[slotsHead].done {
            let slot = slots[slotsHead]
            output.append(slot.answer.bytes)
            output.append(slot.trailing.bytes)
            slotsHead += 1
            if spareSlots.count < 64 {
                slot.reset()
                spareSlots.append(slot)
            }
        }
        if slotsHead == slots.count {
            slots.removeAll(keepingCapacity: true)
            slotsHead = 0
        } else if slotsHead >= 64 {
            slots.removeFirst(slotsHead)
            slotsHead = 0
        }
        if paused && (waitingForSlots ? !hasSlots : slots.count - slotsHead < worker.cluster.maxForwards) {
            // memcached would have written a get's answer before the stream command: what the
            // forwarded commands answered is not "stacked" then (after a set it would be).
            if waitingForSlots && streamFollowsFlush { stackStart = output.count }
            waitingForSlots = false
            resumeAfterBackpressure()
            return
        }
        if inputEnded && !hasSlots, case .parsing = state { state = .closingAfterWrite }
        worker.scheduleFlush(self)
    }

    /// Reading stops until forwarded work drains or a full link has room (`counting`: a limit
    /// was hit, which `forward_backpressure` counts).
    private func pause(counting: Bool = true) {
        guard !paused else { return }
        paused = true
        readEvent?.remove()
        if counting { worker.cluster.counters.forwardBackpressure.add(1, ordering: .relaxed) }
    }

    /// A stream command waits for every forwarded answer before it (see `process`).
    private var waitingForSlots = false
    /// Whether the command before the waiting stream command writes out what is held.
    private var streamFollowsFlush = false
    private var lastCommandFlushes = false

    /// Reading goes on: the forwards in flight dropped below the limit, or a full link drained.
    func resumeAfterBackpressure() {
        guard paused, !isClosed else { return }
        paused = false
        if !inputEnded, let readEvent, !readEvent.isPending { readEvent.add() }
        process()
        if isClosed { return }
        if inputEnded && !hasSlots, case .parsing = state { state = .closingAfterWrite }
        flush()
    }

    private var flushScheduled = false

    /// For the worker: true if this connection was not already waiting for the end-of-pass write.
    func markFlushScheduled() -> Bool {
        if flushScheduled { return false }
        flushScheduled = true
        return true
    }

    /// The worker's end-of-pass write, after answers arrived from peers.
    func scheduledFlush() {
        flushScheduled = false
        guard !isClosed else { return }
        flush()
    }

    /// What `watch connevents` reports when the connection closes.
    var closeReason = "error"

    func close() {
        guard !isClosed else { return }
        switch state {
        case .watching(let watcher): worker.context.operations.removeWatcher(watcher)
        case .dumping: worker.context.operations.crawlersRunning.subtract(1, ordering: .relaxed)
        default: break
        }
        state = .closed
        readEvent?.free()
        writeEvent?.free()
        readEvent = nil
        writeEvent = nil
        Socket.close(fd)
        worker.connectionClosed(self)
    }
}
