import Glibc

/// A resolved UDP destination, kept so a datagram to a member costs no lookup.
public struct DatagramAddress: @unchecked Sendable {
    // A plain C address value; copied, never shared mutably.
    var storage = sockaddr_storage()
    var length: socklen_t = 0
}

/// UDP sockets for gossip: bound to the node's own address (so its datagrams leave from it and
/// a partition rule naming that address sees them), non-blocking, close-on-exec.
public enum Datagram {
    /// A UDP socket bound to `host:port` (a numeric address or a name).
    public static func bind(host: String, port: Int) throws(EventLoopError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &result)
        guard rc == 0, let ai = result else {
            throw EventLoopError(.resolve, "cannot resolve gossip address '\(host)': \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(ai) }
        let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), ai.pointee.ai_protocol)
        guard fd >= 0 else { throw .fromErrno(.socket, "socket") }
        var size: Int32 = 1 << 20
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        if Glibc.bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) != 0 {
            let e = EventLoopError.fromErrno(.bind, "cannot bind gossip UDP \(host):\(port)")
            Glibc.close(fd)
            throw e
        }
        return fd
    }

    /// The address of `host:port` (numeric hosts resolve without a lookup), or nil.
    public static func resolve(host: String, port: Int) -> DatagramAddress? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let ai = result else { return nil }
        defer { freeaddrinfo(ai) }
        var address = DatagramAddress()
        address.length = ai.pointee.ai_addrlen
        withUnsafeMutableBytes(of: &address.storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: ai.pointee.ai_addr, count: Int(ai.pointee.ai_addrlen)))
        }
        return address
    }

    /// Sends one datagram; a full buffer or an unreachable peer drops it (gossip tolerates loss).
    @discardableResult
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, to address: DatagramAddress) -> IOResult {
        var a = address
        while true {
            let n = withUnsafePointer(to: &a.storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), $0, a.length)
                }
            }
            if n >= 0 { return .bytes(n) }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
            return .failed(errno: e)
        }
    }

    /// Receives one datagram into `buffer`; `.wouldBlock` when none is waiting. A datagram
    /// longer than the buffer is reported whole-length (truncated), so the caller can refuse it.
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC))
            if n >= 0 { return .bytes(n) }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
            return .failed(errno: e)
        }
    }
}
