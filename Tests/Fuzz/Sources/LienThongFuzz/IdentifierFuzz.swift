import LienThongCore

/// Identifier parsing: every kind, in canonical and percent-encoded form, the `X-Road-Client`
/// header and `/r1/` request targets.
///
/// Properties: no crash; a parsed identifier's canonical and percent-encoded forms parse back to
/// the same identifier; a parsed request target rebuilt from its parts parses to the same parts.
enum IdentifierFuzz {
    static func run(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        check(MemberId.self, text, input)
        check(SubsystemId.self, text, input)
        check(SecurityServerId.self, text, input)
        check(ServiceId.self, text, input)
        check(DatasetId.self, text, input)
        check(ClientId.self, text, input)
        if let client = try? ClientId(headerValue: text), (try? ClientId(percentEncoded: client.percentEncoded)) != client {
            violated("X-Road-Client value does not round-trip", input)
        }
        if let target = try? RESTServicePath(parsing: text, maximumTargetLength: 8192) {
            guard let again = try? RESTServicePath(parsing: target.requestTarget, maximumTargetLength: 1 << 20) else {
                violated("a rebuilt request target does not parse", input)
            }
            guard again.serviceId == target.serviceId, again.remainingPath == target.remainingPath,
                  again.query == target.query, again.protocolVersion == target.protocolVersion else {
                violated("a rebuilt request target parses to other parts", input)
            }
        }
    }

    static func check<Identifier: XRoadIdentifier>(_ type: Identifier.Type, _ text: String, _ input: [UInt8]) {
        for parsed in [try? Identifier(parsing: text), try? Identifier(percentEncoded: text)] {
            guard let parsed else { continue }
            guard (try? Identifier(parsing: parsed.canonical)) == parsed else {
                violated("\(Identifier.self) canonical form does not round-trip", input)
            }
            guard (try? Identifier(percentEncoded: parsed.percentEncoded)) == parsed else {
                violated("\(Identifier.self) percent-encoded form does not round-trip", input)
            }
        }
    }
}
