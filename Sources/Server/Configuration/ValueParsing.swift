/// Parsers for the value forms the flags and the TOML file accept.
enum ValueParsing {
    /// An integer, optionally with a k/m/g suffix (`1m`, `512k`, `1048576`), as memcached's -I.
    static func size(_ text: String, name: String) throws(ConfigurationError) -> Int {
        let t = text.trimmingSpaces().lowercased()
        var multiplier = 1
        var digits = Substring(t)
        if let last = t.last, !last.isNumber {
            switch last {
            case "k": multiplier = 1 << 10
            case "m": multiplier = 1 << 20
            case "g": multiplier = 1 << 30
            case "b": multiplier = 1
            default: throw ConfigurationError("\(name): '\(text)' is not a size (use a number of bytes or a k/m/g suffix)")
            }
            digits = t.dropLast()
        }
        guard let value = Int(digits), value >= 0, value <= Int.max / multiplier else {
            throw ConfigurationError("\(name): '\(text)' is not a size (use a number of bytes or a k/m/g suffix)")
        }
        return value * multiplier
    }

    /// A duration in milliseconds: `200ms`, `1s`, `2m`, or a plain number of milliseconds.
    static func durationMillis(_ text: String, name: String) throws(ConfigurationError) -> Int {
        let t = text.trimmingSpaces().lowercased()
        let units: [(String, Int)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            if let v = Int(t.dropLast(suffix.count)), v >= 0 { return v * factor }
            break
        }
        if let v = Int(t), v >= 0 { return v }
        throw ConfigurationError("\(name): '\(text)' is not a duration (write it like \"200ms\" or \"1s\")")
    }

    static func integer(_ text: String, name: String, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let v = Int(text.trimmingSpaces()), range.contains(v) else {
            throw ConfigurationError("\(name): '\(text)' must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    static func boolean(_ text: String, name: String) throws(ConfigurationError) -> Bool {
        switch text.trimmingSpaces().lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigurationError("\(name): '\(text)' must be true or false")
        }
    }

    /// Formats a byte count the way an operator writes it: `"1m"` when exact, else the number.
    static func formatSize(_ bytes: Int) -> String {
        if bytes > 0 && bytes % (1 << 30) == 0 { return "\"\(bytes >> 30)g\"" }
        if bytes > 0 && bytes % (1 << 20) == 0 { return "\"\(bytes >> 20)m\"" }
        if bytes > 0 && bytes % (1 << 10) == 0 { return "\"\(bytes >> 10)k\"" }
        return String(bytes)
    }

    static func formatDuration(_ millis: Int) -> String {
        if millis > 0 && millis % 1000 == 0 { return "\"\(millis / 1000)s\"" }
        return "\"\(millis)ms\""
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }

    /// A TOML basic string literal.
    var tomlQuoted: String {
        var out = "\""
        for ch in self {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.append(ch)
            }
        }
        return out + "\""
    }
}
