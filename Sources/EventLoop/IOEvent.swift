import CLibevent
import Glibc

/// What woke a handler.
public struct EventKind: OptionSet, Sendable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    public static let read = EventKind(rawValue: Int16(EV_READ))
    public static let write = EventKind(rawValue: Int16(EV_WRITE))
    public static let timeout = EventKind(rawValue: Int16(EV_TIMEOUT))
    public static let signal = EventKind(rawValue: Int16(EV_SIGNAL))
}

/// An object that libevent calls back: subclass it and override `handleEvent`.
///
/// The C callback captures nothing; it gets the handler back from the context pointer without
/// retaining it. Whoever owns an `IOEvent` keeps its handler alive for as long as the event
/// exists (a connection owns its events and is their handler).
open class EventHandler {
    public init() {}

    /// Called on the base's thread when the event fires.
    open func handleEvent(_ fd: Int32, _ kind: EventKind) {}
}

/// The one C callback for every event: turns the context back into the handler.
private func dispatchEvent(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<EventHandler>.fromOpaque(context!)._withUnsafeGuaranteedRef {
        $0.handleEvent(fd, EventKind(rawValue: what))
    }
}

/// A libevent `event` for a file descriptor, a timer or a signal, owned by one thread.
///
/// Not Sendable: it belongs to the thread of its base. `free()` (or deinit) removes it.
public final class IOEvent {
    var event: OpaquePointer?
    public private(set) var isPending = false

    /// Watches `fd` for `kind` (`.read`, `.write`, both; `persist` keeps it armed).
    /// Use fd -1 for a pure timer, and `.signal` with the signal number as fd for a signal.
    public init(base: EventBase, fd: Int32, kind: EventKind, persist: Bool, handler: EventHandler) throws(EventLoopError) {
        var flags = kind.rawValue
        if persist { flags |= Int16(EV_PERSIST) }
        let context = Unmanaged.passUnretained(handler).toOpaque()
        guard let event = event_new(base.base, fd, flags, dispatchEvent, context) else {
            throw EventLoopError(.eventCreation, "event_new failed for fd \(fd)")
        }
        self.event = event
    }

    deinit { free() }

    /// Arms the event, with an optional timeout in microseconds.
    public func add(timeoutMicros: Int = 0) {
        guard let event else { return }
        if timeoutMicros > 0 {
            var tv = timeval(tv_sec: timeoutMicros / 1_000_000, tv_usec: timeoutMicros % 1_000_000)
            _ = event_add(event, &tv)
        } else {
            _ = event_add(event, nil)
        }
        isPending = true
    }

    /// Disarms the event (it can be armed again).
    public func remove() {
        guard let event, isPending else { return }
        _ = event_del(event)
        isPending = false
    }

    /// Runs the handler on the next loop iteration as if `kind` had happened.
    public func activate(_ kind: EventKind) {
        guard let event else { return }
        event_active(event, Int32(kind.rawValue), 0)
    }

    /// Releases the event; idempotent.
    public func free() {
        guard let event else { return }
        event_free(event)
        self.event = nil
        isPending = false
    }
}
