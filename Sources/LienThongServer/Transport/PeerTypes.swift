import Crypto
import Foundation
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// Another security server, as the global configuration describes it: where it listens, and the
/// SHA-256 hashes of the TLS certificates it may present.
///
/// Two endpoints with the same address but different pins are different endpoints: connections
/// are pooled per endpoint, so a connection authenticated under one pin set is never reused for
/// another.
public struct PeerEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The host name or IP address (an IPv6 address without brackets).
    public var host: String
    /// The TCP port.
    public var port: Int
    /// Lower-case hexadecimal SHA-256 hashes of the DER certificates the peer may present.
    public var pinnedCertificateSHA256: Set<String>

    /// An endpoint.
    ///
    /// - parameters:
    ///     - host: The host name or IP address (IPv6 without brackets).
    ///     - port: The TCP port.
    ///     - pinnedCertificateSHA256: Hexadecimal SHA-256 hashes of acceptable DER certificates; they
    ///       are lower-cased.
    public init(host: String, port: Int, pinnedCertificateSHA256: Set<String>) {
        self.host = host
        self.port = port
        self.pinnedCertificateSHA256 = Set(pinnedCertificateSHA256.map { $0.lowercased() })
    }

    /// An endpoint from an address as the global configuration writes it.
    ///
    /// - parameters:
    ///     - address: `host:port`, or `[v6-address]:port`.
    ///     - pins: Hexadecimal SHA-256 hashes of acceptable DER certificates.
    /// - throws: ``PeerClientError/Code/invalidAddress`` if the address has no valid port or host.
    public init(address: String, pins: Set<String>) throws(PeerClientError) {
        let host: Substring
        let portText: Substring
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]"),
                  address[address.index(after: close)...].hasPrefix(":") else {
                throw PeerClientError(.invalidAddress, "\"\(address)\" is not [IPv6-address]:port")
            }
            host = address[address.index(after: address.startIndex)..<close]
            portText = address[address.index(close, offsetBy: 2)...]
        } else {
            guard let colon = address.lastIndex(of: ":"),
                  !address[..<colon].contains(":") else {
                throw PeerClientError(.invalidAddress, "\"\(address)\" is not host:port")
            }
            host = address[..<colon]
            portText = address[address.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" || $0 == "@" }) else {
            throw PeerClientError(.invalidAddress, "\"\(address)\" has no valid host")
        }
        guard !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText), (1...65_535).contains(port) else {
            throw PeerClientError(.invalidAddress, "\"\(address)\" has no valid port")
        }
        self.init(host: String(host), port: port, pinnedCertificateSHA256: pins)
    }

    /// `host:port`, with brackets around an IPv6 address.
    public var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}

/// The TLS client identity a security server presents to its peers: its TLS certificate chain
/// (leaf first) and the leaf's private key.
///
/// Peers are authenticated by pin (``PeerEndpoint/pinnedCertificateSHA256``), not by a chain to a
/// trust root, so the client side needs no trust roots.
public struct PeerTLSIdentity: Sendable {
    /// The certificate chain, leaf first.
    public var certificateChain: [Certificate]
    /// The private key of the leaf certificate.
    public var privateKey: Certificate.PrivateKey

    /// An identity.
    ///
    /// - parameters:
    ///     - certificateChain: The chain, leaf first; must not be empty.
    ///     - privateKey: The leaf's private key.
    public init(certificateChain: [Certificate], privateKey: Certificate.PrivateKey) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }
}

/// One HTTP/1.1 request to a peer security server.
public struct PeerRequest: Sendable {
    /// The method, such as `POST`.
    public var method: String
    /// The request target (origin form), such as `/r1/...`.
    public var target: String
    /// Header fields in order. `Content-Length`, `Transfer-Encoding` and `Connection` are managed by
    /// the client and dropped here; `Host` is added if absent.
    public var headers: [(name: String, value: String)]
    /// The body, sent with `Content-Length`.
    public var body: SpooledBody

    /// A request.
    ///
    /// - parameters:
    ///     - method: The method.
    ///     - target: The request target.
    ///     - headers: Header fields.
    ///     - body: The body (default: empty).
    public init(method: String, target: String, headers: [(name: String, value: String)] = [], body: SpooledBody = .empty) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }
}

