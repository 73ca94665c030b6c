import Foundation
import Glibc

/// An N-node ringcached cluster on 127.0.0.1, started by a test on free ports.
///
/// 2N free ports are chosen up front (N client ports, N peer ports), so every node gets the same
/// `--seeds` list, `127.0.0.1:<port>@<peerport>,…`, and its own `--peer-port`. `stop()` stops
/// every node by its PID (SIGTERM, then SIGKILL); it is idempotent and must run in every case:
/// `let cluster = try ClusterProcess.start(nodes: 3)` then `defer { cluster.stop() }`.
///
/// `nodes[i]` is a `ServerProcess`, so everything the single-node tests use (connect, log, pid,
/// isRunning) works per node. Nodes are numbered in client-port order, which is also the order
/// `cluster nodes` prints them (all share the host 127.0.0.1).
final class ClusterProcess {
    let nodes: [ServerProcess]
    let peerPorts: [UInt16]
    let seeds: String
    private var stopped = false

    private init(nodes: [ServerProcess], peerPorts: [UInt16], seeds: String) {
        self.nodes = nodes
        self.peerPorts = peerPorts
        self.seeds = seeds
    }

    /// `host:port` of node `i`: its identity in `cluster nodes`, `cluster route`, `stats cluster`.
    func advertise(_ i: Int) -> String { "127.0.0.1:\(nodes[i].port)" }
    /// `host:peerport` of node `i`.
    func peerEndpoint(_ i: Int) -> String { "127.0.0.1:\(peerPorts[i])" }
    /// The node index whose advertise address is `address`.
    func index(of address: String) -> Int? { (0..<nodes.count).first { advertise($0) == address } }

    /// Starts `count` nodes with the standard flags plus the cluster flags plus `extraArguments`
    /// (e.g. `["--peer-timeout", "500ms"]`), and waits until every node accepts connections.
    /// Each node gets its peer port twice, as `@peerport` in the seeds and as `--peer-port`
    /// (`-t 2`: three nodes share two cores). Retries on fresh ports when one was taken.
    static func start(nodes count: Int, extraArguments: [String] = [], startTimeout: Double = 20,
                      target: ServerTarget = .current, environment: [String: String]? = nil) throws -> ClusterProcess {
        var lastError: Error?
        for _ in 0..<3 {
            let ports = try distinctFreePorts(2 * count)
            let clientPorts = Array(ports[0..<count]).sorted()
            let peerPorts = Array(ports[count...])
            let seeds = (0..<count).map { "127.0.0.1:\(clientPorts[$0])@\(peerPorts[$0])" }.joined(separator: ",")
            var started: [ServerProcess] = []
            do {
                for i in 0..<count {
                    let args = target.standardArguments(
                        port: clientPorts[i], overrides: ["-t": "2"],
                        extra: ["--seeds", seeds, "--peer-port", String(peerPorts[i])] + extraArguments)
                    started.append(try ServerProcess.launch(target, port: clientPorts[i], arguments: args, environment: environment))
                }
                for node in started { try node.waitUntilAccepting(timeout: startTimeout) }
                let cluster = ClusterProcess(nodes: started, peerPorts: peerPorts, seeds: seeds)
                try cluster.waitUntilConverged(timeout: startTimeout)
                return cluster
            } catch {
                let inUse = started.contains { $0.log().contains("in use") }
                for node in started { node.stop() }
                lastError = error
                if inUse { continue }
                throw error
            }
        }
        throw lastError ?? IntegrationError("cluster did not start")
    }

    /// Waits until every node's `cluster nodes` shows every node `alive` in its current life
    /// (an incarnation heard from it, not the seed list's 0). A test then starts from one ring:
    /// on a loaded machine a node that starts late can be suspected, even declared dead and
    /// back, while the others already run.
    func waitUntilConverged(timeout: Double) throws {
        let deadline = Deadline.now() + timeout
        var last = ""
        while Deadline.now() < deadline {
            var converged = true
            var epochs: Set<String> = []
            for node in nodes {
                guard let text = try? node.connect(timeout: 2).call("cluster nodes\r\n", until: "END\r\n") else {
                    converged = false
                    break
                }
                last = text
                let rows = text.split(separator: "\r\n").filter { $0.hasPrefix("NODE ") }.map { $0.split(separator: " ") }
                if rows.count != nodes.count || !rows.allSatisfy({ $0.count >= 5 && $0[3] == "alive" && $0[4] != "0" }) {
                    converged = false
                    break
                }
                // And one membership epoch (the fence compares them): nodes that joined in a
                // different order count their epochs up to the highest over their links.
                if let stats = try? node.connect(timeout: 2).call("stats cluster\r\n", until: "END\r\n"),
                   let line = stats.split(separator: "\r\n").first(where: { $0.hasPrefix("STAT membership_epoch ") }) {
                    epochs.insert(String(line))
                }
            }
            if converged && epochs.count == 1 { return }
            usleep(20_000)
        }
        stop()
        throw IntegrationError("the cluster did not converge within \(timeout) s; last cluster nodes: \(last)\n\(logExcerpts)")
    }

    /// Stops every node (SIGTERM, then SIGKILL after `grace`), each by its own PID. Safe twice.
    func stop(grace: Double = 5) {
        guard !stopped else { return }
        stopped = true
        for node in nodes where node.isRunning { node.child.signal(SIGTERM) }
        for node in nodes { node.stop(grace: grace) }
    }

