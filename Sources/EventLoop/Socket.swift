import CLibevent
import Glibc

/// The outcome of one read or write on a non-blocking socket. Would-block is a result, not an error.
public enum IOResult: Equatable, Sendable {
    case bytes(Int)
    case wouldBlock
    /// The peer closed its side (read returned 0).
    case closed
    case failed(errno: Int32)
}

/// Thin, typed wrappers over the socket calls. Every `-1`/errno becomes an `IOResult` or an
/// `EventLoopError` here and nowhere else.
public enum Socket {
    /// Reads into `buffer`; retries on EINTR.
    @inlinable
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int) -> IOResult {
        while true {
            let n = Glibc.read(fd, buffer, count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
            return .failed(errno: e)
        }
    }

    /// Sends bytes without ever raising SIGPIPE; retries on EINTR.
    @inlinable
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> IOResult {
        while true {
            let n = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .bytes(n) }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
            return .failed(errno: e)
        }
    }

    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Accepts one connection, non-blocking and close-on-exec. nil when nothing is pending.
    public static func accept(_ listener: Int32) -> Result<Int32, EventLoopError>? {
        while true {
            var storage = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.accept(listener, $0, &len)
                }
            }
            if fd >= 0 {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                return .success(fd)
            }
            let e = errno
            if e == EINTR || e == ECONNABORTED { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return nil }
            return .failure(EventLoopError(.socket, "accept", errno: e))
        }
    }

    /// Starts a non-blocking TCP connection to `host:port` (a numeric address or a name), from
    /// `bindHost` (any port) when one is given: a node talks to its peers from its own address,
    /// so a firewall rule or a partition test that names that address sees its traffic.
    /// `.success((fd, inProgress))`: when `inProgress`, wait for the socket to be writable and
    /// check `connectResult`.
    public static func connectTCP(host: String, port: Int, bindHost: String? = nil) -> Result<(fd: Int32, inProgress: Bool), EventLoopError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let ai = result else {
            return .failure(EventLoopError(.resolve, "cannot resolve '\(host)': \(String(cString: gai_strerror(rc)))"))
        }
        defer { freeaddrinfo(ai) }
        let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), ai.pointee.ai_protocol)
        guard fd >= 0 else { return .failure(.fromErrno(.socket, "socket")) }
        setNoDelay(fd)
        if let bindHost, !bindHost.isEmpty {
            var bindHints = addrinfo()
            bindHints.ai_family = ai.pointee.ai_family
            bindHints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            bindHints.ai_flags = AI_NUMERICSERV | AI_PASSIVE
            var local: UnsafeMutablePointer<addrinfo>?
            let brc = getaddrinfo(bindHost, "0", &bindHints, &local)
            guard brc == 0, let la = local else {
                Glibc.close(fd)
                return .failure(EventLoopError(.resolve, "cannot resolve the bind address '\(bindHost)': \(String(cString: gai_strerror(brc)))"))
            }
            defer { freeaddrinfo(la) }
            if bind(fd, la.pointee.ai_addr, la.pointee.ai_addrlen) != 0 {
                let e = errno
                Glibc.close(fd)
                return .failure(EventLoopError(.socket, "bind to \(bindHost) before connecting", errno: e))
            }
        }
        if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return .success((fd, false)) }
        let e = errno
        if e == EINPROGRESS { return .success((fd, true)) }
        Glibc.close(fd)
        return .failure(EventLoopError(.socket, "connect to \(host):\(port)", errno: e))
    }

    /// The numeric addresses `host` resolves to (`127.0.0.1`, `::1`); empty if it does not.
    public static func resolveNumeric(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var names: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let ai = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(ai.pointee.ai_addr, ai.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !names.contains(name) { names.append(name) }
            }
            cursor = ai.pointee.ai_next
        }
        return names
    }

    /// After a non-blocking connect became writable: nil if it connected, else the error.
    public static func connectResult(_ fd: Int32) -> EventLoopError? {
        var error: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 { return .fromErrno(.socket, "getsockopt") }
        return error == 0 ? nil : EventLoopError(.socket, "connect", errno: error)
    }

    /// Turns off Nagle's algorithm on a TCP connection (no-op elsewhere).
    public static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A listening TCP socket on `host:port` (IPv4 or IPv6 literal, or a name).
    public static func listenTCP(host: String, port: Int, backlog: Int32) throws(EventLoopError) -> [Int32] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let hostArg: String? = (host.isEmpty || host == "*") ? nil : host
        let rc = getaddrinfo(hostArg, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw EventLoopError(.resolve, "cannot resolve listen address '\(host)': \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var fds: [Int32] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        var lastError: EventLoopError?
        while let ai = cursor {
            cursor = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), ai.pointee.ai_protocol)
            if fd < 0 { lastError = .fromErrno(.socket, "socket"); continue }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if ai.pointee.ai_family == AF_INET6 {
                _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            if bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) != 0 {
                let e = EventLoopError.fromErrno(.bind, "cannot bind \(host):\(port)")
                Glibc.close(fd)
                for f in fds { Glibc.close(f) }
                throw e
            }
            if Glibc.listen(fd, backlog) != 0 {
                let e = EventLoopError.fromErrno(.listen, "cannot listen on \(host):\(port)")
                Glibc.close(fd)
                for f in fds { Glibc.close(f) }
                throw e
            }
            fds.append(fd)
        }
        if fds.isEmpty { throw lastError ?? EventLoopError(.resolve, "no address for '\(host)'") }
        return fds
    }

    /// A listening unix-domain socket at `path` with permission `mask` (octal, as memcached's -a).
    public static func listenUnix(path: String, mask: UInt32, backlog: Int32) throws(EventLoopError) -> Int32 {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw EventLoopError(.bind, "unix socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .fromErrno(.socket, "socket") }
        // A stale socket file from a previous run would make bind fail; memcached removes it too.
        _ = unlink(path)
        let oldMask = umask(mode_t(~mask & 0o777))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        _ = umask(oldMask)
        if rc != 0 {
            let e = EventLoopError.fromErrno(.bind, "cannot bind unix socket \(path)")
            Glibc.close(fd)
            throw e
        }
        if Glibc.listen(fd, backlog) != 0 {
            let e = EventLoopError.fromErrno(.listen, "cannot listen on \(path)")
            Glibc.close(fd)
            throw e
        }
        return fd
    }

    /// The peer address of a connected socket as `host:port` (or `unix` for unix sockets), for logs and `stats conns`.
    public static func peerName(_ fd: Int32) -> String {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) }
        }
        guard rc == 0 else { return "unknown" }
        return describe(&storage)
    }

    /// The local address of a socket as `host:port`.
    public static func localName(_ fd: Int32) -> String {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard rc == 0 else { return "unknown" }
        return describe(&storage)
    }

    private static func describe(_ storage: inout sockaddr_storage) -> String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var serv = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        if storage.ss_family == sa_family_t(AF_UNIX) { return "unix" }
        let len = socklen_t(storage.ss_family == sa_family_t(AF_INET6) ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, len, &host, socklen_t(host.count), &serv, socklen_t(serv.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard rc == 0 else { return "unknown" }
        let h = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let s = String(decoding: serv.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return storage.ss_family == sa_family_t(AF_INET6) ? "[\(h)]:\(s)" : "\(h):\(s)"
    }
}
