/// A link's requests in flight, by request id: ids are handed out in order, so the table is a
/// window of slots from the oldest outstanding id on (answered ones empty until the front
/// passes them), with O(1) add, remove by id and oldest, and no hashing. Answers may come in
/// any order; the window spans from the oldest request still waiting to the newest, so a link
/// bounds both `count` and `span` (an old request that never comes back would otherwise keep
/// every later slot alive until `peer_timeout` closes the link).
struct PendingWindow<Value> {
    private var slots: [Value?] = []
    private var head = 0
    /// The id of `slots[head]` (the next id to be handed out when empty).
    private var baseID: UInt64
    private(set) var count = 0

    init(firstID: UInt64 = 1) { baseID = firstID }

    /// Ids from the oldest outstanding to the newest: how many slots the window holds.
    var span: Int { slots.count - head }

    /// Adds `value` under the next id and returns that id.
    mutating func append(_ value: Value) -> UInt64 {
        let id = baseID + UInt64(slots.count - head)
        slots.append(value)
        count += 1
        return id
    }

    func contains(_ id: UInt64) -> Bool {
        guard let i = index(of: id) else { return false }
        return slots[i] != nil
    }

    /// Takes the value of `id` out, or nil (never sent, or already answered or failed).
    mutating func remove(_ id: UInt64) -> Value? {
        guard let i = index(of: id), let value = slots[i] else { return nil }
        slots[i] = nil
        count -= 1
        while head < slots.count && slots[head] == nil {
            head += 1
            baseID += 1
        }
        if head == slots.count {
            slots.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 && head * 2 > slots.count {
            slots.removeFirst(head)
            head = 0
        }
        return value
    }

    /// The oldest value still waiting.
    var oldest: Value? { head < slots.count ? slots[head] : nil }

    /// The first value still waiting, oldest first, that `predicate` picks.
    func first(where predicate: (Value) -> Bool) -> Value? {
        for slot in slots[head...] { if let value = slot, predicate(value) { return value } }
        return nil
    }

    /// Every value still waiting, oldest first; the window is empty afterwards (ids go on).
    mutating func removeAll() -> [Value] {
        let values = slots[head...].compactMap { $0 }
        baseID += UInt64(slots.count - head)
        slots.removeAll(keepingCapacity: false)
        head = 0
        count = 0
        return values
    }

    private func index(of id: UInt64) -> Int? {
        guard id >= baseID else { return nil }
        let offset = id - baseID
        guard offset < UInt64(slots.count - head) else { return nil }
        return head + Int(offset)
    }
}
