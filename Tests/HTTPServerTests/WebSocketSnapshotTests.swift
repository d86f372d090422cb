import Dispatch
import Glibc
import Essentials
import HTTPServer
import HTTPTestSupport
import Synchronization
import Testing

/// Snapshots (full-state frames) in the outbound queue: they count, there is at
/// most one, and they drop the frames they already reflect.
@Suite(.timeLimit(.minutes(10))) struct WebSocketSnapshotTests {
    /// A server with a 64 KiB outbound limit; the body gets the test client and
    /// the server's side of its connection, once it is open.
    func withSocket(_ body: (TestWebSocket, WebSocket) throws -> Void) throws {
        let sockets = Mutex<[WebSocket]>([])
        // Each socket's handler holds `sockets`: emptied, or socket and box keep each other.
        defer { sockets.withLock { $0 = [] } }
        let opened = DispatchSemaphore(value: 0)
        try withServer({ r in
            r.get("/ws") { req in
                try HTTPResponse.webSocket(req, handler: WebSocketHandler(
                    onOpen: { ws in
                        sockets.withLock { $0.append(ws) }
                        opened.signal()
                    },
                    onText: { _, _ in }
                ))
            }
        }, config: { $0.webSocket.maxQueuedBytes = 64 * 1024 }) { server in
            let client = try TestWebSocket(port: server.port)
            #expect(opened.wait(timeout: .now() + 10) == .success)
            try body(client, try #require(sockets.withLock { $0.first }))
        }
    }

    func text(_ s: String, padding: Int = 0) -> [UInt8] {
        WebSocketFrame.text(Array(s.utf8) + [UInt8](repeating: 46, count: padding))
    }

    @Test func aSnapshotLargerThanTheLimitReachesAReaderWithTheFramesAfterIt() async throws {
        try await offPool {
            try withSocket { client, ws in
                let slot = try #require(ws.reserveSnapshot())
                // Before the state is taken, it will reflect every event sent.
                #expect(ws.send(frame: text("event 0"), sequence: 0))
                #expect(ws.beginSnapshot(slot))
                // Frames sent meanwhile wait behind the snapshot's place.
                #expect(ws.send(frame: text("event 1"), sequence: 1))
                #expect(ws.send(frame: text("event 2"), sequence: 2))
                #expect(ws.send(frame: text("reply")))
                ws.fillSnapshot(slot, frame: text("snapshot", padding: 300 * 1024), sequence: 1)
                // Later events keep flowing while the 300 KB snapshot is written.
                for i in 3..<40 { #expect(ws.send(frame: text("event \(i)", padding: 1000), sequence: UInt64(i))) }
                // Reflected by the snapshot: dropped.
                #expect(ws.send(frame: text("event 1 again"), sequence: 1))
                var seen: [String] = []
                while seen.last?.hasPrefix("event 39") != true, let message = try client.receiveText() {
                    seen.append(String(message.prefix { $0 != "." }))
                }
                #expect(Array(seen.prefix(4)) == ["snapshot", "event 2", "reply", "event 3"])
                #expect(seen.count == 40)
                #expect(!seen.contains("event 0") && !seen.contains("event 1") && !seen.contains("event 1 again"))
                #expect(ws.isOpen)
            }
        }
    }

    @Test func atMostOneSnapshotIsQueued() async throws {
        try await offPool {
            try withSocket { client, ws in
                let slot = try #require(ws.reserveSnapshot())
                #expect(ws.reserveSnapshot() == nil)
                #expect(ws.beginSnapshot(slot))
                ws.fillSnapshot(slot, frame: text("snapshot", padding: 100), sequence: 0)
                // Until it is written completely, another request is answered by it.
                #expect(try client.receiveText()?.hasPrefix("snapshot") == true)
                // Once the writer has moved past it (right after the bytes left), a new one fits.
                var reserved: WebSocket.SnapshotSlot?
                let deadline = monotonicNow() + 10
                while reserved == nil && monotonicNow() < deadline {
                    reserved = ws.reserveSnapshot()
                    if reserved == nil { sched_yield() }
                }
                let second = try #require(reserved)
                #expect(ws.beginSnapshot(second))
                ws.fillSnapshot(second, frame: text("second"), sequence: 0)
                #expect(try client.receiveText() == "second")
            }
        }
    }

    @Test func aClientThatNeverReadsIsClosedWith1013AndHoldsAtMostOneSnapshotPlusTheLimit() async throws {
        try await offPool {
            try withSocket { client, ws in
                let snapshotSize = 200 * 1024
                var refused = false
                var rounds = 0
                var snapshots = 0
                // Like a client sending get_state over and over without reading,
                // while events keep coming.
                while !refused && rounds < 100_000 {
                    if let slot = ws.reserveSnapshot(), ws.beginSnapshot(slot) {
                        ws.fillSnapshot(slot, frame: text("snapshot", padding: snapshotSize), sequence: UInt64(rounds))
                        snapshots += 1
                    }
                    refused = !ws.send(frame: text("event", padding: 4096), sequence: UInt64(rounds + 1))
                    #expect(ws.queuedBytes <= snapshotSize + 64 * 1024 + 8 * 1024)
                    rounds += 1
                }
                let code = try client.closeCode()
                #expect(refused)
                #expect(code == 1013)
                // The kernel's buffers took a few; the queue never held two.
                #expect(snapshots < rounds)
            }
        }
    }
}
