import Foundation
import LienThongRegistry
import X509

/// The signed global configuration, as a security server receives it.
///
/// The input is tried as the compact JWS (parsed, signature checked, then verified against the
/// development trust anchor the seed corpus was signed with) and as the JSON document itself.
/// Properties: no crash; a decoded document re-encodes to canonical JSON that decodes to the same
/// document and re-encodes identically.
enum GlobalConfigurationFuzz {
    nonisolated(unsafe) static var verifier: GlobalConfigurationVerifier?

    static func prepare() {
        if let anchors = FuzzTrustAnchors.load() { verifier = GlobalConfigurationVerifier(trustAnchors: anchors) }
    }

    static func run(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        if let jws = try? GlobalConfigurationJWS(compact: text) {
            _ = try? jws.verifySignature()
            check(jws.payload, input)
            if let verifier {
                let verified = blocking { () async -> GlobalConfiguration? in try? await verifier.verify(text, at: Date()) }
                if let verified, (try? verified.canonicalJSON()) != jws.payload {
                    violated("a verified configuration's payload is not its canonical form", input)
                }
            }
        }
        check(input, input)
    }

    static func check(_ document: [UInt8], _ input: [UInt8]) {
        guard let configuration = try? GlobalConfiguration(jsonBytes: document) else { return }
        guard let bytes = try? configuration.canonicalJSON() else { violated("a decoded configuration does not encode", input) }
        guard let again = try? GlobalConfiguration(jsonBytes: bytes), again == configuration,
              (try? again.canonicalJSON()) == bytes else {
            violated("a global configuration does not round-trip", input)
        }
    }
}
