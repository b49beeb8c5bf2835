import Crypto
import Foundation
import SwiftASN1
import X509

// ASN.1 model of RFC 6960 (OCSP) built on swift-asn1. The module uses EXPLICIT tags unless
// stated otherwise; comments quote the relevant ASN.1 productions.

// MARK: - AlgorithmIdentifier

/// An X.509 `AlgorithmIdentifier`.
///
/// ```
/// AlgorithmIdentifier ::= SEQUENCE {
///     algorithm   OBJECT IDENTIFIER,
///     parameters  ANY DEFINED BY algorithm OPTIONAL }
/// ```
public struct OCSPAlgorithmIdentifier: DERImplicitlyTaggable, Hashable, Sendable {
    /// `SEQUENCE`.
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// The algorithm's object identifier.
    public var algorithm: ASN1ObjectIdentifier
    /// The algorithm parameters, if present (often `NULL`).
    public var parameters: ASN1Any?

    /// Creates an algorithm identifier.
    /// - Parameters:
    ///   - algorithm: The algorithm's object identifier.
    ///   - parameters: The parameters, or `nil` when absent.
    public init(algorithm: ASN1ObjectIdentifier, parameters: ASN1Any? = nil) {
        self.algorithm = algorithm
        self.parameters = parameters
    }

    /// Parses an `AlgorithmIdentifier`.
    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let algorithm = try ASN1ObjectIdentifier(derEncoded: &nodes)
            let parameters = nodes.next().map { ASN1Any(derEncoded: $0) }
            return OCSPAlgorithmIdentifier(algorithm: algorithm, parameters: parameters)
        }
    }

    /// Serialises the `AlgorithmIdentifier`.
    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(self.algorithm)
            if let parameters = self.parameters {
                try coder.serialize(parameters)
            }
        }
    }
}

// MARK: - Hash algorithms for CertID

/// The hash algorithms supported in a `CertID`.
public enum OCSPHashAlgorithm: String, Sendable, Hashable, CaseIterable {
    /// SHA-1 (`1.3.14.3.2.26`), what `openssl ocsp` and most clients send by default.
    case sha1
    /// SHA-256 (`2.16.840.1.101.3.4.2.1`).
    case sha256

    /// The algorithm's object identifier.
    public var oid: ASN1ObjectIdentifier {
        switch self {
        case .sha1: return OCSPOID.sha1
        case .sha256: return OCSPOID.sha256
        }
    }

    /// The `AlgorithmIdentifier` we encode: the OID with `NULL` parameters, as OpenSSL does.
    public var algorithmIdentifier: OCSPAlgorithmIdentifier {
        OCSPAlgorithmIdentifier(algorithm: self.oid, parameters: OCSPDER.null)
    }

    /// Looks up the hash algorithm named by an `AlgorithmIdentifier` (parameters must be absent or `NULL`).
    /// - Parameter identifier: The encoded algorithm.
    public init?(_ identifier: OCSPAlgorithmIdentifier) {
        guard identifier.parameters == nil || OCSPDER.isNull(identifier.parameters) else { return nil }
        switch identifier.algorithm {
        case OCSPOID.sha1: self = .sha1
        case OCSPOID.sha256: self = .sha256
        default: return nil
        }
    }

    /// Hashes `bytes` with this algorithm.
    /// - Parameter bytes: The data to hash.
    /// - Returns: The digest.
    public func hash<Bytes: DataProtocol>(_ bytes: Bytes) -> [UInt8] {
        switch self {
        case .sha1: return Array(Insecure.SHA1.hash(data: bytes))
        case .sha256: return Array(SHA256.hash(data: bytes))
        }
    }
}

// MARK: - CertID

/// Identifies a certificate by its issuer and serial number.
///
/// ```
/// CertID ::= SEQUENCE {
///     hashAlgorithm   AlgorithmIdentifier,
///     issuerNameHash  OCTET STRING, -- Hash of issuer's DN
///     issuerKeyHash   OCTET STRING, -- Hash of issuer's public key (BIT STRING value)
///     serialNumber    CertificateSerialNumber }
/// ```
public struct OCSPCertID: DERImplicitlyTaggable, Hashable, Sendable {
    /// `SEQUENCE`.
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// The hash algorithm used for the two issuer hashes.
    public var hashAlgorithm: OCSPAlgorithmIdentifier
    /// Hash of the DER encoding of the issuer's subject name.
    public var issuerNameHash: [UInt8]
    /// Hash of the value of the issuer's `subjectPublicKey` BIT STRING (not the whole SPKI).
    public var issuerKeyHash: [UInt8]
    /// The certificate's serial number.
    public var serialNumber: Certificate.SerialNumber

