import Glibc
import Synchronization

/// Why a thread could not be started (the process or system thread limit,
/// or memory for its stack).
public struct ThreadLaunchError: Error, Sendable, CustomStringConvertible {
    /// The `pthread_create` result (`EAGAIN`, `ENOMEM`...).
    public let code: Int32
    /// What the thread was for, as its launcher named it.
    public let name: String

    public var description: String {
        "cannot start thread '\(name)': \(String(cString: strerror(code)))"
    }
}

/// Starts POSIX threads for work that must not run on the Swift concurrency pool
/// (blocking I/O loops, a database writer). `pthread_create`'s result is always
/// checked: a refused thread is an error for the caller, never a garbage handle.
public enum ThreadLauncher {
    /// Runs `body` on a new thread that nobody joins.
    public static func detached(name: String, _ body: @escaping @Sendable () -> Void) throws(ThreadLaunchError) {
        let id = try start(name: name, body)
        pthread_detach(id)
    }

    /// Runs `body` on a new thread; `join()` on the handle waits for it to end.
    public static func joinable(name: String, _ body: @escaping @Sendable () -> Void) throws(ThreadLaunchError) -> JoinableThread {
        JoinableThread(id: try start(name: name, body))
    }

    private static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(ThreadLaunchError) -> pthread_t {
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var id = pthread_t()
        let rc = pthread_create(&id, nil, { arg in
            guard let arg else { return nil }
            Unmanaged<ThreadBody>.fromOpaque(arg).takeRetainedValue().run()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            throw ThreadLaunchError(code: rc, name: name)
        }
        return id
    }
}

/// A started thread that can be waited for once.
public final class JoinableThread: Sendable {
    private let id: Mutex<pthread_t?>

    init(id: pthread_t) { self.id = Mutex(id) }

    /// Waits for the thread to end; later calls return at once. Must not be
    /// called from the thread itself.
    public func join() {
        let id = self.id.withLock { i -> pthread_t? in
            defer { i = nil }
            return i
        }
        if let id { pthread_join(id, nil) }
    }
}

/// The closure a new thread runs, handed over as its start argument.
private final class ThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
