import Essentials
import Glibc
import Synchronization

/// The time a client has to send a request's head (request line and headers).
///
/// libmicrohttpd's idle timeout starts again at every byte received, so a
/// client that sends a header line every few seconds (plain or TLS) would hold
/// its connection, a thread's attention and a slot of `--max-connections`
/// forever. Each connection is armed when it opens and again when a request on
/// it ends, and disarmed when a request's head is complete (its body, a
/// deferred answer or a stream take as long as they take); a connection still
/// armed past its deadline is shut down, which libmicrohttpd sees as a hang-up.
///
/// The descriptor is shut down under the same lock that the connection's
/// close notice takes to forget it, and libmicrohttpd sends that notice before
/// it closes the socket: the number is never one that another connection got.
final class HeaderDeadlines: Sendable {
    private struct Armed {
        var fd: Int32
        /// Monotonic seconds; nil while the connection is between a head and the end of its request.
        var deadline: Double?
    }

    private struct Table {
        var connections: [UInt: Armed] = [:]
        var nextToken: UInt = 1
    }

    let seconds: Double
    private let table = Mutex(Table())
    private let ticker = Mutex<Task<Void, Never>?>(nil)

    init(seconds: Double) {
        self.seconds = seconds
    }

    /// A connection opened on `fd`: its token, armed.
    func opened(fd: Int32, now: Double = monotonicNow()) -> UInt {
        let deadline = now + seconds
        return table.withLock { t in
            let token = t.nextToken
            t.nextToken += 1
            t.connections[token] = Armed(fd: fd, deadline: deadline)
            return token
        }
    }

    /// A request's head is complete.
    func headComplete(_ token: UInt) {
        table.withLock { $0.connections[token]?.deadline = nil }
    }

    /// A request ended and the connection waits for the next head.
    func requestEnded(_ token: UInt, now: Double = monotonicNow()) {
        let deadline = now + seconds
        table.withLock { $0.connections[token]?.deadline = deadline }
    }

    /// The connection is closing (its socket is still open).
    func closed(_ token: UInt) {
        table.withLock { _ = $0.connections.removeValue(forKey: token) }
    }

    /// Shuts down the connections past their deadline; how many.
    @discardableResult
    func expire(now: Double = monotonicNow()) -> Int {
        table.withLock { t in
            var count = 0
            for (token, armed) in t.connections {
                guard let deadline = armed.deadline, now >= deadline else { continue }
                // A syscall, not a callback: fine under the lock, and the lock is
                // what keeps the descriptor this connection's.
                shutdown(armed.fd, Int32(SHUT_RDWR))
                t.connections[token]?.deadline = nil
                count += 1
            }
            return count
        }
    }

    /// Looks for expired deadlines every quarter of the timeout (at most once a second).
    func start() {
        let interval = min(1.0, max(0.05, seconds / 4))
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                guard let self, !Task.isCancelled else { return }
                self.expire()
            }
        }
        ticker.withLock { $0 = task }
    }

    func stop() {
        ticker.withLock { $0?.cancel() }
    }
}
