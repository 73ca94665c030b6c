import EventLoop
import Logging

/// Accepts client connections on the listener thread and hands each to a worker, round-robin,
/// through the worker's mailbox — the way memcached's dispatcher feeds its worker threads.
///
/// Thread-confined to the listener (main) thread.
final class Listener: EventHandler {
    private let context: ServerContext
    private let workers: [WorkerMailbox]
    private var next = 0
    private var sockets: [(fd: Int32, name: String, role: Connection.Role, event: IOEvent)] = []
    private static let tooMany: StaticString = "ERROR Too many open connections\r\n"

    init(context: ServerContext, workers: [WorkerMailbox]) {
        self.context = context
        self.workers = workers
    }

    func watch(fds: [(Int32, String)], role: Connection.Role, base: EventBase) throws(EventLoopError) {
        for (fd, name) in fds {
            let event = try IOEvent(base: base, fd: fd, kind: .read, persist: true, handler: self)
            event.add()
            sockets.append((fd, name, role, event))
        }
    }

    /// Stops accepting: closes the listening sockets.
    func close() {
        for s in sockets {
            s.event.free()
            Socket.close(s.fd)
        }
        sockets.removeAll()
        context.counters.acceptingConnections.store(false, ordering: .relaxed)
    }

    override func handleEvent(_ fd: Int32, _ kind: EventKind) {
        let socket = sockets.first { $0.fd == fd }
        let name = socket?.name ?? "unknown"
        let role = socket?.role ?? .client
        // Accept a bounded batch per wake-up so signals and timers still run under a flood.
        for _ in 0..<64 {
            guard let result = Socket.accept(fd) else { return }
            switch result {
            case .failure(let error):
                context.logger.warning("accept on \(name) failed: \(error)")
                return
            case .success(let client):
                // -c limits clients; peers of the cluster are not turned away.
                if role == .client && context.counters.currentConnections.load(ordering: .relaxed) >= context.configuration.connLimit {
                    _ = Socket.send(client, UnsafeRawBufferPointer(start: Listener.tooMany.utf8Start, count: Listener.tooMany.utf8CodeUnitCount))
                    Socket.close(client)
                    context.counters.rejectedConnections.add(1, ordering: .relaxed)
                    context.logger.info("rejected connection on \(name): conn-limit \(context.configuration.connLimit) reached")
                    continue
                }
                Socket.setNoDelay(client)
                // Peer connections are not client connections: they count in `stats cluster`,
                // not in curr_connections or against -c.
                let info = role == .client ? context.connectionOpened(fd: client, peer: Socket.peerName(client), listenAddress: name) : nil
                workers[next].post(.connection(fd: client, role: role, info: info))
                next = (next + 1) % workers.count
            }
        }
    }
}
