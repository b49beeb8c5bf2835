import Foundation
import LienThongCore
import Testing

@Suite("Identifiers")
struct IdentifierTests {
    // MARK: MemberId

    @Test func memberValid() throws {
        let member = try MemberId(parsing: "VN/GOV/000.00.00.G22")
        #expect(member.instance == "VN")
        #expect(member.memberClass == "GOV")
        #expect(member.memberCode == "000.00.00.G22")
        #expect(member.canonical == "VN/GOV/000.00.00.G22")
        #expect(member.percentEncoded == "VN/GOV/000.00.00.G22")
        #expect(member.description == "VN/GOV/000.00.00.G22")
        #expect(MemberId("VN/GOV/000.00.00.G22") == member)
        #expect(MemberId("VN/GOV") == nil)
        #expect(try MemberId(instance: "VN", memberClass: "GOV", memberCode: "000.00.00.G22") == member)
        #expect(try MemberId(percentEncoded: "VN/GOV/000.00.00.G22") == member)
    }

    @Test(arguments: [
        ("", 1), ("VN", 1), ("VN/GOV", 2), ("VN/GOV/X/Y", 4), ("VN/GOV/X/Y/Z/W", 6), ("////////", 9),
    ])
    func memberWrongPartCount(text: String, found: Int) throws {
        let parsers: [(String) throws -> Void] = [
            { _ = try MemberId(parsing: $0) },
            { _ = try MemberId(percentEncoded: $0) },
        ]
        for parse in parsers {
            let error = try #require(identifierError { try parse(text) })
            #expect(error.code == .wrongPartCount)
            #expect(error.kind == .member)
            #expect(error.part == nil)
            #expect(error.count == found)
        }
    }

    @Test(arguments: [
        ("/GOV/X", IdentifierError.Part.instance),
        ("VN//X", .memberClass),
        ("VN/GOV/", .memberCode),
        ("//", .instance),
    ])
    func memberEmptyPart(text: String, part: IdentifierError.Part) throws {
        let error = try #require(identifierError { try MemberId(parsing: text) })
        #expect(error.code == .emptyPart)
        #expect(error.part == part)
        #expect(error.value == text)
        let encoded = try #require(identifierError { try MemberId(percentEncoded: text) })
        #expect(encoded == error)
    }

    @Test func memberEmptyPartMemberwise() throws {
        let error = try #require(identifierError { try MemberId(instance: "VN", memberClass: "", memberCode: "X") })
        #expect(error.code == .emptyPart)
        #expect(error.part == .memberClass)
        #expect(error.value == nil)
        #expect(error.description == "empty member class in member id")
    }

    @Test func memberPartLength() throws {
        let longest = String(repeating: "A", count: 255)
        let member = try MemberId(parsing: "VN/GOV/\(longest)")
        #expect(member.memberCode.utf8.count == 255)

        let tooLong = String(repeating: "A", count: 256)
        let error = try #require(identifierError { try MemberId(parsing: "VN/GOV/\(tooLong)") })
        #expect(error.code == .partTooLong)
        #expect(error.part == .memberCode)
        #expect(error.count == 256)
        #expect(error.limit == 255)
        #expect(error.value == String(repeating: "A", count: 64) + "…")
        #expect(
            error.description
                == "member code \"\(String(repeating: "A", count: 64))…\" of member id is too long: 256 UTF-8 bytes, the maximum is 255"
        )