    /// Creates a `CertID` from its fields.
    /// - Parameters:
    ///   - hashAlgorithm: The hash algorithm of the issuer hashes.
    ///   - issuerNameHash: Hash of the issuer's DER-encoded name.
    ///   - issuerKeyHash: Hash of the issuer's public key bits.
    ///   - serialNumber: The certificate's serial number.
    public init(
        hashAlgorithm: OCSPAlgorithmIdentifier,
        issuerNameHash: [UInt8],
        issuerKeyHash: [UInt8],
        serialNumber: Certificate.SerialNumber
    ) {
        self.hashAlgorithm = hashAlgorithm
        self.issuerNameHash = issuerNameHash
        self.issuerKeyHash = issuerKeyHash
        self.serialNumber = serialNumber
    }

    /// Computes the `CertID` of the certificate with `serialNumber` issued by `issuer`.
    /// - Parameters:
    ///   - serialNumber: The serial number of the certificate in question.
    ///   - issuer: The certificate of the CA that issued it.
    ///   - hashAlgorithm: The hash algorithm to use (SHA-1 by default, like OpenSSL).
    public init(serialNumber: Certificate.SerialNumber, issuer: Certificate, hashAlgorithm: OCSPHashAlgorithm = .sha1)
        throws
    {
        self.init(
            hashAlgorithm: hashAlgorithm.algorithmIdentifier,
            issuerNameHash: hashAlgorithm.hash(try issuer.ocspSubjectDER),
            issuerKeyHash: hashAlgorithm.hash(issuer.ocspPublicKeyBits),
            serialNumber: serialNumber
        )
    }

    /// Whether this `CertID` designates the certificate with `serialNumber` issued by `issuer`.
    ///
    /// The comparison uses this `CertID`'s own hash algorithm; unsupported algorithms never match.
    /// - Parameters:
    ///   - serialNumber: The serial number to compare.
    ///   - issuer: The issuing CA certificate.
    public func matches(serialNumber: Certificate.SerialNumber, issuer: Certificate) -> Bool {
        self.serialNumber == serialNumber && self.matchesIssuer(issuer)
    }

    /// Whether the issuer hashes of this `CertID` designate `issuer`.
    /// - Parameter issuer: The issuing CA certificate.
    public func matchesIssuer(_ issuer: Certificate) -> Bool {
        guard let algorithm = OCSPHashAlgorithm(self.hashAlgorithm),
            let subject = try? issuer.ocspSubjectDER
        else { return false }
        return algorithm.hash(subject) == self.issuerNameHash
            && algorithm.hash(issuer.ocspPublicKeyBits) == self.issuerKeyHash
    }

    /// Parses a `CertID`.
    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let algorithm = try OCSPAlgorithmIdentifier(derEncoded: &nodes)
            let nameHash = try ASN1OctetString(derEncoded: &nodes)
            let keyHash = try ASN1OctetString(derEncoded: &nodes)
            let serial = try ArraySlice<UInt8>(derEncoded: &nodes)
            return OCSPCertID(
                hashAlgorithm: algorithm,
                issuerNameHash: Array(nameHash.bytes),
                issuerKeyHash: Array(keyHash.bytes),
                serialNumber: Certificate.SerialNumber(bytes: serial)
            )
        }
    }

    /// Serialises the `CertID`.
    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(self.hashAlgorithm)
            try coder.serialize(ASN1OctetString(contentBytes: self.issuerNameHash[...]))
            try coder.serialize(ASN1OctetString(contentBytes: self.issuerKeyHash[...]))
            try coder.serialize(self.serialNumber.bytes)
        }
    }
}

// MARK: - Request

/// One certificate status request inside an `OCSPRequest`.
///
/// ```
/// Request ::= SEQUENCE {
///     reqCert                     CertID,
///     singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
/// ```
public struct OCSPSingleRequest: DERImplicitlyTaggable, Hashable, Sendable {
    /// `SEQUENCE`.
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// The certificate asked about.
    public var certID: OCSPCertID
    /// Per-certificate extensions, if any.
    public var singleRequestExtensions: [Certificate.Extension]?

    /// Creates a single request.
    /// - Parameters:
    ///   - certID: The certificate asked about.
    ///   - singleRequestExtensions: Optional per-certificate extensions.
    public init(certID: OCSPCertID, singleRequestExtensions: [Certificate.Extension]? = nil) {
        self.certID = certID
        self.singleRequestExtensions = singleRequestExtensions
    }

