/// How a message body is delimited.
public enum BodyFraming: Sendable, Equatable {
    /// No body.
    case none
    /// Exactly this many bytes.
    case length(Int64)
    /// `Transfer-Encoding: chunked`.
    case chunked
    /// Until the connection closes (responses only).
    case untilClose
}

/// The HTTP version of a message: 1.0 or 1.1, the only ones hostctl speaks.
public enum HTTPVersion: Sendable, Equatable {
    case http10, http11
}

/// One header field of a request head: where its name and value are in the head's bytes, and what
/// it is to the proxy (classified once, on bytes, so that forwarding needs no string per header).
public struct HeaderField: Sendable, Equatable {
    /// What the field is to the proxy.
    public enum Kind: UInt8, Sendable {
        case other, host, contentLength, transferEncoding, connection, upgrade, expect
        /// Keep-Alive, TE, Trailer, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization.
        case hopByHop
        case forwardedFor, forwardedProto, forwardedHost, forwardedPrefix
    }

    /// What the field is.
    public var kind: Kind
    /// The name's bytes in `RequestHead.bytes`.
    public var name: Range<Int>
    /// The value's bytes (without surrounding whitespace) in `RequestHead.bytes`.
    public var value: Range<Int>
}

/// A request head, parsed once and strictly, with what the proxy needs to route and frame it.
///
/// Immutable, and a class: it travels from the parser through routing into the exchange, and a
/// reference costs one retain where a struct of arrays and strings costs one per field.
public final class RequestHead: Sendable, Equatable {
    /// The method, as sent (case-sensitive).
    public let method: String
    /// The request target in origin form: `/path?query` (an absolute-form target is reduced to this).
    public let target: String
    /// The version.
    public let version: HTTPVersion
    /// The head's bytes, from the request line to the final CRLF.
    public let bytes: [UInt8]
    /// The header fields in order, as ranges of `bytes`.
    public let fields: [HeaderField]
    /// The tokens of the Connection header(s), lower-cased.
    public let connectionOptions: [String]

    /// The header fields as strings, names as sent (for tests and logs; the proxy uses `fields`).
    public var headers: [(name: String, value: String)] {
        fields.map {
            (String(decoding: bytes[$0.name], as: UTF8.self), String(decoding: bytes[$0.value], as: UTF8.self))
        }
    }
    /// The Host: from the Host header, or the authority of an absolute-form target; lower-cased, port removed.
    public let host: String
    /// The Host header's value as sent (with any port).
    public let hostHeader: String
    /// How the body is delimited.
    public let framing: BodyFraming
    /// Whether the client wants the connection kept open after this exchange.
    public let keepAlive: Bool
    /// The protocol asked for with `Upgrade` (and `Connection: upgrade`), if any.
    public let upgrade: String?
    /// Whether the client sent `Expect: 100-continue`.
    public let expectsContinue: Bool
    /// How many bytes the head took, the final CRLF included.
    public let length: Int

    /// The path part of the target, without the query.
    public var path: Substring {
        target[..<(target.utf8.firstIndex(of: UInt8(ascii: "?")) ?? target.endIndex)]
    }

    /// The query part with its `?`, or empty.
    public var query: Substring {
        target[(target.utf8.firstIndex(of: UInt8(ascii: "?")) ?? target.endIndex)...]
    }

    init(
        method: String, target: String, version: HTTPVersion, bytes: [UInt8], fields: [HeaderField],
        connectionOptions: [String], host: String, hostHeader: String, framing: BodyFraming, keepAlive: Bool,
        upgrade: String?, expectsContinue: Bool, length: Int
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.bytes = bytes
        self.fields = fields
        self.connectionOptions = connectionOptions
        self.host = host
        self.hostHeader = hostHeader
        self.framing = framing
        self.keepAlive = keepAlive
        self.upgrade = upgrade
        self.expectsContinue = expectsContinue
        self.length = length
    }

    public static func == (lhs: RequestHead, rhs: RequestHead) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.version == rhs.version
            && lhs.bytes == rhs.bytes && lhs.fields == rhs.fields
            && lhs.host == rhs.host && lhs.framing == rhs.framing && lhs.keepAlive == rhs.keepAlive
            && lhs.upgrade == rhs.upgrade && lhs.expectsContinue == rhs.expectsContinue && lhs.length == rhs.length
    }
}

/// Why a request is refused before it reaches any worker: the status to answer and a short reason.
public struct RequestRejection: Error, Sendable, Equatable {
    /// The status to answer: 400, 413, 414, 431 or 501.
    public var status: Int
    /// For the plain-text body and the daemon's log.
    public var reason: String

    /// Creates a rejection.
    public init(_ status: Int, _ reason: String) {
        self.status = status
        self.reason = reason
    }
}
