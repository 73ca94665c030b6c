import Storage
import TextProtocol

/// Formats the answers of `stats`, `stats settings`, `stats items`, `stats slabs`, `stats sizes` and
/// `stats conns` as memcached 1.6.18 writes them: `STAT <name> <value>\r\n` lines, then `END\r\n`.
///
/// Names and order follow memcached; lines whose meaning does not apply to ringcached (slab pages,
/// the segmented LRU, extstore, the LRU crawler, response objects, ...) are left out rather than
/// faked. Not on the hot path: plain Strings are fine here.
public enum StatsReport {
    /// `stats`: memcached's general statistics.
    public static func general(
        server: ServerStats, workers w: WorkerStatsSnapshot, store: StoreStatistics, into out: inout OutputBuffer
    ) {
        line("pid", Int64(server.pid), &out)
        line("uptime", max(0, server.currentTime - server.startTime), &out)
        line("time", server.currentTime, &out)
        line("version", RingcacheVersion.protocolVersionString, &out)
        line("libevent", server.libeventVersion, &out)
        line("pointer_size", Int64(MemoryLayout<Int>.size * 8), &out)
        line("rusage_user", seconds(micros: server.userMicros), &out)
        line("rusage_system", seconds(micros: server.systemMicros), &out)
        line("max_connections", Int64(server.maxConnections), &out)
        line("curr_connections", Int64(server.currConnections), &out)
        line("total_connections", server.totalConnections, &out)
        line("rejected_connections", server.rejectedConnections, &out)
        line("connection_structures", Int64(server.connectionStructures), &out)
        line("cmd_get", w.cmdGet, &out)
        line("cmd_set", w.cmdSet, &out)
        line("cmd_flush", w.cmdFlush, &out)
        line("cmd_touch", w.cmdTouch, &out)
        line("cmd_meta", w.cmdMeta, &out)
        line("get_hits", w.getHits, &out)
        line("get_misses", w.getMisses, &out)
        line("get_expired", store.getExpired, &out)
        line("get_flushed", store.getFlushed, &out)
        line("delete_misses", w.deleteMisses, &out)
        line("delete_hits", w.deleteHits, &out)
        line("incr_misses", w.incrMisses, &out)
        line("incr_hits", w.incrHits, &out)
        line("decr_misses", w.decrMisses, &out)
        line("decr_hits", w.decrHits, &out)
        line("cas_misses", w.casMisses, &out)
        line("cas_hits", w.casHits, &out)
        line("cas_badval", w.casBadval, &out)
        line("touch_hits", w.touchHits, &out)
        line("touch_misses", w.touchMisses, &out)
        line("store_too_large", w.storeTooLarge, &out)
        line("store_no_memory", w.storeNoMemory, &out)
        line("auth_cmds", w.authCmds, &out)
        line("auth_errors", w.authErrors, &out)
        line("bytes_read", w.bytesRead, &out)
        line("bytes_written", w.bytesWritten, &out)
        line("limit_maxbytes", Int64(store.limitMaxbytes), &out)
        line("accepting_conns", Int64(server.acceptingConnections ? 1 : 0), &out)
        line("listen_disabled_num", server.listenDisabledCount, &out)
        line("time_in_listen_disabled_us", server.timeInListenDisabledMicros, &out)
        line("threads", Int64(server.threads), &out)
        line("conn_yields", w.connYields, &out)
        line("hash_power_level", Int64(powerOfTwo(store.hashBuckets)), &out)
        line("hash_bytes", Int64(store.hashBytes), &out)
        // Each stripe grows its table inline, under its own lock: never in the background.
        line("hash_is_expanding", Int64(0), &out)
        line("lru_crawler_running", Int64(server.crawlerRunning), &out)
        line("lru_crawler_starts", server.crawlerStarts, &out)
        // Log lines are rendered where they happen and never dropped before a watcher sees them.
        line("log_worker_dropped", UInt64(0), &out)
        line("log_worker_written", server.logWritten, &out)
        line("log_watcher_skipped", server.logSkipped, &out)
        line("log_watcher_sent", server.logSent, &out)
        line("log_watchers", Int64(server.logWatchers), &out)
        line("bytes", Int64(store.bytes), &out)
        line("curr_items", Int64(store.currItems), &out)
        line("total_items", store.totalItems, &out)
        line("expired_unfetched", store.expiredUnfetched, &out)
        line("evicted_unfetched", store.evictedUnfetched, &out)
        line("evictions", store.evictions, &out)
        line("reclaimed", store.reclaimed, &out)
        line("crawler_reclaimed", server.crawlerReclaimed, &out)
        line("crawler_items_checked", server.crawlerItemsChecked, &out)
        for extra in server.extra { line(extra.name, extra.value, &out) }
        out.append("END\r\n")
    }

