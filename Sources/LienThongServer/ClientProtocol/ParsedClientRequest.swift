import Foundation
import LienThongCore

/// Limits applied while parsing a client's request.
public struct ClientRequestLimits: Sendable, Hashable {
    /// The maximum length of the request target in bytes, query included. Longer targets are
    /// refused with `Client.RequestTooLarge`.
    public var maximumTargetLength: Int
    /// The maximum length of `X-Road-Id` in bytes.
    public var maximumMessageIdLength: Int
    /// The maximum length in bytes of the free-text headers `X-Road-UserId`, `X-Road-Issue` and
    /// `X-Road-Represented-Party`.
    public var maximumFreeTextLength: Int

    /// Creates limits.
    ///
    /// - parameters:
    ///     - maximumTargetLength: The maximum request target length; 2000 bytes by default (§4.2).
    ///     - maximumMessageIdLength: The maximum `X-Road-Id` length; 128 bytes by default.
    ///     - maximumFreeTextLength: The maximum length of the free-text headers; 1024 bytes by default.
    public init(
        maximumTargetLength: Int = RESTServicePath.defaultMaximumTargetLength,
        maximumMessageIdLength: Int = 128,
        maximumFreeTextLength: Int = 1024
    ) {
        self.maximumTargetLength = maximumTargetLength
        self.maximumMessageIdLength = maximumMessageIdLength
        self.maximumFreeTextLength = maximumFreeTextLength
    }

    /// The default limits.
    public static let `default` = ClientRequestLimits()
}

/// The party a client acts for, from the `X-Road-Represented-Party` header: `[partyClass/]partyCode`.
public struct RepresentedParty: Sendable, Hashable, CustomStringConvertible {
    /// The party class, if the header had one.
    public let partyClass: String?
    /// The party code.
    public let partyCode: String

    /// Parses the header value: one or two `/`-separated, non-empty, percent-encoded parts.
    ///
    /// - parameters:
    ///     - headerValue: The value, for example `GOV/000.00.00.H29` or `000.00.00.H29`.
    /// - returns: `nil` if the value has more than two parts, an empty part, or a bad escape.
    public init?(headerValue: String) {
        let parts = headerValue.trimmingSpacesAndTabs().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return nil }
        var decoded: [String] = []
        for part in parts {
            guard !part.isEmpty, let value = String(part).removingPercentEncoding, !value.isEmpty,
                !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { return nil }
            decoded.append(value)
        }
        self.partyClass = decoded.count == 2 ? decoded[0] : nil
        self.partyCode = decoded[decoded.count - 1]
    }

    /// `partyClass/partyCode`, or `partyCode`, not encoded.
    public var description: String {
        self.partyClass.map { $0 + "/" + self.partyCode } ?? self.partyCode
    }
}

