/// RFC 6455 close codes this server sends or checks.
public struct WebSocketCloseCode: RawRepresentable, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let normal = WebSocketCloseCode(rawValue: 1000)
    public static let goingAway = WebSocketCloseCode(rawValue: 1001)
    public static let protocolError = WebSocketCloseCode(rawValue: 1002)
    public static let unsupportedData = WebSocketCloseCode(rawValue: 1003)
    public static let invalidPayload = WebSocketCloseCode(rawValue: 1007)
    public static let policyViolation = WebSocketCloseCode(rawValue: 1008)
    public static let messageTooBig = WebSocketCloseCode(rawValue: 1009)
    public static let internalError = WebSocketCloseCode(rawValue: 1011)
    public static let tryAgainLater = WebSocketCloseCode(rawValue: 1013)

    /// Codes a peer may put in a close frame (RFC 6455 §7.4).
    public var isValidOnTheWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1014: true
        case 3000...4999: true
        default: false
        }
    }
}

public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA

    var isControl: Bool { rawValue & 0x8 != 0 }
}

/// Server-to-client frames: unmasked, unfragmented.
public enum WebSocketFrame {
    public static func encode(_ opcode: WebSocketOpcode, _ payload: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 10)
        out.append(0x80 | opcode.rawValue)
        let n = payload.count
        if n < 126 {
            out.append(UInt8(n))
        } else if n <= 0xFFFF {
            out.append(126)
            out.append(UInt8(n >> 8))
            out.append(UInt8(n & 0xFF))
        } else {
            out.append(127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((UInt64(n) >> UInt64(shift)) & 0xFF)) }
        }
        out.append(contentsOf: payload)
        return out
    }

    public static func text(_ bytes: some Collection<UInt8>) -> [UInt8] { encode(.text, bytes) }

    public static func close(_ code: WebSocketCloseCode, reason: String = "") -> [UInt8] {
        var payload: [UInt8] = [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)]
        payload.append(contentsOf: reason.utf8.prefix(123))
        return encode(.close, payload)
    }
}

/// What the parser hands up: whole messages and control frames.
public enum WebSocketEvent: Equatable, Sendable {
    case text(String)
    case binary([UInt8])
    case ping([UInt8])
    case pong([UInt8])
    /// The peer's close: its code (nil when the frame had none) and reason.
    case close(WebSocketCloseCode?, String)
}

/// Why the connection must be closed, with the code to close it with.
public struct WebSocketProtocolError: Error, Equatable, Sendable {
    public let code: WebSocketCloseCode
    public let reason: String
}

/// An incremental parser of client frames with RFC 6455's rules and our limits:
/// frames must be masked (1002), reserved bits and opcodes are refused (1002),
/// control frames are short and unfragmented (1002), continuation must follow a
/// started message (1002), a frame or message over the limit is 1009, and text
/// that is not UTF-8 is 1007.
public struct WebSocketParser: Sendable {
    public let maxFrameSize: Int
    public let maxMessageSize: Int

    private var buffer: [UInt8] = []
    private var offset = 0
    private var fragments: [UInt8] = []
    private var fragmentOpcode: WebSocketOpcode?
    /// A violation found after complete frames of the same bytes: `feed` returns
    /// those frames first (a message is acted on however the bytes were split
    /// into reads), keeps the violation here, and throws it from then on.
    public private(set) var failure: WebSocketProtocolError?

    public init(maxFrameSize: Int = 64 * 1024, maxMessageSize: Int = 64 * 1024) {
        self.maxFrameSize = maxFrameSize
        self.maxMessageSize = maxMessageSize
    }

