import Foundation
import Glibc

/// A socket error with its errno, so tests can tell a reset or a closed pipe from a timeout.
struct SocketError: Error, CustomStringConvertible {
    let operation: String
    let code: Int32

    var isConnectionGone: Bool { code == EPIPE || code == ECONNRESET }
    var isTimeout: Bool { code == ETIMEDOUT }
    var description: String { "\(operation): \(String(cString: strerror(code))) (errno \(code))" }
}

/// A minimal TCP client to 127.0.0.1 for tests: every operation has a deadline, and bytes the
/// server sent but the test has not consumed yet stay in `pending`.
///
/// The socket is non-blocking and driven by `poll`, so a large send drains the server's answers
/// while it waits (no deadlock when both sides write), unless the test asks not to read
/// (`send(_:drainWhileBlocked: false)`). Sends use `MSG_NOSIGNAL`: a reset never raises SIGPIPE
/// in the test process. Not thread-safe: one client belongs to one thread.
final class TestClient {
    private(set) var fd: Int32
    private(set) var pending: [UInt8] = []
    private(set) var sawEOF = false
    private(set) var sawReset = false
    private var scratch = [UInt8](repeating: 0, count: 256 * 1024)
    let port: UInt16
    var timeout: Double

    init(port: UInt16, timeout: Double = 10, connectTimeout: Double = 5) throws {
        self.port = port
        self.timeout = timeout
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(operation: "socket", code: errno) }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = TestClient.loopback(port: port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            let err = errno
            guard err == EINPROGRESS else {
                Glibc.close(fd)
                throw SocketError(operation: "connect to 127.0.0.1:\(port)", code: err)
            }
            guard try waitFor(Int16(POLLOUT), deadline: Deadline(seconds: connectTimeout)) else {
                Glibc.close(fd)
                throw SocketError(operation: "connect to 127.0.0.1:\(port)", code: ETIMEDOUT)
            }
            var soError: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
            if soError != 0 {
                Glibc.close(fd)
                throw SocketError(operation: "connect to 127.0.0.1:\(port)", code: soError)
            }
        }
    }

    deinit { close() }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Closes with SO_LINGER 0: the kernel sends a reset instead of a FIN.
    func reset() {
        guard fd >= 0 else { return }
        var lin = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    static func loopback(port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    // MARK: sending

    func send(_ text: String, drainWhileBlocked: Bool = true) throws {
        try send(Array(text.utf8), drainWhileBlocked: drainWhileBlocked)
    }

    /// Sends every byte before the deadline. While the socket is full it reads what the server
    /// answers into `pending` unless `drainWhileBlocked` is false.
    func send(_ bytes: [UInt8], drainWhileBlocked: Bool = true, timeout: Double? = nil) throws {
        let deadline = Deadline(seconds: timeout ?? self.timeout)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                offset += n
                continue
            }
            let err = errno
            guard n < 0, err == EAGAIN || err == EWOULDBLOCK || err == EINTR else {
                throw SocketError(operation: "send", code: err)
            }
            var events = Int16(POLLOUT)
            if drainWhileBlocked && !sawEOF { events |= Int16(POLLIN) }
            let revents = try poll(events, deadline: deadline)
            if revents == 0 { throw SocketError(operation: "send (\(offset) of \(bytes.count) bytes sent)", code: ETIMEDOUT) }
            if drainWhileBlocked && revents & Int16(POLLIN) != 0 { _ = try readAvailable() }
        }
    }

    // MARK: receiving

    /// Reads whatever is available now into `pending`; returns false at end of stream.
    @discardableResult
    private func readAvailable() throws -> Bool {
        while true {
            let n = scratch.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress!, $0.count, 0) }
            if n > 0 {
                pending.append(contentsOf: scratch[0..<n])
                if n < scratch.count { return true }
                continue
            }
            if n == 0 {
                sawEOF = true
                return false
            }
            let err = errno
            if err == EAGAIN || err == EWOULDBLOCK { return true }
            if err == EINTR { continue }
            if err == ECONNRESET {
                sawEOF = true
                sawReset = true
                return false
            }
            throw SocketError(operation: "recv", code: err)
        }
    }

    /// Waits for more bytes; returns false at end of stream, throws on timeout.
    private func fill(deadline: Deadline, what: @autoclosure () -> String) throws -> Bool {
        if sawEOF { return false }
        guard try waitFor(Int16(POLLIN), deadline: deadline) else {
            throw IntegrationError("timed out waiting for \(what()); received so far: \(Escaping.show(pending))")
        }
        return try readAvailable()
    }

    /// Reads until `complete(pending)` returns how many leading bytes form the answer, and removes
    /// and returns those bytes.
    func receive(timeout: Double? = nil, what: String = "an answer",
                 complete: ([UInt8]) throws -> Int?) throws -> [UInt8] {
        let deadline = Deadline(seconds: timeout ?? self.timeout)
        while true {
            if let count = try complete(pending) {
                let answer = Array(pending[0..<count])
                pending.removeFirst(count)
                return answer
            }
            guard try fill(deadline: deadline, what: what) else {
                throw IntegrationError("connection closed while waiting for \(what); received: \(Escaping.show(pending))")
            }
        }
    }

    /// Reads up to and including the first occurrence of `terminator`.
    func readUntil(_ terminator: String, timeout: Double? = nil) throws -> [UInt8] {
        let term = Array(terminator.utf8)
        var searchFrom = 0
        return try receive(timeout: timeout, what: "\(Escaping.show(term))") { buffer in
            if let end = Escaping.find(term, in: buffer, from: searchFrom) { return end + term.count }
            searchFrom = max(0, buffer.count - term.count + 1)
            return nil
        }
    }

    func readLine(timeout: Double? = nil) throws -> String {
        let bytes = try readUntil("\r\n", timeout: timeout)
        return String(decoding: bytes.dropLast(2), as: UTF8.self)
    }

    func readExactly(_ count: Int, timeout: Double? = nil) throws -> [UInt8] {
        try receive(timeout: timeout, what: "\(count) bytes") { $0.count >= count ? count : nil }
    }

    /// Sends a request and returns the first answer line (without \r\n).
    func call(_ request: String) throws -> String {
        try send(request)
        return try readLine()
    }

    /// Sends a request and reads until `terminator` (e.g. "END\r\n").
    func call(_ request: String, until terminator: String) throws -> String {
        try send(request)
        return String(decoding: try readUntil(terminator), as: UTF8.self)
    }

    /// A `get`/`gets` of one key, parsed: nil on a miss.
    func getValue(_ key: String, command: String = "get") throws -> (flags: UInt32, value: [UInt8], cas: UInt64?)? {
        try send("\(command) \(key)\r\n")
        let line = try readLine()
        if line == "END" { return nil }
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0] == "VALUE", parts[1] == Substring(key),
              let flags = UInt32(parts[2]), let length = Int(parts[3]) else {
            throw IntegrationError("unexpected answer to \(command) \(key): \(line)")
        }
        let cas = parts.count > 4 ? UInt64(parts[4]) : nil
        let data = try readExactly(length + 2)
        guard data.suffix(2) == [13, 10] else { throw IntegrationError("value of \(key) not followed by \\r\\n") }
        let end = try readLine()
        guard end == "END" else { throw IntegrationError("expected END after the value of \(key), got \(end)") }
        return (flags, Array(data.dropLast(2)), cas)
    }

    /// Waits for the server to close the connection. Returns the bytes that arrived before the close,
    /// or nil if the connection was still open at the deadline.
    func waitForClose(timeout: Double = 5) throws -> [UInt8]? {
        let deadline = Deadline(seconds: timeout)
        while !sawEOF {
            guard try waitFor(Int16(POLLIN), deadline: deadline) else { return nil }
            try readAvailable()
        }
        let rest = pending
        pending.removeAll()
        return rest
    }

    /// Whether the connection still answers `mn` with `MN` (a cheap liveness probe).
    func isAlive() -> Bool {
        (try? call("mn\r\n")) == "MN"
    }

    // MARK: poll

    private func poll(_ events: Int16, deadline: Deadline) throws -> Int16 {
        while true {
            var pfd = pollfd(fd: fd, events: events, revents: 0)
            let rc = Glibc.poll(&pfd, 1, deadline.remainingMilliseconds)
            if rc > 0 { return pfd.revents }
            if rc == 0 { return 0 }
            if errno != EINTR { throw SocketError(operation: "poll", code: errno) }
        }
    }

    private func waitFor(_ events: Int16, deadline: Deadline) throws -> Bool {
        try poll(events, deadline: deadline) != 0
    }
}

