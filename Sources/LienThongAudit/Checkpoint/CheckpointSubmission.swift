import Foundation
import LienThongCore

/// `POST /checkpoints` on the registry: a checkpoint as a security server submits it
/// (schema `schemas/checkpoint-submission.schema.json`).
///
/// The checkpoint travels as its exact canonical bytes (unpadded base64url), so that the signed
/// bytes survive any JSON re-encoding on the way.
public struct CheckpointSubmission: Codable, Sendable, Hashable {
    /// The checkpoint's canonical bytes, unpadded base64url.
    public var checkpoint: String
    /// The server's compact detached JWS over SHA-256 of those bytes (member key).
    public var signature: String
    /// The signer's current OCSP response (DER, standard base64), so the registry need not ask.
    public var ocsp: String?

    /// Creates a submission.
    public init(body: [UInt8], signature: String, ocsp: [UInt8]?) {
        self.checkpoint = Base64URL.encode(body)
        self.signature = signature
        self.ocsp = ocsp.map { Data($0).base64EncodedString() }
    }
}

/// The registry's answer to a ``CheckpointSubmission`` (schema
/// `schemas/checkpoint-submission.schema.json`, `#/$defs/receipt`).
public struct CheckpointReceiptResponse: Codable, Sendable, Hashable {
    /// The receipt's canonical bytes (``CheckpointReceipt``), unpadded base64url.
    public var receipt: String
    /// The registry's compact detached JWS over SHA-256 of those bytes.
    public var signature: String

    /// Creates a response.
    public init(receipt: [UInt8], signature: String) {
        self.receipt = Base64URL.encode(receipt)
        self.signature = signature
    }
}
