import TOMLKit

/// What the command line asks the binary to do.
public enum LaunchRequest: Sendable, Equatable {
    case run(Configuration, warnings: [String])
    case printConfig(Configuration, warnings: [String])
    case version
    case help
}

/// Reads memcached-style command lines (`-p 11211 -vv -o key=value`) plus long flags and a TOML
/// file, in the order defaults < file < flags.
public enum LaunchOptions {
    /// memcached flags that mean nothing for ringcached but appear in existing command lines;
    /// they are accepted with a warning so those lines start us unchanged. Value-taking ones first.
    static let ignoredWithValue: Set<Character> = ["R", "f", "n", "D", "e"]
    static let ignoredSwitches: Set<Character> = ["r", "k", "L", "C", "F", "X", "W", "Y", "Z"]

    /// memcached's own `-o` keys: recognised, not applicable to our store, ignored with a note.
    static let memcachedExtendedKeys: Set<String> = [
        "modern", "hashpower", "no_hashexpand", "lru_crawler", "no_lru_crawler", "lru_maintainer",
        "no_lru_maintainer", "slab_reassign", "no_slab_reassign", "slab_automove", "slab_chunk_max",
        "tail_repair_time", "hash_algorithm", "maxconns_fast", "no_maxconns_fast", "idle_timeout",
        "watcher_logbuf_size", "worker_logbuf_size", "track_sizes", "temporary_ttl", "lru_segmented",
        "no_lru_segmented", "hot_lru_pct", "warm_lru_pct", "hot_max_factor", "warm_max_factor",
        "inline_ascii_response", "no_inline_ascii_resp", "read_buf_mem_limit", "resp_obj_mem_limit",
        "ext_path", "drop_privileges", "no_drop_privileges", "ssl_chain_cert", "ssl_key",
    ]

    public static func parse(_ arguments: [String], readFile: (String) throws -> String) throws(ConfigurationError) -> LaunchRequest {
        var assignments: [(OptionSpec, String)] = []
        var listenValues: [String] = []
        var seedValues: [String] = []
        var verboseCount = 0
        var configPath: String?
        var printConfig = false
        var warnings: [String] = []

        var i = 0
        func nextValue(for name: String) throws(ConfigurationError) -> String {
            i += 1
            guard i < arguments.count else { throw ConfigurationError("option \(name) needs a value") }
            return arguments[i]
        }
        func value(_ inline: String?, for name: String) throws(ConfigurationError) -> String {
            if let inline { return inline }
            return try nextValue(for: name)
        }
        func record(_ spec: OptionSpec, _ value: String) {
            if spec.long == "listen" { listenValues.append(value) }
            else if spec.long == "seeds" { seedValues.append(value) }
            else { assignments.append((spec, value)) }
        }
        func applyExtended(_ text: String) {
            for item in text.split(separator: ",") {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                let key = parts[0].trimmingSpaces()
                if let spec = OptionTable.spec(tomlKey: key.replacingDashes()), spec.arity != .counter {
                    record(spec, parts.count > 1 ? parts[1] : "true")
                } else if memcachedExtendedKeys.contains(key) {
                    warnings.append("-o \(key): memcached option with no meaning for ringcached; ignored")
                } else {
                    warnings.append("-o \(key): unknown option; ignored")
                }
            }
        }

        while i < arguments.count {
            let arg = arguments[i]
            if arg.hasPrefix("--") && arg.count > 2 {
                let body = arg.dropFirst(2)
                let name: String
                var inline: String?
                if let eq = body.firstIndex(of: "=") {
                    name = String(body[..<eq])
                    inline = String(body[body.index(after: eq)...])
                } else {
                    name = String(body)
                }
                switch name {
                case "help": return .help
                case "version": return .version
                case "print-config": printConfig = true
                case "config": configPath = try value(inline, for: arg)
                case "extended": applyExtended(try value(inline, for: arg))
                default:
                    guard let spec = OptionTable.spec(long: name) else {
                        throw ConfigurationError("unknown option '--\(name)' (see --help)")
                    }
                    switch spec.arity {
                    case .value: record(spec, try value(inline, for: arg))
                    case .flag: record(spec, inline ?? "true")
                    case .counter:
                        if let inline { verboseCount = try ValueParsing.integer(inline, name: name, range: 0...3) } else { verboseCount += 1 }
                    }
                }
            } else if arg.hasPrefix("-") && arg.count > 1 {
                var chars = Substring(arg.dropFirst())
                while let c = chars.first {
                    chars = chars.dropFirst()
                    let takeValue: () throws(ConfigurationError) -> String = {
                        if !chars.isEmpty { let v = String(chars); chars = ""; return v }
                        return try nextValue(for: "-\(c)")
                    }
                    switch c {
                    case "h": return .help
                    case "V": return .version
                    case "o": applyExtended(try takeValue())
                    case "S": throw ConfigurationError("option -S: SASL authentication is not supported by ringcached")
                    case "B":
                        let proto = try takeValue()
                        if proto == "binary" {
                            throw ConfigurationError("option -B binary: ringcached serves only the text and meta protocols")
                        }
                    case _ where ignoredWithValue.contains(c):
                        _ = try takeValue()
                        warnings.append("option -\(c): memcached tuning with no meaning for ringcached; ignored")
                    case _ where ignoredSwitches.contains(c):
                        warnings.append("option -\(c): memcached tuning with no meaning for ringcached; ignored")
                    default:
                        guard let spec = OptionTable.spec(short: c) else {
                            throw ConfigurationError("unknown option '-\(c)' (see --help)")
                        }
                        switch spec.arity {
                        case .value: record(spec, try takeValue())
                        case .flag: record(spec, "true")
                        case .counter: verboseCount += 1
                        }
                    }
                }
            } else {
                throw ConfigurationError("unexpected argument '\(arg)' (see --help)")
            }
            i += 1
        }

        var configuration = Configuration()
        if let configPath {
            let text: String
            do { text = try readFile(configPath) } catch {
                throw ConfigurationError("cannot read config file \(configPath): \(error)")
            }
            try applyTOML(text, source: configPath, to: &configuration)
        }
        for (spec, value) in assignments { try spec.apply(&configuration, value) }
        if !listenValues.isEmpty {
            try OptionTable.spec(long: "listen")!.apply(&configuration, listenValues.joined(separator: ","))
        }
        if !seedValues.isEmpty {
            try OptionTable.spec(long: "seeds")!.apply(&configuration, seedValues.joined(separator: ","))
        }
        if verboseCount > 0 { configuration.verbose = min(verboseCount, 3) }
        return printConfig ? .printConfig(configuration, warnings: warnings) : .run(configuration, warnings: warnings)
    }

