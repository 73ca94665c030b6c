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

    /// How durations are written, for help lines and errors.
    static let durationForms = "a duration such as 250ms, 1.5s, 2m or 1h; a bare number is milliseconds"

    /// A duration in milliseconds: a number, maybe with a decimal fraction, then a unit (`ms`, `s`,
    /// `m`, `h`): `250ms`, `1.5s`, `0.5s`, `1.5m`. A bare number is milliseconds (`2` is 2 ms), as it
    /// always was in config files; help and `--print-config` say so. A value that is not a whole
    /// number of milliseconds (`1.5ms`, `0.0001s`) is refused rather than rounded.
    static func durationMillis(_ text: String, name: String) throws(ConfigurationError) -> Int {
        let t = text.trimmingSpaces().lowercased()
        let bad = ConfigurationError("\(name): '\(text)' is not a duration (\(durationForms))")
        let units: [(String, Int)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        var number = Substring(t)
        var factor = 1
        for (suffix, unitFactor) in units where t.hasSuffix(suffix) {
            number = t.dropLast(suffix.count)
            factor = unitFactor
            break
        }
        number = Substring(String(number).trimmingSpaces())
        let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count > 1 ? parts[1] : ""
        guard !(whole.isEmpty && fraction.isEmpty),
              whole.allSatisfy({ $0.isASCII && $0.isNumber }), fraction.allSatisfy({ $0.isASCII && $0.isNumber }),
              parts.count == 1 || !fraction.isEmpty,
              whole.count <= 12, fraction.count <= 9
        else { throw bad }
        // Exact decimal arithmetic: whole * factor + fraction * factor / 10^digits.
        var scale = 1
        for _ in 0..<fraction.count { scale *= 10 }
        let fractionTimesFactor = (Int(fraction) ?? 0) * factor
        guard fractionTimesFactor % scale == 0 else {
            throw ConfigurationError("\(name): '\(text)' is not a whole number of milliseconds")
        }
        let (millis, overflow) = (Int(whole) ?? 0).multipliedReportingOverflow(by: factor)
        guard !overflow, millis <= Int(Int32.max) else {
            throw ConfigurationError("\(name): '\(text)' is too long a duration")
        }
        return millis + fractionTimesFactor / scale
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