    /// Feeds bytes; returns the events completed by them, or throws at the first
    /// violation when no frame before it completed (else see `failure`).
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(WebSocketProtocolError) -> [WebSocketEvent] {
        if let failure { throw failure }
        if offset > 0 && offset == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            offset = 0
        }
        buffer.append(contentsOf: bytes)
        var events: [WebSocketEvent] = []
        do {
            while let event = try next() {
                if let event { events.append(event) }
            }
        } catch {
            failure = error
            if events.isEmpty { throw error }
        }
        if offset > 4096 && offset * 2 > buffer.count {
            buffer.removeFirst(offset)
            offset = 0
        }
        return events
    }

    /// One frame if complete: `.some(nil)` for a frame that completes no event
    /// (a non-final fragment), `nil` when more bytes are needed.
    private mutating func next() throws(WebSocketProtocolError) -> WebSocketEvent?? {
        let available = buffer.count - offset
        guard available >= 2 else { return nil }
        let b0 = buffer[offset], b1 = buffer[offset + 1]
        let fin = b0 & 0x80 != 0
        guard b0 & 0x70 == 0 else { throw fail(.protocolError, "reserved bits set") }
        guard let opcode = WebSocketOpcode(rawValue: b0 & 0x0F) else { throw fail(.protocolError, "unknown opcode") }
        guard b1 & 0x80 != 0 else { throw fail(.protocolError, "client frames must be masked") }
        var length = UInt64(b1 & 0x7F)
        var header = 2
        if length == 126 {
            guard available >= 4 else { return nil }
            length = UInt64(buffer[offset + 2]) << 8 | UInt64(buffer[offset + 3])
            header = 4
        } else if length == 127 {
            guard available >= 10 else { return nil }
            length = 0
            for i in 2..<10 { length = length << 8 | UInt64(buffer[offset + i]) }
            guard length >> 63 == 0 else { throw fail(.protocolError, "invalid length") }
            header = 10
        }
        if opcode.isControl {
            guard fin else { throw fail(.protocolError, "fragmented control frame") }
            guard length <= 125 else { throw fail(.protocolError, "control frame too long") }
        }
        guard length <= UInt64(maxFrameSize) else { throw fail(.messageTooBig, "frame exceeds \(maxFrameSize) bytes") }
        let total = header + 4 + Int(length)
        guard available >= total else { return nil }
        let maskStart = offset + header
        let mask = (buffer[maskStart], buffer[maskStart + 1], buffer[maskStart + 2], buffer[maskStart + 3])
        var payload = Array(buffer[(maskStart + 4)..<(offset + total)])
        payload.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count {
                switch i & 3 {
                case 0: p[i] ^= mask.0
                case 1: p[i] ^= mask.1
                case 2: p[i] ^= mask.2
                default: p[i] ^= mask.3
                }
            }
        }
        offset += total

        switch opcode {
        case .ping: return .some(.ping(payload))
        case .pong: return .some(.pong(payload))
        case .close: return .some(try closeEvent(payload))
        case .text, .binary:
            guard fragmentOpcode == nil else { throw fail(.protocolError, "new message inside a fragmented one") }
            if fin { return .some(try message(opcode, payload)) }
            guard payload.count <= maxMessageSize else { throw fail(.messageTooBig, "message exceeds \(maxMessageSize) bytes") }
            fragmentOpcode = opcode
            fragments = payload
            return .some(nil)
        case .continuation:
            guard let started = fragmentOpcode else { throw fail(.protocolError, "continuation without a message") }
            guard fragments.count + payload.count <= maxMessageSize else {
                throw fail(.messageTooBig, "message exceeds \(maxMessageSize) bytes")
            }
            fragments.append(contentsOf: payload)
            guard fin else { return .some(nil) }
            let whole = fragments
            fragments = []
            fragmentOpcode = nil
            return .some(try message(started, whole))
        }
    }

    private func message(_ opcode: WebSocketOpcode, _ payload: [UInt8]) throws(WebSocketProtocolError) -> WebSocketEvent {
        guard payload.count <= maxMessageSize else { throw fail(.messageTooBig, "message exceeds \(maxMessageSize) bytes") }
        if opcode == .binary { return .binary(payload) }
        guard let text = String(validating: payload, as: UTF8.self) else { throw fail(.invalidPayload, "text is not valid UTF-8") }
        return .text(text)
    }

    private func closeEvent(_ payload: [UInt8]) throws(WebSocketProtocolError) -> WebSocketEvent {
        if payload.isEmpty { return .close(nil, "") }
        guard payload.count >= 2 else { throw fail(.protocolError, "close frame with a 1-byte payload") }
        let code = WebSocketCloseCode(rawValue: UInt16(payload[0]) << 8 | UInt16(payload[1]))
        guard code.isValidOnTheWire else { throw fail(.protocolError, "invalid close code \(code.rawValue)") }
        guard let reason = String(validating: payload[2...], as: UTF8.self) else {
            throw fail(.invalidPayload, "close reason is not valid UTF-8")
        }
        return .close(code, reason)
    }

    private func fail(_ code: WebSocketCloseCode, _ reason: String) -> WebSocketProtocolError {
        WebSocketProtocolError(code: code, reason: reason)
    }
}
