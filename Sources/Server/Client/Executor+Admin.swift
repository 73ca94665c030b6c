import Storage
import TextProtocol

/// memcached 1.6.18's operator commands: `slabs`, `lru`, `lru_crawler`, `watch`, and the `stats`
/// subcommands that list items (`cachedump`), count key prefixes (`detail`) or histogram sizes.
///
/// Argument checks, their order and every answer are memcached's (proto_text.c), measured
/// against the real daemon. Where a command acts on machinery we do not have (slab pages, the
/// segmented LRU's maintainer thread), it answers what memcached answers in the matching state:
/// `slabs reassign` finds no spare pages, `lru mode` and `lru temp_ttl` are refused as with
/// `-o no_lru_maintainer`. Not on the hot path.
extension Executor {
    /// The arguments of an admin command as memcached's tokenizer sees them.
    struct Words {
        let buffer: UnsafeRawBufferPointer
        let spans: [Span]

        init(_ buffer: UnsafeRawBufferPointer, _ args: Span) {
            self.buffer = buffer
            var all: [Span] = []
            var it = KeyIterator(buffer, args)
            while let s = it.next() { all.append(s) }
            spans = all
        }

        var count: Int { spans.count }
        /// memcached's `ntokens`: the command, the arguments and its end marker.
        var ntokens: Int { spans.count + 2 }
        func bytes(_ i: Int) -> UnsafeRawBufferPointer { spanBytes(buffer, spans[i]) }
        func isWord(_ i: Int, _ text: String) -> Bool { i < count && bytes(i).elementsEqual(text.utf8) }
        /// memcached's `set_noreply_maybe`: the last token is exactly `noreply`.
        var noreply: Bool { count > 0 && isWord(count - 1, "noreply") }
        func uint32(_ i: Int) -> UInt32? { i < count ? NumberParsing.uint32(buffer.baseAddress!, spans[i]) : nil }
        func int32(_ i: Int) -> Int32? { i < count ? NumberParsing.int32(buffer.baseAddress!, spans[i]) : nil }
        /// `safe_strtod`: the whole token is a number.
        func double(_ i: Int) -> Double? {
            guard i < count else { return nil }
            return Double(String(decoding: bytes(i), as: UTF8.self))
        }
    }

    func admin(_ kind: AdminCommand, _ args: Span, _ buffer: UnsafeRawBufferPointer, _ out: inout OutputBuffer) -> ExecutionAction {
        let words = Words(buffer, args)
        switch kind {
        case .slabs: slabs(words, &out)
        case .lru: lru(words, &out)
        case .lruCrawler: return lruCrawler(words, &out)
        case .watch: return watch(words, &out)
        }
        return .proceed
    }

    /// Writes `text` and CRLF unless the command said `noreply` (memcached's `out_string`).
    private func answer(_ text: StaticString, _ noreply: Bool, _ out: inout OutputBuffer) {
        guard !noreply else { return }
        out.append(text)
        out.append("\r\n")
    }

    // MARK: slabs

    private func slabs(_ w: Words, _ out: inout OutputBuffer) {
        if w.ntokens == 5 && w.isWord(0, "reassign") {
            guard let src = w.int32(1), let dst = w.int32(2) else {
                answer("CLIENT_ERROR bad command line format", false, &out)
                return
            }
            // Items are not kept in slab pages here, so no class ever has a page to give:
            // memcached's answers for that state, in its order of checks.
            let largest = Int32(Store.largestSizeClass)
            if src == dst {
                answer("SAME src and dst class are identical", false, &out)
            } else if src < 0 || src > largest || dst < 0 || dst > largest {
                answer("BADCLASS invalid src or dst class id", false, &out)
            } else {
                answer("NOSPARE source class has no spare pages", false, &out)
            }
        } else if w.ntokens >= 4 && w.isWord(0, "automove") {
            let noreply = w.noreply
            if w.isWord(1, "ratio") {
                guard w.ntokens >= 5, let ratio = w.double(2) else {
                    answer("ERROR", noreply, &out)
                    return
                }
                operations.update { $0.slabAutomoveRatio = ratio }
            } else {
                guard let level = w.uint32(1) else {
                    answer("CLIENT_ERROR bad command line format", noreply, &out)
                    return
                }
                guard level <= 2 else {
                    answer("ERROR", noreply, &out)
                    return
                }
                operations.slabAutomove.store(Int(level), ordering: .relaxed)
            }
            answer("OK", noreply, &out)
        } else {
            answer("ERROR", false, &out)
        }
    }

    // MARK: lru

