import Foundation
import Glibc
import Testing

extension IntegrationSuite {
    /// Memory, output-buffer and connection limits, measured on the running process.
    @Suite("Limits")
    struct LimitTests {
        /// How far above `-m` the resident set may go: the process itself (code, runtime, thread
        /// stacks, hash table, connection buffers) plus allocator slack. memcached 1.6.18 peaks at
        /// about 69.5 MiB with `-m 64` in `memoryStaysUnderLimit` (5.5 MiB over the limit).
        static let memoryOverheadAllowance = 24 << 20
        /// How far the resident set may grow beyond `--max-output-buffer` while one client floods.
        static let outputBufferSlack = 16 << 20

        @Test("-m 64: RSS stays under 64 MiB + the fixed overhead while 4×64 MiB of 100 KB values are written")
        func memoryStaysUnderLimit() throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            let limit = 64 << 20
            let valueSize = 100 * 1024
            let count = 4 * limit / valueSize + 1
            let client = try server.connect(timeout: 30)
            let startRSS = try #require(server.rss(), "cannot read VmRSS of \(server.pid)")
            var maxRSS = startRSS
            var samples: [Int] = []
            let batch = 8
            var i = 0
            while i < count {
                var request: [UInt8] = []
                let end = min(i + batch, count)
                for k in i..<end {
                    request += Array("set fill-\(k) \(k) 0 \(valueSize)\r\n".utf8)
                    request += [UInt8](repeating: UInt8(truncatingIfNeeded: k % 251), count: valueSize)
                    request += [13, 10]
                }
                try client.send(request)
                for k in i..<end {
                    let answer = try client.readLine()
                    guard answer == "STORED" else {
                        Issue.record("set fill-\(k) answered \(answer)")
                        return
                    }
                }
                i = end
                if i % 64 < batch, let rss = server.rss() {
                    samples.append(rss)
                    maxRSS = max(maxRSS, rss)
                }
            }
            usleep(500_000)
            let finalRSS = server.rss() ?? 0
            maxRSS = max(maxRSS, finalRSS)
            let allowed = limit + Self.memoryOverheadAllowance
            let mib = { (bytes: Int) in String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
            print("memory (\(server.target.flavor), -m 64, \(count) × 100 KB): start \(mib(startRSS)), peak \(mib(maxRSS)), "
                + "final \(mib(finalRSS)), allowed \(mib(allowed)), \(samples.count) samples")
            #expect(maxRSS <= allowed, "peak RSS \(mib(maxRSS)) exceeds -m 64 + \(mib(Self.memoryOverheadAllowance))")

            // The newest items are there and intact, and the oldest were evicted and counted.
            let last = count - 1
            let got = try client.getValue("fill-\(last)")
            #expect(got?.flags == UInt32(last))
            #expect(got?.value == [UInt8](repeating: UInt8(truncatingIfNeeded: last % 251), count: valueSize))
            #expect(try client.getValue("fill-0") == nil, "the first item should have been evicted")
            let stats = try Stats.read(client, "stats")
            #expect(stats["evictions"].flatMap(Int.init).map { $0 > 0 } == true, "evictions: \(stats["evictions"] ?? "missing")")
            #expect(stats["bytes"].flatMap(Int.init).map { $0 <= limit } == true, "bytes: \(stats["bytes"] ?? "missing")")
        }

