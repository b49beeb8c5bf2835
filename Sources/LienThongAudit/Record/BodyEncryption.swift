import Crypto
import Foundation
import LienThongCore

/// Which body of an exchange an encrypted body is.
public enum AuditBodyKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// The request body.
    case request
    /// The response body.
    case response
}

/// A body sealed with AES-256-GCM, as a record stores it: `{"alg":"A256GCM","nonce":…,
/// "ciphertext":…,"tag":…}`, the byte strings in unpadded base64url.
public struct EncryptedBody: Sendable, Hashable, Codable {
    /// The only algorithm, `A256GCM`.
    public static let algorithm = "A256GCM"

    /// The 96-bit nonce.
    public let nonce: [UInt8]
    /// The ciphertext, as long as the body.
    public let ciphertext: [UInt8]
    /// The 128-bit authentication tag.
    public let tag: [UInt8]

    /// Creates an encrypted body from its parts.
    ///
    /// - Throws: ``AuditRecordError/invalidValue(field:)`` (`nonce` or `tag`) unless the nonce has
    ///   12 bytes and the tag 16.
    public init(nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8]) throws(AuditRecordError) {
        guard nonce.count == 12 else { throw .invalidValue(field: "nonce") }
        guard tag.count == 16 else { throw .invalidValue(field: "tag") }
        self.nonce = nonce
        self.ciphertext = ciphertext
        self.tag = tag
    }

    /// The JSON object a record stores.
    public var canonicalJSON: CanonicalJSON {
        .object([
            "alg": .string(Self.algorithm),
            "nonce": .string(Base64URL.encode(nonce)),
            "ciphertext": .string(Base64URL.encode(ciphertext)),
            "tag": .string(Base64URL.encode(tag)),
        ])
    }

    /// Reads the JSON object strictly; `field` prefixes member names in errors (`request_body`).
    public init(json: CanonicalJSON, field: String) throws(AuditRecordError) {
        let reader = try JSONObjectReader(json, field: field, allowed: ["alg", "nonce", "ciphertext", "tag"])
        let alg = try reader.string("alg")
        guard alg == Self.algorithm else { throw .unsupportedAlgorithm(alg) }
        func bytes(_ name: String) throws(AuditRecordError) -> [UInt8] {
            guard let value = Base64URL.decode(try reader.string(name)) else { throw .invalidValue(field: reader.path(name)) }
            return value
        }
        let nonce = try bytes("nonce"), ciphertext = try bytes("ciphertext"), tag = try bytes("tag")
        guard nonce.count == 12 else { throw .invalidValue(field: reader.path("nonce")) }
        guard tag.count == 16 else { throw .invalidValue(field: reader.path("tag")) }
        try self.init(nonce: nonce, ciphertext: ciphertext, tag: tag)
    }

    /// Decodes the JSON object, as strictly as ``init(json:field:)``.
    public init(from decoder: any Decoder) throws {
        let json = try decoder.singleValueContainer().decode(JSONValueBox.self).value
        try self.init(json: json, field: "")
    }

    /// Encodes the JSON object.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(JSONValueBox(canonicalJSON))
    }
}

/// Seals and opens record bodies with one AES-256-GCM key.
///
/// The associated data binds a body to its record (``AuditRecord/bodyAssociatedData(messageId:side:body:)``):
/// a body moved to another record, or swapped between request and response, does not open.
public struct BodyEncryption: Sendable {
    private let key: SymmetricKey

    /// Uses `key`, which must be 256 bits.
    ///
    /// - Throws: ``AuditRecordError/invalidBodyKey(bitCount:)``.
    public init(key: SymmetricKey) throws(AuditRecordError) {
        guard key.bitCount == 256 else { throw .invalidBodyKey(bitCount: key.bitCount) }
        self.key = key
    }

    /// Uses the 32 bytes `key`.
    ///
    /// - Throws: ``AuditRecordError/invalidBodyKey(bitCount:)``.
    public init(key: [UInt8]) throws(AuditRecordError) {
        try self.init(key: SymmetricKey(data: key))
    }

    /// Encrypts `body` under a fresh random 96-bit nonce, authenticating `associatedData`.
    ///
    /// - Throws: ``AuditRecordError/sealFailed`` if the cryptographic library fails.
    public func seal(_ body: [UInt8], associatedData: [UInt8]) throws(AuditRecordError) -> EncryptedBody {
        do {
            let box = try AES.GCM.seal(body, using: key, nonce: AES.GCM.Nonce(), authenticating: associatedData)
            return try EncryptedBody(nonce: Array(box.nonce), ciphertext: Array(box.ciphertext), tag: Array(box.tag))
        } catch {
            throw .sealFailed
        }
    }

    /// Decrypts `body`, checking its tag over the ciphertext and `associatedData`.
    ///
    /// - Throws: ``AuditRecordError/openFailed`` for a wrong key, other associated data or any tampering.
    public func open(_ body: EncryptedBody, associatedData: [UInt8]) throws(AuditRecordError) -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: body.nonce), ciphertext: body.ciphertext, tag: body.tag)
            return Array(try AES.GCM.open(box, using: key, authenticating: associatedData))
        } catch {
            throw .openFailed
        }
    }
}
