import Crypto
import Foundation
import LienThongCore

/// The `X-Road-Request-Hash` response header: a hash of the request that a response answers.
///
/// The Message Protocol for REST (§4.3) defines it as
/// `base64(SHA-512(SHA-512(headers) ‖ SHA-512(body)))`, or `base64(SHA-512(headers))` when there is
/// no body, computed by the provider's server and verified by the consumer's server. It does not say
/// how the request line and headers are serialised, so LienThong defines the **header part**
/// precisely (`docs/protocol.md` §5.4), from the canonical request both servers already agree on:
///
/// ```text
/// METHOD SP "/r1/" service-id-percent-encoded path CRLF
/// "x-road-client: " client-id-percent-encoded CRLF
/// "x-road-id: " message-id CRLF
/// for each signed header present, sorted by lower-case name:  name ": " value CRLF
/// ```
///
/// encoded as UTF-8. "No body" means a body of zero bytes. The result is standard base64 with
/// padding (RFC 4648 §4), 88 characters.
///
/// The value is only interoperable between LienThong servers; an X-Road client treats it as opaque.
public enum XRoadRequestHash {
    /// The header part of `request`, the bytes hashed first.
    ///
    /// - parameters:
    ///     - request: The canonical request (its ``CanonicalMessage/kind`` should be `request`).
    /// - returns: The serialised request line and headers.
    public static func headerPart(of request: CanonicalMessage) -> [UInt8] {
        var text = request.method + " /" + RESTProtocolVersion.r1.rawValue + "/"
            + request.service.percentEncoded + request.path + "\r\n"
        text += "x-road-client: " + request.client.percentEncoded + "\r\n"
        text += "x-road-id: " + request.messageId + "\r\n"
        for name in request.headers.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            text += name + ": " + (request.headers[name] ?? "") + "\r\n"
        }
        return Array(text.utf8)
    }

    /// The hash of a request whose body is entirely in memory.
    ///
    /// - parameters:
    ///     - request: The canonical request.
    ///     - body: The body bytes as sent; empty if there is none.
    /// - returns: The `X-Road-Request-Hash` value.
    public static func compute<Body: DataProtocol>(for request: CanonicalMessage, body: Body) -> String {
        var hasher = XRoadRequestHasher()
        hasher.update(body)
        return hasher.finalize(headerPart: headerPart(of: request))
    }

    /// Whether a received `X-Road-Request-Hash` equals the expected one, compared in constant time.
    ///
    /// - parameters:
    ///     - received: The header value received with the response, surrounding whitespace ignored.
    ///     - expected: The value computed for the request that was sent.
    public static func matches(_ received: String, expected: String) -> Bool {
        let a = Array(received.trimmingSpacesAndTabs().utf8)
        let b = Array(expected.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) {
            difference |= x ^ y
        }
        return difference == 0
    }
}

/// Computes an ``XRoadRequestHash`` while the request body streams, so that the body never has to
/// be held in memory: feed each chunk to ``update(_:)``, then call ``finalize(headerPart:)``.
public struct XRoadRequestHasher: Sendable {
    private var bodyHasher = SHA512()

    /// Body bytes seen so far.
    public private(set) var bodyByteCount: Int = 0

    /// Starts with an empty body.
    public init() {}

    /// Feeds the next chunk of the body.
    ///
    /// - parameters:
    ///     - chunk: The next body bytes.
    public mutating func update<Bytes: DataProtocol>(_ chunk: Bytes) {
        self.bodyHasher.update(data: chunk)
        self.bodyByteCount += chunk.count
    }

    /// The `X-Road-Request-Hash` value: `base64(SHA-512(SHA-512(headerPart) ‖ SHA-512(body)))`, or
    /// `base64(SHA-512(headerPart))` if no body bytes were fed.
    ///
    /// - parameters:
    ///     - headerPart: The serialised request line and headers, see ``XRoadRequestHash/headerPart(of:)``.
    /// - returns: Standard base64 with padding.
    public func finalize(headerPart: [UInt8]) -> String {
        if self.bodyByteCount == 0 {
            return Data(SHA512.hash(data: headerPart)).base64EncodedString()
        }
        var outer = SHA512()
        outer.update(data: Array(SHA512.hash(data: headerPart)))
        outer.update(data: Array(self.bodyHasher.finalize()))
        return Data(outer.finalize()).base64EncodedString()
    }
}
