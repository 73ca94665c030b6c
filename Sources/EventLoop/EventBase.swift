import CLibevent
import Glibc

/// One libevent `event_base`: the loop of one thread.
///
/// Thread-confined: created, run and stopped by the thread that owns it. Other threads reach it
/// only through a `Wakeup` registered on it. The base is created without libevent's internal
/// lock because nothing else ever touches it.
public final class EventBase {
    let base: OpaquePointer

    public init() throws(EventLoopError) {
        guard let config = event_config_new() else { throw EventLoopError(.baseCreation, "event_config_new failed") }
        defer { event_config_free(config) }
        event_config_set_flag(config, Int32(EVENT_BASE_FLAG_NOLOCK.rawValue))
        guard let base = event_base_new_with_config(config) else {
            throw EventLoopError(.baseCreation, "event_base_new_with_config failed")
        }
        self.base = base
    }

    deinit { event_base_free(base) }

    /// Runs the loop until `stop()` is called or no events remain.
    public func run() {
        _ = event_base_dispatch(base)
    }

    /// Makes `run()` return after the current callbacks finish. Call only from this base's thread
    /// (another thread uses a `Wakeup` whose handler calls this).
    public func stop() {
        _ = event_base_loopbreak(base)
    }

    /// The libevent version, for `stats` (memcached reports it as `libevent`).
    public static var libeventVersion: String { String(cString: event_get_version()) }

    /// The backend method in use (epoll), for logs.
    public var method: String { String(cString: event_base_get_method(base)) }
}
