import LienThongCore
import PropertyBased
import Testing

/// Generators of valid and invalid identifier material.
enum IdentifierGen {
    /// One allowed character.
    static let allowedCharacter = Gen<Character?>.element(of: IdentifierFixtures.allowedCharacters).map { $0! }

    /// A valid part of 1 to 40 characters: not a dot segment and not `datasets` in any case.
    static let part = allowedCharacter.string(of: 1...40).filter(isUsablePart)

    /// A valid part of any allowed length, 1 to 255 characters.
    static let longPart = allowedCharacter.string(of: 1...255).filter(isUsablePart)

    /// Six valid parts, enough for any kind of identifier.
    static let parts = part.array(of: 6)

    /// A Unicode scalar that is not allowed in identifiers: a third from ASCII, a third from the rest
    /// of the BMP and a third from the supplementary planes.
    static let disallowedScalar = zip(Gen.int(in: 0...2), Gen<UInt32>.value(in: 0...0x10FFFF))
        .compactMap { (plane: Int, raw: UInt32) -> Unicode.Scalar? in
            let value: UInt32
            switch plane {
            case 0: value = raw % 0x80
            case 1: value = 0x80 + raw % (0x10000 - 0x80)
            default: value = 0x10000 + raw % 0x100000
            }
            guard let scalar = Unicode.Scalar(value), !IdentifierFixtures.isAllowed(scalar) else {
                return nil
            }
            return scalar
        }

    /// A segment of a remaining service path that is safe to forward: unreserved and sub-delimiter
    /// characters, never a dot segment.
    static let pathSegment = Gen<Character?>
        .element(of: Array("abcXYZ019-._~!$&'()*+,;=:@"))
        .map { $0! }
        .string(of: 0...12)
        .filter { segment in
            let beforeParameters = segment.prefix { $0 != ";" }
            return beforeParameters != "." && beforeParameters != ".."
        }

    /// A raw query made of characters that may appear in a query.
    static let query = Gen<Character?>
        .element(of: Array("abc019-._~!$&'()*+,;=:@/?%"))
        .map { $0! }
        .string(of: 0...30)
        .optional

    static func isUsablePart(_ part: String) -> Bool {
        part != "." && part != ".." && part.lowercased() != "datasets"
    }
}

@Suite("Identifier properties")
struct IdentifierPropertyTests {
    // MARK: Round trips

    /// `parse(format(id)) == id` and `format(parse(s)) == s` for both wire forms.
    func checkRoundTrip<I: XRoadIdentifier>(
        _ type: I.Type,
        canonical: String,
        parts: [String],
        memberwise: I,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let parsed = try I(parsing: canonical)
        #expect(parsed == memberwise, sourceLocation: sourceLocation)
        #expect(parsed.canonical == canonical, sourceLocation: sourceLocation)
        #expect(parsed.description == canonical, sourceLocation: sourceLocation)
        #expect(I(canonical) == parsed, sourceLocation: sourceLocation)

        let encoded = parsed.percentEncoded
        #expect(try I(percentEncoded: encoded) == parsed, sourceLocation: sourceLocation)
        #expect(try I(percentEncoded: encoded).percentEncoded == encoded, sourceLocation: sourceLocation)
        #expect(!encoded.contains("?"), sourceLocation: sourceLocation)
        #expect(encoded.replacingOccurrences3F() == canonical, sourceLocation: sourceLocation)

        // Input encoded more eagerly than LienThong does is accepted too.
        let overEncoded = parts.map(IdentifierFixtures.encodeEverything).joined(separator: "/")
        #expect(try I(percentEncoded: overEncoded) == parsed, sourceLocation: sourceLocation)
    }

    @Test func memberRoundTrip() async {
        await propertyCheck(count: 300, input: IdentifierGen.parts) { p in
            let id = try MemberId(instance: p[0], memberClass: p[1], memberCode: p[2])
            try checkRoundTrip(MemberId.self, canonical: "\(p[0])/\(p[1])/\(p[2])", parts: Array(p[0..<3]), memberwise: id)
            let client = try ClientId(instance: p[0], memberClass: p[1], memberCode: p[2])
            #expect(client == .member(id))
            try checkRoundTrip(ClientId.self, canonical: id.canonical, parts: Array(p[0..<3]), memberwise: client)
            #expect(try ClientId(headerValue: client.percentEncoded) == client)
        }
    }

    @Test func subsystemRoundTrip() async {
        await propertyCheck(count: 300, input: IdentifierGen.parts) { p in
            let id = try SubsystemId(instance: p[0], memberClass: p[1], memberCode: p[2], subsystemCode: p[3])
            let canonical = p[0..<4].joined(separator: "/")
            try checkRoundTrip(SubsystemId.self, canonical: canonical, parts: Array(p[0..<4]), memberwise: id)
            let client = try ClientId(instance: p[0], memberClass: p[1], memberCode: p[2], subsystemCode: p[3])
            #expect(client == .subsystem(id))
            try checkRoundTrip(ClientId.self, canonical: canonical, parts: Array(p[0..<4]), memberwise: client)
        }
    }