    private func lru(_ w: Words, _ out: inout OutputBuffer) {
        let noreply = w.noreply
        guard w.isWord(0, "tune") && w.ntokens >= 7 else {
            // `mode` and `temp_ttl` need memcached's LRU maintainer thread, which we do not
            // have (our LRU is flat): memcached refuses them the same way without one.
            answer("ERROR", noreply, &out)
            return
        }
        guard let hot = w.uint32(1), let warm = w.uint32(2), let hotFactor = w.double(3), let warmFactor = w.double(4) else {
            answer("ERROR", noreply, &out)
            return
        }
        if UInt64(hot) + UInt64(warm) > 80 {
            answer("ERROR hot and warm pcts must not exceed 80", noreply, &out)
        } else if warmFactor <= 0 || hotFactor <= 0 {
            answer("ERROR hot/warm age factors must be greater than 0", noreply, &out)
        } else {
            operations.update { t in
                t.hotLRUPercent = hot
                t.warmLRUPercent = warm
                t.hotMaxFactor = hotFactor
                t.warmMaxFactor = warmFactor
            }
            answer("OK", noreply, &out)
        }
    }

    // MARK: lru_crawler

    private func lruCrawler(_ w: Words, _ out: inout OutputBuffer) -> ExecutionAction {
        if w.ntokens == 4 && w.isWord(0, "crawl") {
            // (Right after `disable`, while its crawler thread is still stopping, memcached
            // answers `ERROR an unknown error happened` instead; this is its settled answer.)
            guard operations.crawlerEnabled.load(ordering: .relaxed) else {
                answer("CLIENT_ERROR lru crawler disabled", false, &out)
                return .proceed
            }
            if w.isWord(1, "hash") {
                // memcached 1.6.18 has no hash walk for the expiry crawler.
                answer("ERROR an unknown error happened", false, &out)
                return .proceed
            }
            guard Executor.crawlClasses(w.bytes(1)) != nil else {
                answer("BADCLASS invalid class id", false, &out)
                return .proceed
            }
            // The pass asked for before has not run yet: memcached's answer while a crawl runs.
            guard !operations.crawlRequested.exchange(true, ordering: .relaxed) else {
                answer("BUSY currently processing crawler request", false, &out)
                return .proceed
            }
            operations.crawlerStarts.add(1, ordering: .relaxed)
            answer("OK", false, &out)
        } else if w.ntokens == 4 && w.isWord(0, "metadump") {
            guard operations.crawlerEnabled.load(ordering: .relaxed) else {
                answer("CLIENT_ERROR lru crawler disabled", false, &out)
                return .proceed
            }
            guard operations.dumpEnabled else {
                answer("ERROR metadump not allowed", false, &out)
                return .proceed
            }
            guard !hasStackedAnswers else {
                answer("ERROR cannot pipeline other commands before metadump", false, &out)
                return .proceed
            }
            let classes: Set<Int>?
            if w.isWord(1, "hash") {
                classes = nil
            } else {
                guard let parsed = Executor.crawlClasses(w.bytes(1)) else {
                    answer("BADCLASS invalid class id", false, &out)
                    return .proceed
                }
                classes = parsed
            }
            operations.crawlerStarts.add(1, ordering: .relaxed)
            return .metadump(Metadump(classes: classes))
        } else if w.ntokens == 4 && w.isWord(0, "tocrawl") {
            guard let n = w.uint32(1) else {
                answer("CLIENT_ERROR bad command line format", false, &out)
                return .proceed
            }
            operations.update { $0.crawlerToCrawl = n }
            answer("OK", false, &out)
        } else if w.ntokens == 4 && w.isWord(0, "sleep") {
            guard let n = w.uint32(1) else {
                answer("CLIENT_ERROR bad command line format", false, &out)
                return .proceed
            }
            guard n <= 1_000_000 else {
                answer("CLIENT_ERROR sleep must be one second or less", false, &out)
                return .proceed
            }
            operations.update { $0.crawlerSleep = n }
            answer("OK", false, &out)
        } else if w.ntokens == 3 && w.isWord(0, "enable") {
            // memcached cannot start its crawler thread twice.
            let (started, _) = operations.crawlerEnabled.compareExchange(expected: false, desired: true, ordering: .relaxed)
            if started { answer("OK", false, &out) } else { answer("ERROR failed to start lru crawler thread", false, &out) }
        } else if w.ntokens == 3 && w.isWord(0, "disable") {
            operations.crawlerEnabled.store(false, ordering: .relaxed)
            answer("OK", false, &out)
        } else {
            answer("ERROR", false, &out)
        }
        return .proceed
    }

