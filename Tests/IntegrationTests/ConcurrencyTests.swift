import Foundation
import Glibc
import Synchronization
import Testing

extension IntegrationSuite {
    @Suite("Concurrent clients")
    struct ConcurrencyTests {
        static let connections = 100
        static let operationsPerConnection = 1_000
        static let sharedSetKeys = 5

        /// 100 connections on their own threads, 1,000 mixed operations each: private keys checked
        /// against a per-connection model, a shared counter whose increments must be strictly
        /// increasing per connection and add up at the end, and shared keys whose values must
        /// always be one some connection wrote.
        @Test("100 connections × 1,000 mixed operations, every answer checked")
        func mixedOperations() throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            let setup = try server.connect()
            #expect(try setup.call("set shared-counter 0 0 1\r\n0\r\n") == "STORED")

            let failures = Mutex<[String]>([])
            let increments = Mutex<Int>(0)
            let operations = Mutex<Int>(0)
            let done = DispatchSemaphore(value: 0)
            let port = server.port
            for id in 0..<Self.connections {
                let thread = Thread {
                    let outcome = ConnectionWorkload(id: id, port: port).run()
                    increments.withLock { $0 += outcome.counterIncrements }
                    operations.withLock { $0 += outcome.operations }
                    if let failure = outcome.failure { failures.withLock { $0.append(failure) } }
                    done.signal()
                }
                thread.stackSize = 1 << 20
                thread.start()
            }
            var finished = 0
            let deadline = Deadline(seconds: 240)
            while finished < Self.connections {
                guard done.wait(timeout: .now() + deadline.remaining) == .success else { break }
                finished += 1
            }
            #expect(finished == Self.connections, "only \(finished) of \(Self.connections) connections finished in time")
            let all = failures.withLock { $0 }
            #expect(all.isEmpty, "\(all.count) connections saw wrong answers; first: \(all.prefix(5).joined(separator: "\n"))")

            let performed = operations.withLock { $0 }
            #expect(performed == Self.connections * Self.operationsPerConnection)
            let total = increments.withLock { $0 }
            let counter = try setup.getValue("shared-counter")
            let value = counter.map { String(decoding: $0.value, as: UTF8.self).trimmingCharacters(in: .whitespaces) }
            #expect(value == String(total), "shared counter is \(value ?? "missing") after \(total) increments")
            #expect(server.isRunning, "\(server.logExcerpt)")
        }
    }
}

/// One connection's reproducible random workload, checked answer by answer.
struct ConnectionWorkload {
    let id: Int
    let port: UInt16

    struct Outcome {
        var counterIncrements = 0
        var operations = 0
        var failure: String?
    }

    struct Entry {
        var flags: UInt32
        var value: [UInt8]
    }

