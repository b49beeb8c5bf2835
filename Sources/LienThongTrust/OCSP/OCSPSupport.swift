import Crypto
import _CryptoExtras
import Foundation
import SwiftASN1
import X509

// Internal helpers shared by the OCSP codec, responder and verifier. Everything here is
// prefixed `OCSP` so it cannot collide with helpers other parts of the module define.

/// Object identifiers used by the OCSP implementation.
enum OCSPOID {
    /// `id-pkix-ocsp-basic` 1.3.6.1.5.5.7.48.1.1.
    static let basicResponse: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 48, 1, 1]
    /// `id-pkix-ocsp-nonce` 1.3.6.1.5.5.7.48.1.2.
    static let nonce: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 48, 1, 2]
    /// `id-sha1` 1.3.14.3.2.26.
    static let sha1: ASN1ObjectIdentifier = [1, 3, 14, 3, 2, 26]
    /// `id-sha256` 2.16.840.1.101.3.4.2.1.
    static let sha256: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 1]
    /// `ecdsa-with-SHA256` 1.2.840.10045.4.3.2.
    static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]
    /// `ecdsa-with-SHA384` 1.2.840.10045.4.3.3.
    static let ecdsaWithSHA384: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 3]
    /// `ecdsa-with-SHA512` 1.2.840.10045.4.3.4.
    static let ecdsaWithSHA512: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 4]
    /// `sha1WithRSAEncryption` 1.2.840.113549.1.1.5.
    static let sha1WithRSAEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 5]
    /// `sha256WithRSAEncryption` 1.2.840.113549.1.1.11.
    static let sha256WithRSAEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 11]
    /// `sha384WithRSAEncryption` 1.2.840.113549.1.1.12.
    static let sha384WithRSAEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 12]
    /// `sha512WithRSAEncryption` 1.2.840.113549.1.1.13.
    static let sha512WithRSAEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 13]
    /// `id-Ed25519` 1.3.101.112.
    static let ed25519: ASN1ObjectIdentifier = [1, 3, 101, 112]
}

/// DER helpers.
enum OCSPDER {
    /// Serialises a value to DER bytes.
    static func encode<T: DERSerializable>(_ value: T) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(value)
        return serializer.serializedBytes
    }

    /// `NULL` algorithm parameters. Encoding `NULL` cannot fail; should it ever, callers fall back
    /// to absent parameters, which RFC 3370/5754 also allow.
    static let null: ASN1Any? = try? ASN1Any(erasing: ASN1Null())

    /// Whether algorithm parameters are a DER `NULL`.
    static func isNull(_ parameters: ASN1Any?) -> Bool {
        guard let parameters else { return false }
        return (try? ASN1Null(asn1Any: parameters)) != nil
    }

    /// Parses a `SEQUENCE OF Extension`.
    static func extensions(_ node: ASN1Node) throws -> [Certificate.Extension] {
        try DER.sequence(of: Certificate.Extension.self, identifier: .sequence, rootNode: node)
    }
}

