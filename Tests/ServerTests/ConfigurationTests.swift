import Testing
@testable import Server

/// The command line, the TOML file and --print-config, all driven by one option table.
@Suite struct ConfigurationTests {
    func parse(_ args: [String], file: String = "") throws -> LaunchRequest {
        try LaunchOptions.parse(args, readFile: { _ in file })
    }

    func run(_ args: [String], file: String = "") throws -> Configuration {
        guard case .run(let c, _) = try parse(args, file: file) else {
            Issue.record("expected a run request for \(args)")
            return Configuration()
        }
        return c
    }

    @Test func defaultsServeOneLocalNode() throws {
        let c = try run([])
        #expect(c.port == 11211)
        #expect(c.listen == ["127.0.0.1"])
        #expect(c.threads == 4)
        #expect(c.memoryLimit == 64)
        #expect(c.connLimit == 1024)
        #expect(c.maxItemSize == 1 << 20)
        #expect(c.maxOutputBuffer == 16 << 20)
    }

    @Test func prefixDelimiterIsMemcachedsDashD() throws {
        #expect(try run(["-D", "/"]).prefixDelimiter == "/")
        #expect(try run([]).prefixDelimiter == "")
        #expect(throws: ConfigurationError.self) { try run(["-D", "ab"]) }
        #expect(throws: ConfigurationError.self) { try run(["-D", " "]) }
    }

    @Test func debianMemcachedConfLineStartsUnchanged() throws {
        let c = try run(["-d", "-u", "memcache", "-P", "/var/run/memcached/memcached.pid", "-m", "64", "-p", "11211", "-l", "127.0.0.1"])
        #expect(c.daemonize)
        #expect(c.user == "memcache")
        #expect(c.pidfile == "/var/run/memcached/memcached.pid")
        #expect(c.memoryLimit == 64)
        #expect(c.listen == ["127.0.0.1"])
    }

    /// (arguments, TOML key of the setting, expected value as --print-config renders it)
    @Test(arguments: [
        (["-p11300"], "port", "11300"),
        (["--port=11301"], "port", "11301"),
        (["--port", "11302"], "port", "11302"),
        (["-t", "2"], "threads", "2"),
        (["--conn-limit", "10"], "conn_limit", "10"),
        (["-c", "10"], "conn_limit", "10"),
        (["-m", "128"], "memory_limit", "128"),
        (["-I", "2m"], "max_item_size", "\"2m\""),
        (["-I", "512k"], "max_item_size", "\"512k\""),
        (["--max-item-size=1048576"], "max_item_size", "\"1m\""),
        (["-vv"], "verbose", "2"),
        (["-v", "-v"], "verbose", "2"),
        (["-M"], "disable_evictions", "true"),
        (["-o", "max_output_buffer=4m"], "max_output_buffer", "\"4m\""),
        (["--max-output-buffer", "4m"], "max_output_buffer", "\"4m\""),
        (["--sweep-interval", "200ms"], "sweep_interval", "\"200ms\""),
        (["--sweep-interval", "1.5s"], "sweep_interval", "\"1500ms\""),
        (["--sweep-interval", "2s"], "sweep_interval", "\"2s\""),
        (["--sweep-interval", "20"], "sweep_interval", "\"20ms\""),
        (["--peer-timeout=0.5s"], "peer_timeout", "\"500ms\""),
        (["-F"], "disable_flush_all", "true"),
        (["-C"], "disable_cas", "true"),
        (["-X"], "disable_dumping", "true"),
        (["-W"], "disable_watch", "true"),
        (["--disable-flush-all"], "disable_flush_all", "true"),
        (["-o", "disable_cas=true"], "disable_cas", "true"),
        (["-s", "/tmp/rc.sock", "-a", "755"], "unix_mask", "\"755\""),
    ])
    func flagsSetTheirSetting(args: [String], key: String, expected: String) throws {
        let c = try run(args)
        let spec = try #require(OptionTable.spec(tomlKey: key))
        #expect(spec.render(c) == expected)
    }

    @Test func listenRepeatsAndCommas() throws {
        #expect(try run(["-l", "127.0.0.1,::1"]).listen == ["127.0.0.1", "::1"])
        #expect(try run(["-l", "127.0.0.1", "-l", "[::1]"]).listen == ["127.0.0.1", "::1"])
    }