        /// A client that sends `get` for a large value over and over and never reads: once what the
        /// node holds for it passes max_output_buffer, the node closes it. Its RSS stays bounded and
        /// another client is served all along. (memcached has no such limit: it stops reading.)
        @Test("a client that never reads is cut off at max_output_buffer", Only.ringcached)
        func neverReadingClientIsCutOff() throws {
            let maxOutputBuffer = 4 << 20
            let server = try ServerProcess.start(extraArguments: ["--max-output-buffer", "4m"])
            defer { server.stop() }
            let other = try server.connect(timeout: 5)
            let value = [UInt8](repeating: UInt8(ascii: "o"), count: 512 * 1024)
            try other.send(Array("set big 0 0 \(value.count)\r\n".utf8) + value + [13, 10])
            #expect(try other.readLine() == "STORED")
            #expect(try other.call("set small 0 0 5\r\nhello\r\n") == "STORED")
            usleep(200_000)
            let baseline = try #require(server.rss())
            var peak = baseline

            let flooder = try server.connect()
            let requests = Array(String(repeating: "get big\r\n", count: 64).utf8)  // 32 MiB of answers per send
            let deadline = Deadline(seconds: 20)
            var closed = false
            var sent = 0
            while !deadline.hasPassed {
                do {
                    try flooder.send(requests, drainWhileBlocked: false, timeout: 0.2)
                    sent += 64
                } catch let error as SocketError where error.isConnectionGone {
                    closed = true
                    break
                } catch let error as SocketError where error.isTimeout {
                    // The socket is full: the node is not reading right now. Keep checking.
                }
                peak = max(peak, server.rss() ?? 0)
                #expect(try other.getValue("small")?.value == Array("hello".utf8), "the other client was not served")
                // Stop flooding once the bound is clearly broken, so a failing node cannot eat the machine.
                if sent > 20_000 || peak - baseline > 2 * (maxOutputBuffer + Self.outputBufferSlack) { break }
            }
            peak = max(peak, server.rss() ?? 0)
            let mib = { (bytes: Int) in String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
            print("max_output_buffer 4m: \(sent) gets sent before the close, RSS baseline \(mib(baseline)), peak \(mib(peak))")
            #expect(closed, "the node did not close a client that never reads (sent \(sent) gets of 512 KiB)")
            #expect(peak - baseline <= maxOutputBuffer + Self.outputBufferSlack,
                    "RSS grew by \(mib(peak - baseline)), more than max_output_buffer + \(mib(Self.outputBufferSlack))")
            #expect(server.isRunning, "\(server.logExcerpt)")
            #expect(other.isAlive())
            let fresh = try server.connect()
            #expect(try fresh.getValue("big")?.value.count == value.count)
        }

        /// `-c 10`: ten clients are served; the eleventh and twelfth get memcached's
        /// `ERROR Too many open connections` and are closed; the ten keep working, and once one
        /// leaves a new client is served. (memcached counts its own file descriptors against -c, so
        /// with -c 10 and 4 threads it does not even start.)
        @Test("-c 10: connections 11 and 12 get ERROR Too many open connections; the others keep working",
              Only.ringcached)
        func connectionLimit() throws {
            let server = try ServerProcess.start(overrides: ["-c": "10"])
            defer { server.stop() }
            // waitUntilAccepting's probe connection may still be counted for a moment.
            usleep(200_000)
            var clients: [TestClient] = []
            for i in 0..<10 {
                let client = try server.connect(timeout: 5)
                #expect(try client.call("mn\r\n") == "MN", "connection \(i + 1) of 10 was not served")
                clients.append(client)
            }
            for extra in 11...12 {
                let client = try server.connect(timeout: 5)
                let rest = try client.waitForClose(timeout: 5)
                #expect(rest.map { String(decoding: $0, as: UTF8.self) } == "ERROR Too many open connections\r\n",
                        "connection \(extra): \(rest.map { Escaping.show($0) } ?? "still open after 5 s")")
            }
            for (i, client) in clients.enumerated() {
                #expect(client.isAlive(), "connection \(i + 1) stopped working after the rejections")
            }
            let stats = try Stats.read(clients[0], "stats")
            #expect(stats["rejected_connections"].flatMap(Int.init).map { $0 >= 2 } == true,
                    "rejected_connections: \(stats["rejected_connections"] ?? "missing")")

            clients.removeLast().close()
            let deadline = Deadline(seconds: 5)
            var served = false
            while !served && !deadline.hasPassed {
                if let client = try? server.connect(timeout: 2), client.isAlive() {
                    served = true
                } else {
                    usleep(50_000)
                }
            }
            #expect(served, "no new client was served after one of the ten left")
        }
    }
}
