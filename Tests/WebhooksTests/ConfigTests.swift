import JSON
import JobQueue
import Testing
import Webhooks

@Suite(.timeLimit(.minutes(10))) struct WebhookConfigTests {
    func parse(_ text: String) throws(WebhookConfigError) -> [WebhookEndpoint] {
        let value = try! JSONValue.parse(Array(text.utf8))
        return try WebhookEndpoint.parseSection(value)
    }

    func error(_ text: String) -> String {
        do {
            _ = try parse(text)
            return "no error"
        } catch {
            return error.message
        }
    }

    @Test func aValidSectionWithDefaults() throws {
        let e = try parse(#"[{"url": "https://example.com/hook?x=1", "events": ["job_failed", "job_completed"], "secret": "abc"}]"#)
        #expect(e.count == 1)
        #expect(e[0].url == "https://example.com/hook?x=1")
        #expect(e[0].events == [.jobFailed, .jobCompleted])
        #expect(e[0].secret == Array("abc".utf8))
        #expect(e[0].maxAttempts == 10 && e[0].timeout == 10 && e[0].concurrency == 4)
        #expect(e[0].backoffInitial == 5 && e[0].backoffMax == 3600)
        let tuned = try parse(#"[{"url": "http://[::1]:8080/h", "events": ["schedule_fired"], "secret": "s", "max_attempts": 3,"# +
                              #""timeout": 0.5, "concurrency": 1, "backoff": {"initial": 0.1, "max": 2}}]"#)
        #expect(tuned[0].maxAttempts == 3 && tuned[0].timeout == 0.5 && tuned[0].connectTimeout == 0.5)
        #expect(tuned[0].backoffInitial == 0.1 && tuned[0].backoffMax == 2)
        #expect(try parse("null").isEmpty)
        #expect(try parse("[]").isEmpty)
    }

    @Test func everyBadFieldIsNamed() {
        let ok = #""events": ["job_failed"], "secret": "s""#
        #expect(error(#"{}"#).contains("must be an array"))
        #expect(error(#"[1]"#).contains("webhooks[0] must be an object"))
        #expect(error(#"[{"events": ["job_failed"], "secret": "s"}]"#).contains("webhooks[0].url"))
        for url in ["ftp://x/", "http://", "http://user:pw@host/", "http://host:0/", "http://host:99999/", "http://ho st/",
                    "http://host/#frag", "example.com/hook", "http://[::1/x"] {
            #expect(error(#"[{"url": "\#(url)", \#(ok)}]"#).contains("webhooks[0].url"), "\(url)")
        }
        #expect(error(#"[{"url": "http://x/", "secret": "s"}]"#).contains("webhooks[0].events"))
        #expect(error(#"[{"url": "http://x/", "events": [], "secret": "s"}]"#).contains("webhooks[0].events"))
        #expect(error(#"[{"url": "http://x/", "events": ["job_exploded"], "secret": "s"}]"#).contains("unknown event"))
        #expect(error(#"[{"url": "http://x/", "events": ["job_failed"]}]"#).contains("webhooks[0].secret"))
        #expect(error(#"[{"url": "http://x/", "events": ["job_failed"], "secret": ""}]"#).contains("webhooks[0].secret"))
        #expect(error(#"[{"url": "http://x/", \#(ok), "max_attempts": 0}]"#).contains("max_attempts"))
        #expect(error(#"[{"url": "http://x/", \#(ok), "timeout": 301}]"#).contains("timeout"))
        #expect(error(#"[{"url": "http://x/", \#(ok), "concurrency": 65}]"#).contains("concurrency"))
        #expect(error(#"[{"url": "http://x/", \#(ok), "backoff": {"initial": 10, "max": 1}}]"#).contains("backoff"))
        #expect(error(#"[{"url": "http://x/", \#(ok), "backoff": {"first": 1}}]"#).contains("unknown key 'first'"))
        #expect(error(#"[{"url": "http://x/", \#(ok), "headers": {}}]"#).contains("unknown key 'headers'"))
        #expect(error(#"[{"url": "http://x/", \#(ok)}, {"url": "http://x/", \#(ok)}]"#).contains("webhooks[1].url: listed twice"))
        let many = (0...WebhookEndpoint.maxEndpoints).map { #"{"url": "http://x/\#($0)", \#(ok)}"# }.joined(separator: ",")
        #expect(error("[\(many)]").contains("at most \(WebhookEndpoint.maxEndpoints)"))
    }

    @Test func errorsNeverShowTheSecret() {
        let message = error(#"[{"url": "ftp://x/", "events": ["job_failed"], "secret": "hunter2-secret"}]"#)
        #expect(message.contains("webhooks[0].url"))
        #expect(!message.contains("hunter2"))
    }
}
