import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import X509

/// Talks to OCSP responders over HTTP (RFC 6960 appendix A) with AsyncHTTPClient.
///
/// Besides raw ``post(_:to:)``/``get(_:from:)`` exchanges it offers
/// ``fetchStatus(of:issuer:at:)`` (build request → fetch → verify) and
/// ``verifyStapled(_:of:issuer:at:)`` for responses a peer sent along.
public struct OCSPHTTPClient: Sendable {
    /// A process-wide HTTP client for OCSP: a refused connection fails at once instead of being
    /// retried until the deadline, so an unreachable responder is noticed (and the caller can
    /// fall back to its cache or fail closed) without delay.
    public static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// The HTTP client used for requests.
    public let httpClient: HTTPClient
    /// The deadline of one exchange (connect, send, receive).
    public var timeout: Duration
    /// The largest accepted response body, in bytes.
    public var maximumResponseSize: Int
    /// How requests are built (hash algorithm, nonce).
    public var requestBuilder: OCSPRequestBuilder
    /// How responses are verified (clock skew).
    public var verifier: OCSPResponseVerifier
    /// The responder URL used when a certificate names none in its AuthorityInformationAccess.
    public var defaultResponderURL: String?

    /// Creates a client.
    /// - Parameters:
    ///   - httpClient: The HTTP client, `HTTPClient.shared` by default.
    ///   - timeout: The deadline of one exchange, 10 seconds by default.
    ///   - maximumResponseSize: The largest accepted response body, 1 MiB by default.
    ///   - requestBuilder: How requests are built.
    ///   - verifier: How responses are verified.
    ///   - defaultResponderURL: The URL used when a certificate has no OCSP URL of its own.
    public init(
        httpClient: HTTPClient = OCSPHTTPClient.sharedHTTPClient,
        timeout: Duration = .seconds(10),
        maximumResponseSize: Int = 1 << 20,
        requestBuilder: OCSPRequestBuilder = OCSPRequestBuilder(),
        verifier: OCSPResponseVerifier = OCSPResponseVerifier(),
        defaultResponderURL: String? = nil
    ) {
        self.httpClient = httpClient
        self.timeout = timeout
        self.maximumResponseSize = maximumResponseSize
        self.requestBuilder = requestBuilder
        self.verifier = verifier
        self.defaultResponderURL = defaultResponderURL
    }

    // MARK: Raw exchanges

