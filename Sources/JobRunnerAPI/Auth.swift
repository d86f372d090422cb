import Glibc
import HTTPServer
import JSON
import Synchronization

/// What a token may do. `admin` implies the others; `submit` does not imply `read`.
public enum Scope: String, Sendable, CaseIterable, Comparable {
    case read, submit, admin

    public static func < (a: Scope, b: Scope) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One entry of the config file's `"tokens"` section: a name, the SHA-256 of the
/// token (the token itself is never stored) and its scopes.
public struct TokenEntry: Sendable, Equatable {
    public let name: String
    public let hash: [UInt8]
    public let scopes: Set<Scope>

    public init(name: String, hash: [UInt8], scopes: Set<Scope>) {
        self.name = name
        self.hash = hash
        self.scopes = scopes
    }

    /// Parses the `"tokens"` section; the error names the entry and the field.
    public static func parseSection(_ section: JSONValue?) throws(TokenConfigError) -> [TokenEntry] {
        guard let section, !section.isNull else { return [] }
        guard case .array(let items) = section else { throw TokenConfigError("'tokens' must be an array of objects") }
        var out: [TokenEntry] = []
        for (i, item) in items.enumerated() {
            guard case .object(let o) = item else { throw TokenConfigError("tokens[\(i)] must be an object") }
            for member in o where !["name", "sha256", "scopes"].contains(member.key) {
                throw TokenConfigError("tokens[\(i)]: unknown key '\(member.key.prefix(40))' (known: name, sha256, scopes)")
            }
            guard let name = o["name"]?.stringValue, isValidName(name) else {
                throw TokenConfigError("tokens[\(i)]: 'name' must be 1 to 64 letters, digits, '.', '_' or '-'")
            }
            guard let hex = o["sha256"]?.stringValue, let hash = hexBytes(hex), hash.count == 32 else {
                throw TokenConfigError("token '\(name)': 'sha256' must be 64 hex digits (the SHA-256 of the token; see jobrunnerd token new)")
            }
            guard case .array(let rawScopes)? = o["scopes"], !rawScopes.isEmpty else {
                throw TokenConfigError("token '\(name)': 'scopes' must be a non-empty array of read, submit, admin")
            }
            var scopes = Set<Scope>()
            for raw in rawScopes {
                guard let text = raw.stringValue, let scope = Scope(rawValue: text) else {
                    throw TokenConfigError("token '\(name)': unknown scope \(raw.jsonString.prefix(40)) (use read, submit, admin)")
                }
                scopes.insert(scope)
            }
            if out.contains(where: { $0.name == name }) { throw TokenConfigError("token '\(name)' is listed twice") }
            if out.contains(where: { $0.hash == hash }) { throw TokenConfigError("token '\(name)' has the same sha256 as another token") }
            out.append(TokenEntry(name: name, hash: hash, scopes: scopes))
        }
        return out
    }

    /// Names are safe to print in logs and error messages.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let hi = value(digits[i]), let lo = value(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

public struct TokenConfigError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Tokens: fresh random secrets and their hashes.
public enum Tokens {
    /// A new token: 32 random bytes, base64url without padding (43 characters,
    /// safe in headers, config files and shells). Nil if no randomness could be had.
    public static func generate() -> String? {
        secureRandomBytes(32).map(base64url)
    }

    /// The lower-case hex SHA-256 of a token, as the config file holds it.
    public static func hashHex(_ token: String) -> String {
        sha256(Array(token.utf8)).map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 15)]], as: UTF8.self)
        }.joined()
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b0 = UInt32(bytes[i])
            let b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
            let b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
            let n = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            if i + 1 < bytes.count { out.append(alphabet[Int(n >> 6 & 63)]) }
            if i + 2 < bytes.count { out.append(alphabet[Int(n & 63)]) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Equal in time independent of where the first difference is.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}

/// Who is asking: a token (by bearer header or through a session) with its
/// scopes now, or anybody when authentication is off.
public struct Principal: Sendable {
    /// The token's name; nil when authentication is off.
    public let name: String?
    public let scopes: Set<Scope>
    let credential: Credential

    enum Credential: Sendable, Equatable {
        case open
        case token(hash: [UInt8])
        /// The SHA-256 of the session id (the id itself is only in the cookie).
        case session(idHash: [UInt8], tokenHash: [UInt8])
    }

    static let anybody = Principal(name: nil, scopes: Set(Scope.allCases), credential: .open)