    /// Parses a `Request`.
    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let certID = try OCSPCertID(derEncoded: &nodes)
            let extensions = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try OCSPDER.extensions($0)
            }
            return OCSPSingleRequest(certID: certID, singleRequestExtensions: extensions)
        }
    }

    /// Serialises the `Request`.
    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(self.certID)
            if let extensions = self.singleRequestExtensions {
                try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                    try coder.serializeSequenceOf(extensions)
                }
            }
        }
    }
}

/// The signed part of an OCSP request (we never sign requests).
///
/// ```
/// TBSRequest ::= SEQUENCE {
///     version             [0] EXPLICIT Version DEFAULT v1,
///     requestorName       [1] EXPLICIT GeneralName OPTIONAL,
///     requestList             SEQUENCE OF Request,
///     requestExtensions   [2] EXPLICIT Extensions OPTIONAL }
/// ```
public struct OCSPTBSRequest: DERImplicitlyTaggable, Hashable, Sendable {
    /// `SEQUENCE`.
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// The request version; only `0` (v1) exists. Encoded only when not the default.
    public var version: Int
    /// The optional name of the requestor.
    public var requestorName: GeneralName?
    /// The certificates asked about.
    public var requestList: [OCSPSingleRequest]
    /// Request-wide extensions (e.g. the nonce), if any.
    public var requestExtensions: [Certificate.Extension]?

    /// Creates a `TBSRequest`.
    /// - Parameters:
    ///   - version: The version, `0` (v1) by default.
    ///   - requestorName: Optional requestor name.
    ///   - requestList: The certificates asked about.
    ///   - requestExtensions: Optional request extensions.
    public init(
        version: Int = 0,
        requestorName: GeneralName? = nil,
        requestList: [OCSPSingleRequest],
        requestExtensions: [Certificate.Extension]? = nil
    ) {
        self.version = version
        self.requestorName = requestorName
        self.requestList = requestList
        self.requestExtensions = requestExtensions
    }

    /// The nonce carried in ``requestExtensions``, if any (content of the nonce `OCTET STRING`).
    public var nonce: [UInt8]? {
        OCSPNonce.findExtension(in: self.requestExtensions).map(OCSPNonce.nonce(of:))
    }

    /// Parses a `TBSRequest`.
    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let version = try DER.decodeDefaultExplicitlyTagged(
                &nodes, tagNumber: 0, tagClass: .contextSpecific, defaultValue: 0
            ) { try Int(derEncoded: $0) }
            let requestorName = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) {
                try GeneralName(derEncoded: $0)
            }
            let requestList = try DER.sequence(of: OCSPSingleRequest.self, identifier: .sequence, nodes: &nodes)
            let extensions = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 2, tagClass: .contextSpecific) {
                try OCSPDER.extensions($0)
            }
            return OCSPTBSRequest(
                version: version,
                requestorName: requestorName,
                requestList: requestList,
                requestExtensions: extensions
            )
        }
    }

    /// Serialises the `TBSRequest`.
    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            if self.version != 0 {
                try coder.serialize(self.version, explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific)
            }
            if let requestorName = self.requestorName {
                try coder.serialize(requestorName, explicitlyTaggedWithTagNumber: 1, tagClass: .contextSpecific)
            }
            try coder.serializeSequenceOf(self.requestList)
            if let extensions = self.requestExtensions {
                try coder.serialize(explicitlyTaggedWithTagNumber: 2, tagClass: .contextSpecific) { coder in
                    try coder.serializeSequenceOf(extensions)
                }
            }
        }
    }
}

/// An OCSP request. Signed requests (`optionalSignature`) are not supported and fail to parse.
///
/// ```
/// OCSPRequest ::= SEQUENCE {
///     tbsRequest                  TBSRequest,
///     optionalSignature   [0]     EXPLICIT Signature OPTIONAL }
/// ```
public struct OCSPRequest: DERImplicitlyTaggable, Hashable, Sendable {
    /// `SEQUENCE`.
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// The request body.
    public var tbsRequest: OCSPTBSRequest

    /// Creates a request.
    /// - Parameter tbsRequest: The request body.
    public init(tbsRequest: OCSPTBSRequest) {
        self.tbsRequest = tbsRequest
    }

