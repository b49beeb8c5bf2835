import Foundation
import LienThongCore
import LienThongTrust

/// Detached JWS message signatures and canonical messages.
///
/// The input is tried as a compact detached JWS, and as the JSON of a canonical message.
/// Properties: no crash; no input verifies against a digest that nobody signed (the digest
/// depends on the input, so a verifying input would be a forgery); a decoded canonical message
/// re-encodes to canonical bytes that decode to the same message and re-encode identically.
enum SignatureFuzz {
    static func run(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        if let jws = try? DetachedJWS(compact: text) {
            let unsigned = MessageDigest.sha256(of: Array("never signed: ".utf8) + input)
            if (try? jws.verify(digest: unsigned)) != nil {
                violated("a JWS verified against a digest nobody signed", input)
            }
        }
        if let message = try? JSONDecoder().decode(CanonicalMessage.self, from: Data(input)) {
            checkCanonicalRoundTrip(message, input)
        }
    }

    /// A canonical message's bytes decode to the same message, and re-encode byte for byte.
    static func checkCanonicalRoundTrip(_ message: CanonicalMessage, _ input: [UInt8]) {
        let bytes = message.canonicalBytes
        guard let again = try? JSONDecoder().decode(CanonicalMessage.self, from: Data(bytes)) else {
            violated("a canonical message's own bytes do not decode", input)
        }
        guard again == message, again.canonicalBytes == bytes else {
            violated("a canonical message does not round-trip", input)
        }
    }
}