    @Test(arguments: ["--bogus", "-x", "-Q"])
    func unknownFlagIsAnErrorThatNamesIt(flag: String) {
        do {
            _ = try parse([flag])
            Issue.record("\(flag) was accepted")
        } catch let error as ConfigurationError {
            #expect(error.description.contains(flag))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func udpOtherThanZeroIsRefusedWithAReason() throws {
        #expect(try run(["-U", "0"]).udpPort == 0)
        #expect(throws: ConfigurationError.self) { _ = try parse(["-U", "11211"]) }
        do { _ = try parse(["-U", "11211"]) } catch let error as ConfigurationError { #expect(error.description.contains("UDP")) } catch {}
    }

    @Test func unknownExtendedOptionsAreWarnedNotFatal() throws {
        guard case .run(_, let warnings) = try parse(["-o", "modern,frobnicate=1"]) else {
            Issue.record("expected run")
            return
        }
        #expect(warnings.count == 2)
        #expect(warnings.contains { $0.contains("frobnicate") })
    }

    @Test func flagsOverrideTheFile() throws {
        let toml = """
        port = 12000
        threads = 3
        max_item_size = "2m"
        listen = ["127.0.0.1", "::1"]
        """
        let c = try run(["--config", "x.toml", "-p", "12001"], file: toml)
        #expect(c.port == 12001)
        #expect(c.threads == 3)
        #expect(c.maxItemSize == 2 << 20)
        #expect(c.listen == ["127.0.0.1", "::1"])
    }

    @Test func unknownOrMistypedFileKeysAreErrors() {
        #expect(throws: ConfigurationError.self) { _ = try run(["--config", "x"], file: "prot = 1") }
        #expect(throws: ConfigurationError.self) { _ = try run(["--config", "x"], file: "port = \"abc\"") }
        #expect(throws: ConfigurationError.self) { _ = try run(["--config", "x"], file: "port = [") }
    }

    @Test func fileErrorsNameTheirLine() {
        func message(_ file: String) -> String {
            do { _ = try run(["--config", "f.toml"], file: file) } catch let error as ConfigurationError { return error.message } catch { return "\(error)" }
            return "no error"
        }
        #expect(message("port = 1\nprot = 1") == "f.toml:2: unknown key 'prot'")
        #expect(message("# x\n\nport = \"abc\"").hasPrefix("f.toml:3: key 'port' has a string value"))
        #expect(message("  threads = 0").hasPrefix("f.toml:1: threads:"))
        #expect(message("\"threads\" = 0").hasPrefix("f.toml:1: threads:"))
        #expect(message("port = [").contains("line 1"))
    }

    @Test func checkConfigNamesItsFileAndValidatesTheFlagsToo() throws {
        guard case .checkConfig(let path, let c, _) = try parse(["--check-config", "c.toml", "-t", "3"], file: "port = 12000") else {
            Issue.record("expected checkConfig")
            return
        }
        #expect(path == "c.toml" && c.port == 12000 && c.threads == 3)
        #expect(throws: ConfigurationError.self) { _ = try parse(["--check-config", "a.toml", "--config", "b.toml"]) }
        #expect(throws: ConfigurationError.self) { _ = try parse(["--check-config", "c.toml"], file: "threads = 0") }
        // Settings valid alone but not together are refused too.
        #expect(throws: ConfigurationError.self) { _ = try parse(["--check-config", "c.toml"], file: "tombstone_ttl = \"10s\"") }
    }

    @Test func printConfigIsValidTOMLThatReadsBackTheSame() throws {
        guard case .printConfig(let c, _) = try parse(["--print-config", "-p", "12345", "-I", "2m", "-l", "::1", "-M"]) else {
            Issue.record("expected printConfig")
            return
        }
        let text = LaunchOptions.renderTOML(c)
        // One help comment per key.
        let keys = text.split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains(" = ") }
        #expect(keys.count == OptionTable.all.count)
        var back = Configuration()
        try LaunchOptions.applyTOML(text, source: "printed", to: &back)
        #expect(back == c)
    }

    @Test func durationsAndSizes() throws {
        #expect(try ValueParsing.durationMillis("200ms", name: "x") == 200)
        #expect(try ValueParsing.durationMillis("1s", name: "x") == 1000)
        #expect(try ValueParsing.durationMillis("1.5s", name: "x") == 1500)
        // A bare integer is milliseconds, as config files have always written it.
        #expect(try ValueParsing.durationMillis("2", name: "x") == 2)
        #expect(throws: ConfigurationError.self) { _ = try ValueParsing.durationMillis("2 seconds", name: "x") }
        #expect(try ValueParsing.size("1m", name: "x") == 1 << 20)
        #expect(throws: ConfigurationError.self) { _ = try ValueParsing.size("1q", name: "x") }
    }
}
