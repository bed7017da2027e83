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
public struct RequestHead: Sendable, Equatable {
    /// The method, as sent (case-sensitive).
    public var method: String
    /// The request target in origin form: `/path?query` (an absolute-form target is reduced to this).
    public var target: String
    /// The version.
    public var version: HTTPVersion
    /// The head's bytes, from the request line to the final CRLF.
    public var bytes: [UInt8]
    /// The header fields in order, as ranges of `bytes`.
    public var fields: [HeaderField]
    /// The tokens of the Connection header(s), lower-cased.
    public var connectionOptions: [String]

    /// The header fields as strings, names as sent (for tests and logs; the proxy uses `fields`).
    public var headers: [(name: String, value: String)] {
        fields.map {
            (String(decoding: bytes[$0.name], as: UTF8.self), String(decoding: bytes[$0.value], as: UTF8.self))
        }
    }
    /// The Host: from the Host header, or the authority of an absolute-form target; lower-cased, port removed.
    public var host: String
    /// The Host header's value as sent (with any port).
    public var hostHeader: String
    /// How the body is delimited.
    public var framing: BodyFraming
    /// Whether the client wants the connection kept open after this exchange.
    public var keepAlive: Bool
    /// The protocol asked for with `Upgrade` (and `Connection: upgrade`), if any.
    public var upgrade: String?
    /// Whether the client sent `Expect: 100-continue`.
    public var expectsContinue: Bool
    /// How many bytes the head took, the final CRLF included.
    public var length: Int

    /// The path part of the target, without the query.
    public var path: Substring {
        target[..<(target.utf8.firstIndex(of: UInt8(ascii: "?")) ?? target.endIndex)]
    }

    /// The query part with its `?`, or empty.
    public var query: Substring {
        target[(target.utf8.firstIndex(of: UInt8(ascii: "?")) ?? target.endIndex)...]
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
