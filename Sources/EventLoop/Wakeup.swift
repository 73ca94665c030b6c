import CLibevent
import Glibc

/// A cross-thread wake-up for one event base: any thread may `signal()`; the owning base calls
/// the handler on its own thread. Built on an eventfd, the way memcached wakes its workers
/// through a pipe: the message itself travels on a queue the handler drains.
public final class Wakeup: @unchecked Sendable {
    // Invariant for @unchecked Sendable: `fd` is immutable after init and eventfd writes are
    // thread-safe; `event` is touched only by the owning base's thread (init, drain, close).
    private let fd: Int32
    private let event: IOEvent

    public init(base: EventBase, handler: EventHandler) throws(EventLoopError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw EventLoopError.fromErrno(.wakeup, "eventfd") }
        self.fd = fd
        do throws(EventLoopError) {
            event = try IOEvent(base: base, fd: fd, kind: .read, persist: true, handler: handler)
        } catch {
            Glibc.close(fd)
            throw error
        }
        event.add()
    }

    /// From any thread: make the owning base run the handler soon.
    public func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(fd, $0.baseAddress, 8) }
    }

    /// On the owning thread, inside the handler: reset the counter so the event does not fire again.
    public func drain() {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { Glibc.read(fd, $0.baseAddress, 8) }
    }

    /// On the owning thread: stop watching and close the descriptor.
    public func close() {
        event.free()
        Glibc.close(fd)
    }
}
