import Foundation
import Glibc
import Testing

extension IntegrationSuite {
    /// memcached's operator commands (`slabs`, `lru`, `lru_crawler`, `stats cachedump|detail|sizes`,
    /// `watch`, `verbosity`), sent to ringcached and to Debian's memcached 1.6.18 side by side and
    /// compared. Only what must differ is normalized, each with its reason next to it.
    @Suite("Operator commands, compared with memcached", .enabled(if: ServerTarget.isRingcached && ServerTarget.isMemcachedInstalled))
    struct OperatorCommandTests {
        /// Both servers, started the same way.
        struct Pair {
            let ours: ServerProcess
            let theirs: ServerProcess

            init(extra: [String] = []) throws {
                ours = try ServerProcess.start(.current, extraArguments: extra)
                do {
                    theirs = try ServerProcess.start(try #require(ServerTarget.installedMemcached), extraArguments: extra)
                } catch {
                    ours.stop()
                    throw error
                }
            }

            func stop() {
                ours.stop()
                theirs.stop()
            }

            /// Sends `request` then `mn` on a fresh connection to each, returns both answers up to `MN`.
            /// A request that may take the connection over (metadump: memcached drops what was
            /// pipelined after it) is sent alone, then `mn`.
            func exchange(_ request: String) throws -> (ours: String, theirs: String) {
                func ask(_ server: ServerProcess) throws -> String {
                    let client = try server.connect()
                    defer { client.close() }
                    guard request.hasPrefix("lru_crawler metadump") else { return try client.call(request + "mn\r\n", until: "MN\r\n") }
                    try client.send(request)
                    // Until the dump's END, or a one-line refusal.
                    var answer = try client.receive(what: "the metadump") { bytes in
                        if let end = Escaping.find(Array("\nEND\r\n".utf8), in: bytes) { return end + 6 }
                        if bytes.starts(with: Array("END\r\n".utf8)) { return 5 }
                        guard let eol = Escaping.find(Array("\r\n".utf8), in: bytes), !bytes.starts(with: Array("key=".utf8)) else { return nil }
                        return eol + 2
                    }
                    answer += try client.call("mn\r\n", until: "MN\r\n").utf8
                    return String(decoding: answer, as: UTF8.self)
                }
                return (try ask(ours), try ask(theirs))
            }
        }