    @Test func serviceRoundTrip() async {
        await propertyCheck(count: 300, input: IdentifierGen.parts, Gen.bool) { p, versioned in
            let count = versioned ? 6 : 5
            let id = try ServiceId(
                instance: p[0], memberClass: p[1], memberCode: p[2], subsystemCode: p[3], serviceCode: p[4],
                serviceVersion: versioned ? p[5] : nil)
            let canonical = p[0..<count].joined(separator: "/")
            try checkRoundTrip(ServiceId.self, canonical: canonical, parts: Array(p[0..<count]), memberwise: id)
        }
    }

    @Test func securityServerRoundTrip() async {
        await propertyCheck(count: 300, input: IdentifierGen.parts) { p in
            let id = try SecurityServerId(instance: p[0], memberClass: p[1], memberCode: p[2], serverCode: p[3])
            let canonical = p[0..<4].joined(separator: "/")
            try checkRoundTrip(SecurityServerId.self, canonical: canonical, parts: Array(p[0..<4]), memberwise: id)
        }
    }

    @Test func datasetRoundTrip() async {
        await propertyCheck(count: 300, input: IdentifierGen.parts) { p in
            let id = try DatasetId(instance: p[0], memberClass: p[1], memberCode: p[2], datasetCode: p[4])
            let parts = [p[0], p[1], p[2], "datasets", p[4]]
            try checkRoundTrip(DatasetId.self, canonical: parts.joined(separator: "/"), parts: parts, memberwise: id)
        }
    }

    @Test func longPartsRoundTrip() async {
        await propertyCheck(count: 100, input: IdentifierGen.longPart.array(of: 6)) { p in
            let id = try ServiceId(
                instance: p[0], memberClass: p[1], memberCode: p[2], subsystemCode: p[3], serviceCode: p[4],
                serviceVersion: p[5])
            try checkRoundTrip(ServiceId.self, canonical: p.joined(separator: "/"), parts: p, memberwise: id)
        }
    }

    /// A REST request target built from random parts parses back into those parts and is rebuilt
    /// unchanged.
    @Test func restPathRoundTrip() async {
        await propertyCheck(
            count: 300,
            input: IdentifierGen.parts,
            IdentifierGen.pathSegment.array(of: 0...5),
            IdentifierGen.query
        ) { p, segments, query in
            let service = try ServiceId(
                instance: p[0], memberClass: p[1], memberCode: p[2], subsystemCode: p[3], serviceCode: p[4])
            let remainingPath = segments.map { "/" + $0 }.joined()
            let target = "/r1/" + service.percentEncoded + remainingPath + (query.map { "?" + $0 } ?? "")
            let path = try RESTServicePath(parsing: target, maximumTargetLength: 10_000)
            #expect(path.protocolVersion == .r1)
            #expect(path.serviceId == service)
            #expect(path.serviceId.serviceVersion == nil)
            #expect(path.remainingPath == remainingPath)
            #expect(path.query == query)
            #expect(path.requestTarget == target)
        }
    }

    // MARK: Invalid characters

    /// Inserting a disallowed scalar anywhere in any part makes parsing fail with
    /// `invalidCharacter`, naming the part, the scalar and its position — through the memberwise
    /// initialiser, the canonical form and the percent-encoded form.
    @Test func disallowedScalarsAreRejected() async {
        await propertyCheck(
            count: 2000,
            input: Gen<IdentifierSlot?>.element(of: IdentifierSlot.all).map { $0! },
            IdentifierGen.parts,
            Gen.int(in: 0...Int.max),
            Gen.int(in: 0...Int.max),
            IdentifierGen.disallowedScalar
        ) { slot, random, partChoice, offsetChoice, scalar in
            var parts = slot.parts(from: random)
            let index = slot.freeIndices[partChoice % slot.freeIndices.count]
            let offset = offsetChoice % (parts[index].unicodeScalars.count + 1)
            parts[index] = IdentifierFixtures.inserting(scalar, into: parts[index], at: offset)
            let expectedPart = slot.names[index]

            func check(_ error: IdentifierError?, _ form: String) {
                #expect(error?.code == .invalidCharacter, "\(form)")
                #expect(error?.kind == slot.kind, "\(form)")
                #expect(error?.part == expectedPart, "\(form)")
                #expect(error?.character == scalar, "\(form)")
                #expect(error?.position == offset + 1, "\(form)")
            }

            check(identifierError { try slot.memberwise(parts) }, "memberwise")

            let encoded = parts.map(IdentifierFixtures.encodeEverything).joined(separator: "/")
            check(identifierError { try slot.parsePercentEncoded(encoded) }, "percent-encoded")

            let canonical = parts.joined(separator: "/")
            if scalar == "/" {
                // A raw "/" splits the part: the text is either rejected (usually with
                // wrongPartCount or emptyPart) or, for a service id, may become a different valid id.
                if let error = identifierError({ try slot.parseCanonical(canonical) }) {
                    #expect([.wrongPartCount, .emptyPart, .reservedCode, .missingDatasetMarker].contains(error.code))
                }
            } else {
                check(identifierError { try slot.parseCanonical(canonical) }, "canonical")
            }
        }
    }