    /// `admin` covers everything.
    public func has(_ scope: Scope) -> Bool { scopes.contains(scope) || scopes.contains(.admin) }

    /// For logs: the token's name or `-`.
    public var label: String { name ?? "-" }

    var viaSession: Bool { if case .session = credential { true } else { false } }
}

/// Why a request has no principal.
enum AuthFailure: Error, Equatable {
    /// No credential, or one that is not known (or expired, or revoked).
    case unauthenticated
}

/// Tokens and the dashboard's sessions. Holds only hashes; every decision reads
/// the current token table, so a reload (`replaceTokens`) takes effect at the
/// next request, and a session lives only as long as its token does.
public final class Authenticator: Sendable {
    public enum Mode: String, Sendable {
        /// Anybody may do anything (allowed only on a loopback address unless `--auth none`).
        case open = "none"
        /// Every request but health checks and the dashboard's files needs a token.
        case tokens
    }

    public let mode: Mode
    /// Seconds a session lasts from sign-in.
    public let sessionLifetime: Double
    /// Sessions held at once; past it the oldest go.
    static let maxSessions = 10_000
    /// Sessions one token holds at once; past it that token's oldest go, so a
    /// token that signs in over and over can only end its own sessions.
    static let maxSessionsPerToken = 100
    public static let cookieName = "jobrunner_session"

    private struct Session {
        let tokenHash: [UInt8]
        let expires: Double
        let created: Double
    }

    private struct State {
        var tokens: [TokenEntry]
        var sessions: [[UInt8]: Session] = [:]
    }

    private let state: Mutex<State>

    public init(mode: Mode, tokens: [TokenEntry], sessionLifetime: Double = 12 * 3600) {
        self.mode = mode
        self.sessionLifetime = sessionLifetime
        state = Mutex(State(tokens: tokens))
    }

    /// The token table now.
    public var tokens: [TokenEntry] { state.withLock { $0.tokens } }

    /// Installs a new token table (SIGHUP). Sessions of tokens no longer present
    /// end at once; a token whose scopes changed keeps its sessions, with the new scopes.
    public func replaceTokens(_ tokens: [TokenEntry]) {
        state.withLock { s in
            s.tokens = tokens
            s.sessions = s.sessions.filter { _, session in tokens.contains { $0.hash == session.tokenHash } }
        }
    }

    // MARK: Requests

    /// The principal of a request: the `Authorization: Bearer` token if the
    /// header is there (a bad one fails even with a good cookie), else the
    /// session cookie. Anybody when authentication is off.
    func authenticate(_ headers: [(name: String, value: String)]) -> Result<Principal, AuthFailure> {
        if mode == .open { return .success(.anybody) }
        if let authorization = headers.first(where: { $0.name == "authorization" })?.value {
            guard let token = Self.bearerToken(authorization) else { return .failure(.unauthenticated) }
            return principal(forToken: token).map(Result.success) ?? .failure(.unauthenticated)
        }
        if let id = Self.sessionID(headers) {
            return principal(forSession: id).map(Result.success) ?? .failure(.unauthenticated)
        }
        return .failure(.unauthenticated)
    }

    /// The principal a token stands for now, or nil if no entry has its hash.
    func principal(forToken token: String) -> Principal? {
        let hash = sha256(Array(token.utf8))
        guard let entry = entry(hash) else { return nil }
        return Principal(name: entry.name, scopes: entry.scopes, credential: .token(hash: hash))
    }

    /// Looks the hash up comparing every entry in constant time (no early exit).
    private func entry(_ hash: [UInt8]) -> TokenEntry? {
        state.withLock { s in
            var found: TokenEntry?
            for entry in s.tokens where Tokens.constantTimeEqual(entry.hash, hash) { found = entry }
            return found
        }
    }

    private func principal(forSession id: String) -> Principal? {
        let idHash = sha256(Array(id.utf8))
        let now = Self.now()
        return state.withLock { s -> Principal? in
            guard let session = s.sessions[idHash] else { return nil }
            guard now < session.expires, let entry = s.tokens.first(where: { $0.hash == session.tokenHash }) else {
                s.sessions[idHash] = nil
                return nil
            }
            return Principal(name: entry.name, scopes: entry.scopes, credential: .session(idHash: idHash, tokenHash: entry.hash))
        }
    }