        @Test("slabs, lru, lru_crawler and the stats subcommands answer byte for byte as memcached")
        func sameAnswers() throws {
            let pair = try Pair()
            defer { pair.stop() }
            let requests = [
                "slabs automove 0\r\n", "slabs automove 1\r\n", "slabs automove 2\r\n", "slabs automove 3\r\n",
                "slabs automove invalid\r\n", "slabs automove ratio 0.5\r\n", "slabs automove ratio\r\n",
                "slabs automove 1 noreply\r\n", "slabs reassign 1 2\r\n", "slabs reassign -1 2\r\n", "slabs reassign 1 1\r\n",
                "slabs reassign 0 1\r\n", "slabs reassign 1 39\r\n", "slabs reassign 1 40\r\n", "slabs reassign x y\r\n",
                "slabs reassign 1 2 3\r\n", "slabs reassign x\r\n", "slabs\r\n", "slabs bogus\r\n",
                "lru tune 10 20 0.1 2\r\n", "lru tune 10 80 1 1\r\n", "lru tune 10 20 0 1\r\n", "lru tune 10 20 x 1\r\n",
                "lru tune 10 20 1\r\n", "lru tune 10 20 1 1 noreply\r\n", "lru\r\n", "lru bogus\r\n",
                // A crawl that is accepted runs a moment: both answer BUSY to the next one meanwhile.
                "lru_crawler crawl all\r\n", "<pause>", "lru_crawler crawl 1,2\r\n", "<pause>", "lru_crawler crawl 63\r\n",
                "<pause>", "lru_crawler crawl 64\r\n",
                "lru_crawler crawl 0\r\n", "lru_crawler crawl x\r\n", "lru_crawler crawl 1,x\r\n", "lru_crawler crawl ,1\r\n", "<pause>",
                "lru_crawler crawl hash\r\n", "lru_crawler tocrawl 5\r\n", "lru_crawler tocrawl x\r\n",
                "lru_crawler sleep 100\r\n", "lru_crawler sleep 2000000\r\n", "lru_crawler enable\r\n",
                "lru_crawler\r\n", "lru_crawler bogus\r\n", "lru_crawler metadump\r\n", "lru_crawler metadump 99\r\n",
                "lru_crawler metadump 0\r\n", "lru_crawler metadump x\r\n", "lru_crawler metadump all extra\r\n",
                "lru_crawler metadump 2\r\n",
                "stats cachedump\r\n", "stats cachedump 1\r\n", "stats cachedump x y\r\n", "stats cachedump 64 0\r\n",
                "stats cachedump -1 1\r\n", "stats cachedump 2 0\r\n", "stats detail\r\n", "stats detail x\r\n",
                "stats detail dump\r\n", "stats sizes\r\n", "stats sizes_enable\r\n", "stats sizes_disable\r\n",
                "watch bogus\r\n", "watch fetchers bogus\r\n", "verbosity 1\r\n", "verbosity\r\n", "verbosity x\r\n",
                "verbosity 1 2 3\r\n", "verbosity 0 noreply\r\n",
                // Pipelined before an operator command that takes the connection over.
                "set x 0 0 1\r\ny\r\nwatch\r\n", "set x 0 0 1\r\ny\r\nlru_crawler metadump all\r\n",
                // The crawler off (for every connection), then on again once memcached's thread ended.
                // (memcached's answers settle once its crawler thread has stopped or started.)
                "lru_crawler disable\r\n", "<pause>", "lru_crawler crawl all\r\n", "lru_crawler metadump all\r\n",
                "lru_crawler enable\r\n", "<pause>", "lru_crawler enable\r\n",
            ]
            var differences: [String] = []
            for request in requests {
                if request == "<pause>" {
                    usleep(500_000)
                    continue
                }
                let (ours, theirs) = try pair.exchange(request)
                if ours != theirs { differences.append("\(request.debugDescription):\n  memcached:  \(theirs.debugDescription)\n  ringcached: \(ours.debugDescription)") }
            }
            #expect(differences.isEmpty, "\(differences.count) of \(requests.count) differ:\n\(differences.joined(separator: "\n"))")
        }