    /// Applies a TOML document; an unknown key or a value of the wrong type is an error naming it.
    public static func applyTOML(_ text: String, source: String, to configuration: inout Configuration) throws(ConfigurationError) {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw ConfigurationError("\(source): \(error.description) at \(error.source.begin.debugDescription)")
        } catch {
            throw ConfigurationError("\(source): \(error)")
        }
        for key in table.keys.sorted() {
            guard let spec = OptionTable.spec(tomlKey: key) else {
                throw ConfigurationError("\(source): unknown key '\(key)'")
            }
            guard let value = table[key] else { continue }
            let text: String?
            switch spec.shape {
            case .integer: text = value.int.map(String.init)
            case .string: text = value.string
            case .boolean: text = value.bool.map { String($0) }
            case .stringArray:
                if let array = value.array {
                    let items = array.compactMap { $0.string }
                    text = items.count == array.count ? items.joined(separator: ",") : nil
                } else {
                    text = value.string
                }
            case .sizeOrInteger, .duration: text = value.int.map(String.init) ?? value.string
            }
            guard let text else {
                throw ConfigurationError("\(source): key '\(key)' has a \(value.type) value; expected \(spec.shape.expectation)")
            }
            try spec.apply(&configuration, text)
        }
    }

    /// The effective configuration as TOML, one comment line of help above each key.
    public static func renderTOML(_ configuration: Configuration) -> String {
        var out = "# ringcached \(RingcacheVersion.semver) effective configuration\n"
        for spec in OptionTable.all {
            out += "\n# \(spec.help)\n\(spec.tomlKey) = \(spec.render(configuration))\n"
        }
        return out
    }

    public static var helpText: String {
        var out = """
        ringcached \(RingcacheVersion.semver) — a memcached-compatible cache node

        usage: ringcached [options]

          --config FILE      read settings from a TOML file (flags override it)
          --print-config     print the effective configuration as TOML and exit
          -o, --extended K=V[,K=V]  set options by their TOML key (memcached style)
          -V, --version      print the version and exit
          -h, --help         print this help and exit

        """
        for spec in OptionTable.all {
            let short = spec.short.map { "-\($0), " } ?? "    "
            let value = spec.arity == .value ? " VALUE" : ""
            let left = "  \(short)--\(spec.long)\(value)"
            out += left.padding(to: 34) + spec.help + "\n"
        }
        return out
    }
}

extension OptionSpec.TOMLShape {
    var expectation: String {
        switch self {
        case .integer: return "an integer"
        case .string: return "a string"
        case .boolean: return "true or false"
        case .stringArray: return "an array of strings"
        case .sizeOrInteger: return "an integer or a size string such as \"1m\""
        case .duration: return "a duration string such as \"200ms\""
        }
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
