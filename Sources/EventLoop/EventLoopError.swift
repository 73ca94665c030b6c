import CLibevent
import Glibc

/// Errors of the event loop module: a code and a message, with errno where the kernel gave one.
public struct EventLoopError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable {
        case baseCreation, eventCreation, socket, bind, listen, resolve, wakeup, thread
    }

    public let code: Code
    public let message: String
    public let errno: Int32

    public init(_ code: Code, _ message: String, errno: Int32 = 0) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    /// True when the address was already in use (EADDRINUSE), so the daemon can say how to pick another port.
    public var isAddressInUse: Bool { errno == EADDRINUSE }

    public var description: String {
        errno == 0 ? message : "\(message): \(String(cString: strerror(errno)))"
    }

    /// Builds an error from the current errno.
    static func fromErrno(_ code: Code, _ message: String) -> EventLoopError {
        EventLoopError(code, message, errno: Glibc.errno)
    }
}