/// A complete response from a peer security server.
public struct PeerResponse: Sendable {
    /// The status code.
    public var status: Int
    /// Header fields in order, as received.
    public var headers: [(name: String, value: String)]
    /// The body, spooled under the client's response body limits.
    public var body: SpooledBody
    /// Lower-case hexadecimal SHA-256 of the DER certificate the peer presented (one of its pins).
    public var peerCertificateSHA256: String

    /// A response.
    ///
    /// - parameters:
    ///     - status: The status code.
    ///     - headers: Header fields.
    ///     - body: The body.
    ///     - peerCertificateSHA256: The peer's certificate hash.
    public init(status: Int, headers: [(name: String, value: String)], body: SpooledBody, peerCertificateSHA256: String) {
        self.status = status
        self.headers = headers
        self.body = body
        self.peerCertificateSHA256 = peerCertificateSHA256
    }

    /// The value of the first header named `name` (case-insensitive), or `nil`.
    public func header(_ name: String) -> String? {
        self.headers.first { XRoadHeader.matches($0.name, name) }?.value
    }
}

/// Why a ``PeerClient`` request failed.
public struct PeerClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Hashable {
        /// The peer address cannot be parsed.
        case invalidAddress
        /// No TCP connection could be made (refused, unreachable, or the connect timeout passed).
        case connectFailed
        /// The TLS handshake failed for a reason other than the pin check, or did not finish in time.
        case handshakeFailed
        /// The peer's certificate is not pinned for the endpoint, or is outside its validity period.
        case pinMismatch
        /// The response head or a piece of the body did not arrive within the response timeout.
        case timeout
        /// The connection closed or broke before the response was complete.
        case connectionClosed
        /// The response body exceeds the client's response body limit.
        case responseTooLarge
        /// The peer sent something that is not a valid HTTP/1.1 response.
        case malformedResponse
        /// A local failure: spooling the body, or building the TLS context.
        case io
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, for logs.
    public var message: String

    /// An error.
    ///
    /// - parameters:
    ///     - code: The kind of failure.
    ///     - message: What happened.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(self.code.rawValue): \(self.message)" }
}

/// The pin check that replaces chain validation for peer security servers.
enum PeerCertificatePinning {
    /// Lower-case hexadecimal SHA-256 of `der`.
    static func fingerprint(_ der: [UInt8]) -> String {
        SHA256.hash(data: der).map { byte in
            let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
        }.joined()
    }

    /// Checks the peer's leaf certificate: its hash must be pinned and `now` within its validity.
    ///
    /// - parameters:
    ///     - certificates: The presented chain, leaf first.
    ///     - pins: The acceptable hashes.
    ///     - now: The clock.
    /// - returns: The leaf's hash, or a ``PeerClientError/Code/pinMismatch`` error.
    static func check(_ certificates: [NIOSSLCertificate], pins: Set<String>, now: Date) -> Result<String, PeerClientError> {
        guard let leaf = certificates.first else {
            return .failure(PeerClientError(.pinMismatch, "the peer presented no certificate"))
        }
        let der: [UInt8]
        do {
            der = try leaf.toDERBytes()
        } catch {
            return .failure(PeerClientError(.pinMismatch, "the peer's certificate cannot be encoded: \(error)"))
        }
        let hash = Self.fingerprint(der)
        guard pins.contains(hash) else {
            return .failure(PeerClientError(.pinMismatch, "the peer's certificate (SHA-256 \(hash)) is not pinned for this endpoint"))
        }
        let certificate: Certificate
        do {
            certificate = try Certificate(derEncoded: der)
        } catch {
            return .failure(PeerClientError(.pinMismatch, "the peer's pinned certificate cannot be parsed: \(error)"))
        }
        guard certificate.notValidBefore <= now, now <= certificate.notValidAfter else {
            return .failure(PeerClientError(.pinMismatch, "the peer's pinned certificate (SHA-256 \(hash)) is outside its validity period \(certificate.notValidBefore) – \(certificate.notValidAfter)"))
        }
        return .success(hash)
    }
}
