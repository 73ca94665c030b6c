import Glibc

/// A plain pthread running one closure: workers need a thread of their own for their event base,
/// not a task on a shared pool.
final class NativeThread: @unchecked Sendable {
    // Invariant for @unchecked Sendable: `body` is set before the thread starts and run only by
    // it; `thread` is written once by the starting thread and read by `join` on the same thread.
    private let body: () -> Void
    private var thread: pthread_t = pthread_t()

    private init(body: @escaping () -> Void) { self.body = body }

    static func start(name: String, _ body: @escaping () -> Void) -> NativeThread? {
        let box = NativeThread(body: body)
        let context = Unmanaged.passRetained(box).toOpaque()
        let rc = pthread_create(&box.thread, nil, { raw in
            let box = Unmanaged<NativeThread>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<NativeThread>.fromOpaque(context).release()
            return nil
        }
        return box
    }

    func join() { _ = pthread_join(thread, nil) }
}