    func run() -> Outcome {
        var outcome = Outcome()
        var rng = SplitMix64(seed: UInt64(id) &* 0x9E37_79B9 &+ 12345)
        var model: [String: Entry] = [:]
        var numeric: UInt64 = 0
        var lastCounter: UInt64 = 0
        let numericKey = "c\(id)-num"
        var step = 0
        var lastOp = "connect"
        do {
            let client = try TestClient(port: port, timeout: 30)
            defer { client.close() }
            func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
                if !condition { throw IntegrationError("connection \(id) op \(step) (\(lastOp)): \(message())") }
            }
            let first = try client.call("set \(numericKey) 0 0 1\r\n0\r\n")
            try check(first == "STORED", "answer \(first)")
            for i in 0..<IntegrationSuite.ConcurrencyTests.operationsPerConnection {
                step = i
                outcome.operations += 1
                let key = "c\(id)-k\(rng.next() % 8)"
                switch rng.next() % 100 {
                case 0..<20:  // set a private key
                    let value = randomValue(&rng)
                    let flags = UInt32(truncatingIfNeeded: rng.next())
                    lastOp = "set \(key)"
                    try client.send(Array("set \(key) \(flags) 0 \(value.count)\r\n".utf8) + value + [13, 10])
                    let answer = try client.readLine()
                    try check(answer == "STORED", "answer \(answer)")
                    model[key] = Entry(flags: flags, value: value)
                case 20..<45:  // get a private key
                    lastOp = "get \(key)"
                    let got = try client.getValue(key)
                    let expected = model[key]
                    try check(got?.flags == expected?.flags && got?.value == expected?.value,
                              "got \(got.map { "\($0.flags) \(Escaping.show($0.value, limit: 80))" } ?? "miss"), expected \(expected.map { "\($0.flags) \(Escaping.show($0.value, limit: 80))" } ?? "miss")")
                case 45..<52:  // delete
                    lastOp = "delete \(key)"
                    let answer = try client.call("delete \(key)\r\n")
                    try check(answer == (model[key] == nil ? "NOT_FOUND" : "DELETED"), "answer \(answer)")
                    model[key] = nil
                case 52..<60:  // append
                    let suffix = Array("+\(i)".utf8)
                    lastOp = "append \(key)"
                    try client.send(Array("append \(key) 0 0 \(suffix.count)\r\n".utf8) + suffix + [13, 10])
                    let answer = try client.readLine()
                    try check(answer == (model[key] == nil ? "NOT_STORED" : "STORED"), "answer \(answer)")
                    model[key]?.value += suffix
                case 60..<68:  // cas: a fresh unique stores, a stale one is refused
                    lastOp = "gets/cas \(key)"
                    guard let current = try client.getValue(key, command: "gets") else {
                        try check(model[key] == nil, "gets missed an existing key")
                        let answer = try client.call("cas \(key) 0 0 1 1\r\nx\r\n")
                        try check(answer == "NOT_FOUND", "cas on a missing key answered \(answer)")
                        continue
                    }
                    try check(current.value == model[key]?.value, "gets returned \(Escaping.show(current.value, limit: 80))")
                    guard let unique = current.cas else { throw IntegrationError("connection \(id): gets without a cas unique") }
                    let value = randomValue(&rng)
                    try client.send(Array("cas \(key) 7 0 \(value.count) \(unique)\r\n".utf8) + value + [13, 10])
                    let stored = try client.readLine()
                    try check(stored == "STORED", "cas with the current unique answered \(stored)")
                    model[key] = Entry(flags: 7, value: value)
                    let stale = try client.call("cas \(key) 0 0 1 \(unique)\r\nz\r\n")
                    try check(stale == "EXISTS", "cas with a stale unique answered \(stale)")
                case 68..<78:  // incr / decr a private counter
                    let delta = rng.next() % 1000
                    if rng.next() % 3 == 0 {
                        lastOp = "decr \(numericKey) \(delta)"
                        numeric = numeric >= delta ? numeric - delta : 0
                        let answer = try client.call("decr \(numericKey) \(delta)\r\n")
                        try check(answer == String(numeric), "answer \(answer), expected \(numeric)")
                    } else {
                        lastOp = "incr \(numericKey) \(delta)"
                        numeric &+= delta
                        let answer = try client.call("incr \(numericKey) \(delta)\r\n")
                        try check(answer == String(numeric), "answer \(answer), expected \(numeric)")
                    }
                case 78..<88:  // the shared counter: strictly increasing as this connection sees it
                    lastOp = "incr shared-counter"
                    let answer = try client.call("incr shared-counter 1\r\n")
                    guard let value = UInt64(answer) else { try check(false, "answer \(answer)"); continue }
                    try check(value > lastCounter, "counter went from \(lastCounter) to \(value)")
                    lastCounter = value
                    outcome.counterIncrements += 1
                case 88..<94:  // shared keys: written by many
                    let key = "shared-\(rng.next() % UInt64(IntegrationSuite.ConcurrencyTests.sharedSetKeys))"
                    let value = "c\(id)-\(i)"
                    lastOp = "set \(key)"
                    let answer = try client.call("set \(key) \(id) 0 \(value.utf8.count)\r\n\(value)\r\n")
                    try check(answer == "STORED", "answer \(answer)")
                default:  // shared keys: read; the value must be one some connection wrote, with its flags
                    let key = "shared-\(rng.next() % UInt64(IntegrationSuite.ConcurrencyTests.sharedSetKeys))"
                    lastOp = "get \(key)"
                    if let got = try client.getValue(key) {
                        let text = String(decoding: got.value, as: UTF8.self)
                        let writer = text.wholeMatch(of: /c(\d+)-(\d+)/).flatMap { UInt32($0.1) }
                        try check(writer != nil && writer == got.flags, "value \(text) with flags \(got.flags)")
                    }
                }
            }
            // Finally every private key must hold exactly what the model says.
            lastOp = "final check"
            for k in 0..<8 {
                let key = "c\(id)-k\(k)"
                let got = try client.getValue(key)
                try check(got?.value == model[key]?.value && got?.flags == model[key]?.flags, "final \(key) differs from the model")
            }
        } catch {
            outcome.failure = "\(error)"
        }
        return outcome
    }

    private func randomValue(_ rng: inout SplitMix64) -> [UInt8] {
        let length = Int(rng.next() % 200)
        return (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }
}

/// A small deterministic random generator (seeded per connection, so a failure can be replayed).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
