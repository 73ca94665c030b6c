import Synchronization

/// memcached's per-prefix statistics (`stats detail on|off|dump`): for keys that contain the
/// delimiter (`-D`, `:` by default), counts per prefix (the bytes before the first delimiter)
/// of gets, get hits, sets and deletes by the classic commands, as memcached 1.6.18 counts them
/// (meta commands are not counted there either).
///
/// Recorded only while `stats detail on` (the workers test `OperatorState.tracing` first). The
/// table is bounded: past `maxPrefixes` distinct prefixes new ones are not recorded, so a client
/// that invents prefixes cannot grow it without bound.
public final class PrefixStats: Sendable {
    public let delimiter: UInt8
    static let maxPrefixes = 65_536
    private let table = Mutex<[[UInt8]: Counts]>([:])

    struct Counts {
        var gets: UInt64 = 0
        var hits: UInt64 = 0
        var sets: UInt64 = 0
        var deletes: UInt64 = 0
    }

    init(delimiter: UInt8) {
        self.delimiter = delimiter
    }

    func recordGet(_ key: UnsafeRawBufferPointer, hit: Bool) {
        record(key) { c in
            c.gets += 1
            if hit { c.hits += 1 }
        }
    }

    func recordSet(_ key: UnsafeRawBufferPointer) { record(key) { $0.sets += 1 } }

    func recordDelete(_ key: UnsafeRawBufferPointer) { record(key) { $0.deletes += 1 } }

    private func record(_ key: UnsafeRawBufferPointer, _ change: (inout Counts) -> Void) {
        guard let end = key.firstIndex(of: delimiter) else { return }
        let prefix = Array(key[..<end])
        table.withLock { t in
            if t[prefix] == nil && t.count >= PrefixStats.maxPrefixes { return }
            change(&t[prefix, default: Counts()])
        }
    }

    /// `stats detail dump`: `PREFIX <p> get <n> hit <n> set <n> del <n>` lines, then `END`.
    func dump() -> [UInt8] {
        let rows = table.withLock { t in t.sorted { $0.key.lexicographicallyPrecedes($1.key) } }
        var out: [UInt8] = []
        for (prefix, c) in rows {
            out.append(contentsOf: "PREFIX ".utf8)
            out.append(contentsOf: prefix)
            out.append(contentsOf: " get \(c.gets) hit \(c.hits) set \(c.sets) del \(c.deletes)\r\n".utf8)
        }
        out.append(contentsOf: "END\r\n".utf8)
        return out
    }
}
