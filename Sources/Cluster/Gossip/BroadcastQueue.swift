/// News waiting to be piggybacked (memberlist's `TransmitLimitedQueue`).
///
/// Each piece is sent at most `limit` times; the least-sent goes first and, among equals, the
/// newest. Newer news about a member replaces what is queued about it, so a refuted suspicion
/// is never sent after its refutation.
public struct BroadcastQueue: Sendable {
    struct Entry: Sendable {
        var news: MemberNews
        var size: Int
        var transmits: Int
        var order: UInt64
    }

    private var entries: [String: Entry] = [:]
    private var nextOrder: UInt64 = 0

    public init() {}

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// Queues `news`, replacing anything queued about the same member.
    public mutating func enqueue(_ news: MemberNews) {
        nextOrder += 1
        entries[news.identity] = Entry(news: news, size: GossipCodec.encodedSize(news), transmits: 0, order: nextOrder)
    }

    /// Up to `bytes` of news, each counted as sent once more; news sent `limit` times leaves.
    public mutating func take(bytes: Int, limit: Int) -> [MemberNews] {
        guard !entries.isEmpty, bytes > 0 else { return [] }
        let ordered = entries.values.sorted { a, b in a.transmits != b.transmits ? a.transmits < b.transmits : a.order > b.order }
        var room = bytes
        var out: [MemberNews] = []
        for entry in ordered where entry.size <= room {
            room -= entry.size
            out.append(entry.news)
            let key = entry.news.identity
            if entry.transmits + 1 >= limit {
                entries[key] = nil
            } else {
                entries[key]?.transmits += 1
            }
            if room < 16 { break }
        }
        return out
    }

    /// Drops what is queued about a member (it was forgotten).
    public mutating func remove(_ identity: String) { entries[identity] = nil }
}