    /// Parses an `OCSPRequest`; throws if it carries an `optionalSignature`.
    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let tbsRequest = try OCSPTBSRequest(derEncoded: &nodes)
            if nodes.next() != nil {
                throw ASN1Error.invalidASN1Object(reason: "signed OCSP requests (optionalSignature) are not supported")
            }
            return OCSPRequest(tbsRequest: tbsRequest)
        }
    }

    /// Serialises the `OCSPRequest`.
    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(self.tbsRequest)
        }
    }
}

// MARK: - Response envelope

/// The outcome of processing an OCSP request.
///
/// ```
/// OCSPResponseStatus ::= ENUMERATED {
///     successful (0), malformedRequest (1), internalError (2),
///     tryLater (3), sigRequired (5), unauthorized (6) }
/// ```
public enum OCSPResponseStatus: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The response has valid confirmations.
    case successful = 0
    /// The request did not conform to the OCSP syntax.
    case malformedRequest = 1
    /// The responder reached an inconsistent internal state.
    case internalError = 2
    /// Try again later.
    case tryLater = 3
    /// The request must be signed.
    case sigRequired = 5
    /// The request is unauthorized.
    case unauthorized = 6

    /// The RFC 6960 name of the status.
    public var description: String {
        switch self {
        case .successful: return "successful"
        case .malformedRequest: return "malformedRequest"
        case .internalError: return "internalError"
        case .tryLater: return "tryLater"
        case .sigRequired: return "sigRequired"
        case .unauthorized: return "unauthorized"
        }
    }
}

/// The typed payload of a successful OCSP response.
///
/// ```
/// ResponseBytes ::= SEQUENCE {
///     responseType   OBJECT IDENTIFIER,
///     response       OCTET STRING }
/// ```
public struct OCSPResponseBytes: DERImplicitlyTaggable, Hashable, Sendable {
    /// `SEQUENCE`.
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// `id-pkix-ocsp-basic` (1.3.6.1.5.5.7.48.1.1) — the only type in use.
    public static let basicResponseType: ASN1ObjectIdentifier = OCSPOID.basicResponse

    /// The type of ``response``.
    public var responseType: ASN1ObjectIdentifier
    /// The DER encoding of the typed response (a `BasicOCSPResponse` for the basic type).
    public var response: [UInt8]

    /// Creates response bytes.
    /// - Parameters:
    ///   - responseType: The response type OID.
    ///   - response: The encoded response.
    public init(responseType: ASN1ObjectIdentifier, response: [UInt8]) {
        self.responseType = responseType
        self.response = response
    }

    /// Wraps a basic response.
    /// - Parameter basic: The basic response to encode.
    public init(basic: OCSPBasicResponse) throws {
        self.init(responseType: OCSPOID.basicResponse, response: try OCSPDER.encode(basic))
    }

    /// Parses `ResponseBytes`.
    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let type = try ASN1ObjectIdentifier(derEncoded: &nodes)
            let response = try ASN1OctetString(derEncoded: &nodes)
            return OCSPResponseBytes(responseType: type, response: Array(response.bytes))
        }
    }

    /// Serialises `ResponseBytes`.
    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(self.responseType)
            try coder.serialize(ASN1OctetString(contentBytes: self.response[...]))
        }
    }
}

/// The outer OCSP response.
///
/// ```
/// OCSPResponse ::= SEQUENCE {
///     responseStatus         OCSPResponseStatus,
///     responseBytes      [0] EXPLICIT ResponseBytes OPTIONAL }
/// ```
public struct OCSPResponse: DERImplicitlyTaggable, Hashable, Sendable {
    /// `SEQUENCE`.
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// The processing status.
    public var responseStatus: OCSPResponseStatus
    /// The payload; present only when ``responseStatus`` is `successful`.
    public var responseBytes: OCSPResponseBytes?

    /// Creates a response.
    /// - Parameters:
    ///   - responseStatus: The processing status.
    ///   - responseBytes: The payload (only for `successful`).
    public init(responseStatus: OCSPResponseStatus, responseBytes: OCSPResponseBytes? = nil) {
        self.responseStatus = responseStatus
        self.responseBytes = responseBytes
    }

