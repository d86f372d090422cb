import CCurl

/// A POST to send: what the webhook layer hands to libcurl.
public struct OutgoingPost: Sendable {
    public var url: String
    /// Complete header lines ("Name: value").
    public var headers: [String]
    public var body: [UInt8]
    public var connectTimeout: Double
    /// The whole exchange, connect included.
    public var timeout: Double
    /// Response bytes read at most (the rest is not waited for).
    public var maxResponseBytes: Int

    public init(url: String, headers: [String], body: [UInt8], connectTimeout: Double, timeout: Double, maxResponseBytes: Int = 64 * 1024) {
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
    }
}

/// How a POST ended: the HTTP status (0 if none was read) and, when the
/// transfer failed, libcurl's reason.
public struct PostOutcome: Sendable, Equatable {
    public let status: Int
    public let error: String?
}

/// Many POSTs at once on one thread: libcurl's multi interface. Every method
/// except `wakeup` must be called from the one thread that owns the client.
///
/// `@unchecked Sendable`: the handles and the table of transfers are used only
/// by the owning thread (documented above); `wakeup` is the one call libcurl
/// allows from any thread (`curl_multi_wakeup`), and the multi handle lives as
/// long as the client.
public final class CurlClient: @unchecked Sendable {
    private struct Transfer {
        let tag: Int
        let headers: UnsafeMutablePointer<curl_slist>?
        let count: UnsafeMutablePointer<CCurl_body_count>
    }

    private let multi: UnsafeMutableRawPointer
    private var transfers: [UnsafeMutableRawPointer: Transfer] = [:]

    /// Transfers under way.
    public var active: Int { transfers.count }

    public init() {
        CurlClient.globalInit
        multi = curl_multi_init()
    }

    deinit {
        for (easy, t) in transfers { release(easy, t) }
        curl_multi_cleanup(multi)
    }

    private static let globalInit: Void = { _ = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Starts a POST; its outcome comes from `poll` with `tag`. A request libcurl
    /// refuses outright ends at once with its reason.
    public func start(_ post: OutgoingPost, tag: Int) -> PostOutcome? {
        guard let easy = curl_easy_init() else { return PostOutcome(status: 0, error: "cannot create a transfer") }
        var list: UnsafeMutablePointer<curl_slist>?
        for line in post.headers {
            guard let next = curl_slist_append(list, line) else { break }
            list = next
        }
        let count = UnsafeMutablePointer<CCurl_body_count>.allocate(capacity: 1)
        count.initialize(to: CCurl_body_count(received: 0, max_body: post.maxResponseBytes))
        let transfer = Transfer(tag: tag, headers: list, count: count)
        let rc = post.body.withUnsafeBytes { body in
            CCurl_prepare_post(easy, post.url, list, body.baseAddress, body.count,
                               Int(post.connectTimeout * 1000), Int(post.timeout * 1000), count)
        }
        if rc != CURLE_OK {
            release(easy, transfer)
            return PostOutcome(status: 0, error: String(cString: curl_easy_strerror(rc)))
        }
        if curl_multi_add_handle(multi, easy) != CURLM_OK {
            release(easy, transfer)
            return PostOutcome(status: 0, error: "cannot start the transfer")
        }
        transfers[easy] = transfer
        return nil
    }

    /// Moves every transfer along, waiting up to `timeout` seconds for activity
    /// (or a `wakeup`), and returns the transfers that ended.
    public func poll(timeout: Double) -> [(tag: Int, outcome: PostOutcome)] {
        var running: Int32 = 0
        curl_multi_perform(multi, &running)
        var ended = collect()
        if ended.isEmpty {
            var ready: Int32 = 0
            curl_multi_poll(multi, nil, 0, Int32(max(0, min(timeout, 3600)) * 1000), &ready)
            curl_multi_perform(multi, &running)
            ended = collect()
        }
        return ended
    }

    /// Ends a `poll` early; callable from any thread.
    public func wakeup() {
        curl_multi_wakeup(multi)
    }

    private func collect() -> [(tag: Int, outcome: PostOutcome)] {
        var out: [(tag: Int, outcome: PostOutcome)] = []
        var left: Int32 = 0
        while let message = curl_multi_info_read(multi, &left) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                  let transfer = transfers.removeValue(forKey: easy) else { continue }
            let rc = message.pointee.data.result
            let status = CCurl_response_code(easy)
            let tooLong = rc == CURLE_WRITE_ERROR && transfer.count.pointee.received > transfer.count.pointee.max_body
            // A response cut for its length still answered with its status.
            let error: String? = rc == CURLE_OK || (tooLong && status > 0) ? nil : String(cString: curl_easy_strerror(rc))
            out.append((transfer.tag, PostOutcome(status: Int(status), error: error)))
            curl_multi_remove_handle(multi, easy)
            release(easy, transfer)
        }
        return out
    }

    private func release(_ easy: UnsafeMutableRawPointer, _ transfer: Transfer) {
        curl_easy_cleanup(easy)
        curl_slist_free_all(transfer.headers)
        transfer.count.deallocate()
    }
}

/// HMAC-SHA256 of `data` under `key` (GnuTLS).
public func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 32)
    let rc = key.withUnsafeBytes { k in
        data.withUnsafeBytes { d in
            digest.withUnsafeMutableBytes { out in
                CCurl_hmac_sha256(k.baseAddress, k.count, d.baseAddress, d.count, out.baseAddress)
            }
        }
    }
    precondition(rc == 0, "GnuTLS HMAC-SHA256 failed")
    return digest
}
