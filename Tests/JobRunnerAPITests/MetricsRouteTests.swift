import Glibc
import HTTPServer
import HTTPTestSupport
import JSON
import JobEngine
import JobQueue
@testable import JobRunnerAPI
import Testing

/// `/metrics` and `/readyz` over a real server: requests counted under their route
/// pattern, label values escaped, and readiness that waits for the event loops.
@Suite(.timeLimit(.minutes(10))) struct MetricsRouteTests {
    final class Stack {
        let engine = JobEngine(capacity: 2)
        let api: JobRunnerAPI
        let server: HTTPServer

        init(metrics: Bool = true) throws {
            var c = APIConfiguration(webRoot: nil)
            c.metrics = metrics
            api = JobRunnerAPI(engine: engine, configuration: c)
            var configuration = ServerConfiguration()
            configuration.port = 0
            configuration.renderError = JobRunnerAPI.renderError
            server = HTTPServer(configuration: configuration, router: api.makeRouter())
            try server.start()
        }

        deinit {
            engine.stop()
            server.stop()
        }

        func get(_ path: String) throws -> TestResponse { try httpRequest(port: server.port, "GET", path) }

        /// The value of the sample line that starts with `prefix` (name and labels).
        func sample(_ prefix: String) throws -> Double? {
            let text = try get("/metrics").text
            for line in text.split(separator: "\n") where line.hasPrefix(prefix + " ") {
                return Double(line.dropFirst(prefix.count + 1))
            }
            return nil
        }
    }

    @Test func requestsCountUnderTheirRoutePatternNeverTheRawPath() async throws {
        try await offPool {
            let s = try Stack()
            #expect(try s.get("/api/jobs/42").status == 404)
            #expect(try s.get("/api/jobs/43").status == 404)
            #expect(try s.get("/api/jobs/abc/log").status == 404)
            #expect(try httpRequest(port: s.server.port, "DELETE", "/api/stats").status == 405)
            #expect(try httpRequest(port: s.server.port, "BREW", "/pot").status >= 400)
            let r = try s.get("/metrics")
            #expect(r.status == 200)
            #expect(r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
            #expect(!r.text.contains("/api/jobs/42") && !r.text.contains("/pot"))
            #expect(try s.sample(#"jobrunner_http_requests_total{method="GET",route="/api/jobs/:id",code="404"}"#) == 2)
            #expect(try s.sample(#"jobrunner_http_requests_total{method="GET",route="/api/jobs/:id/log",code="404"}"#) == 1)
            #expect(try s.sample(#"jobrunner_http_requests_total{method="DELETE",route="other",code="405"}"#) == 1)
            #expect(try s.sample(#"jobrunner_http_requests_total{method="other",route="other",code="404"}"#) == 1)
        }
    }

    @Test func jobsShowPerQueueAndType() async throws {
        try await offPool {
            let s = try Stack()
            var options = JobOptions()
            options.queue = "q-1"
            s.engine.updateQueue("q-1", QueueSettings(paused: true)) { _ in }
            _ = try s.engine.submit(type: "echo", params: ["message": "x"], options: options) { _ in }
            #expect(try s.sample(#"jobrunner_jobs{queue="q-1",type="echo",state="pending"}"#) == 1)
            #expect(try s.sample(#"jobrunner_jobs_created_total{queue="q-1",type="echo"}"#) == 1)
        }
    }

    @Test func offMeansA404AndNoCounting() async throws {
        try await offPool {
            let s = try Stack(metrics: false)
            let r = try s.get("/metrics")
            #expect(r.status == 404)
            #expect(r.text == #"{"error":"Metrics are turned off (--metrics off)"}"#)
            #expect(s.engine.metrics() == nil)
        }
    }

    @Test func readyWhenTheEventLoopsAnswer() async throws {
        try await offPool {
            let s = try Stack()
            // Weakly: the server's router holds the API, which keeps the probe (a
            // strong capture is a cycle that outlives the test's daemon).
            s.api.setEventLoopProbe { [weak server = s.server] done in server?.probeEventLoop(done) ?? false }
            let r = try s.get("/readyz")
            #expect(r.status == 200 && r.text == #"{"status":"ready"}"#)
        }
    }

    @Test func notReadyWhenALoopDoesNotAnswerWithinTheDeadline() async throws {
        try await offPool {
            let s = try Stack()
            // A loop that takes the probe and never runs it (a hung thread).
            s.api.setEventLoopProbe { _ in true }
            let started = monotonic()
            let r = try s.get("/readyz")
            let waited = monotonic() - started
            #expect(r.status == 503)
            let body = try JSONValue.parse(r.body)
            #expect(body["error"] == "the WebSocket I/O loop is not answering")
            #expect(waited >= 0.9 && waited < 5)
            // A loop that is not running at all: at once.
            s.api.setEventLoopProbe { _ in false }
            let again = try s.get("/readyz")
            #expect(again.status == 503)
            #expect(again.text == #"{"status":"not ready","error":"the WebSocket I/O loop is not answering","reasons":["the WebSocket I/O loop is not answering"]}"#)
        }
    }

    @Test func textFormatEscapesLabelValuesAndWritesCumulativeBuckets() {
        var w = PrometheusWriter()
        w.sample("m", [("path", "a\\b \"c\"\nd")], 1.5)
        var h = Histogram(bounds: [0.5, 1])
        h.observe(0.2)
        h.observe(0.7)
        h.observe(3)
        w.histogram("h_seconds", [("type", "t")], h)
        #expect(String(decoding: w.bytes, as: UTF8.self) == """
            m{path="a\\\\b \\"c\\"\\nd"} 1.5
            h_seconds_bucket{type="t",le="0.5"} 1
            h_seconds_bucket{type="t",le="1"} 2
            h_seconds_bucket{type="t",le="+Inf"} 3
            h_seconds_sum{type="t"} 3.9
            h_seconds_count{type="t"} 3

            """)
    }

    func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