    /// Parses an `OCSPResponse`.
    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            guard let statusNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "OCSPResponse without responseStatus")
            }
            let rawStatus = try Int(derEncoded: statusNode, withIdentifier: .enumerated)
            guard let status = OCSPResponseStatus(rawValue: rawStatus) else {
                throw ASN1Error.invalidASN1Object(reason: "unknown OCSPResponseStatus \(rawStatus)")
            }
            let bytes = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try OCSPResponseBytes(derEncoded: $0)
            }
            return OCSPResponse(responseStatus: status, responseBytes: bytes)
        }
    }

    /// Serialises the `OCSPResponse`.
    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try self.responseStatus.rawValue.serialize(into: &coder, withIdentifier: .enumerated)
            if let bytes = self.responseBytes {
                try coder.serialize(bytes, explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific)
            }
        }
    }
}

// MARK: - Basic response

/// Identifies the responder.
///
/// ```
/// ResponderID ::= CHOICE {
///     byName   [1] Name,
///     byKey    [2] KeyHash }   -- SHA-1 of the responder's public key bits
/// ```
public enum OCSPResponderID: DERParseable, DERSerializable, Hashable, Sendable {
    /// The responder's subject name.
    case byName(DistinguishedName)
    /// SHA-1 hash of the value of the responder's `subjectPublicKey` BIT STRING.
    case byKey([UInt8])

    /// Parses a `ResponderID`.
    public init(derEncoded rootNode: ASN1Node) throws {
        switch rootNode.identifier {
        case ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific):
            self = .byName(
                try DER.explicitlyTagged(rootNode, tagNumber: 1, tagClass: .contextSpecific) {
                    try DistinguishedName(derEncoded: $0)
                }
            )
        case ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific):
            self = .byKey(
                try DER.explicitlyTagged(rootNode, tagNumber: 2, tagClass: .contextSpecific) {
                    Array(try ASN1OctetString(derEncoded: $0).bytes)
                }
            )
        default:
            throw ASN1Error.unexpectedFieldType(rootNode.identifier)
        }
    }

    /// Serialises the `ResponderID`.
    public func serialize(into coder: inout DER.Serializer) throws {
        switch self {
        case .byName(let name):
            try coder.serialize(name, explicitlyTaggedWithTagNumber: 1, tagClass: .contextSpecific)
        case .byKey(let hash):
            try coder.serialize(
                ASN1OctetString(contentBytes: hash[...]),
                explicitlyTaggedWithTagNumber: 2,
                tagClass: .contextSpecific
            )
        }
    }
}

/// Details of a revocation.
///
/// ```
/// RevokedInfo ::= SEQUENCE {
///     revocationTime              GeneralizedTime,
///     revocationReason    [0]     EXPLICIT CRLReason OPTIONAL }
/// ```
public struct OCSPRevokedInfo: DERImplicitlyTaggable, Hashable, Sendable {
    /// `SEQUENCE` (used `[1] IMPLICIT` inside ``OCSPCertStatus``).
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// When the certificate was revoked.
    public var revocationTime: GeneralizedTime
    /// Why, if stated.
    public var revocationReason: OCSPCertificateStatus.CRLReason?

    /// Creates revocation details.
    /// - Parameters:
    ///   - revocationTime: When the certificate was revoked.
    ///   - revocationReason: Optional reason.
    public init(revocationTime: GeneralizedTime, revocationReason: OCSPCertificateStatus.CRLReason? = nil) {
        self.revocationTime = revocationTime
        self.revocationReason = revocationReason
    }

    /// Parses `RevokedInfo`.
    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let time = try GeneralizedTime(derEncoded: &nodes)
            let reason = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                node -> OCSPCertificateStatus.CRLReason in
                let raw = try Int(derEncoded: node, withIdentifier: .enumerated)
                guard let reason = OCSPCertificateStatus.CRLReason(rawValue: raw) else {
                    throw ASN1Error.invalidASN1Object(reason: "unknown CRLReason \(raw)")
                }
                return reason
            }
            return OCSPRevokedInfo(revocationTime: time, revocationReason: reason)
        }
    }

    /// Serialises `RevokedInfo`.
    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(self.revocationTime)
            if let reason = self.revocationReason {
                try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                    try reason.rawValue.serialize(into: &coder, withIdentifier: .enumerated)
                }
            }
        }
    }
}

/// The status of one certificate in a response.
///
/// ```
/// CertStatus ::= CHOICE {
///     good        [0]     IMPLICIT NULL,
///     revoked     [1]     IMPLICIT RevokedInfo,
///     unknown     [2]     IMPLICIT UnknownInfo }   -- UnknownInfo ::= NULL
/// ```
public enum OCSPCertStatus: DERParseable, DERSerializable, Hashable, Sendable {
    /// Not revoked.
    case good
    /// Revoked.
    case revoked(OCSPRevokedInfo)
    /// Not known to the responder.
    case unknown

