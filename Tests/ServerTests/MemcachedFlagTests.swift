import Foundation
import Testing
@testable import Server

/// Every flag memcached 1.6.18 accepts is known to ringcached by name: a setting, accepted with a
/// warning that says why it has no effect, or refused with a reason. Never "unknown option".
///
/// The lists below are memcached's own, written out independently of `MemcachedFlags` and checked
/// by hand against Debian's /usr/bin/memcached 1.6.18 (`memcached --X` answers "unrecognized
/// option" for a long name it does not know, "requires an argument" / "doesn't allow an argument"
/// for the arity; `-o key` answers `Illegal suboption` for a key it does not know).
@Suite struct MemcachedFlagTests {
    /// memcached 1.6.18's getopt string (main() in memcached.c; also in the binary's strings).
    static let getoptString = "a:AZp:s:U:m:Mc:khiVrvdl:u:P:f:n:t:D:LR:Cb:B:I:SFXWY:e:o:N:"

    /// memcached 1.6.18's long options: name → takes a required argument. (`verbose` takes an
    /// optional one; `-D` has no long name.)
    static let longOptions: [(String, Bool)] = [
        ("port", true), ("udp-port", true), ("unix-socket", true), ("unix-mask", true),
        ("enable-shutdown", false), ("enable-ssl", false), ("listen", true), ("daemon", false),
        ("enable-coredumps", false), ("user", true), ("memory-limit", true), ("disable-evictions", false),
        ("conn-limit", true), ("lock-memory", false), ("help", false), ("license", false), ("version", false),
        ("verbose", false), ("pidfile", true), ("slab-growth-factor", true), ("slab-min-size", true),
        ("enable-largepages", false), ("threads", true), ("max-reqs-per-event", true), ("disable-cas", false),
        ("listen-backlog", true), ("protocol", true), ("max-item-size", true), ("enable-sasl", false),
        ("disable-flush-all", false), ("disable-dumping", false), ("disable-watch", false), ("auth-file", true),
        ("memory-file", true), ("extended", true), ("napi-ids", true),
    ]

