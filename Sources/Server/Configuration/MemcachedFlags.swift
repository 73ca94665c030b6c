/// memcached 1.6.18's command-line flags, each with what ringcached does with it.
///
/// An existing memcached command line must start ringcached unchanged or fail with a reason that
/// names the flag: never "unknown option" for a flag memcached knows, and never a silent no-op for
/// one that changes behaviour. Every flag of memcached 1.6.18 is here, short and long (its getopt
/// string is `a:AZp:s:U:m:Mc:khiVrvdl:u:P:f:n:t:D:LR:Cb:B:I:SFXWY:e:o:N:`). A flag that is a
/// ringcached setting points at its `OptionTable` entry; the rest are accepted with a warning
/// (no effect here, and the warning says why) or refused (ringcached will not start). README.md
/// and docs/ARCHITECTURE.md list the ignored and refused flags; a test compares them with this.
struct MemcachedFlag: Sendable {
    enum Handling: Sendable, Equatable {
        /// A ringcached setting, by its `OptionTable` long name.
        case setting(String)
        /// Accepted with a warning that names the flag and says why it has no effect.
        case ignored(because: String)
        /// Refused: configuration error, exit status 64.
        case refused(because: String)
        /// Read by the parser itself: `-h`, `-V`, `-i`, `-o`, `-B`.
        case parser
    }

    let short: Character?
    /// memcached's long name; nil for `-D`, which has none.
    let long: String?
    /// memcached requires an argument (`-D :`, `--slab-growth-factor=1.25`).
    let takesValue: Bool
    let handling: Handling

    /// `-Z (--enable-ssl)`, `-D`.
    var displayName: String {
        switch (short, long) {
        case let (s?, l?): return "-\(s) (--\(l))"
        case let (s?, nil): return "-\(s)"
        case let (nil, l?): return "--\(l)"
        case (nil, nil): return "?"
        }
    }
}

enum MemcachedFlags {
    private static let refusedSuffix = "; refusing to start rather than serve without it"

    static let all: [MemcachedFlag] = [
        // Settings ringcached has (the OptionTable entry's short flag is memcached's).
        MemcachedFlag(short: "p", long: "port", takesValue: true, handling: .setting("port")),
        MemcachedFlag(short: "U", long: "udp-port", takesValue: true, handling: .setting("udp-port")),
        MemcachedFlag(short: "s", long: "unix-socket", takesValue: true, handling: .setting("unix-socket")),
        MemcachedFlag(short: "a", long: "unix-mask", takesValue: true, handling: .setting("unix-mask")),
        MemcachedFlag(short: "A", long: "enable-shutdown", takesValue: false, handling: .setting("enable-shutdown")),
        MemcachedFlag(short: "l", long: "listen", takesValue: true, handling: .setting("listen")),
        MemcachedFlag(short: "d", long: "daemon", takesValue: false, handling: .setting("daemonize")),
        MemcachedFlag(short: "u", long: "user", takesValue: true, handling: .setting("user")),
        MemcachedFlag(short: "m", long: "memory-limit", takesValue: true, handling: .setting("memory-limit")),
        MemcachedFlag(short: "M", long: "disable-evictions", takesValue: false, handling: .setting("disable-evictions")),
        MemcachedFlag(short: "c", long: "conn-limit", takesValue: true, handling: .setting("conn-limit")),
        MemcachedFlag(short: "v", long: "verbose", takesValue: false, handling: .setting("verbose")),
        MemcachedFlag(short: "P", long: "pidfile", takesValue: true, handling: .setting("pidfile")),
        MemcachedFlag(short: "t", long: "threads", takesValue: true, handling: .setting("threads")),
        MemcachedFlag(short: "b", long: "listen-backlog", takesValue: true, handling: .setting("listen-backlog")),
        MemcachedFlag(short: "I", long: "max-item-size", takesValue: true, handling: .setting("max-item-size")),
        MemcachedFlag(short: "C", long: "disable-cas", takesValue: false, handling: .setting("disable-cas")),
        MemcachedFlag(short: "F", long: "disable-flush-all", takesValue: false, handling: .setting("disable-flush-all")),
        MemcachedFlag(short: "X", long: "disable-dumping", takesValue: false, handling: .setting("disable-dumping")),
        MemcachedFlag(short: "W", long: "disable-watch", takesValue: false, handling: .setting("disable-watch")),
        MemcachedFlag(short: "D", long: nil, takesValue: true, handling: .setting("prefix-delimiter")),

        // Read by the parser.
        MemcachedFlag(short: "h", long: "help", takesValue: false, handling: .parser),
        MemcachedFlag(short: "V", long: "version", takesValue: false, handling: .parser),
        MemcachedFlag(short: "i", long: "license", takesValue: false, handling: .parser),
        MemcachedFlag(short: "o", long: "extended", takesValue: true, handling: .parser),
        MemcachedFlag(short: "B", long: "protocol", takesValue: true, handling: .parser),

        // Accepted with a warning: tuning of memcached's own machinery, which ringcached lacks.
        MemcachedFlag(short: "r", long: "enable-coredumps", takesValue: false, handling: .ignored(
            because: "ringcached leaves the core file limit as it finds it (raise it with ulimit -c or LimitCORE=)")),
        MemcachedFlag(short: "k", long: "lock-memory", takesValue: false, handling: .ignored(
            because: "ringcached does not mlockall() its memory")),
        MemcachedFlag(short: "L", long: "enable-largepages", takesValue: false, handling: .ignored(
            because: "ringcached does not preallocate its item memory in large pages")),
        MemcachedFlag(short: "f", long: "slab-growth-factor", takesValue: true, handling: .ignored(
            because: "ringcached has no slab allocator (items are allocated one by one)")),
        MemcachedFlag(short: "n", long: "slab-min-size", takesValue: true, handling: .ignored(
            because: "ringcached has no slab allocator (items are allocated one by one)")),
        MemcachedFlag(short: "R", long: "max-reqs-per-event", takesValue: true, handling: .ignored(
            because: "ringcached has no per-event request limit")),
        MemcachedFlag(short: "e", long: "memory-file", takesValue: true, handling: .ignored(
            because: "ringcached keeps items in process memory only: the cache starts empty after a restart")),
        MemcachedFlag(short: "N", long: "napi-ids", takesValue: true, handling: .ignored(
            because: "ringcached hands connections to workers round-robin, not by NAPI id")),

        // Refused: security features. Starting without them would be worse than not starting.
        MemcachedFlag(short: "Z", long: "enable-ssl", takesValue: false, handling: .refused(
            because: "TLS is not supported yet by ringcached" + refusedSuffix)),
        MemcachedFlag(short: "S", long: "enable-sasl", takesValue: false, handling: .refused(
            because: "SASL authentication is not supported yet by ringcached" + refusedSuffix)),
        MemcachedFlag(short: "Y", long: "auth-file", takesValue: true, handling: .refused(
            because: "ASCII authentication (auth file) is not supported yet by ringcached" + refusedSuffix)),
    ]