    private static let goodTag = ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)
    private static let revokedTag = ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific)
    private static let unknownTag = ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific)

    /// Parses a `CertStatus`.
    public init(derEncoded rootNode: ASN1Node) throws {
        switch rootNode.identifier {
        case Self.goodTag:
            _ = try ASN1Null(derEncoded: rootNode, withIdentifier: Self.goodTag)
            self = .good
        case Self.revokedTag:
            self = .revoked(try OCSPRevokedInfo(derEncoded: rootNode, withIdentifier: Self.revokedTag))
        case Self.unknownTag:
            _ = try ASN1Null(derEncoded: rootNode, withIdentifier: Self.unknownTag)
            self = .unknown
        default:
            throw ASN1Error.unexpectedFieldType(rootNode.identifier)
        }
    }

    /// Serialises the `CertStatus`.
    public func serialize(into coder: inout DER.Serializer) throws {
        switch self {
        case .good:
            ASN1Null().serialize(into: &coder, withIdentifier: Self.goodTag)
        case .revoked(let info):
            try info.serialize(into: &coder, withIdentifier: Self.revokedTag)
        case .unknown:
            ASN1Null().serialize(into: &coder, withIdentifier: Self.unknownTag)
        }
    }
}

/// The status of one certificate, with its validity interval.
///
/// ```
/// SingleResponse ::= SEQUENCE {
///     certID                       CertID,
///     certStatus                   CertStatus,
///     thisUpdate                   GeneralizedTime,
///     nextUpdate         [0]       EXPLICIT GeneralizedTime OPTIONAL,
///     singleExtensions   [1]       EXPLICIT Extensions OPTIONAL }
/// ```
public struct OCSPSingleResponse: DERImplicitlyTaggable, Hashable, Sendable {
    /// `SEQUENCE`.
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// The certificate this status is about (echoed from the request).
    public var certID: OCSPCertID
    /// The status.
    public var certStatus: OCSPCertStatus
    /// When the status was known to be correct.
    public var thisUpdate: GeneralizedTime
    /// When newer information will be available, if stated.
    public var nextUpdate: GeneralizedTime?
    /// Per-response extensions, if any.
    public var singleExtensions: [Certificate.Extension]?

    /// Creates a single response.
    /// - Parameters:
    ///   - certID: The certificate.
    ///   - certStatus: Its status.
    ///   - thisUpdate: When the status was known correct.
    ///   - nextUpdate: When newer information will be available.
    ///   - singleExtensions: Optional extensions.
    public init(
        certID: OCSPCertID,
        certStatus: OCSPCertStatus,
        thisUpdate: GeneralizedTime,
        nextUpdate: GeneralizedTime? = nil,
        singleExtensions: [Certificate.Extension]? = nil
    ) {
        self.certID = certID
        self.certStatus = certStatus
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.singleExtensions = singleExtensions
    }

    /// Parses a `SingleResponse`.
    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let certID = try OCSPCertID(derEncoded: &nodes)
            guard let statusNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "SingleResponse without certStatus")
            }
            let status = try OCSPCertStatus(derEncoded: statusNode)
            let thisUpdate = try GeneralizedTime(derEncoded: &nodes)
            let nextUpdate = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try GeneralizedTime(derEncoded: $0)
            }
            let extensions = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) {
                try OCSPDER.extensions($0)
            }
            return OCSPSingleResponse(
                certID: certID,
                certStatus: status,
                thisUpdate: thisUpdate,
                nextUpdate: nextUpdate,
                singleExtensions: extensions
            )
        }
    }

    /// Serialises the `SingleResponse`.
    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(self.certID)
            try coder.serialize(self.certStatus)
            try coder.serialize(self.thisUpdate)
            if let nextUpdate = self.nextUpdate {
                try coder.serialize(nextUpdate, explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific)
            }
            if let extensions = self.singleExtensions {
                try coder.serialize(explicitlyTaggedWithTagNumber: 1, tagClass: .contextSpecific) { coder in
                    try coder.serializeSequenceOf(extensions)
                }
            }
        }
    }
}

