import Storage
import Synchronization
import TextProtocol
import Testing

@testable import Server

/// The unix time every executor test starts at.
let testEpoch: Int64 = 1_700_000_000

/// A stand-in for the server context: fixed figures, records what the executor asked of it.
final class FakeServerContext: StatsSource {
    let workers: [WorkerStats]
    let shutdownEnabled: Bool
    private let state = Mutex(State())

    struct State {
        var verbosity: Int64 = 0
        var resets = 0
        var shutdownRequests = 0
    }

    init(workers: [WorkerStats], shutdownEnabled: Bool = false) {
        self.workers = workers
        self.shutdownEnabled = shutdownEnabled
    }

    var verbosity: Int64 { state.withLock { $0.verbosity } }
    var resets: Int { state.withLock { $0.resets } }
    var shutdownRequests: Int { state.withLock { $0.shutdownRequests } }

    func serverStats() -> ServerStats {
        var s = ServerStats()
        s.pid = 4242
        s.startTime = testEpoch - 100
        s.currentTime = testEpoch
        s.libeventVersion = "2.1.12-stable"
        s.userMicros = 7_223
        s.systemMicros = 1_234_567
        s.maxConnections = 1024
        s.currConnections = 3
        s.totalConnections = 10
        s.rejectedConnections = 1
        s.connectionStructures = 4
        s.threads = 4
        s.extra = [StatLine("output_overflows", "0")]
        return s
    }

    var workerStats: [WorkerStats] { workers }

    func settingsStats() -> [StatLine] {
        [StatLine("maxbytes", "67108864"), StatLine("maxconns", "1024"), StatLine("evictions", "on")]
    }

    func connectionStats(askingFD: Int32) -> [ConnectionStats] {
        [
            ConnectionStats(fd: 23, address: "tcp:127.0.0.1:11211", listenAddress: nil, state: "conn_listening", secondsSinceLastCommand: 4),
            ConnectionStats(fd: 25, address: "tcp:127.0.0.1:36852", listenAddress: "tcp:127.0.0.1:11211", state: "conn_parse_cmd", secondsSinceLastCommand: 0),
        ]
    }

    func resetServerStats() { state.withLock { $0.resets += 1 } }
    func setVerbosity(_ level: Int64) { state.withLock { $0.verbosity = level } }
    func requestShutdown() { state.withLock { $0.shutdownRequests += 1 } }
}

/// One client's view of an executor: bytes go through the real parser into the executor, the
/// answer bytes come back, as the connection would do it (including the parser's rejects and
/// swallowed data blocks).
final class ExecutorSession {
    let store: Store
    let stats = WorkerStats()
    let context: FakeServerContext
    var executor: Executor
    var parser: Parser
    var output = OutputBuffer()
    private var input: [UInt8] = []
    private var swallow = 0
    private(set) var closed = false
    /// Numbers matched by `#` in expectations, usable as `$1`, `$2`, ... afterwards.
    private(set) var captures: [String] = []
    private(set) var now: Int64 = testEpoch

    init(
        config: StorageConfig = StorageConfig(lruBumpInterval: 0), parserMaxItemSize: Int = 1 << 20,
        shutdownEnabled: Bool = false
    ) {
        store = Store(config: config, nowSeconds: testEpoch, nowMillis: UInt64(testEpoch) * 1000)
        context = FakeServerContext(workers: [stats], shutdownEnabled: shutdownEnabled)
        executor = Executor(store: store, stats: stats, context: context)
        parser = Parser(maxItemSize: parserMaxItemSize)
    }

    func advance(seconds: Int64) {
        now += seconds
        store.setClock(seconds: now, millis: UInt64(now) * 1000)
    }

    /// Feeds `request` and returns every answer byte it produced.
    func send(_ request: [UInt8]) -> [UInt8] {
        input.append(contentsOf: request)
        var used = 0
        input.withUnsafeBytes { raw in
            while !closed {
                if swallow > 0 {
                    let dropped = min(swallow, raw.count - used)
                    used += dropped
                    swallow -= dropped
                    if swallow > 0 { break }
                }
                let rest = UnsafeRawBufferPointer(rebasing: raw[used...])
                if rest.isEmpty { break }
                switch parser.parse(rest) {
                case .needMoreData:
                    return
                case .command(let command, let consumed):
                    let action = executor.execute(command, in: rest, into: &output)
                    used += consumed
                    if case .close = action { closed = true }
                case .reject(let response, let consumed, let swallowed):
                    output.append(response)
                    executor.afterReject(response, staleKey: parser.staleKey, in: rest)
                    used += consumed
                    swallow = swallowed
                case .close(let response):
                    output.append(response)
                    closed = true
                }
            }
        }
        input.removeFirst(used)
        let answer = Array(output.bytes)
        output.removeAll()
        return answer
    }

    func send(_ request: String) -> String {
        String(decoding: send(Array(substituted(request).utf8)), as: UTF8.self)
    }

    /// Sends `request` and checks the answer against `expected`, where `#` matches a (possibly
    /// negative) decimal number and captures it, and `$n` stands for the n-th capture.
    func expect(_ request: String, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let answer = send(request)
        #expect(match(answer, expected), "\(show(request)) answered \(show(answer)), expected \(show(expected))", sourceLocation: sourceLocation)
    }

    /// Runs request/answer pairs in order.
    func run(_ steps: [(String, String)], sourceLocation: SourceLocation = #_sourceLocation) {
        for (request, expected) in steps { expect(request, expected, sourceLocation: sourceLocation) }
    }

    private func substituted(_ text: String) -> String {
        var result = ""
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            if c == "$", let d = chars.first, let n = d.wholeNumberValue, n >= 1, n <= captures.count {
                chars.removeFirst()
                result += captures[n - 1]
            } else {
                result.append(c)
            }
        }
        return result
    }

    private func match(_ actual: String, _ expected: String) -> Bool {
        let a = Array(actual.utf8)
        let e = Array(substituted(expected).utf8)
        var i = 0
        var j = 0
        var newCaptures: [String] = []
        while j < e.count {
            if e[j] == UInt8(ascii: "#") {
                let start = i
                if i < a.count && a[i] == UInt8(ascii: "-") { i += 1 }
                let digitsStart = i
                while i < a.count && a[i] >= UInt8(ascii: "0") && a[i] <= UInt8(ascii: "9") { i += 1 }
                if i == digitsStart { return false }
                newCaptures.append(String(decoding: a[start..<i], as: UTF8.self))
                j += 1
                continue
            }
            if i >= a.count || a[i] != e[j] { return false }
            i += 1
            j += 1
        }
        guard i == a.count else { return false }
        captures += newCaptures
        return true
    }

    private func show(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    // MARK: - Stats

    /// `stats [args]` as name → value.
    func statsLines(_ args: String = "") -> [(String, String)] {
        let answer = send(args.isEmpty ? "stats\r\n" : "stats \(args)\r\n")
        var lines = answer.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.last == "")
        lines.removeLast()
        #expect(lines.last == "END")
        lines.removeLast()
        return lines.map { line in
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            #expect(parts.count == 3 && parts[0] == "STAT", "bad stats line \(line)")
            return parts.count == 3 ? (String(parts[1]), String(parts[2])) : ("", "")
        }
    }

    func generalStats() -> [String: String] {
        Dictionary(statsLines().map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