    /// Every one of the 128 ASCII characters, in every part of every kind of identifier, through the
    /// memberwise initialiser: exactly the 71 characters `A-Z a-z 0-9 ' ( ) + , - . = ?` are accepted.
    @Test(arguments: IdentifierSlot.all)
    func exhaustiveASCIISweep(slot: IdentifierSlot) throws {
        let base = slot.parts(from: ["VN", "GOV", "000.00.00.G22", "DANCU", "tra-cuu", "v1"])
        var accepted: Set<UInt32> = []
        for value in UInt32(0)...0x7F {
            let scalar = try #require(Unicode.Scalar(value))
            for index in slot.freeIndices {
                var parts = base
                parts[index] = IdentifierFixtures.inserting(scalar, into: "ab", at: 1)
                if let error = identifierError({ try slot.memberwise(parts) }) {
                    #expect(error.code == .invalidCharacter, "U+\(String(value, radix: 16)) in \(index)")
                    #expect(error.kind == slot.kind)
                    #expect(error.part == slot.names[index])
                    #expect(error.character == scalar)
                    #expect(error.position == 2)
                    #expect(!IdentifierFixtures.isAllowed(scalar))
                    #expect(!IdentifierSyntax.isAllowed(scalar))
                } else {
                    accepted.insert(value)
                }

                // The part on its own, too.
                parts[index] = String(Character(scalar))
                let alone = identifierError { try slot.memberwise(parts) }
                if IdentifierFixtures.isAllowed(scalar) {
                    // "." alone is a dot segment, which is reserved.
                    #expect(alone == nil || (scalar == "." && alone?.code == .reservedCode))
                } else {
                    #expect(alone?.code == .invalidCharacter)
                    #expect(alone?.position == 1)
                }
            }
        }
        #expect(accepted == IdentifierFixtures.allowedScalarValues)
        #expect(accepted.count == 71)
    }

    /// `IdentifierSyntax.isAllowed` agrees with the specification for the whole of Unicode's first
    /// plane and a sample beyond.
    @Test func isAllowedMatchesSpecification() async {
        for value in UInt32(0)...0xFFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            #expect(IdentifierSyntax.isAllowed(scalar) == IdentifierFixtures.isAllowed(scalar))
        }
        await propertyCheck(count: 1000, input: IdentifierGen.disallowedScalar) { scalar in
            #expect(!IdentifierSyntax.isAllowed(scalar))
        }
    }

    /// Any part longer than 255 bytes is rejected, whatever the kind.
    @Test func tooLongPartsAreRejected() async {
        await propertyCheck(
            count: 300,
            input: Gen<IdentifierSlot?>.element(of: IdentifierSlot.all).map { $0! },
            IdentifierGen.parts,
            Gen.int(in: 0...Int.max),
            Gen.int(in: 256...1000)
        ) { slot, random, partChoice, length in
            var parts = slot.parts(from: random)
            let index = slot.freeIndices[partChoice % slot.freeIndices.count]
            parts[index] = String(repeating: "a", count: length)
            for error in [
                identifierError { try slot.memberwise(parts) },
                identifierError { try slot.parseCanonical(parts.joined(separator: "/")) },
                identifierError { try slot.parsePercentEncoded(parts.joined(separator: "/")) },
            ] {
                #expect(error?.code == .partTooLong)
                #expect(error?.part == slot.names[index])
                #expect(error?.count == length)
                #expect(error?.limit == 255)
            }
        }
    }

    /// Random garbage never crashes the parsers, and every error has a non-empty description that
    /// contains no control characters.
    @Test func garbageIsRejectedSafely() async {
        let garbage = Gen<Character?>
            .element(of: Array("/%.aZ9?\\;#\u{0}\n\u{202E}ộ2Ff") + IdentifierFixtures.allowedCharacters)
            .map { $0! }
            .string(of: 0...60)
        await propertyCheck(count: 1000, input: garbage) { text in
            let errors: [IdentifierError?] = [
                identifierError { try MemberId(parsing: text) },
                identifierError { try SubsystemId(percentEncoded: text) },
                identifierError { try ServiceId(parsing: text) },
                identifierError { try ServiceId(percentEncoded: text) },
                identifierError { try SecurityServerId(percentEncoded: text) },
                identifierError { try DatasetId(percentEncoded: text) },
                identifierError { try ClientId(headerValue: text) },
                identifierError { try RESTServicePath(parsing: "/r1/" + text) },
            ]
            for error in errors.compactMap({ $0 }) {
                #expect(!error.description.isEmpty)
                #expect(!error.description.unicodeScalars.contains { $0.properties.generalCategory == .control })
                #expect(!error.description.unicodeScalars.contains("\u{202E}"))
            }
        }
    }
}

extension String {
    /// Replaces `%3F` by `?`: the only change percent-encoding makes to a valid identifier.
    fileprivate func replacingOccurrences3F() -> String {
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: "%3F") {
            result += rest[..<range.lowerBound] + "?"
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