        // Also through the memberwise initialiser, for every part.
        for (index, part) in [IdentifierError.Part.instance, .memberClass, .memberCode].enumerated() {
            var parts = ["VN", "GOV", "X"]
            parts[index] = tooLong
            let error = try #require(
                identifierError { try MemberId(instance: parts[0], memberClass: parts[1], memberCode: parts[2]) })
            #expect(error.code == .partTooLong)
            #expect(error.part == part)
        }
    }

    @Test func memberInvalidCharacter() throws {
        let error = try #require(identifierError { try MemberId(parsing: "VN/GOV/ab c") })
        #expect(error.code == .invalidCharacter)
        #expect(error.kind == .member)
        #expect(error.part == .memberCode)
        #expect(error.character == " ")
        #expect(error.position == 3)
        #expect(error.value == "ab c")
        #expect(error.description == "invalid character \"\\u{20}\" (U+0020) at position 3 in member code \"ab c\" of member id")

        for text in ["VN/GOV/a:b", "VN/GOV/a\\b", "VN/GOV/a%b", "VN/GOV/a_b", "VN/GOV/a~b", "VN/GOV/a*b", "VN/GOV/a;b"] {
            let error = try #require(identifierError { try MemberId(parsing: text) })
            #expect(error.code == .invalidCharacter, "\(text)")
            #expect(error.position == 2)
        }
    }

    @Test func memberDotSegmentsAreReserved() throws {
        for text in ["./GOV/X", "VN/../X", "VN/GOV/."] {
            let error = try #require(identifierError { try MemberId(parsing: text) })
            #expect(error.code == .reservedCode, "\(text)")
        }
        // Three dots, or dots with other characters, are ordinary values.
        #expect(try MemberId(parsing: "VN/.../.X").memberClass == "...")
    }

    /// The example message from the task description.
    @Test func descriptionExample() throws {
        let error = try #require(
            identifierError {
                try SubsystemId(instance: "VN", memberClass: "GOV", memberCode: "ab/c", subsystemCode: "DANCU")
            })
        #expect(error.code == .invalidCharacter)
        #expect(error.kind == .subsystem)
        #expect(error.part == .memberCode)
        #expect(error.description == "invalid character \"/\" at position 3 in member code \"ab/c\" of subsystem id")
    }

    // MARK: SubsystemId

    @Test func subsystemValid() throws {
        let subsystem = try SubsystemId(parsing: "VN/GOV/000.00.00.G22/DANCU")
        #expect(subsystem.member == (try MemberId(parsing: "VN/GOV/000.00.00.G22")))
        #expect(subsystem.subsystemCode == "DANCU")
        #expect(subsystem.canonical == "VN/GOV/000.00.00.G22/DANCU")
        #expect(subsystem.percentEncoded == "VN/GOV/000.00.00.G22/DANCU")
        #expect(try SubsystemId(member: subsystem.member, subsystemCode: "DANCU") == subsystem)
        #expect(
            try SubsystemId(instance: "VN", memberClass: "GOV", memberCode: "000.00.00.G22", subsystemCode: "DANCU")
                == subsystem)
    }

    @Test(arguments: ["VN/GOV/X", "VN/GOV/X/Y/Z", "VN", "VN/GOV/000.00.00.G22/datasets/dan-cu"])
    func subsystemWrongPartCount(text: String) throws {
        let error = try #require(identifierError { try SubsystemId(parsing: text) })
        #expect(error.code == .wrongPartCount)
        #expect(error.kind == .subsystem)
        #expect(error.description.hasSuffix("expected 4"))
    }

    @Test(arguments: ["datasets", "Datasets", "DATASETS", "dAtAsEtS"])
    func subsystemReservedCode(code: String) throws {
        let text = "VN/GOV/000.00.00.G22/\(code)"
        let error = try #require(identifierError { try SubsystemId(parsing: text) })
        #expect(error.code == .reservedCode)
        #expect(error.part == .subsystemCode)
        #expect(error.value == code)
        #expect(error.description == "reserved value \"\(code)\" cannot be used as subsystem code of subsystem id")
        #expect(identifierError { try SubsystemId(percentEncoded: text) }?.code == .reservedCode)
        let member = try MemberId(parsing: "VN/GOV/000.00.00.G22")
        #expect(identifierError { try SubsystemId(member: member, subsystemCode: code) }?.code == .reservedCode)
        #expect(identifierError { try ClientId(parsing: text) }?.code == .reservedCode)
        // Not reserved as a service code or dataset code.
        #expect(try ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/\(code)").serviceCode == code)
        #expect(try DatasetId(parsing: "VN/GOV/000.00.00.G22/datasets/\(code)").datasetCode == code)
    }

    @Test func subsystemEmptyParts() throws {
        for (text, part) in [
            ("VN/GOV/X/", IdentifierError.Part.subsystemCode), ("/GOV/X/S", .instance), ("VN//X/S", .memberClass),
            ("VN/GOV//S", .memberCode),
        ] {
            let error = try #require(identifierError { try SubsystemId(parsing: text) })
            #expect(error.code == .emptyPart)
            #expect(error.part == part)
        }
    }

    // MARK: ServiceId

    @Test func serviceValid() throws {
        let service = try ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan")
        #expect(service.subsystem.canonical == "VN/GOV/000.00.00.G22/DANCU")
        #expect(service.serviceCode == "tra-cuu-cong-dan")
        #expect(service.serviceVersion == nil)
        #expect(service.canonical == "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan")

        let versioned = try ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1")
        #expect(versioned.serviceCode == "tra-cuu-cong-dan")
        #expect(versioned.serviceVersion == "v1")
        #expect(versioned.canonical == "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1")
        #expect(versioned.percentEncoded == "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1")
        #expect(versioned != service)
        #expect(
            try ServiceId(subsystem: service.subsystem, serviceCode: "tra-cuu-cong-dan", serviceVersion: "v1")
                == versioned)
        #expect(
            try ServiceId(
                instance: "VN", memberClass: "GOV", memberCode: "000.00.00.G22", subsystemCode: "DANCU",
                serviceCode: "tra-cuu-cong-dan") == service)
    }

    @Test(arguments: [("VN/GOV/X/S", 4), ("VN/GOV/X/S/svc/v1/extra", 7), ("VN", 1), ("VN/GOV/X/S/a/b/c/d/e", 9)])
    func serviceWrongPartCount(text: String, found: Int) throws {
        let error = try #require(identifierError { try ServiceId(parsing: text) })
        #expect(error.code == .wrongPartCount)
        #expect(error.kind == .service)
        #expect(error.count == found)
        #expect(error.description == "service id \"\(text)\" has \(found) part\(found == 1 ? "" : "s"), expected 5 or 6")
    }

    @Test func serviceVersionRules() throws {
        let empty = try #require(identifierError { try ServiceId(parsing: "VN/GOV/X/S/svc/") })
        #expect(empty.code == .emptyPart)
        #expect(empty.part == .serviceVersion)
        #expect(empty.description == "empty service version in service id \"VN/GOV/X/S/svc/\"")

        let subsystem = try SubsystemId(parsing: "VN/GOV/X/S")
        let emptyMemberwise = try #require(
            identifierError { try ServiceId(subsystem: subsystem, serviceCode: "svc", serviceVersion: "") })
        #expect(emptyMemberwise.code == .emptyPart)
        #expect(emptyMemberwise.part == .serviceVersion)

        let invalid = try #require(identifierError { try ServiceId(parsing: "VN/GOV/X/S/svc/v 1") })
        #expect(invalid.code == .invalidCharacter)
        #expect(invalid.part == .serviceVersion)
        #expect(invalid.position == 2)

        let code = try #require(identifierError { try ServiceId(subsystem: subsystem, serviceCode: "a:b") })
        #expect(code.part == .serviceCode)
        #expect(code.kind == .service)
    }

    @Test func serviceWithDatasetsSubsystemIsRejected() throws {
        let error = try #require(identifierError { try ServiceId(parsing: "VN/GOV/000.00.00.G22/datasets/dan-cu") })
        #expect(error.code == .reservedCode)
        #expect(error.part == .subsystemCode)
        #expect(error.kind == .service)
    }

    // MARK: SecurityServerId

    @Test func securityServerValid() throws {
        let server = try SecurityServerId(parsing: "VN/GOV/000.00.00.G22/ss1")
        #expect(server.owner.canonical == "VN/GOV/000.00.00.G22")
        #expect(server.serverCode == "ss1")
        #expect(server.canonical == "VN/GOV/000.00.00.G22/ss1")
        #expect(try SecurityServerId(percentEncoded: "VN/GOV/000.00.00.G22/ss1") == server)
        #expect(try SecurityServerId(owner: server.owner, serverCode: "ss1") == server)
        #expect(
            try SecurityServerId(instance: "VN", memberClass: "GOV", memberCode: "000.00.00.G22", serverCode: "ss1")
                == server)
    }

    @Test func securityServerErrors() throws {
        for text in ["VN/GOV/X", "VN/GOV/X/ss1/extra"] {
            let error = try #require(identifierError { try SecurityServerId(parsing: text) })
            #expect(error.code == .wrongPartCount)
            #expect(error.kind == .securityServer)
        }
        let reserved = try #require(identifierError { try SecurityServerId(parsing: "VN/GOV/X/datasets") })
        #expect(reserved.code == .reservedCode)
        #expect(reserved.part == .serverCode)
        #expect(reserved.description == "reserved value \"datasets\" cannot be used as security server code of security server id")

        let empty = try #require(identifierError { try SecurityServerId(parsing: "VN/GOV/X/") })
        #expect(empty.code == .emptyPart)
        #expect(empty.part == .serverCode)

        let owner = try MemberId(parsing: "VN/GOV/X")
        let invalid = try #require(identifierError { try SecurityServerId(owner: owner, serverCode: "ss 1") })
        #expect(invalid.code == .invalidCharacter)
        #expect(invalid.kind == .securityServer)
    }

    // MARK: DatasetId

    @Test func datasetValid() throws {
        let dataset = try DatasetId(parsing: "VN/GOV/000.00.00.G22/datasets/dan-cu")
        #expect(dataset.owner.canonical == "VN/GOV/000.00.00.G22")
        #expect(dataset.datasetCode == "dan-cu")
        #expect(dataset.canonical == "VN/GOV/000.00.00.G22/datasets/dan-cu")
        #expect(dataset.percentEncoded == "VN/GOV/000.00.00.G22/datasets/dan-cu")
        #expect(try DatasetId(percentEncoded: "VN/GOV/000.00.00.G22/datasets/dan-cu") == dataset)
        // Splitting first, then decoding: an encoded marker still decodes to the marker.
        #expect(try DatasetId(percentEncoded: "VN/GOV/000.00.00.G22/%64atasets/dan-cu") == dataset)
        #expect(try DatasetId(owner: dataset.owner, datasetCode: "dan-cu") == dataset)
        #expect(
            try DatasetId(instance: "VN", memberClass: "GOV", memberCode: "000.00.00.G22", datasetCode: "dan-cu")
                == dataset)
    }

    @Test func datasetErrors() throws {
        for (text, found) in [("VN/GOV/X/datasets", 4), ("VN/GOV/X/datasets/a/b", 6), ("VN/GOV/X", 3)] {
            let error = try #require(identifierError { try DatasetId(parsing: text) })
            #expect(error.code == .wrongPartCount)
            #expect(error.kind == .dataset)
            #expect(error.count == found)
        }
        for marker in ["Datasets", "dataset", "DANCU", ""] {
            let error = try #require(identifierError { try DatasetId(parsing: "VN/GOV/X/\(marker)/dan-cu") })
            #expect(error.code == .missingDatasetMarker)
            #expect(error.part == .datasetMarker)
            #expect(error.value == marker)
        }
        let message = identifierError { try DatasetId(parsing: "VN/GOV/X/Datasets/dan-cu") }?.description
        #expect(message == "expected \"datasets\" as 4th part of dataset id, found \"Datasets\"")

        let empty = try #require(identifierError { try DatasetId(parsing: "VN/GOV/X/datasets/") })
        #expect(empty.code == .emptyPart)
        #expect(empty.part == .datasetCode)

        let invalid = try #require(identifierError { try DatasetId(parsing: "VN/GOV/X/datasets/dân-cư") })
        #expect(invalid.code == .invalidCharacter)
        #expect(invalid.part == .datasetCode)
        #expect(invalid.character == "â")
        #expect(invalid.position == 2)
    }

    // MARK: ClientId

    @Test func clientValid() throws {
        let member = try ClientId(parsing: "VN/GOV/000.00.00.G22")
        #expect(member == .member(try MemberId(parsing: "VN/GOV/000.00.00.G22")))
        #expect(member.member.memberCode == "000.00.00.G22")
        #expect(member.subsystem == nil)
        #expect(member.canonical == "VN/GOV/000.00.00.G22")

        let subsystem = try ClientId(parsing: "VN/GOV/000.00.00.G22/DANCU")
        #expect(subsystem == .subsystem(try SubsystemId(parsing: "VN/GOV/000.00.00.G22/DANCU")))
        #expect(subsystem.member == member.member)
        #expect(subsystem.subsystem?.subsystemCode == "DANCU")
        #expect(subsystem.percentEncoded == "VN/GOV/000.00.00.G22/DANCU")

        #expect(try ClientId(instance: "VN", memberClass: "GOV", memberCode: "000.00.00.G22") == member)
        #expect(
            try ClientId(instance: "VN", memberClass: "GOV", memberCode: "000.00.00.G22", subsystemCode: "DANCU")
                == subsystem)
    }

    @Test func clientHeaderValue() throws {
        let expected = try ClientId(parsing: "VN/GOV/000.00.00.G22/DANCU")
        #expect(try ClientId(headerValue: "VN/GOV/000.00.00.G22/DANCU") == expected)
        #expect(try ClientId(headerValue: " \tVN/GOV/000.00.00.G22/DANCU \t") == expected)
        #expect(try ClientId(headerValue: "VN/GOV/a%3Fb/S").member.memberCode == "a?b")
        #expect(try ClientId(headerValue: "VN/GOV/a%3fb").member.memberCode == "a?b")
        // The spec's own example.
        #expect(try ClientId(headerValue: "INSTANCE/CLASS1/MEMBER1/SUBSYSTEM1").subsystem?.subsystemCode == "SUBSYSTEM1")

        for (text, found) in [("VN/GOV", 2), ("VN/GOV/X/S/extra", 5), ("", 1)] {
            let error = try #require(identifierError { try ClientId(headerValue: text) })
            #expect(error.code == .wrongPartCount)
            #expect(error.kind == .client)
            #expect(error.count == found)
            #expect(error.description.hasSuffix("expected 3 or 4"))
        }
        let inner = try #require(identifierError { try ClientId(headerValue: "VN/GOV /X") })
        #expect(inner.code == .invalidCharacter)
        #expect(inner.part == .memberClass)
        #expect(inner.kind == .client)
    }

    // MARK: Percent-encoding

    @Test func percentEncodingRoundTripOfSpecialCharacters() throws {
        let code = "a?b'()+,=c-d.e"
        let service = try ServiceId(
            instance: "VN", memberClass: "GOV", memberCode: "000.00.00.G22", subsystemCode: "DANCU", serviceCode: code,
            serviceVersion: "v1?")
        #expect(service.canonical == "VN/GOV/000.00.00.G22/DANCU/a?b'()+,=c-d.e/v1?")
        #expect(service.percentEncoded == "VN/GOV/000.00.00.G22/DANCU/a%3Fb'()+,=c-d.e/v1%3F")
        #expect(try ServiceId(percentEncoded: service.percentEncoded) == service)
        #expect(try ServiceId(parsing: service.canonical) == service)
        // Over-encoded input is accepted too.
        #expect(
            try ServiceId(percentEncoded: "VN/GOV/000.00.00.G22/DANCU/a%3Fb%27%28%29%2B%2C%3Dc-d.e/v1%3F") == service)

        let client = try ClientId(parsing: "VN/GOV/?'()+,=/S")
        #expect(client.percentEncoded == "VN/GOV/%3F'()+,=/S")
        #expect(try ClientId(headerValue: client.percentEncoded) == client)
    }

    @Test(arguments: [("ab%G1", 3), ("ab%4", 3), ("ab%", 3), ("%", 1), ("%%41", 1), ("a%4G", 2), ("ộ%zz", 2)])
    func invalidPercentSequences(code: String, position: Int) throws {
        let error = try #require(identifierError { try ClientId(headerValue: "VN/GOV/\(code)") })
        #expect(error.code == .invalidPercentEncoding)
        #expect(error.kind == .client)
        #expect(error.part == .memberCode)
        #expect(error.position == position)
        #expect(error.value == code)
        #expect(error.description == "invalid percent-encoding at position \(position) in member code \"\(code)\" of client id")
    }

    @Test func invalidPercentSequenceInEveryKind() throws {
        #expect(identifierError { try MemberId(percentEncoded: "V%N/GOV/X") }?.part == .instance)
        #expect(identifierError { try SubsystemId(percentEncoded: "VN/GOV/X/S%") }?.part == .subsystemCode)
        #expect(identifierError { try ServiceId(percentEncoded: "VN/GOV/X/S/svc/v%1") }?.part == .serviceVersion)
        #expect(identifierError { try SecurityServerId(percentEncoded: "VN/GOV/X/s%s") }?.part == .serverCode)
        #expect(identifierError { try DatasetId(percentEncoded: "VN/GOV/X/datasets/d%") }?.part == .datasetCode)
        #expect(identifierError { try DatasetId(percentEncoded: "VN/GOV/X/data%sets/d") }?.part == .datasetMarker)
    }

    @Test func encodedSlashIsAnInvalidCharacter() throws {
        let parsers: [(String) throws -> Void] = [
            { _ = try ClientId(headerValue: $0) },
            { _ = try MemberId(percentEncoded: $0) },
        ]
        for parse in parsers {
            for encoded in ["a%2Fb", "a%2fb"] {
                let error = try #require(identifierError { try parse("VN/GOV/\(encoded)") })
                #expect(error.code == .invalidCharacter)
                #expect(error.part == .memberCode)
                #expect(error.character == "/")
                #expect(error.position == 2)
                #expect(error.value == "a/b")
            }
        }
        // The spec's "invalid" example: everything encoded is one part, so the count is wrong.
        let whole = try #require(
            identifierError { try ServiceId(percentEncoded: "INSTANCE%2FCLASS%2FMEMBER%2FSUBSYSTEM%2FBARSERVICE") })
        #expect(whole.code == .wrongPartCount)
        #expect(whole.count == 1)
        // The spec's "valid" example, which LienThong rejects on purpose.
        let slash = try #require(
            identifierError { try ServiceId(percentEncoded: "INSTANCE/CLASS/MEMBER/SUBSYSTEM/BAR%2FSERVICE") })
        #expect(slash.code == .invalidCharacter)
        #expect(slash.part == .serviceCode)
        #expect(slash.description == "invalid character \"/\" at position 4 in service code \"BAR/SERVICE\" of service id")
    }

    @Test func utf8IsDecodedThenRejected() throws {
        // "Bộ" with a precomposed "ộ" (U+1ED9).
        let error = try #require(identifierError { try ClientId(headerValue: "VN/GOV/B%E1%BB%99/DANCU") })
        #expect(error.code == .invalidCharacter)
        #expect(error.part == .memberCode)
        #expect(error.kind == .client)
        #expect(error.character == "\u{1ED9}")
        #expect(error.position == 2)
        #expect(error.value == "Bộ")
        #expect(error.description == "invalid character \"ộ\" (U+1ED9) at position 2 in member code \"Bộ\" of client id")

        // Decomposed: "o" followed by combining marks; the first mark is reported.
        let decomposed = try #require(identifierError { try SubsystemId(percentEncoded: "VN/GOV/X/Bo%CC%A3%CC%82") })
        #expect(decomposed.code == .invalidCharacter)
        #expect(decomposed.part == .subsystemCode)
        #expect(decomposed.character == "\u{323}")
        #expect(decomposed.position == 3)
        #expect(decomposed.description.contains("\"\\u{323}\" (U+0323) at position 3 in subsystem code"))

        // Raw UTF-8 in the header, and in the canonical form.
        #expect(identifierError { try ClientId(headerValue: "VN/Bộ/X") }?.part == .memberClass)
        #expect(identifierError { try ClientId(parsing: "Việt Nam/GOV/X") }?.character == "\u{1EC7}")
    }

    @Test(arguments: ["%C3%28", "%FF", "%C0%AF", "%ED%A0%80", "%E1%BB"])
    func invalidUTF8(encoded: String) throws {
        let error = try #require(identifierError { try ServiceId(percentEncoded: "VN/GOV/X/S/\(encoded)") })
        #expect(error.code == .invalidUTF8)
        #expect(error.part == .serviceCode)
        #expect(error.value == encoded)
        #expect(error.description == "percent-decoded service code \"\(encoded)\" of service id is not valid UTF-8")
    }

    // MARK: Error values are safe to display

    @Test func errorValuesAreEscapedAndTruncated() throws {
        let control = try #require(identifierError { try MemberId(parsing: "VN/GOV/a\u{7}b\nc") })
        #expect(control.character == "\u{7}")
        #expect(control.position == 2)
        #expect(control.value == "a\\u{7}b\\u{A}c")
        #expect(control.description == "invalid character \"\\u{7}\" (U+0007) at position 2 in member code \"a\\u{7}b\\u{A}c\" of member id")

        let bidi = try #require(identifierError { try MemberId(parsing: "VN/GOV/ab\u{202E}cd") })
        #expect(bidi.value == "ab\\u{202E}cd")
        #expect(!bidi.description.unicodeScalars.contains("\u{202E}"))

        let quote = try #require(identifierError { try MemberId(parsing: "VN/GOV/a\"b\\c") })
        #expect(quote.value == "a\\\"b\\\\c")
        #expect(quote.description.hasPrefix("invalid character \"\\\"\" at position 2"))

        let long = String(repeating: "x", count: 100) + " "
        let truncated = try #require(identifierError { try MemberId(parsing: "VN/GOV/\(long)") })
        #expect(truncated.position == 101)
        #expect(truncated.value == String(repeating: "x", count: 64) + "…")

        // A huge input is not copied into the error.
        let huge = String(repeating: "/", count: 100_000)
        let count = try #require(identifierError { try MemberId(parsing: huge) })
        #expect(count.code == .wrongPartCount)
        #expect(count.count == 100_001)
        #expect((count.value?.unicodeScalars.count ?? 0) == 65)
    }

    @Test func errorCodesAreDistinctAndNamed() {
        let codes: [IdentifierError.Code] = [
            .emptyPart, .invalidCharacter, .partTooLong, .wrongPartCount, .invalidPercentEncoding, .invalidUTF8,
            .reservedCode, .missingDatasetMarker, .unsupportedProtocolVersion, .targetTooLong,
            .malformedRequestTarget, .pathTraversal, .encodedSeparator,
        ]
        #expect(Set(codes).count == codes.count)
        #expect(IdentifierError.Code.invalidCharacter.description == "invalidCharacter")
        #expect(IdentifierError.Kind.securityServer.description == "security server id")
        #expect(IdentifierError.Part.serviceVersion.description == "service version")
    }

    // MARK: Syntax

    @Test func syntaxConstants() {
        #expect(IdentifierSyntax.maximumPartLength == 255)
        #expect(IdentifierSyntax.allowedPunctuation == "'()+,-.=?")
        #expect(IdentifierSyntax.datasetMarker == "datasets")
        #expect(IdentifierSyntax.isReservedCode("DataSets"))
        #expect(!IdentifierSyntax.isReservedCode("datasets1"))
        #expect(!IdentifierSyntax.isReservedCode("dataset"))
    }

    // MARK: Codable

    @Test func codableAsCanonicalString() throws {
        struct Envelope: Codable, Equatable {
            var member: MemberId
            var subsystem: SubsystemId
            var service: ServiceId
            var server: SecurityServerId
            var dataset: DatasetId
            var client: ClientId
            var memberClient: ClientId
        }
        let envelope = Envelope(
            member: try MemberId(parsing: "VN/GOV/000.00.00.G22"),
            subsystem: try SubsystemId(parsing: "VN/GOV/000.00.00.G22/DANCU"),
            service: try ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1"),
            server: try SecurityServerId(parsing: "VN/GOV/000.00.00.G22/ss1"),
            dataset: try DatasetId(parsing: "VN/GOV/000.00.00.G22/datasets/dan-cu"),
            client: try ClientId(parsing: "VN/GOV/000.00.00.G22/DANCU"),
            memberClient: try ClientId(parsing: "VN/GOV/a?b")
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = String(decoding: try encoder.encode(envelope), as: UTF8.self)
        #expect(
            json
                == #"{"client":"VN/GOV/000.00.00.G22/DANCU","dataset":"VN/GOV/000.00.00.G22/datasets/dan-cu","member":"VN/GOV/000.00.00.G22","memberClient":"VN/GOV/a?b","server":"VN/GOV/000.00.00.G22/ss1","service":"VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1","subsystem":"VN/GOV/000.00.00.G22/DANCU"}"#
        )
        #expect(try JSONDecoder().decode(Envelope.self, from: Data(json.utf8)) == envelope)

        do {
            _ = try JSONDecoder().decode([SubsystemId].self, from: Data(#"["VN/GOV/X/datasets"]"#.utf8))
            Issue.record("decoding a reserved subsystem code should fail")
        } catch let DecodingError.dataCorrupted(context) {
            let underlying = try #require(context.underlyingError as? IdentifierError)
            #expect(underlying.code == .reservedCode)
            #expect(context.debugDescription == underlying.description)
        }
        #expect(throws: DecodingError.self) {
            _ = try JSONDecoder().decode([MemberId].self, from: Data("[42]".utf8))
        }
    }

    @Test func xroadErrorBodyCodable() throws {
        let body = XRoadErrorBody(
            type: "Client.BadRequest",
            message: "invalid character \"/\" at position 3 in member code \"ab/c\" of client id",
            detail: "0b5d7cd4-5a2c-4b52-9a3b-6e2f1c8f0d11"
        )
        let data = try JSONEncoder().encode(body)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: String])
        #expect(object == ["type": body.type, "message": body.message, "detail": body.detail])
        #expect(try JSONDecoder().decode(XRoadErrorBody.self, from: data) == body)
    }

    @Test func hashableUsesAllParts() throws {
        let set: Set<ServiceId> = [
            try ServiceId(parsing: "VN/GOV/X/S/svc"),
            try ServiceId(parsing: "VN/GOV/X/S/svc/v1"),
            try ServiceId(parsing: "VN/GOV/X/S/svc"),
            try ServiceId(parsing: "VN/GOV/X/S/SVC"),
        ]
        #expect(set.count == 3)
    }
}