/// The signed content of a basic OCSP response.
///
/// ```
/// ResponseData ::= SEQUENCE {
///     version              [0] EXPLICIT Version DEFAULT v1,
///     responderID              ResponderID,
///     producedAt               GeneralizedTime,
///     responses                SEQUENCE OF SingleResponse,
///     responseExtensions   [1] EXPLICIT Extensions OPTIONAL }
/// ```
public struct OCSPResponseData: DERImplicitlyTaggable, Hashable, Sendable {
    /// `SEQUENCE`.
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// The version; only `0` (v1) exists. Encoded only when not the default.
    public var version: Int
    /// Who signed the response.
    public var responderID: OCSPResponderID
    /// When the response was signed.
    public var producedAt: GeneralizedTime
    /// One status per requested certificate.
    public var responses: [OCSPSingleResponse]
    /// Response extensions (e.g. the echoed nonce), if any.
    public var responseExtensions: [Certificate.Extension]?

    /// Creates response data.
    /// - Parameters:
    ///   - version: The version, `0` (v1) by default.
    ///   - responderID: Who signs the response.
    ///   - producedAt: When it is signed.
    ///   - responses: The statuses.
    ///   - responseExtensions: Optional extensions.
    public init(
        version: Int = 0,
        responderID: OCSPResponderID,
        producedAt: GeneralizedTime,
        responses: [OCSPSingleResponse],
        responseExtensions: [Certificate.Extension]? = nil
    ) {
        self.version = version
        self.responderID = responderID
        self.producedAt = producedAt
        self.responses = responses
        self.responseExtensions = responseExtensions
    }

    /// The nonce carried in ``responseExtensions``, if any (content of the nonce `OCTET STRING`).
    public var nonce: [UInt8]? {
        OCSPNonce.findExtension(in: self.responseExtensions).map(OCSPNonce.nonce(of:))
    }

    /// Parses `ResponseData`.
    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let version = try DER.decodeDefaultExplicitlyTagged(
                &nodes, tagNumber: 0, tagClass: .contextSpecific, defaultValue: 0
            ) { try Int(derEncoded: $0) }
            guard let responderNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "ResponseData without responderID")
            }
            let responderID = try OCSPResponderID(derEncoded: responderNode)
            let producedAt = try GeneralizedTime(derEncoded: &nodes)
            let responses = try DER.sequence(of: OCSPSingleResponse.self, identifier: .sequence, nodes: &nodes)
            let extensions = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) {
                try OCSPDER.extensions($0)
            }
            return OCSPResponseData(
                version: version,
                responderID: responderID,
                producedAt: producedAt,
                responses: responses,
                responseExtensions: extensions
            )
        }
    }

    /// Serialises `ResponseData`.
    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            if self.version != 0 {
                try coder.serialize(self.version, explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific)
            }
            try coder.serialize(self.responderID)
            try coder.serialize(self.producedAt)
            try coder.serializeSequenceOf(self.responses)
            if let extensions = self.responseExtensions {
                try coder.serialize(explicitlyTaggedWithTagNumber: 1, tagClass: .contextSpecific) { coder in
                    try coder.serializeSequenceOf(extensions)
                }
            }
        }
    }
}

/// A signed basic OCSP response.
///
/// ```
/// BasicOCSPResponse ::= SEQUENCE {
///     tbsResponseData      ResponseData,
///     signatureAlgorithm   AlgorithmIdentifier,
///     signature            BIT STRING,
///     certs            [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
/// ```
///
/// The exact DER of `tbsResponseData` is kept in ``tbsResponseDataBytes`` so signatures are
/// verified over the bytes that were received, not over a re-encoding.
public struct OCSPBasicResponse: DERImplicitlyTaggable, Hashable, Sendable {
    /// `SEQUENCE`.
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    /// The signed content.
    public let tbsResponseData: OCSPResponseData
    /// The exact DER encoding of ``tbsResponseData`` (what the signature covers).
    public let tbsResponseDataBytes: [UInt8]
    /// The signature algorithm.
    public var signatureAlgorithm: OCSPAlgorithmIdentifier
    /// The signature bytes (for ECDSA, a DER `ECDSA-Sig-Value`).
    public var signature: [UInt8]
    /// Certificates helping to verify the signature (typically the delegated responder's certificate).
    public var certs: [Certificate]?

    /// Creates a basic response from already-computed parts, encoding `tbsResponseData`.
    /// - Parameters:
    ///   - tbsResponseData: The signed content.
    ///   - signatureAlgorithm: The signature algorithm.
    ///   - signature: The signature over the DER of `tbsResponseData`.
    ///   - certs: Optional certificates to include.
    public init(
        tbsResponseData: OCSPResponseData,
        signatureAlgorithm: OCSPAlgorithmIdentifier,
        signature: [UInt8],
        certs: [Certificate]? = nil
    ) throws {
        self.tbsResponseData = tbsResponseData
        self.tbsResponseDataBytes = try OCSPDER.encode(tbsResponseData)
        self.signatureAlgorithm = signatureAlgorithm
        self.signature = signature
        self.certs = certs
    }

