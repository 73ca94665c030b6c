@testable import Storage

/// A fixed epoch for the injected clock.
let epoch: Int64 = 1_700_000_000

/// A store on a manual clock, with String/[UInt8] conveniences for tests.
final class TestClock: @unchecked Sendable {
    var seconds: Int64 = epoch
    var millis: UInt64 = UInt64(epoch) * 1000
}

func makeStore(
    memory: Int = 64 << 20, stripes: Int = 4, evictions: Bool = true, maxItemSize: Int = 1 << 20,
    bump: Int64 = 0
) -> Store {
    Store(
        config: StorageConfig(
            memoryLimit: memory, maxItemSize: maxItemSize, evictionsEnabled: evictions, stripes: stripes,
            lruBumpInterval: bump),
        nowSeconds: epoch, nowMillis: UInt64(epoch) * 1000)
}

struct Fetched: Equatable {
    var value: [UInt8]
    var flags: UInt32
    var cas: UInt64
    var string: String { String(decoding: value, as: UTF8.self) }
}

struct MetaFetched: Equatable {
    var value: String
    var cas: UInt64
    var ttl: Int64
    var ttlBefore: Int64
    var won: Bool
    var alreadyWon: Bool
    var stale: Bool
    var fetchedBefore: Bool
    var lastAccessAgo: Int64
    var vivified: Bool
    var binaryKey: Bool = false
    var viewSaidVivified: Bool = false
}

extension Store {
    func advance(seconds: Int64) {
        let now = currentTime + seconds
        setClock(seconds: now, millis: UInt64(now) * 1000)
    }

    @discardableResult
    func set(
        _ key: String, _ value: String, flags: UInt32 = 0, exptime: Int64 = 0, mode: StoreMode = .set,
        cas: UInt64? = nil, invalidate: Bool = false, binaryKey: Bool = false
    ) -> StoreOutcome {
        set(key, Array(value.utf8), flags: flags, exptime: exptime, mode: mode, cas: cas, invalidate: invalidate, binaryKey: binaryKey)
    }

    @discardableResult
    func set(
        _ key: String, _ value: [UInt8], flags: UInt32 = 0, exptime: Int64 = 0, mode: StoreMode = .set,
        cas: UInt64? = nil, invalidate: Bool = false, binaryKey: Bool = false
    ) -> StoreOutcome {
        let request = StoreRequest(
            mode: mode, flags: flags, exptime: exptime, compareCas: cas, invalidate: invalidate, binaryKey: binaryKey)
        return Array(key.utf8).withUnsafeBytes { k in value.withUnsafeBytes { v in store(k, v, request) } }
    }

    func get(_ key: String, _ options: ReadOptions = .get) -> Fetched? {
        let result = Array(key.utf8).withUnsafeBytes { k in
            read(k, options) { view in Fetched(value: Array(view.value), flags: view.flags, cas: view.cas) }
        }
        switch result {
        case .hit(let f), .vivified(let f): return f
        case .miss: return nil
        }
    }

    func meta(_ key: String, _ options: ReadOptions = .get) -> MetaFetched? {
        let result = Array(key.utf8).withUnsafeBytes { k in
            read(k, options) { view in
                MetaFetched(
                    value: String(decoding: view.value, as: UTF8.self), cas: view.cas, ttl: view.ttlRemaining,
                    ttlBefore: view.ttlBefore, won: view.won, alreadyWon: view.alreadyWon, stale: view.stale,
                    fetchedBefore: view.fetchedBefore, lastAccessAgo: view.lastAccessAgo, vivified: false,
                    binaryKey: view.binaryKey, viewSaidVivified: view.vivified)
            }
        }
        switch result {
        case .hit(let f): return f
        case .vivified(var f):
            f.vivified = true
            return f
        case .miss: return nil
        }
    }

    func value(_ key: String) -> String? { get(key)?.string }

    @discardableResult
    func delete(_ key: String, _ request: DeleteRequest = .plain) -> DeleteOutcome {
        Array(key.utf8).withUnsafeBytes { delete($0, request) }
    }

    func arith(_ key: String, _ request: ArithmeticRequest) -> ArithmeticOutcome {
        Array(key.utf8).withUnsafeBytes { arithmetic($0, request) }
    }

    func incr(_ key: String, _ delta: UInt64) -> UInt64? {
        if case .value(let r) = arith(key, ArithmeticRequest(incr: true, delta: delta)) { return r.value }
        return nil
    }

    func decr(_ key: String, _ delta: UInt64) -> UInt64? {
        if case .value(let r) = arith(key, ArithmeticRequest(incr: false, delta: delta)) { return r.value }
        return nil
    }

    func touch(_ key: String, _ exptime: Int64) -> Bool {
        Array(key.utf8).withUnsafeBytes { touch($0, exptime: exptime) }
    }

    func debug(_ key: String) -> DebugInfo? { Array(key.utf8).withUnsafeBytes { debug($0) } }
}

extension StoreOutcome {
    var isStored: Bool { if case .stored = self { return true } else { return false } }
    var cas: UInt64? { if case .stored(let c) = self { return c } else { return nil } }
}