    /// memcached's class list for the crawler: `all`, or class ids separated by commas (empty
    /// parts skipped), each in 1..<64. nil: BADCLASS. An empty set means every class.
    static func crawlClasses(_ text: UnsafeRawBufferPointer) -> Set<Int>? {
        if text.elementsEqual("all".utf8) { return [] }
        var classes = Set<Int>()
        for part in text.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
            let token = Array(part)
            let id: UInt32? = token.withUnsafeBytes { NumberParsing.uint32($0.baseAddress!, Span(start: 0, count: token.count)) }
            guard let id, id >= 1, id < 64 else { return nil }
            classes.insert(Int(id))
        }
        return classes
    }

    // MARK: watch

    private func watch(_ w: Words, _ out: inout OutputBuffer) -> ExecutionAction {
        let noreply = w.noreply
        guard operations.watchEnabled else {
            answer("CLIENT_ERROR watch commands not allowed", noreply, &out)
            return .proceed
        }
        guard !hasStackedAnswers else {
            answer("ERROR cannot pipeline other commands before watch", noreply, &out)
            return .proceed
        }
        var events: UInt32 = 0
        if w.count == 0 {
            events = WatchEvents.fetchers
        } else {
            for i in 0..<w.count {
                guard let e = WatchEvents.named(w.bytes(i)) else {
                    answer("ERROR", noreply, &out)
                    return .proceed
                }
                events |= e
            }
        }
        guard operations.watch.count < WatchHub.limit else {
            answer("WATCHER_TOO_MANY log watcher limit reached", noreply, &out)
            return .proceed
        }
        answer("OK", noreply, &out)
        return .watch(events: events)
    }

    // MARK: stats subcommands

    /// `stats cachedump <class> <limit>`: `ITEM <key> [<bytes> b; <exptime> s]` lines, most
    /// recently used first, up to 2 MB as memcached; binary keys are skipped as memcached does.
    func cachedump(_ w: Words, _ out: inout OutputBuffer) {
        guard operations.dumpEnabled else {
            out.append("CLIENT_ERROR stats cachedump not allowed\r\n")
            return
        }
        guard w.ntokens >= 5 else {
            out.append("CLIENT_ERROR bad command line\r\n")
            return
        }
        guard let id = w.uint32(1), let limit = w.uint32(2) else {
            out.append("CLIENT_ERROR bad command line format\r\n")
            return
        }
        guard id < 64 else {
            out.append("CLIENT_ERROR Illegal slab id\r\n")
            return
        }
        let memlimit = 2 * 1024 * 1024
        var written = 0
        for item in store.mostRecentItems(inClass: Int(id), limit: Int(limit)) where !item.binaryKey {
            // memcached copies the key as a C string: it ends at a NUL.
            let key = item.key.prefix { $0 != 0 }
            let line = "ITEM \(String(decoding: key, as: UTF8.self)) [\(item.valueLength) b; \(item.exptime) s]\r\n"
            if written + line.utf8.count + 6 > memlimit { break }
            out.append(string: line)
            written += line.utf8.count
        }
        out.append("END\r\n")
    }

    /// `stats detail on|off|dump`.
    func detail(_ w: Words, _ out: inout OutputBuffer) {
        if w.ntokens >= 4 && w.isWord(1, "on") {
            operations.setDetail(true)
            out.append("OK\r\n")
        } else if w.ntokens >= 4 && w.isWord(1, "off") {
            operations.setDetail(false)
            out.append("OK\r\n")
        } else if w.ntokens >= 4 && w.isWord(1, "dump") {
            operations.prefixes.dump().withUnsafeBytes { out.append($0) }
        } else {
            out.append("CLIENT_ERROR usage: stats detail on|off|dump\r\n")
        }
    }

    /// `stats sizes`: memcached's histogram of item sizes in 32-byte buckets while
    /// `stats sizes_enable` is on, its status line while it is off.
    func sizes(_ out: inout OutputBuffer) {
        guard operations.trackSizes.load(ordering: .relaxed) else {
            out.append("STAT sizes_status disabled\r\nEND\r\n")
            return
        }
        var buckets: [Int: UInt64] = [:]
        var cursor = DumpCursor()
        while store.dumpItems(from: &cursor, budget: 4096, { item in
            buckets[(item.totalSize + 31) / 32, default: 0] += 1
        }) {}
        for bucket in buckets.keys.sorted() {
            out.append(string: "STAT \(bucket * 32) \(buckets[bucket]!)\r\n")
        }
        out.append("END\r\n")
    }
}