        @Test("lru_crawler metadump lists memcached's line format; stats settings shows what the commands set")
        func metadumpAndSettings() throws {
            let pair = try Pair()
            defer { pair.stop() }
            let load = "flush_all\r\nset a:b/c%d~e.f_g-h 0 0 1\r\nx\r\nms Zm9vYmFy 1 b T100\r\ny\r\nset p:1 3 0 5\r\nhello\r\nget p:1\r\n"
            _ = try pair.exchange(load)
            let (ours, theirs) = try pair.exchange("lru_crawler metadump all\r\n")
            // The order of the lines is each server's table order, the CAS values are each one's
            // own (a counter there, a hybrid logical clock here) and the times may lie a second
            // apart: compare the lines sorted, with those fields checked for shape only.
            func normalized(_ text: String) -> [String] {
                text.split(separator: "\n").map { line in
                    line.replacingOccurrences(of: #"la=\d+"#, with: "la=<t>", options: .regularExpression)
                        .replacingOccurrences(of: #"exp=\d{10}"#, with: "exp=<t>", options: .regularExpression)
                        .replacingOccurrences(of: #"cas=\d+"#, with: "cas=<n>", options: .regularExpression)
                }.sorted()
            }
            #expect(normalized(ours) == normalized(theirs), "memcached:\n\(theirs)\nringcached:\n\(ours)")
            #expect(ours.hasSuffix("\nEND\r\nMN\r\n"))

            _ = try pair.exchange("slabs automove 2\r\nlru_crawler sleep 250\r\nlru_crawler tocrawl 7\r\nlru tune 10 30 0.5 3\r\n")
            let settings = try pair.ours.connect().call("stats settings\r\n", until: "END\r\n")
            for expected in ["STAT slab_automove 2\r\n", "STAT lru_crawler_sleep 250\r\n", "STAT lru_crawler_tocrawl 7\r\n",
                             "STAT hot_lru_pct 10\r\n", "STAT warm_lru_pct 30\r\n", "STAT lru_crawler yes\r\n"] {
                #expect(settings.contains(expected), "stats settings lacks \(expected.debugDescription):\n\(settings)")
            }
        }

        @Test("stats cachedump lists memcached's ITEM lines, newest first, skipping binary keys")
        func cachedump() throws {
            // Not compared line by line: memcached dumps one segment of its segmented LRU, so
            // which items it lists depends on its LRU maintainer's timing.
            let server = try ServerProcess.start(.current)
            defer { server.stop() }
            let client = try server.connect()
            _ = try client.call("set old 0 0 3\r\nabc\r\nset a:b/c%d 7 2592000 1\r\nx\r\nms Zm9vYmFy 1 b\r\ny\r\nmn\r\n", until: "MN\r\n")
            usleep(1_100_000)
            _ = try client.call("get old\r\n", until: "END\r\n")
            let all = try client.call("stats cachedump 1 0\r\n", until: "END\r\n")
            let lines = all.split(separator: "\r\n").map(String.init)
            #expect(lines.count == 3, "\(all)")
            #expect(lines.first == "ITEM old [3 b; 0 s]")
            #expect(lines.dropFirst().first?.range(of: #"^ITEM a:b/c%d \[1 b; \d{10} s\]$"#, options: .regularExpression) != nil, "\(all)")
            #expect(try client.call("stats cachedump 1 1\r\n", until: "END\r\n") == "ITEM old [3 b; 0 s]\r\nEND\r\n")
        }

        @Test("stats conns lists the listener, an idle client and the asking one as memcached does")
        func statsConns() throws {
            let pair = try Pair()
            defer { pair.stop() }
            func conns(_ server: ServerProcess) throws -> [String] {
                let idle = try server.connect()
                defer { idle.close() }
                _ = try idle.call("get x\r\n", until: "END\r\n")
                let asking = try server.connect()
                defer { asking.close() }
                let text = try asking.call("stats conns\r\n", until: "END\r\n")
                // Descriptors and ports are each process's own; both started a moment ago.
                return text.split(separator: "\r\n").map { line in
                    line.replacingOccurrences(of: #"STAT \d+:"#, with: "STAT <fd>:", options: .regularExpression)
                        .replacingOccurrences(of: #"127\.0\.0\.1:\d+"#, with: "127.0.0.1:<port>", options: .regularExpression)
                        .replacingOccurrences(of: #"secs_since_last_cmd [0-2]$"#, with: "secs_since_last_cmd <0..2>", options: .regularExpression)
                }
            }
            let ours = try conns(pair.ours)
            let theirs = try conns(pair.theirs)
            #expect(ours == theirs, "memcached:\n\(theirs.joined(separator: "\n"))\nringcached:\n\(ours.joined(separator: "\n"))")
            #expect(ours.contains("STAT <fd>:state conn_read") && ours.contains("STAT <fd>:state conn_parse_cmd"))
        }

        @Test("stats detail counts gets, hits, sets and deletes per prefix as memcached does")
        func prefixStatistics() throws {
            let pair = try Pair()
            defer { pair.stop() }
            let requests = "stats detail on\r\nset a:b 0 0 1\r\nx\r\nget a:b a:c nodelim\r\ndelete a:c\r\nset b:1:2 0 0 1\r\ny\r\n"
                + "mg a:b v\r\nms c:1 1\r\nz\r\nmd c:1\r\nincr a:b 1\r\nbget a:b\r\ngat 10 a:b\r\nadd a:b 0 0 1\r\nq\r\n"
                + "replace b:9 0 0 1\r\nq\r\nstats detail off\r\nget a:b\r\n"
            let (ours, theirs) = try pair.exchange(requests)
            #expect(ours == theirs)
            let (dumpOurs, dumpTheirs) = try pair.exchange("stats detail dump\r\n")
            // memcached lists prefixes in its hash table's order; we list them sorted.
            func lines(_ t: String) -> [String] { t.split(separator: "\r\n").map(String.init).sorted() }
            #expect(lines(dumpOurs) == lines(dumpTheirs), "memcached:\n\(dumpTheirs)\nringcached:\n\(dumpOurs)")
            #expect(lines(dumpTheirs).contains("PREFIX a get 4 hit 3 set 2 del 1"))
        }

        @Test("watch: fetchers, mutations and connevents lines in memcached's format")
        func watchLines() throws {
            let pair = try Pair()
            defer { pair.stop() }
            _ = try pair.exchange("set foo 1 0 3\r\nbar\r\n")
            func watched(_ server: ServerProcess, _ events: String, _ work: String) throws -> [String] {
                let watcher = try server.connect()
                defer { watcher.close() }
                #expect(try watcher.call("watch \(events)\r\n") == "OK")
                let client = try server.connect()
                _ = try client.call(work + "mn\r\n", until: "MN\r\n")
                client.close()
                // Lines arrive asynchronously: wait until the stream is quiet for a moment.
                var collected = ""
                let deadline = Date().addingTimeInterval(5)
                while Date() < deadline {
                    guard let chunk = try? watcher.receive(timeout: 0.3, what: "log lines", complete: { $0.isEmpty ? nil : $0.count }) else { break }
                    collected += String(decoding: chunk, as: UTF8.self)
                }
                // Time stamps, sequence numbers, descriptors and ports are each process's own.
                return collected.split(separator: "\n").map { line in
                    line.replacingOccurrences(of: #"ts=\d+\.\d+ gid=\d+ "#, with: "", options: .regularExpression)
                        .replacingOccurrences(of: #"cfd=\d+"#, with: "cfd=<fd>", options: .regularExpression)
                        .replacingOccurrences(of: #"rport=\d+"#, with: "rport=<port>", options: .regularExpression)
                        // memcached says `normal` or `error` for the same plain close, run to run.
                        .replacingOccurrences(of: #"reason=(normal|error)"#, with: "reason=<close>", options: .regularExpression)
                }
            }
            // Reads only: memcached also logs the lookups its writes make inside; we log what clients read.
            let reads = "get foo\r\nget nope\r\nmg foo v\r\nmg nope v\r\ngets foo\r\n"
            let fetchOurs = try watched(pair.ours, "fetchers", reads)
            let fetchTheirs = try watched(pair.theirs, "fetchers", reads)
            #expect(fetchOurs == fetchTheirs, "memcached:\n\(fetchTheirs.joined(separator: "\n"))\nringcached:\n\(fetchOurs.joined(separator: "\n"))")
            #expect(fetchOurs.count == 5)

            let writes = "set m1 0 0 2\r\nhi\r\nadd m1 0 0 1\r\nx\r\nreplace m2 0 0 1\r\nx\r\nset m3 5 100 4\r\nabcd\r\ncas m3 0 0 1 999\r\nz\r\nms m4 2\r\nok\r\n"
            let mutOurs = try watched(pair.ours, "mutations", writes)
            let mutTheirs = try watched(pair.theirs, "mutations", writes)
            #expect(mutOurs == mutTheirs, "memcached:\n\(mutTheirs.joined(separator: "\n"))\nringcached:\n\(mutOurs.joined(separator: "\n"))")
            #expect(mutOurs.count == 6)

            let connOurs = try watched(pair.ours, "connevents", "mn\r\n")
            let connTheirs = try watched(pair.theirs, "connevents", "mn\r\n")
            #expect(connOurs == connTheirs, "memcached:\n\(connTheirs.joined(separator: "\n"))\nringcached:\n\(connOurs.joined(separator: "\n"))")
            #expect(connOurs.first?.hasPrefix("type=conn_new rip=127.0.0.1 rport=<port> transport=tcp") == true)
        }

        @Test("watch: a slow watcher loses lines and is told how many, the server stays bounded")
        func slowWatcher() throws {
            let server = try ServerProcess.start(.current)
            defer { server.stop() }
            let watcher = try server.connect()
            #expect(try watcher.call("watch fetchers\r\n") == "OK")
            // The watcher reads nothing while a client makes far more lines than its buffers hold.
            let client = try server.connect()
            let batch = String(repeating: "get k0123456789\r\n", count: 2000)
            for _ in 0..<40 { _ = try client.call(batch + "mn\r\n", until: "MN\r\n") }
            let stats = try client.call("stats\r\n", until: "END\r\n")
            #expect(stats.contains("STAT log_watchers 1\r\n"))
            let skipped = stats.split(separator: "\r\n").first { $0.hasPrefix("STAT log_watcher_skipped ") }
            #expect(skipped.map { Int($0.split(separator: " ")[2]) ?? 0 } ?? 0 > 0, "\(stats)")
            // Now it reads: the lines it gets include memcached's skipped=N marker.
            var text = ""
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline, !text.contains("skipped=") {
                guard let chunk = try? watcher.receive(timeout: 1, what: "log lines", complete: { $0.isEmpty ? nil : $0.count }) else { break }
                text += String(decoding: chunk, as: UTF8.self)
                _ = try client.call("get k0123456789\r\n", until: "END\r\n")
            }
            #expect(text.contains("skipped="))
            #expect(server.rss().map { $0 < 200 * 1024 * 1024 } ?? false)
            watcher.close()
            // The watcher is gone once its connection closed.
            var gone = false
            for _ in 0..<50 where !gone {
                gone = try client.call("stats\r\n", until: "END\r\n").contains("STAT log_watchers 0\r\n")
                if !gone { usleep(20_000) }
            }
            #expect(gone)
        }

        @Test("a metadump of a large cache streams every item and leaves the connection usable")
        func largeMetadump() throws {
            let server = try ServerProcess.start(.current, overrides: ["-m": "256"])
            defer { server.stop() }
            let client = try server.connect()
            let count = 60_000
            var batch = ""
            for i in 0..<count {
                batch += "set key:\(i) 0 0 10 noreply\r\n0123456789\r\n"
                if i % 2000 == 1999 {
                    _ = try client.call(batch + "mn\r\n", until: "MN\r\n")
                    batch = ""
                }
            }
            try client.send("lru_crawler metadump all\r\n")
            let dump = try client.readUntil("\nEND\r\n", timeout: 60)
            let lines = dump.split(separator: UInt8(ascii: "\n")).filter { $0.starts(with: Array("key=".utf8)) }
            #expect(lines.count == count)
            #expect(Set(lines.map { $0.prefix { $0 != UInt8(ascii: " ") } }).count == count)
            #expect(try client.call("get key:7\r\n", until: "END\r\n") == "VALUE key:7 0 10\r\n0123456789\r\nEND\r\n")
        }

        @Test("verbosity changes what is logged, in memcached's -vv format")
        func verbosityLogging() throws {
            let server = try ServerProcess.start(.current)
            defer { server.stop() }
            let client = try server.connect()
            _ = try client.call("get quiet\r\n", until: "END\r\n")
            #expect(try client.call("verbosity 2\r\n") == "OK")
            _ = try client.call("set loud 0 0 1\r\nx\r\n")
            _ = try client.call("get loud\r\n", until: "END\r\n")
            #expect(try client.call("verbosity 0\r\n") == "OK")
            _ = try client.call("get silent\r\n", until: "END\r\n")
            usleep(100_000)
            let log = server.log()
            let fd = #"\d+"#
            for pattern in ["\n<\(fd) set loud 0 0 1\n", "\n>\(fd) STORED\n", "\n<\(fd) get loud\n", "\n>\(fd) sending key loud\n", "\n>\(fd) END\n"] {
                #expect(log.range(of: pattern, options: .regularExpression) != nil, "no \(pattern.debugDescription) in:\n\(log)")
            }
            #expect(!log.contains("get quiet") && !log.contains("get silent"), "\(log)")
        }
    }
}