/// A point in time a bounded wait must not pass.
struct Deadline {
    let end: Double

    init(seconds: Double) { end = Deadline.now() + seconds }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    var remaining: Double { max(0, end - Deadline.now()) }
    var remainingMilliseconds: Int32 { Int32(min(remaining * 1000, Double(Int32.max)).rounded(.up)) }
    var hasPassed: Bool { Deadline.now() >= end }
}

/// Helpers to show bytes in failure messages and to search in byte arrays.
enum Escaping {
    /// Bytes as fixture-style text (\r \n \xHH), shortened in the middle when long.
    static func show(_ bytes: some Collection<UInt8>, limit: Int = 600) -> String {
        var out = "\""
        let array = Array(bytes)
        let shown = array.count > limit ? Array(array.prefix(limit / 2)) + Array(array.suffix(limit / 2)) : array
        for (index, b) in shown.enumerated() {
            if array.count > limit && index == limit / 2 { out += "…(\(array.count - limit) bytes)…" }
            switch b {
            case 13: out += "\\r"
            case 10: out += "\\n"
            case 9: out += "\\t"
            case 0: out += "\\0"
            case 92: out += "\\\\"
            case 34: out += "\\\""
            case 0x20..<0x7F: out += String(UnicodeScalar(b))
            default: out += String(format: "\\x%02x", b)
            }
        }
        return out + "\""
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var i = max(0, start)
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == needle[0] {
                var j = 1
                while j < needle.count && haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}