    /// Every node's log tail, for failure messages.
    var logExcerpts: String {
        nodes.enumerated().map { "--- node \($0.offset) (\(advertise($0.offset)), pid \($0.element.pid)) ---\n\($0.element.logExcerpt)" }
            .joined(separator: "\n")
    }

    // MARK: - Asking the cluster

    /// `cluster route <key>` for many keys through one connection, pipelined: key → [owner, replicas…].
    static func routes(_ keys: [String], via client: TestClient, batch: Int = 500) throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        var start = 0
        while start < keys.count {
            let slice = keys[start..<min(keys.count, start + batch)]
            try client.send(slice.map { "cluster route \($0)\r\n" }.joined())
            for key in slice {
                let line = try client.readLine()
                let parts = line.split(separator: " ").map(String.init)
                guard parts.count >= 3, parts[0] == "ROUTE", parts[1] == key else {
                    throw IntegrationError("cluster route \(key): unexpected line \(Escaping.show(Array(line.utf8)))")
                }
                let end = try client.readLine()
                guard end == "END" else { throw IntegrationError("cluster route \(key): expected END, got \(end)") }
                out[key] = Array(parts[2...])
            }
            start += batch
        }
        return out
    }

    /// Keys `prefix0, prefix1, …` grouped by owner node index (through node `via`), with at least
    /// `perNode` keys for every node.
    func keysByOwner(prefix: String, perNode: Int, via: Int = 0) throws -> [[String]] {
        let client = try nodes[via].connect()
        var byOwner = Array(repeating: [String](), count: nodes.count)
        var next = 0
        while byOwner.contains(where: { $0.count < perNode }) {
            guard next < 100_000 else { throw IntegrationError("could not find \(perNode) keys for every owner") }
            let keys = (next..<next + 200).map { "\(prefix)\($0)" }
            next += 200
            let routes = try Self.routes(keys, via: client)
            for key in keys {
                guard let owner = routes[key]?.first, let i = index(of: owner) else {
                    throw IntegrationError("cluster route \(key) names an unknown owner \(routes[key] ?? [])")
                }
                if byOwner[i].count < perNode { byOwner[i].append(key) }
            }
        }
        return byOwner
    }
}

/// `count` distinct free 127.0.0.1 ports (each bound and released; all held at once while picking,
/// so the kernel cannot hand the same one out twice).
func distinctFreePorts(_ count: Int) throws -> [UInt16] {
    var fds: [Int32] = []
    defer { for fd in fds { close(fd) } }
    var ports: [UInt16] = []
    while ports.count < count {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(operation: "socket", code: errno) }
        fds.append(fd)
        var addr = TestClient.loopback(port: 0)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw SocketError(operation: "bind", code: errno) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        let port = UInt16(bigEndian: addr.sin_port)
        // Peer ports must stay valid when a test derives client port + 10000 elsewhere: keep all below 55535.
        if port < 55535 { ports.append(port) }
    }
    return ports
}

/// One `VALUE` of a retrieval answer.
struct RetrievedValue: Equatable, CustomStringConvertible {
    let key: String
    let flags: UInt32
    let value: [UInt8]
    let cas: UInt64?

    var description: String {
        "VALUE \(key) \(flags) \(value.count)\(cas.map { " \($0)" } ?? "") \(Escaping.show(value))"
    }
}

extension TestClient {
    /// Reads one `get`/`gets`/`gat`/`gats` answer: VALUE blocks up to `END`, in the order sent.
    func readRetrieval(what: String = "a retrieval answer") throws -> [RetrievedValue] {
        var out: [RetrievedValue] = []
        while true {
            let line = try readLine()
            if line == "END" { return out }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 4 || parts.count == 5, parts[0] == "VALUE",
                  let flags = UInt32(parts[2]), let length = Int(parts[3]) else {
                throw IntegrationError("\(what): unexpected line \(Escaping.show(Array(line.utf8))) (after \(out.count) values)")
            }
            var cas: UInt64? = nil
            if parts.count == 5 {
                guard let c = UInt64(parts[4]) else { throw IntegrationError("\(what): bad cas in \(line)") }
                cas = c
            }
            let data = try readExactly(length + 2)
            guard data.suffix(2) == [13, 10] else {
                throw IntegrationError("\(what): value of \(parts[1]) not followed by \\r\\n")
            }
            out.append(RetrievedValue(key: String(parts[1]), flags: flags, value: Array(data.dropLast(2)), cas: cas))
        }
    }

    /// Sends `request` followed by `mn\r\n` and returns every byte answered before `MN\r\n`:
    /// the whole answer to `request`, however many lines (or none, for noreply and quiet mode).
    func callUntilNoop(_ request: String, timeout: Double? = nil) throws -> String {
        try send(request + "mn\r\n")
        let noop = Array("MN\r\n".utf8)
        let marker = Array("\r\nMN\r\n".utf8)
        let bytes = try receive(timeout: timeout, what: "the answer to \(Escaping.show(Array(request.utf8))) and MN") { buffer in
            if buffer.starts(with: noop) { return noop.count }
            return Escaping.find(marker, in: buffer).map { $0 + marker.count }
        }
        return String(decoding: bytes.dropLast(4), as: UTF8.self)
    }
}