    /// Encodes `tbsResponseData` and signs it with `privateKey`.
    /// - Parameters:
    ///   - tbsResponseData: The content to sign.
    ///   - privateKey: The responder's key.
    ///   - signatureAlgorithm: The algorithm (must suit the key), e.g. `.ecdsaWithSHA256` for P-256.
    ///   - certs: Optional certificates to include (the delegated responder's certificate).
    public init(
        signing tbsResponseData: OCSPResponseData,
        with privateKey: Certificate.PrivateKey,
        signatureAlgorithm: Certificate.SignatureAlgorithm,
        certs: [Certificate]? = nil
    ) throws {
        guard let identifier = OCSPSignatureAlgorithms.identifier(for: signatureAlgorithm) else {
            throw ASN1Error.invalidASN1Object(reason: "unsupported signature algorithm \(signatureAlgorithm)")
        }
        let tbsBytes = try OCSPDER.encode(tbsResponseData)
        let signature = try privateKey.sign(bytes: tbsBytes, signatureAlgorithm: signatureAlgorithm)
        self.tbsResponseData = tbsResponseData
        self.tbsResponseDataBytes = tbsBytes
        self.signatureAlgorithm = identifier
        self.signature = signature.rawRepresentation
        self.certs = certs
    }

    private init(
        tbsResponseData: OCSPResponseData,
        tbsResponseDataBytes: [UInt8],
        signatureAlgorithm: OCSPAlgorithmIdentifier,
        signature: [UInt8],
        certs: [Certificate]?
    ) {
        self.tbsResponseData = tbsResponseData
        self.tbsResponseDataBytes = tbsResponseDataBytes
        self.signatureAlgorithm = signatureAlgorithm
        self.signature = signature
        self.certs = certs
    }

    /// Parses a `BasicOCSPResponse`.
    public init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            guard let tbsNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "BasicOCSPResponse without tbsResponseData")
            }
            let tbs = try OCSPResponseData(derEncoded: tbsNode)
            let algorithm = try OCSPAlgorithmIdentifier(derEncoded: &nodes)
            let signature = try ASN1BitString(derEncoded: &nodes)
            guard signature.paddingBits == 0 else {
                throw ASN1Error.invalidASN1Object(reason: "signature BIT STRING has padding bits")
            }
            let certs = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                try DER.sequence(of: Certificate.self, identifier: .sequence, rootNode: $0)
            }
            return OCSPBasicResponse(
                tbsResponseData: tbs,
                tbsResponseDataBytes: Array(tbsNode.encodedBytes),
                signatureAlgorithm: algorithm,
                signature: Array(signature.bytes),
                certs: certs
            )
        }
    }

    /// Serialises the `BasicOCSPResponse` (``tbsResponseDataBytes`` are written verbatim).
    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            coder.serializeRawBytes(self.tbsResponseDataBytes)
            try coder.serialize(self.signatureAlgorithm)
            try coder.serialize(ASN1BitString(bytes: self.signature[...]))
            if let certs = self.certs {
                try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                    try coder.serializeSequenceOf(certs)
                }
            }
        }
    }
}

// MARK: - Encoding convenience

extension OCSPResponse {
    /// The DER encoding of a response that carries only a non-successful status
    /// (e.g. `malformedRequest`: `30 03 0A 01 01`).
    /// - Parameter status: The status to report.
    public static func statusOnlyDER(_ status: OCSPResponseStatus) -> [UInt8] {
        // SEQUENCE { ENUMERATED status } — fixed layout, no encoder needed.
        [0x30, 0x03, 0x0A, 0x01, UInt8(truncatingIfNeeded: status.rawValue)]
    }

    /// Wraps a basic response in a `successful` response.
    /// - Parameter basic: The signed basic response.
    public init(successful basic: OCSPBasicResponse) throws {
        self.init(responseStatus: .successful, responseBytes: try OCSPResponseBytes(basic: basic))
    }

    /// The embedded basic response, if this response is successful and of the basic type.
    public func basicResponse() throws -> OCSPBasicResponse? {
        guard let bytes = self.responseBytes, bytes.responseType == OCSPOID.basicResponse else { return nil }
        return try OCSPBasicResponse(derEncoded: bytes.response)
    }
}