    static func flag(short: Character) -> MemcachedFlag? { all.first { $0.short == short } }
    static func flag(long: String) -> MemcachedFlag? { all.first { $0.long == long } }

    /// Short names of the flags accepted with a warning, in table order (what the docs list).
    static var ignoredShortFlags: [Character] {
        all.compactMap { if case .ignored = $0.handling { return $0.short } else { return nil } }
    }

    /// Short names of the refused flags, in table order.
    static var refusedShortFlags: [Character] {
        all.compactMap { if case .refused = $0.handling { return $0.short } else { return nil } }
    }

    static func warning(_ flag: MemcachedFlag, because reason: String) -> String {
        "option \(flag.displayName): memcached option with no effect in ringcached: \(reason); ignored"
    }

    static func refusal(_ flag: MemcachedFlag, because reason: String) -> ConfigurationError {
        ConfigurationError("option \(flag.displayName): \(reason)")
    }

    /// A TOML key named after a refused flag (`enable_ssl = true`) gets the same refusal, not
    /// "unknown key": the file is no way around it.
    static func refusedFlag(tomlKey: String) -> (MemcachedFlag, String)? {
        for flag in all {
            if case .refused(let reason) = flag.handling, let long = flag.long, long.replacingDashes() == tomlKey {
                return (flag, reason)
            }
        }
        return nil
    }

    // MARK: -o keys

    /// memcached 1.6.18's `-o` keys (Debian's build: with TLS and extstore), as its getsubopt
    /// tables and `-h` list them. Recognised, no counterpart in ringcached: ignored with a warning.
    static let extendedKeys: Set<String> = [
        "maxconns_fast", "no_maxconns_fast", "hashpower", "no_hashexpand", "slab_reassign", "no_slab_reassign",
        "slab_automove", "no_slab_automove", "slab_automove_ratio", "slab_automove_window", "slab_automove_freeratio",
        "slab_sizes", "slab_chunk_max", "no_chunked_items", "tail_repair_time", "hash_algorithm",
        "lru_crawler", "no_lru_crawler", "lru_crawler_sleep", "lru_crawler_tocrawl",
        "lru_maintainer", "no_lru_maintainer", "hot_lru_pct", "warm_lru_pct", "hot_max_factor", "warm_max_factor",
        "temporary_ttl", "idle_timeout", "watcher_logbuf_size", "worker_logbuf_size", "track_sizes",
        "inline_ascii_resp", "no_inline_ascii_resp", "modern", "no_modern", "drop_privileges", "no_drop_privileges",
        "resp_obj_mem_limit", "read_buf_mem_limit", "sock_cookie_id",
        "ext_path", "ext_page_size", "ext_wbuf_size", "ext_threads", "ext_io_depth", "ext_item_size", "ext_item_age",
        "ext_low_ttl", "ext_recache_rate", "ext_compact_under", "ext_drop_under", "ext_max_sleep", "ext_max_frag",
        "ext_drop_unread",
        "ssl_chain_cert", "ssl_key", "ssl_keyformat", "ssl_verify_mode", "ssl_ciphers", "ssl_ca_cert",
        "ssl_wbuf_size", "ssl_session_cache", "ssl_kernel_tls", "ssl_min_version",
    ]

    /// Keys of older memcached releases (1.5) that old command lines still carry.
    static let olderExtendedKeys: Set<String> = ["lru_segmented", "no_lru_segmented", "inline_ascii_response"]

    /// The warning for a recognised memcached `-o` key; nil for a key memcached does not know.
    static func extendedKeyWarning(_ key: String) -> String? {
        let reason: String
        if olderExtendedKeys.contains(key) {
            reason = "a memcached 1.5 setting with no counterpart in ringcached"
        } else if !extendedKeys.contains(key) {
            return nil
        } else if key.hasPrefix("ssl_") {
            reason = "a TLS setting, and ringcached does not serve TLS (-Z is refused)"
        } else if key.hasPrefix("ext_") {
            reason = "an extstore setting, and ringcached keeps items in memory only"
        } else {
            reason = "tuning of memcached's own machinery (slabs, LRU, hash table, buffers, threads), which ringcached does not have"
        }
        return "-o \(key): memcached option with no effect in ringcached: \(reason); ignored"
    }
}