    /// `stats settings`: the server's lines as given.
    public static func settings(_ lines: [StatLine], into out: inout OutputBuffer) {
        for l in lines { line(l.name, l.value, &out) }
        out.append("END\r\n")
    }

    /// `stats items`: per size class that holds items, `STAT items:<class>:<name> <value>`.
    /// memcached's hot/warm/cold LRU figures and crawler counters have no counterpart. Our LRU
    /// is per stripe, not per class, so `age` is the age of the store's least recently used
    /// item, the same for every class.
    public static func items(_ store: StoreStatistics, into out: inout OutputBuffer) {
        for c in store.sizeClasses where c.items > 0 {
            let p = "items:\(c.id):"
            line(p + "number", Int64(c.items), &out)
            line(p + "age", store.oldestItemAge, &out)
            line(p + "mem_requested", Int64(c.requestedBytes), &out)
            line(p + "evicted", c.evicted, &out)
            line(p + "evicted_nonzero", c.evictedNonzero, &out)
            line(p + "outofmemory", c.outOfMemory, &out)
            line(p + "reclaimed", c.reclaimed, &out)
            line(p + "expired_unfetched", c.expiredUnfetched, &out)
            line(p + "evicted_unfetched", c.evictedUnfetched, &out)
        }
        out.append("END\r\n")
    }

    /// `stats slabs`: per size class `STAT <class>:<name> <value>`, then `active_slabs` and
    /// `total_malloced`. Items are malloc'ed one by one, so memcached's pages and free chunks have
    /// no counterpart; `used_chunks` is the item count and `total_malloced` the memory in use.
    public static func slabs(_ store: StoreStatistics, into out: inout OutputBuffer) {
        for c in store.sizeClasses {
            let p = "\(c.id):"
            line(p + "chunk_size", Int64(c.chunkSize), &out)
            line(p + "used_chunks", Int64(c.items), &out)
            line(p + "get_hits", c.getHits, &out)
            line(p + "cmd_set", c.setCommands, &out)
            line(p + "delete_hits", c.deleteHits, &out)
            line(p + "incr_hits", c.incrHits, &out)
            line(p + "decr_hits", c.decrHits, &out)
            line(p + "cas_hits", c.casHits, &out)
            line(p + "cas_badval", c.casBadval, &out)
            line(p + "touch_hits", c.touchHits, &out)
        }
        line("active_slabs", Int64(store.sizeClasses.count), &out)
        line("total_malloced", Int64(store.usedMemory), &out)
        out.append("END\r\n")
    }

    /// `stats sizes`: memcached's answer while size tracking is off (it always is here).
    public static func sizes(into out: inout OutputBuffer) {
        out.append("STAT sizes_status disabled\r\nEND\r\n")
    }

    /// `stats conns`.
    public static func conns(_ conns: [ConnectionStats], into out: inout OutputBuffer) {
        for c in conns {
            let p = "\(c.fd):"
            line(p + "addr", c.address, &out)
            if let listen = c.listenAddress { line(p + "listen_addr", listen, &out) }
            line(p + "state", c.state, &out)
            line(p + "secs_since_last_cmd", c.secondsSinceLastCommand, &out)
        }
        out.append("END\r\n")
    }

    // MARK: - Lines

    static func line(_ name: String, _ value: String, _ out: inout OutputBuffer) {
        out.append("STAT ")
        out.append(string: name)
        out.append(byte: UInt8(ascii: " "))
        out.append(string: value)
        out.append("\r\n")
    }

    static func line(_ name: String, _ value: UInt64, _ out: inout OutputBuffer) {
        out.append("STAT ")
        out.append(string: name)
        out.append(byte: UInt8(ascii: " "))
        out.append(decimal: value)
        out.append("\r\n")
    }

    static func line(_ name: String, _ value: Int64, _ out: inout OutputBuffer) {
        out.append("STAT ")
        out.append(string: name)
        out.append(byte: UInt8(ascii: " "))
        out.append(signed: value)
        out.append("\r\n")
    }

    /// memcached's rusage format: seconds, a dot, six digits of microseconds.
    static func seconds(micros: Int64) -> String {
        let m = max(0, micros)
        let fraction = String(m % 1_000_000)
        return "\(m / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    /// `hash_power_level`: log2 of the bucket count (rounded down), 0 for none.
    static func powerOfTwo(_ n: Int) -> Int {
        n <= 0 ? 0 : Int.bitWidth - 1 - n.leadingZeroBitCount
    }
}