/// Conversions between `Date` and ASN.1 `GeneralizedTime`, done with plain calendar arithmetic
/// (proleptic Gregorian, UTC) so no `Calendar`/`TimeZone` state is involved.
enum OCSPTime {
    /// Converts a date (truncated to whole seconds) to a `GeneralizedTime` in UTC.
    static func generalizedTime(_ date: Date) throws -> GeneralizedTime {
        let interval = date.timeIntervalSince1970
        guard interval.isFinite, abs(interval) < 1e12 else {
            throw ASN1Error.invalidASN1Object(reason: "date out of range for GeneralizedTime")
        }
        let seconds = Int(interval.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : -((-seconds + 86_399) / 86_400)
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        return try GeneralizedTime(
            year: year, month: month, day: day,
            hours: secondOfDay / 3600, minutes: (secondOfDay % 3600) / 60, seconds: secondOfDay % 60,
            fractionalSeconds: 0
        )
    }

    /// Converts a `GeneralizedTime` to a date.
    static func date(_ time: GeneralizedTime) -> Date {
        let days = daysFromCivil(year: time.year, month: time.month, day: time.day)
        let seconds = days * 86_400 + time.hours * 3600 + time.minutes * 60 + time.seconds
        return Date(timeIntervalSince1970: TimeInterval(seconds) + time.fractionalSeconds)
    }

    // Howard Hinnant's days_from_civil / civil_from_days.
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civil(fromDays days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

/// Mapping between X.509 signature algorithms and their `AlgorithmIdentifier` encodings.
enum OCSPSignatureAlgorithms {
    /// The encoding of a signature algorithm (RSA with explicit NULL parameters, ECDSA/EdDSA without).
    static func identifier(for algorithm: Certificate.SignatureAlgorithm) -> OCSPAlgorithmIdentifier? {
        switch algorithm {
        case .ecdsaWithSHA256: return .init(algorithm: OCSPOID.ecdsaWithSHA256)
        case .ecdsaWithSHA384: return .init(algorithm: OCSPOID.ecdsaWithSHA384)
        case .ecdsaWithSHA512: return .init(algorithm: OCSPOID.ecdsaWithSHA512)
        case .sha1WithRSAEncryption: return .init(algorithm: OCSPOID.sha1WithRSAEncryption, parameters: OCSPDER.null)
        case .sha256WithRSAEncryption:
            return .init(algorithm: OCSPOID.sha256WithRSAEncryption, parameters: OCSPDER.null)
        case .sha384WithRSAEncryption:
            return .init(algorithm: OCSPOID.sha384WithRSAEncryption, parameters: OCSPDER.null)
        case .sha512WithRSAEncryption:
            return .init(algorithm: OCSPOID.sha512WithRSAEncryption, parameters: OCSPDER.null)
        case .ed25519: return .init(algorithm: OCSPOID.ed25519)
        default: return nil
        }
    }

    /// The signature algorithm an `AlgorithmIdentifier` names, if supported.
    static func algorithm(for identifier: OCSPAlgorithmIdentifier) -> Certificate.SignatureAlgorithm? {
        let params = identifier.parameters
        let nullOrAbsent = params == nil || OCSPDER.isNull(params)
        switch identifier.algorithm {
        case OCSPOID.ecdsaWithSHA256 where params == nil: return .ecdsaWithSHA256
        case OCSPOID.ecdsaWithSHA384 where params == nil: return .ecdsaWithSHA384
        case OCSPOID.ecdsaWithSHA512 where params == nil: return .ecdsaWithSHA512
        case OCSPOID.sha1WithRSAEncryption where nullOrAbsent: return .sha1WithRSAEncryption
        case OCSPOID.sha256WithRSAEncryption where nullOrAbsent: return .sha256WithRSAEncryption
        case OCSPOID.sha384WithRSAEncryption where nullOrAbsent: return .sha384WithRSAEncryption
        case OCSPOID.sha512WithRSAEncryption where nullOrAbsent: return .sha512WithRSAEncryption
        case OCSPOID.ed25519 where params == nil: return .ed25519
        default: return nil
        }
    }

    /// The signature algorithm we use for a signing key: ECDSA with the curve's matching SHA-2,
    /// SHA-256 with RSA PKCS#1 v1.5, or Ed25519.
    static func defaultAlgorithm(for key: Certificate.PublicKey) -> Certificate.SignatureAlgorithm? {
        if P256.Signing.PublicKey(key) != nil { return .ecdsaWithSHA256 }
        if P384.Signing.PublicKey(key) != nil { return .ecdsaWithSHA384 }
        if P521.Signing.PublicKey(key) != nil { return .ecdsaWithSHA512 }
        if _RSA.Signing.PublicKey(key) != nil { return .sha256WithRSAEncryption }
        if Curve25519.Signing.PublicKey(key) != nil { return .ed25519 }
        return nil
    }
}

/// Nonce extension helpers (RFC 6960 §4.4.1, RFC 8954).
enum OCSPNonce {
    /// Builds the nonce extension: `extnValue` is the DER `OCTET STRING` holding the nonce.
    static func makeExtension(_ nonce: [UInt8]) throws -> Certificate.Extension {
        let value = try OCSPDER.encode(ASN1OctetString(contentBytes: nonce[...]))
        return Certificate.Extension(oid: OCSPOID.nonce, critical: false, value: value[...])
    }

    /// The nonce extension among `extensions`, if any.
    static func findExtension(in extensions: [Certificate.Extension]?) -> Certificate.Extension? {
        extensions?.first(where: { $0.oid == OCSPOID.nonce })
    }

    /// The nonce carried by an extension: the content of the inner `OCTET STRING` (RFC 8954),
    /// or the raw `extnValue` for legacy peers that put the nonce there unwrapped.
    static func nonce(of ext: Certificate.Extension) -> [UInt8] {
        if let octets = try? ASN1OctetString(derEncoded: ext.value) {
            return Array(octets.bytes)
        }
        return Array(ext.value)
    }
}

/// Convenience accessors used when matching certificates.
extension Certificate {
    /// The DER encoding of the subject name (the input of `issuerNameHash`).
    var ocspSubjectDER: [UInt8] {
        get throws { try OCSPDER.encode(self.subject) }
    }

    /// The value of the `subjectPublicKey` BIT STRING (the input of `issuerKeyHash` / `KeyHash`).
    var ocspPublicKeyBits: [UInt8] {
        Array(self.publicKey.subjectPublicKeyInfoBytes)
    }

    /// The SHA-1 hash of ``ocspPublicKeyBits`` (RFC 6960 `KeyHash`, used by `ResponderID.byKey`).
    var ocspKeyHash: [UInt8] {
        Array(Insecure.SHA1.hash(data: self.ocspPublicKeyBits))
    }
}