    /// memcached 1.6.18's `-o` keys (Debian's build, with TLS and extstore).
    static let extendedKeys = """
        maxconns_fast no_maxconns_fast hashpower no_hashexpand slab_reassign no_slab_reassign slab_automove
        no_slab_automove slab_automove_ratio slab_automove_window slab_automove_freeratio slab_sizes
        slab_chunk_max no_chunked_items tail_repair_time hash_algorithm lru_crawler no_lru_crawler
        lru_crawler_sleep lru_crawler_tocrawl lru_maintainer no_lru_maintainer hot_lru_pct warm_lru_pct
        hot_max_factor warm_max_factor temporary_ttl idle_timeout watcher_logbuf_size worker_logbuf_size
        track_sizes inline_ascii_resp no_inline_ascii_resp modern no_modern drop_privileges no_drop_privileges
        resp_obj_mem_limit read_buf_mem_limit sock_cookie_id ext_path ext_page_size ext_wbuf_size ext_threads
        ext_io_depth ext_item_size ext_item_age ext_low_ttl ext_recache_rate ext_compact_under ext_drop_under
        ext_max_sleep ext_max_frag ext_drop_unread ssl_chain_cert ssl_key ssl_keyformat ssl_verify_mode
        ssl_ciphers ssl_ca_cert ssl_wbuf_size ssl_session_cache ssl_kernel_tls ssl_min_version
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)

    /// The security flags: refused, never ignored.
    static let refused: Set<Character> = ["Z", "S", "Y"]

    /// A plausible argument for each value-taking short flag.
    static let sampleValue: [Character: String] = [
        "a": "700", "p": "11300", "s": "/tmp/rc-test.sock", "U": "0", "m": "64", "c": "100", "l": "127.0.0.1",
        "u": "nobody", "P": "/tmp/rc-test.pid", "f": "1.25", "n": "48", "t": "4", "D": ":", "R": "20",
        "b": "1024", "B": "ascii", "I": "1m", "Y": "/tmp/rc-auth", "e": "/tmp/rc-memory", "o": "modern", "N": "1",
    ]

    static var shortFlags: [(Character, Bool)] {
        var out: [(Character, Bool)] = []
        for c in getoptString {
            if c == ":" { out[out.count - 1].1 = true } else { out.append((c, false)) }
        }
        return out
    }

    func parse(_ args: [String], file: String = "") throws -> LaunchRequest {
        try LaunchOptions.parse(args, readFile: { _ in file })
    }

    func warnings(_ args: [String]) throws -> [String] {
        guard case .run(_, let warnings) = try parse(args) else {
            Issue.record("expected a run request for \(args)")
            return []
        }
        return warnings
    }

    func refusal(_ args: [String], file: String = "") -> String? {
        do {
            _ = try parse(args, file: file)
            return nil
        } catch let error as ConfigurationError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    // MARK: The table is memcached's

    @Test func theTableHoldsExactlyMemcachedsFlags() {
        let shorts = Self.shortFlags
        #expect(shorts.count == 37)
        #expect(Set(MemcachedFlags.all.compactMap(\.short)) == Set(shorts.map(\.0)))
        #expect(MemcachedFlags.all.compactMap(\.short).count == shorts.count, "a short flag is listed twice")
        for (c, takesValue) in shorts {
            #expect(MemcachedFlags.flag(short: c)?.takesValue == takesValue, "-\(c): arity differs from memcached's")
        }
        #expect(Set(MemcachedFlags.all.compactMap(\.long)) == Set(Self.longOptions.map(\.0)))
        for (name, takesValue) in Self.longOptions {
            #expect(MemcachedFlags.flag(long: name)?.takesValue == takesValue, "--\(name): arity differs from memcached's")
        }
    }

    /// A flag that is a setting here points at a real option whose short flag is memcached's.
    @Test func settingsPointAtTheOptionTable() throws {
        for flag in MemcachedFlags.all {
            guard case .setting(let long) = flag.handling else { continue }
            let spec = try #require(OptionTable.spec(long: long), "\(flag.displayName) → --\(long) is not in OptionTable")
            #expect(spec.short == flag.short, "\(flag.displayName) → --\(long) has short flag \(String(describing: spec.short))")
        }
    }

    // MARK: Every flag is recognised by name

    @Test(arguments: MemcachedFlagTests.shortFlags.map { String($0.0) })
    func shortFlagIsKnownByName(flag: String) {
        let c = flag.first!
        let args = ["-\(flag)"] + (Self.sampleValue[c].map { [$0] } ?? [])
        if let message = refusal(args) {
            #expect(Self.refused.contains(c), "-\(flag) refused: \(message)")
            #expect(message.contains("-\(flag)"), "the refusal does not name -\(flag): \(message)")
            #expect(!message.contains("unknown option"))
        } else {
            #expect(!Self.refused.contains(c), "-\(flag) must be refused")
        }
    }

    @Test(arguments: MemcachedFlagTests.longOptions.map(\.0))
    func longFlagIsKnownByName(name: String) {
        let flag = MemcachedFlags.flag(long: name)
        let c = flag?.short
        let takesValue = Self.longOptions.first { $0.0 == name }!.1
        let value = c.flatMap { Self.sampleValue[$0] } ?? "x"
        for args in takesValue ? [["--\(name)=\(value)"], ["--\(name)", value]] : [["--\(name)"]] {
            if let message = refusal(args) {
                #expect(c.map { Self.refused.contains($0) } == true, "\(args) refused: \(message)")
                #expect(message.contains("--\(name)"), "the refusal does not name --\(name): \(message)")
                #expect(!message.contains("unknown option"))
            } else {
                #expect(c.map { Self.refused.contains($0) } != true, "--\(name) must be refused")
            }
        }
    }

    @Test(arguments: MemcachedFlagTests.extendedKeys)
    func extendedKeyIsKnownByName(key: String) throws {
        let w = try warnings(["-o", key])
        #expect(w.count == 1)
        #expect(w.first?.hasPrefix("-o \(key): memcached option with no effect in ringcached: ") == true, "\(w)")
    }

    @Test func aFlagMemcachedDoesNotKnowIsStillAnError() throws {
        #expect(refusal(["-x"])?.contains("unknown option '-x'") == true)
        #expect(refusal(["--napi_ids=1"])?.contains("unknown option '--napi_ids'") == true)
        #expect(try warnings(["-o", "frobnicate"]).first?.contains("not a memcached 1.6.18 or ringcached option") == true)
    }

    // MARK: Ignored, refused, applied

    /// (arguments, the flag the warning names)
    @Test(arguments: [
        (["-r"], "-r (--enable-coredumps)"), (["-k"], "-k (--lock-memory)"), (["-L"], "-L (--enable-largepages)"),
        (["-f", "1.1"], "-f (--slab-growth-factor)"), (["-n32"], "-n (--slab-min-size)"),
        (["-R", "5"], "-R (--max-reqs-per-event)"), (["-e", "/tmp/m"], "-e (--memory-file)"),
        (["-N", "1"], "-N (--napi-ids)"), (["--napi-ids=2"], "-N (--napi-ids)"), (["--lock-memory"], "-k (--lock-memory)"),
    ])
    func ignoredFlagWarnsWithItsNameAndWhy(args: [String], named: String) throws {
        let w = try warnings(args)
        #expect(w.count == 1)
        #expect(w.first?.hasPrefix("option \(named): memcached option with no effect in ringcached: ") == true, "\(w)")
        #expect(w.first?.hasSuffix("; ignored") == true)
    }

    @Test func ignoredFlagsGluedTogetherAreEachWarned() throws {
        #expect(try warnings(["-rkL"]).count == 3)
        #expect(try warnings(["-kf1.5"]).count == 2)
    }

    @Test(arguments: [
        (["-Z"], "option -Z (--enable-ssl): TLS is not supported yet by ringcached; refusing to start rather than serve without it"),
        (["--enable-ssl"], "option -Z (--enable-ssl): TLS is not supported yet by ringcached"),
        (["-S"], "option -S (--enable-sasl): SASL authentication is not supported yet by ringcached"),
        (["--enable-sasl"], "option -S (--enable-sasl): SASL"),
        (["-Y", "/etc/auth"], "option -Y (--auth-file): ASCII authentication (auth file) is not supported yet"),
        (["-Y/etc/auth"], "option -Y (--auth-file)"),
        (["--auth-file=/etc/auth"], "option -Y (--auth-file)"),
        (["--auth-file", "/etc/auth"], "option -Y (--auth-file)"),
        (["-Y"], "option -Y (--auth-file)"),
        (["-p", "1", "-dZ"], "option -Z (--enable-ssl)"),
        (["--print-config", "-S"], "option -S (--enable-sasl)"),
        (["-o", "enable_ssl"], "option -Z (--enable-ssl)"),
    ])
    func securityFlagIsRefused(args: [String], message: String) {
        let got = refusal(args)
        #expect(got?.contains(message) == true, "\(args): \(got ?? "accepted")")
        #expect(got?.contains("refusing to start rather than serve without it") == true)
    }

    @Test func theConfigFileIsNoWayAroundARefusal() {
        for key in ["enable_ssl", "enable_sasl"] {
            let got = refusal(["--config", "x.toml"], file: "\(key) = true")
            #expect(got?.contains("not supported yet") == true, "\(key): \(got ?? "accepted")")
        }
        let got = refusal(["--config", "x.toml"], file: "auth_file = \"/etc/auth\"")
        #expect(got?.contains("option -Y (--auth-file)") == true, "\(got ?? "accepted")")
    }

    @Test func behaviourFlagsAreApplied() throws {
        guard case .run(let c, let w) = try parse(["-F", "-C", "-X", "-W"]) else {
            Issue.record("expected run")
            return
        }
        #expect(w.isEmpty)
        #expect(c.disableFlushAll && c.disableCas && c.disableDumping && c.disableWatch)
        guard case .run(let long, _) = try parse(["--disable-flush-all", "--disable-cas", "--disable-dumping", "--disable-watch"]) else {
            Issue.record("expected run")
            return
        }
        #expect(long == c)
        guard case .run(let glued, _) = try parse(["-FC"]) else { return }
        #expect(glued.disableFlushAll && glued.disableCas)
        let toml = "disable_flush_all = true\ndisable_cas = true\ndisable_dumping = true\ndisable_watch = true\n"
        guard case .run(let fromFile, _) = try parse(["--config", "x.toml"], file: toml) else { return }
        #expect(fromFile == c)
        let defaults = Configuration()
        #expect(!defaults.disableFlushAll && !defaults.disableCas && !defaults.disableDumping && !defaults.disableWatch)
    }

    @Test func memcachedsDaemonIsOurDaemonize() throws {
        guard case .run(let c, let w) = try parse(["--daemon"]) else { return }
        #expect(c.daemonize && w.isEmpty)
    }

    @Test func protocolAsciiOrAutoIsAcceptedBinaryAndOthersAreNot() throws {
        #expect(try warnings(["-B", "ascii"]).isEmpty)
        #expect(try warnings(["--protocol=ascii"]).isEmpty)
        let auto = try warnings(["-B", "auto"])
        #expect(auto.count == 1 && auto[0].contains("-B auto"))
        #expect(refusal(["-B", "binary"])?.contains("-B binary") == true)
        #expect(refusal(["--protocol", "binary"])?.contains("-B binary") == true)
        let other = refusal(["-B", "udp"])
        #expect(other?.contains("-B (--protocol): 'udp' is not a protocol") == true, "\(other ?? "accepted")")
    }

    @Test func licenseIsPrintedAndExits() throws {
        #expect(try parse(["-i"]) == .license)
        #expect(try parse(["--license"]) == .license)
        #expect(LaunchOptions.licenseText.contains("libevent"))
        #expect(LaunchOptions.licenseText.contains("contains no memcached source"))
    }

    // MARK: The docs list what the code does

    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// The section of a markdown file from `## <title>` to the next `## `.
    func section(_ file: String, _ title: String) throws -> String {
        let text = try String(contentsOf: Self.packageRoot.appendingPathComponent(file), encoding: .utf8)
        let start = try #require(text.range(of: "\n## \(title)\n"), "\(file) has no ## \(title) section")
        let rest = text[start.upperBound...]
        let end = rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex
        return String(rest[..<end])
    }

    /// The flags in "(`-a -b -c`) <phrase>", e.g. phrase "are accepted with a warning".
    func listedFlags(in text: String, before phrase: String, file: String) throws -> Set<Character> {
        let collapsed = text.split(whereSeparator: { $0 == "\n" }).joined(separator: " ")
        let phraseRange = try #require(collapsed.range(of: "`) \(phrase)"), "\(file): no \"(`…`) \(phrase)\"")
        let head = collapsed[..<phraseRange.lowerBound]
        let open = try #require(head.range(of: "(`", options: .backwards), "\(file): no \"(`\" before \(phrase)")
        let flags = head[open.upperBound...].split(separator: " ")
        var out: Set<Character> = []
        for flag in flags {
            #expect(flag.count == 2 && flag.first == "-", "\(file): '\(flag)' is not a short flag")
            if let c = flag.last { out.insert(c) }
        }
        return out
    }

    @Test(arguments: [("README.md", "Flags"), ("docs/ARCHITECTURE.md", "Configuration")])
    func docsListTheIgnoredAndRefusedFlagsOfTheCode(file: String, title: String) throws {
        let text = try section(file, title)
        let ignored = try listedFlags(in: text, before: "are accepted with a warning", file: file)
        let refused = try listedFlags(in: text, before: "are refused", file: file)
        #expect(ignored == Set(MemcachedFlags.ignoredShortFlags), "\(file) lists ignored \(ignored.sorted())")
        #expect(refused == Set(MemcachedFlags.refusedShortFlags), "\(file) lists refused \(refused.sorted())")
    }

    /// Every setting has a row in one of README's flag tables (the cluster ones are in its own).
    @Test func readmeHasARowForEverySetting() throws {
        let text = try String(contentsOf: Self.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        for spec in OptionTable.all {
            #expect(text.contains("| `--\(spec.long)") || text.contains(", `--\(spec.long)`"),
                    "README has no table row for --\(spec.long)")
        }
    }

    // MARK: Help and durations

    @Test func helpShowsEverySettingsDefault() {
        let help = LaunchOptions.helpText
        let lines = help.split(separator: "\n")
        for spec in OptionTable.all {
            let line = lines.first { $0.hasPrefix("  ") && ($0.contains("--\(spec.long) ") || $0.hasSuffix("--\(spec.long)")) }
            #expect(line?.hasSuffix("(default: \(spec.defaultText))") == true, "--help line of --\(spec.long): \(line ?? "missing")")
        }
        #expect(help.contains("(default: 11211)"))
        #expect(help.contains("(default: 127.0.0.1)"))
        #expect(help.contains("(default: 1m)"))
        #expect(help.contains("(default: 100ms)"))
        #expect(help.contains("(default: false)"))
        #expect(help.contains("accepted with a warning (no effect in ringcached): -r -k -L -f -n -R -e -N"))
        #expect(help.contains("refused (not supported yet; ringcached will not start): -Z -S -Y"))
    }

    @Test func aBareDurationSaysItIsMilliseconds() throws {
        let help = LaunchOptions.helpText
        let sweep = help.split(separator: "\n").first { $0.contains("--sweep-interval") }
        #expect(sweep?.contains("a bare number is milliseconds") == true)
        guard case .printConfig(let c, _) = try parse(["--print-config"]) else { return }
        let toml = LaunchOptions.renderTOML(c)
        for key in ["sweep_interval", "peer_timeout"] {
            let lines = toml.split(separator: "\n")
            let index = try #require(lines.firstIndex { $0.hasPrefix("\(key) = ") })
            #expect(lines[index - 1].contains("a bare number is milliseconds"), "comment above \(key): \(lines[index - 1])")
        }
    }

    /// (written, milliseconds)
    @Test(arguments: [
        ("250ms", 250), ("1s", 1000), ("1.5s", 1500), ("0.5s", 500), (".5s", 500), ("1.5m", 90_000), ("2m", 120_000),
        ("1h", 3_600_000), ("0.25h", 900_000), ("2", 2), ("100", 100), (" 1.5S ", 1500), ("1.5 s", 1500), ("1.000s", 1000),
    ])
    func durationParses(text: String, millis: Int) throws {
        #expect(try ValueParsing.durationMillis(text, name: "d") == millis)
    }

    @Test(arguments: ["", "s", "abc", "1.5x", "-1s", "1..5s", "1.s", "1,5s", "1e3", "1.5ms", "0.0001s", "99999999999999h"])
    func durationGarbageIsRefusedClearly(text: String) {
        do {
            let v = try ValueParsing.durationMillis(text, name: "sweep-interval")
            Issue.record("'\(text)' parsed as \(v) ms")
        } catch {
            #expect("\(error)".hasPrefix("sweep-interval: '\(text)' "), "\(error)")
        }
    }

    @Test func durationsWithDecimalsWorkInFlagsAndTheFile() throws {
        guard case .run(let c, _) = try parse(["--peer-timeout", "1.5s", "--sweep-interval=0.5s"]) else { return }
        #expect(c.peerTimeout == 1500 && c.sweepInterval == 500)
        guard case .run(let f, _) = try parse(["--config", "x"], file: "peer_timeout = \"1.5s\"\nsweep_interval = 250\n") else { return }
        #expect(f.peerTimeout == 1500 && f.sweepInterval == 250)
        let floatInFile = refusal(["--config", "x"], file: "peer_timeout = 1.5\n")
        #expect(floatInFile?.contains("a bare integer is milliseconds") == true, "\(floatInFile ?? "accepted")")
    }
}