/// A client's X-Road REST request, parsed and validated by the consumer's security server before
/// anything else is done with it.
///
/// It works on plain values — the method, the raw request target and the ordered header list — so
/// that any HTTP library can be adapted to it. The body is not part of it: the server streams the
/// body and feeds its digests to ``canonicalRequest(bodyDigest:)`` and ``XRoadRequestHash``.
///
/// Rules (each refusal is an ``XRoadFault`` with HTTP status 400):
///
/// - the method must be an HTTP token (`Client.InvalidHttpMethod`);
/// - the target is parsed by `RESTServicePath`: a version other than `r1` is
///   `Client.InvalidProtocolVersion`, a target over the limit `Client.RequestTooLarge`, anything
///   else wrong `Client.BadRequest`;
/// - no header name may be empty or contain anything but HTTP token characters, and no header
///   value may contain a control character other than horizontal tab — in particular CR, LF or NUL
///   (`Client.BadRequest`);
/// - `X-Road-Client` is mandatory (`Client.MissingHeader`) and must be a valid member or subsystem
///   id, percent-encoded (`Client.InvalidClientIdentifier`). If it is repeated, **the last one
///   wins**, as §4.3 says a security server SHOULD do. Repeating it with different values is
///   suspicious, but refusing would break clients the specification allows; the server is told
///   through ``conflictingClientHeaders`` so that it can record it in the audit log;
/// - every other X-Road header is optional and, if repeated, the last one wins too:
///   - `X-Road-Id`: 1 to 128 printable ASCII characters (`!` to `~`); a lower-case UUID is
///     generated when absent;
///   - `X-Road-UserId`, `X-Road-Issue`: free text up to the limit;
///   - `X-Road-Represented-Party`: `[partyClass/]partyCode`;
///   - `X-Road-Security-Server`: a percent-encoded security server id (`Client.InvalidSecurityServer`);
///   - `X-LienThong-Purpose`: a purpose code matching `^[A-Za-z0-9._-]{1,64}$`.
public struct ParsedClientRequest: Sendable {
    /// The HTTP method as received (case preserved).
    public let method: String
    /// The request target as received.
    public let rawTarget: String
    /// The parsed target: protocol version, service id, remaining path and query.
    public let target: RESTServicePath
    /// The calling client, from the last `X-Road-Client` header.
    public let client: ClientId
    /// Whether `X-Road-Client` was repeated with values that do not parse to the same client.
    public let conflictingClientHeaders: Bool
    /// The message id: the client's `X-Road-Id`, or a generated UUID.
    public let messageId: String
    /// Whether ``messageId`` was generated because the client sent none.
    public let messageIdWasGenerated: Bool
    /// The `X-Road-UserId`, trimmed, if present.
    public let userId: String?
    /// The `X-Road-Issue`, trimmed, if present.
    public let issue: String?
    /// The `X-Road-Represented-Party` header value, trimmed, as signed.
    public let representedPartyHeader: String?
    /// The parsed `X-Road-Represented-Party`, if present.
    public let representedParty: RepresentedParty?
    /// The provider's server the client asked for with `X-Road-Security-Server`, if any.
    public let securityServer: SecurityServerId?
    /// The `X-LienThong-Purpose` purpose code, if present.
    public let purpose: String?
    /// All request headers as received, in order.
    public let headers: [(name: String, value: String)]

    /// The service called.
    public var service: ServiceId {
        self.target.serviceId
    }

    /// The service path and query exactly as sent (still percent-encoded), `""` if none: the
    /// `path` of the canonical message and what the provider's backend receives after its base URL.
    public var servicePath: String {
        self.target.remainingPath + (self.target.query.map { "?" + $0 } ?? "")
    }

