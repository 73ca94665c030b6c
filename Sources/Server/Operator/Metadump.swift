import Storage
import TextProtocol

/// One `lru_crawler metadump` in progress on a connection: memcached's crawler lines
/// (`key=<uri-encoded key> exp=<unix time or -1> la=<unix time> cas=<n> fetch=<yes|no>
/// cls=<class> size=<bytes>` with a bare `\n`), then `END\r\n`.
///
/// The connection pumps it a slice at a time whenever its output has drained, so a dump of a
/// large cache never holds more than a slice of lines in memory and the worker keeps serving
/// its other connections in between. Expired and flushed items are skipped, as memcached does.
public struct Metadump {
    /// The classes to list; nil or empty: every class (`all`, `hash`).
    let classes: Set<Int>?
    private var cursor = DumpCursor()

    init(classes: Set<Int>?) {
        self.classes = classes
    }

    /// Appends the lines of about `budget` more items; the last call appends `END` and returns true.
    mutating func pump(_ store: Store, into out: inout OutputBuffer, budget: Int) -> Bool {
        let wanted = classes.flatMap { $0.isEmpty ? nil : $0 }
        let more = store.dumpItems(from: &cursor, budget: budget) { item in
            if let wanted, !wanted.contains(item.sizeClass) { return }
            var line: [UInt8] = Array("key=".utf8)
            URIEncoding.append(item.key, to: &line)
            line.append(contentsOf: " exp=\(item.exptime == 0 ? -1 : item.exptime) la=\(item.lastAccess) cas=\(item.cas) fetch=\(item.fetched ? "yes" : "no") cls=\(item.sizeClass) size=\(item.totalSize)\n".utf8)
            line.withUnsafeBytes { out.append($0) }
        }
        if more { return false }
        out.append("END\r\n")
        return true
    }
}