    /// A principal as it stands now (open WebSockets re-check theirs): nil once
    /// its token is revoked or its session ended.
    func refresh(_ principal: Principal) -> Principal? {
        switch principal.credential {
        case .open:
            return principal
        case .token(let hash):
            guard let entry = entry(hash) else { return nil }
            return Principal(name: entry.name, scopes: entry.scopes, credential: principal.credential)
        case .session(let idHash, _):
            let now = Self.now()
            return state.withLock { s -> Principal? in
                guard let session = s.sessions[idHash], now < session.expires,
                      let entry = s.tokens.first(where: { $0.hash == session.tokenHash }) else { return nil }
                return Principal(name: entry.name, scopes: entry.scopes, credential: principal.credential)
            }
        }
    }

    // MARK: Sessions

    /// Signs in with a token: a new session id (for the cookie) and who it is,
    /// or nil for an unknown token or when no randomness could be had.
    func signIn(token: String) -> (id: String, principal: Principal)? {
        guard let principal = principal(forToken: token), case .token(let tokenHash) = principal.credential,
              let random = secureRandomBytes(32) else { return nil }
        let id = Tokens.base64url(random)
        let idHash = sha256(Array(id.utf8))
        let now = Self.now()
        state.withLock { s in
            let mine = s.sessions.filter { $0.value.tokenHash == tokenHash }
            if mine.count >= Self.maxSessionsPerToken {
                for (key, session) in mine where session.expires <= now { s.sessions[key] = nil }
                let live = mine.filter { $0.value.expires > now }
                if live.count >= Self.maxSessionsPerToken, let oldest = live.min(by: { $0.value.created < $1.value.created }) {
                    s.sessions[oldest.key] = nil
                }
            }
            if s.sessions.count >= Self.maxSessions {
                s.sessions = s.sessions.filter { $0.value.expires > now }
                if s.sessions.count >= Self.maxSessions, let oldest = s.sessions.min(by: { $0.value.created < $1.value.created }) {
                    s.sessions[oldest.key] = nil
                }
            }
            s.sessions[idHash] = Session(tokenHash: tokenHash, expires: now + sessionLifetime, created: now)
        }
        return (id, Principal(name: principal.name, scopes: principal.scopes, credential: .session(idHash: idHash, tokenHash: tokenHash)))
    }

    /// Ends the session a request's cookie names, if any.
    func signOut(_ headers: [(name: String, value: String)]) {
        guard let id = Self.sessionID(headers) else { return }
        let idHash = sha256(Array(id.utf8))
        _ = state.withLock { $0.sessions.removeValue(forKey: idHash) }
    }

    var sessionCount: Int { state.withLock { $0.sessions.count } }

    // MARK: Parsing credentials

    /// `Bearer TOKEN` (scheme case-insensitive); the token must be token68 text.
    static func bearerToken(_ header: String) -> String? {
        var header = header
        return header.withUTF8 { b -> String? in
            var i = 0
            while i < b.count && (b[i] == UInt8(ascii: " ") || b[i] == UInt8(ascii: "\t")) { i += 1 }
            let scheme = Array("bearer".utf8)
            guard b.count - i > 7 else { return nil }
            for (k, c) in scheme.enumerated() where b[i + k] | 0x20 != c { return nil }
            guard b[i + 6] == UInt8(ascii: " ") else { return nil }
            i += 7
            while i < b.count && b[i] == UInt8(ascii: " ") { i += 1 }
            var end = b.count
            while end > i && (b[end - 1] == UInt8(ascii: " ") || b[end - 1] == UInt8(ascii: "\t")) { end -= 1 }
            guard end > i, end - i <= 512 else { return nil }
            for k in i..<end where !isToken68(b[k]) { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: b[i..<end]), as: UTF8.self)
        }
    }

    private static func isToken68(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "~")
            || c == UInt8(ascii: "+") || c == UInt8(ascii: "/") || c == UInt8(ascii: "=")
    }

    /// The session id from the `Cookie` headers, if one is there.
    static func sessionID(_ headers: [(name: String, value: String)]) -> String? {
        for header in headers where header.name == "cookie" {
            for pair in header.value.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " || $0 == "\t" }
                guard let eq = trimmed.firstIndex(of: "="), trimmed[..<eq] == cookieName else { continue }
                let value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: " \t")
                if !value.isEmpty, value.utf8.count <= 128 { return value }
            }
        }
        return nil
    }

    /// Seconds on the monotonic clock (session expiry, rate-limit buckets).
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

private extension Substring {
    func trimmingCharacters(in set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