    /// Parses and validates a client's request.
    ///
    /// - parameters:
    ///     - method: The HTTP method.
    ///     - rawTarget: The request target as on the request line, for example
    ///       `/r1/VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1/cong-dan?so-dinh-danh=1`.
    ///     - headers: The request headers in the order received.
    ///     - limits: The parsing limits.
    ///     - generateMessageId: Makes a message id when the client sent no `X-Road-Id`; a
    ///       lower-case random UUID by default.
    /// - throws: An ``XRoadFault`` for the first rule broken.
    public init(
        method: String,
        rawTarget: String,
        headers: [(name: String, value: String)],
        limits: ClientRequestLimits = .default,
        generateMessageId: () -> String = { UUID().uuidString.lowercased() }
    ) throws(XRoadFault) {
        guard Self.isToken(method) else {
            throw XRoadFault(.invalidHttpMethod, "The HTTP method is not a valid token.")
        }
        for (name, value) in headers {
            guard Self.isToken(name) else {
                throw XRoadFault(.badRequest, "A request header has an invalid name.")
            }
            guard Self.isValidFieldValue(value) else {
                throw XRoadFault(
                    .badRequest,
                    "The request header \(name) contains a control character (CR, LF, NUL or other)."
                )
            }
        }

        let target: RESTServicePath
        do {
            target = try RESTServicePath(parsing: rawTarget, maximumTargetLength: limits.maximumTargetLength)
        } catch {
            switch error.code {
            case .unsupportedProtocolVersion:
                throw XRoadFault(
                    .invalidProtocolVersion,
                    "Unsupported protocol version; this security server supports X-Road Message Protocol for REST r1."
                )
            case .targetTooLong:
                throw XRoadFault(
                    .requestTooLarge,
                    "The request target is longer than \(limits.maximumTargetLength) bytes."
                )
            default:
                throw XRoadFault(.badRequest, "Invalid request target: \(error.description)")
            }
        }

        let clientValues = Self.values(of: XRoadHeader.client, in: headers)
        guard let lastClient = clientValues.last else {
            throw XRoadFault(.missingClientHeader, "The mandatory header X-Road-Client is missing.")
        }
        let client: ClientId
        do {
            client = try ClientId(headerValue: lastClient)
        } catch {
            throw XRoadFault(.invalidClientIdentifier, "Invalid X-Road-Client header: \(error.description)")
        }
        var conflicting = false
        for other in clientValues.dropLast() where (try? ClientId(headerValue: other)) != client {
            conflicting = true
        }

        let messageId: String
        let generated: Bool
        if let value = Self.values(of: XRoadHeader.id, in: headers).last {
            let id = String(value.trimmingSpacesAndTabs())
            let length = id.utf8.count
            guard length >= 1, length <= limits.maximumMessageIdLength else {
                throw XRoadFault(
                    .badRequest,
                    "X-Road-Id must be 1 to \(limits.maximumMessageIdLength) characters long; it has \(length)."
                )
            }
            guard id.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
                throw XRoadFault(.badRequest, "X-Road-Id may only contain printable ASCII characters.")
            }
            messageId = id
            generated = false
        } else {
            messageId = generateMessageId()
            generated = true
        }

        let userId = try Self.freeText(XRoadHeader.userId, in: headers, limits: limits)
        let issue = try Self.freeText(XRoadHeader.issue, in: headers, limits: limits)
        let representedPartyHeader = try Self.freeText(XRoadHeader.representedParty, in: headers, limits: limits)
        var representedParty: RepresentedParty?
        if let representedPartyHeader {
            guard let party = RepresentedParty(headerValue: representedPartyHeader) else {
                throw XRoadFault(
                    .badRequest,
                    "X-Road-Represented-Party must have the form [partyClass/]partyCode."
                )
            }
            representedParty = party
        }

        var securityServer: SecurityServerId?
        if let value = Self.values(of: XRoadHeader.securityServer, in: headers).last {
            do {
                securityServer = try SecurityServerId(percentEncoded: String(value.trimmingSpacesAndTabs()))
            } catch {
                throw XRoadFault(.invalidSecurityServer, "Invalid X-Road-Security-Server header: \(error.description)")
            }
        }

        var purpose: String?
        if let value = Self.values(of: XRoadHeader.purpose, in: headers).last {
            let code = String(value.trimmingSpacesAndTabs())
            guard Self.isPurposeCode(code) else {
                throw XRoadFault(
                    .badRequest,
                    "X-LienThong-Purpose must be a purpose code of 1 to 64 characters A-Z a-z 0-9 . _ -."
                )
            }
            purpose = code
        }