    /// POSTs a DER request (`Content-Type: application/ocsp-request`) and returns the response body.
    /// - Parameters:
    ///   - requestDER: The DER `OCSPRequest`.
    ///   - url: The responder URL.
    /// - Returns: The response body (a DER `OCSPResponse`, unverified).
    /// - Throws: ``OCSPError`` with code ``OCSPError/Code/transport(_:)`` on network failures,
    ///   timeouts, non-200 answers and oversized bodies.
    public func post(_ requestDER: [UInt8], to url: String) async throws(OCSPError) -> [UInt8] {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: OCSPHTTPServer.requestContentType)
        request.headers.add(name: "Accept", value: OCSPHTTPServer.responseContentType)
        request.body = .bytes(ByteBuffer(bytes: requestDER))
        return try await self.execute(request)
    }

    /// Sends a request with `GET <url>/<url-encoded base64 DER>` and returns the response body.
    /// - Parameters:
    ///   - requestDER: The DER `OCSPRequest`.
    ///   - url: The responder URL.
    /// - Returns: The response body (a DER `OCSPResponse`, unverified).
    /// - Throws: ``OCSPError`` with code ``OCSPError/Code/transport(_:)`` on failures.
    public func get(_ requestDER: [UInt8], from url: String) async throws(OCSPError) -> [UInt8] {
        var request = HTTPClientRequest(url: Self.getURL(for: requestDER, responderURL: url))
        request.method = .GET
        request.headers.add(name: "Accept", value: OCSPHTTPServer.responseContentType)
        return try await self.execute(request)
    }

    /// The RFC 6960 appendix A GET URL for a request: `<responderURL>/<url-encoded base64 DER>`.
    /// - Parameters:
    ///   - requestDER: The DER `OCSPRequest`.
    ///   - responderURL: The responder URL.
    /// - Returns: The URL to GET.
    public static func getURL(for requestDER: [UInt8], responderURL: String) -> String {
        let base64 = Data(requestDER).base64EncodedString()
        var encoded = ""
        encoded.reserveCapacity(base64.utf8.count + 16)
        for character in base64 {
            switch character {
            case "+": encoded += "%2B"
            case "/": encoded += "%2F"
            case "=": encoded += "%3D"
            default: encoded.append(character)
            }
        }
        var base = responderURL
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/" + encoded
    }

    private func execute(_ request: HTTPClientRequest) async throws(OCSPError) -> [UInt8] {
        let response: HTTPClientResponse
        do {
            response = try await self.httpClient.execute(request, deadline: .now() + Self.timeAmount(self.timeout))
        } catch {
            throw OCSPError(.transport("request failed"), "OCSP request to \(request.url) failed: \(error)")
        }
        guard response.status == .ok else {
            throw OCSPError(
                .transport("HTTP \(response.status.code)"),
                "OCSP responder \(request.url) answered HTTP \(response.status.code) \(response.status.reasonPhrase)"
            )
        }
        do {
            let body = try await response.body.collect(upTo: self.maximumResponseSize)
            return Array(body.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw OCSPError(
                .transport("response too large"),
                "OCSP response from \(request.url) exceeds \(self.maximumResponseSize) bytes"
            )
        } catch {
            throw OCSPError(.transport("reading response failed"), "reading the OCSP response from \(request.url) failed: \(error)")
        }
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        let clampedSeconds = min(max(seconds, 0), Int64.max / 1_000_000_000 - 1)
        return .nanoseconds(clampedSeconds * 1_000_000_000 + max(attoseconds, 0) / 1_000_000_000)
    }

    // MARK: Certificates

    /// The first `id-ad-ocsp` URI in the certificate's AuthorityInformationAccess extension.
    /// - Parameter certificate: The certificate to inspect.
    /// - Returns: The OCSP responder URL, or `nil` when absent (or the extension is malformed).
    public static func responderURL(of certificate: Certificate) -> String? {
        guard let aia = try? certificate.extensions.authorityInformationAccess else { return nil }
        for description in aia where description.method == .ocspServer {
            if case .uniformResourceIdentifier(let uri) = description.location {
                return uri
            }
        }
        return nil
    }

    // MARK: Status

    /// Asks the responder about `leaf` and verifies the answer (with a nonce).
    ///
    /// The responder URL is the one in `leaf`'s AuthorityInformationAccess, else
    /// ``defaultResponderURL``.
    /// - Parameters:
    ///   - leaf: The certificate whose status is wanted.
    ///   - issuer: The certificate of its issuing CA (trusted).
    ///   - now: The current time.
    /// - Returns: The verified status.
    public func fetchStatus(of leaf: Certificate, issuer: Certificate, at now: Date) async throws(OCSPError)
        -> VerifiedOCSPStatus
    {
        guard let url = Self.responderURL(of: leaf) ?? self.defaultResponderURL else {
            throw OCSPError(.transport("no responder URL"), "no OCSP responder URL for \(leaf.subject)")
        }
        return try await self.fetchStatus(of: leaf, issuer: issuer, from: url, at: now)
    }

    /// Asks the responder at `url` about `leaf` and verifies the answer (with a nonce).
    /// - Parameters:
    ///   - leaf: The certificate whose status is wanted.
    ///   - issuer: The certificate of its issuing CA (trusted).
    ///   - url: The responder URL.
    ///   - now: The current time.
    /// - Returns: The verified status.
    public func fetchStatus(
        of leaf: Certificate,
        issuer: Certificate,
        from url: String,
        at now: Date
    ) async throws(OCSPError) -> VerifiedOCSPStatus {
        let request = try self.requestBuilder.makeRequest(for: leaf, issuer: issuer)
        let responseDER = try await self.post(request.derEncoded, to: url)
        return try self.verifier.verify(
            responseDER: responseDER,
            for: leaf,
            issuer: issuer,
            expectedNonce: request.nonce,
            now: now
        )
    }

    /// Verifies a response a peer stapled to its message (no nonce is expected).
    /// - Parameters:
    ///   - responseDER: The DER `OCSPResponse`.
    ///   - leaf: The certificate it should be about.
    ///   - issuer: The certificate of its issuing CA (trusted).
    ///   - now: The current time.
    /// - Returns: The verified status.
    public func verifyStapled(
        _ responseDER: [UInt8],
        of leaf: Certificate,
        issuer: Certificate,
        at now: Date
    ) throws(OCSPError) -> VerifiedOCSPStatus {
        try self.verifier.verify(responseDER: responseDER, for: leaf, issuer: issuer, expectedNonce: nil, now: now)
    }
}
