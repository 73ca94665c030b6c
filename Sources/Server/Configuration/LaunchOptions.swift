import TOMLKit

/// What the command line asks the binary to do.
public enum LaunchRequest: Sendable, Equatable {
    case run(Configuration, warnings: [String])
    case printConfig(Configuration, warnings: [String])
    /// `--check-config FILE`: the file (and any flags) make a valid configuration.
    case checkConfig(path: String, Configuration, warnings: [String])
    case version
    case help
    /// `-i`, `--license`: print `LaunchOptions.licenseText` and exit 0, as memcached does.
    case license
}

/// Reads memcached-style command lines (`-p 11211 -vv -o key=value`) plus long flags and a TOML
/// file, in the order defaults < file < flags. Every memcached 1.6.18 flag is known by name
/// (`MemcachedFlags`): a setting, accepted with a warning, or refused with a reason.
public enum LaunchOptions {

    public static func parse(_ arguments: [String], readFile: (String) throws -> String) throws(ConfigurationError) -> LaunchRequest {
        var assignments: [(OptionSpec, String)] = []
        var listenValues: [String] = []
        var seedValues: [String] = []
        var verboseCount = 0
        var configPath: String?
        var printConfig = false
        var checkPath: String?
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
        func applyExtended(_ text: String) throws(ConfigurationError) {
            for item in text.split(separator: ",") {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                let key = parts[0].trimmingSpaces()
                if let spec = OptionTable.spec(tomlKey: key.replacingDashes()), spec.arity != .counter {
                    record(spec, parts.count > 1 ? parts[1] : "true")
                } else if let (flag, reason) = MemcachedFlags.refusedFlag(tomlKey: key.replacingDashes()) {
                    throw MemcachedFlags.refusal(flag, because: reason)
                } else if let warning = MemcachedFlags.extendedKeyWarning(key) {
                    warnings.append(warning)
                } else {
                    warnings.append("-o \(key): not a memcached 1.6.18 or ringcached option; ignored")
                }
            }
        }
        /// A memcached flag that is not a ringcached setting: warn, refuse, or read `-B`.
        func applyMemcached(_ flag: MemcachedFlag, value: () throws(ConfigurationError) -> String) throws(ConfigurationError) {
            switch flag.handling {
            case .ignored(let reason):
                if flag.takesValue { _ = try value() }
                warnings.append(MemcachedFlags.warning(flag, because: reason))
            case .refused(let reason):
                throw MemcachedFlags.refusal(flag, because: reason)
            case .parser where flag.short == "B":
                let proto = try value().trimmingSpaces()
                switch proto {
                case "ascii":
                    break
                case "auto":
                    warnings.append("option -B auto: ringcached serves the text and meta protocols only; "
                        + "a connection that speaks the binary protocol is closed")
                case "binary":
                    throw ConfigurationError("option -B binary: ringcached serves only the text and meta protocols")
                default:
                    throw ConfigurationError("option -B (--protocol): '\(proto)' is not a protocol; use ascii or auto (binary is not served)")
                }
            case .parser, .setting:
                preconditionFailure("\(flag.displayName) is read by the parser or the option table")
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
                case "license": return .license
                case "print-config": printConfig = true
                case "config": configPath = try value(inline, for: arg)
                case "check-config": checkPath = try value(inline, for: arg)
                case "extended": try applyExtended(try value(inline, for: arg))
                default:
                    var found = OptionTable.spec(long: name)
                    if found == nil, let flag = MemcachedFlags.flag(long: name) {
                        if case .setting(let target) = flag.handling {
                            found = OptionTable.spec(long: target)  // memcached's --daemon is our --daemonize
                        } else {
                            try applyMemcached(flag) { () throws(ConfigurationError) in try value(inline, for: arg) }
                            break
                        }
                    }
                    guard let spec = found else {
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
                    case "i": return .license
                    case "o": try applyExtended(try takeValue())
                    default:
                        guard let spec = OptionTable.spec(short: c) else {
                            guard let flag = MemcachedFlags.flag(short: c) else {
                                throw ConfigurationError("unknown option '-\(c)': not a ringcached or memcached 1.6.18 option (see --help)")
                            }
                            try applyMemcached(flag, value: takeValue)
                            continue
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

        if let checkPath {
            if let configPath, configPath != checkPath {
                throw ConfigurationError("--check-config \(checkPath) and --config \(configPath) name different files")
            }
            configPath = checkPath
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
        try configuration.checkCombinations()
        if let checkPath { return .checkConfig(path: checkPath, configuration, warnings: warnings) }
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
            // `file:line:` for what is wrong with a key (TOMLKit gives positions only for syntax).
            let at = "\(source):\(line(ofKey: key, in: text).map { "\($0):" } ?? "")"
            guard let spec = OptionTable.spec(tomlKey: key) else {
                if let (flag, reason) = MemcachedFlags.refusedFlag(tomlKey: key) {
                    throw ConfigurationError("\(at) key '\(key)': \(MemcachedFlags.refusal(flag, because: reason).message)")
                }
                throw ConfigurationError("\(at) unknown key '\(key)'")
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
            guard let valueText = text else {
                throw ConfigurationError("\(at) key '\(key)' has a \(value.type) value; expected \(spec.shape.expectation)")
            }
            do {
                try spec.apply(&configuration, valueText)
            } catch {
                throw ConfigurationError("\(at) \(error.message)")
            }
        }
    }

    /// The 1-based line where `key` is assigned at the top level of `text` (`key = …`, the key
    /// bare or quoted), or nil.
    static func line(ofKey key: String, in text: String) -> Int? {
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw.drop(while: { $0 == " " || $0 == "\t" }))
            for quote in ["\"", "'"] where line.hasPrefix(quote + key + quote) {
                line = line.dropFirst(key.count + 2)
                return line.drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("=") ? i + 1 : nil
            }
            guard line.hasPrefix(key) else { continue }
            let rest = line.dropFirst(key.count).drop(while: { $0 == " " || $0 == "\t" })
            if rest.hasPrefix("=") { return i + 1 }
        }
        return nil
    }

    /// The effective configuration as TOML, one comment line of help above each key.
    public static func renderTOML(_ configuration: Configuration) -> String {
        var out = "# ringcached \(RingcacheVersion.semver) effective configuration\n"
        for spec in OptionTable.all {
            out += "\n# \(spec.fullHelp)\n\(spec.tomlKey) = \(spec.render(configuration))\n"
        }
        return out
    }

    public static var helpText: String {
        var out = """
        ringcached \(RingcacheVersion.semver) — a memcached-compatible cache node

        usage: ringcached [options]

          --config FILE      read settings from a TOML file (flags override it)
          --print-config     print the effective configuration as TOML and exit
          --check-config FILE  check a config file (with any other flags) and exit: 0 when valid,
                             64 with the file, line and reason when not
          -o, --extended K=V[,K=V]  set options by their TOML key (memcached style)
          -B, --protocol NAME  ascii or auto: the text and meta protocols are served (binary is refused)
          -i, --license      print the license note and exit
          -V, --version      print the version and exit
          -h, --help         print this help and exit

        settings (each also a TOML key named after its long flag: --conn-limit is conn_limit):

        """
        for spec in OptionTable.all {
            let short = spec.short.map { "-\($0), " } ?? "    "
            let value = spec.arity == .value ? " VALUE" : ""
            let left = "  \(short)--\(spec.long)\(value)"
            out += left.padding(to: 34) + spec.fullHelp + " (default: \(spec.defaultText))\n"
        }
        let ignored = MemcachedFlags.ignoredShortFlags.map { "-\($0)" }.joined(separator: " ")
        let refused = MemcachedFlags.refusedShortFlags.map { "-\($0)" }.joined(separator: " ")
        out += """

        memcached flags accepted with a warning (no effect in ringcached): \(ignored)
        memcached flags refused (not supported yet; ringcached will not start): \(refused)

        """
        return out
    }

    /// `-i`: memcached prints its BSD license and libevent's. ringcached is its own code, so it
    /// says that, and names the libraries it links with their licenses.
    public static var licenseText: String {
        """
        ringcached \(RingcacheVersion.semver)

        ringcached is its own code, written in Swift; it contains no memcached source. It speaks
        memcached's protocols and accepts memcached's command-line flags for compatibility.

        It links these libraries, each under its own license:
          libevent   Copyright (c) 2000-2007 Niels Provos, (c) 2007-2012 Niels Provos and
                     Nick Mathewson; 3-clause BSD license (on Debian the full text is in
                     /usr/share/doc/libevent-core-2.1-7/copyright)
          swift-log  Apache License 2.0
          TOMLKit    MIT License (with toml++, MIT License)

        """
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
        case .duration: return "a duration string such as \"250ms\" or \"1.5s\" (a bare integer is milliseconds)"
        }
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