        self.method = method
        self.rawTarget = rawTarget
        self.target = target
        self.client = client
        self.conflictingClientHeaders = conflicting
        self.messageId = messageId
        self.messageIdWasGenerated = generated
        self.userId = userId
        self.issue = issue
        self.representedPartyHeader = representedPartyHeader
        self.representedParty = representedParty
        self.securityServer = securityServer
        self.purpose = purpose
        self.headers = headers
    }

    /// The client's headers to pass on to the provider, see ``XRoadHeader/forwardedHeaders(_:)``.
    ///
    /// The X-Road values (client, id, user, issue, represented party, purpose) are not among them;
    /// take them from ``xRoadHeaders``.
    public var forwardedHeaders: [(name: String, value: String)] {
        XRoadHeader.forwardedHeaders(self.headers)
    }

    /// The effective X-Road request headers, one of each, as the provider's backend should see them:
    /// `X-Road-Client` (percent-encoded), `X-Road-Id`, and those of `X-Road-UserId`, `X-Road-Issue`,
    /// `X-Road-Represented-Party` and `X-LienThong-Purpose` that are present.
    public var xRoadHeaders: [(name: String, value: String)] {
        var result: [(name: String, value: String)] = [
            (name: XRoadHeader.client, value: self.client.percentEncoded),
            (name: XRoadHeader.id, value: self.messageId),
        ]
        if let userId { result.append((name: XRoadHeader.userId, value: userId)) }
        if let issue { result.append((name: XRoadHeader.issue, value: issue)) }
        if let representedPartyHeader {
            result.append((name: XRoadHeader.representedParty, value: representedPartyHeader))
        }
        if let purpose { result.append((name: XRoadHeader.purpose, value: purpose)) }
        return result
    }

    /// The canonical (signed) form of this request (`docs/protocol.md` §1).
    ///
    /// The signed headers are the client's `Content-Type` headers as received, plus the effective
    /// (last-wins) values of `X-LienThong-Purpose`, `X-Road-Issue`, `X-Road-Represented-Party` and
    /// `X-Road-UserId` — so a repeated header is signed with exactly the value the server acted on.
    ///
    /// - parameters:
    ///     - bodyDigest: SHA-256 of the body bytes as sent (of the empty string if none), for
    ///       example from a `BodyDigester` fed while the body streams.
    ///     - time: When the consumer's server signs the request, in milliseconds since the Unix
    ///       epoch (``CanonicalMessage/milliseconds(_:)``); on the provider side, the value of
    ///       `X-LienThong-Time` as received.
    /// - returns: The canonical request message.
    public func canonicalRequest(bodyDigest: MessageDigest, time: Int64) -> CanonicalMessage {
        var signed: [(name: String, value: String)] = self.headers.filter { XRoadHeader.matches($0.name, "Content-Type") }
        if let purpose { signed.append((name: XRoadHeader.purpose, value: purpose)) }
        if let issue { signed.append((name: XRoadHeader.issue, value: issue)) }
        if let representedPartyHeader {
            signed.append((name: XRoadHeader.representedParty, value: representedPartyHeader))
        }
        if let userId { signed.append((name: XRoadHeader.userId, value: userId)) }
        return CanonicalMessage.request(
            messageId: self.messageId,
            method: self.method,
            service: self.service,
            client: self.client,
            path: self.servicePath,
            headers: signed,
            bodyDigest: bodyDigest,
            time: time
        )
    }

    // MARK: Helpers

    /// The values of every header called `name`, in order.
    static func values(of name: String, in headers: [(name: String, value: String)]) -> [String] {
        headers.filter { XRoadHeader.matches($0.name, name) }.map(\.value)
    }

    /// The last value of a free-text header, trimmed, checked against the length limit.
    private static func freeText(
        _ name: String,
        in headers: [(name: String, value: String)],
        limits: ClientRequestLimits
    ) throws(XRoadFault) -> String? {
        guard let value = values(of: name, in: headers).last else { return nil }
        let trimmed = String(value.trimmingSpacesAndTabs())
        guard !trimmed.isEmpty, trimmed.utf8.count <= limits.maximumFreeTextLength else {
            throw XRoadFault(.badRequest, "\(name) must be 1 to \(limits.maximumFreeTextLength) bytes long.")
        }
        return trimmed
    }

    /// Whether `text` is a non-empty HTTP token (RFC 9110 §5.6.2).
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty
            && text.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"):
                    return true
                case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
                    UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
                    UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
                    return true
                default:
                    return false
                }
            }
    }

    /// Whether a header value has no control characters other than horizontal tab (no CR, LF, NUL, DEL).
    static func isValidFieldValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }

    /// Whether `code` matches `^[A-Za-z0-9._-]{1,64}$`.
    static func isPurposeCode(_ code: String) -> Bool {
        let bytes = code.utf8
        return (1...64).contains(bytes.count)
            && bytes.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    return true
                default:
                    return false
                }
            }
    }
}
