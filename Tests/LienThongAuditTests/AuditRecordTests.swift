import Crypto
import Foundation
import LienThongAudit
import LienThongCore
import LienThongTestSupport
import Testing

// MARK: - Fixtures

/// Events, keys and protectors shared by the audit record tests.
enum RecordFixtures {
    static let hmacKey = [UInt8](repeating: 0x11, count: 32)
    static let otherHmacKey = [UInt8](repeating: 0x22, count: 32)
    static let bodyKey = [UInt8](repeating: 0x33, count: 32)
    static let traCuu = "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1"
    static let citizenId = "012345678901"

    static func protector(_ key: [UInt8] = hmacKey, patterns: [String: [String]] = [:]) throws -> PersonalDataProtector {
        try PersonalDataProtector(key: key, servicePatterns: patterns)
    }

    /// 2026-01-01T00:00:00Z.
    static let midnight = Date(timeIntervalSince1970: 1_767_225_600)

    /// Only what every event has.
    static func minimalEvent() -> ExchangeEvent {
        ExchangeEvent(side: .consumer, server: "VN/GOV/000.00.00.H29/SS1", method: "GET", startedAt: midnight)
    }

    /// Every field set; the path, user id and error message carry a citizen id.
    static func fullEvent(side: ExchangeSide = .consumer, messageId: String = "m-6f1c2d3e-aaaa-bbbb-cccc-dddd") -> ExchangeEvent {
        var event = ExchangeEvent(side: side, server: "VN/GOV/000.00.00.H29/SS1", method: "GET",
                                  startedAt: Date(timeIntervalSince1970: 1_767_256_200.123))
        event.endedAt = Date(timeIntervalSince1970: 1_767_256_200.579)
        event.messageId = messageId
        event.requestId = "r-0a1b2c3d"
        event.client = "VN/GOV/000.00.00.H29/LGSP"
        event.service = traCuu
        event.dataset = "VN/GOV/000.00.00.G22/dan-cu"
        event.agreement = "AG-2026-001"
        event.purpose = "Xác minh hồ sơ \(citizenId)"
        event.userId = "VN\(citizenId)"
        event.path = "/v1/cong-dan/\(citizenId)?ngay=2024-01-15&ma=01234567890"
        event.peer = "10.0.0.7"
        event.requestDigest = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        event.requestSignature = "eyJhbGciOiJFUzI1NiJ9..c2ln"
        event.responseDigest = "LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564"
        event.responseSignature = "eyJhbGciOiJFUzI1NiJ9..c2lnMg"
        event.requestOCSP = "MIIBdGVzdA=="
        event.responseOCSP = "MIIBdGVzdDI="
        event.status = 200
        event.outcome = .success
        event.errorType = "Server.ServerProxy.Example"
        event.errorMessage = "no record for \(citizenId)"
        event.requestBytes = 0
        event.responseBytes = 1234
        return event
    }

    static func sealedBodies(for event: ExchangeEvent) throws -> (EncryptedBody, EncryptedBody) {
        let encryption = try BodyEncryption(key: bodyKey)
        let request = try encryption.seal(Array(#"{"so_dinh_danh":"012345678901"}"#.utf8),
                                          associatedData: AuditRecord.bodyAssociatedData(messageId: event.messageId, side: event.side, body: .request))
        let response = try encryption.seal(Array(#"{"ho_ten":"Nguyễn Văn A"}"#.utf8),
                                           associatedData: AuditRecord.bodyAssociatedData(messageId: event.messageId, side: event.side, body: .response))
        return (request, response)
    }

    static func fullRecord(sequence: UInt64 = 42) throws -> AuditRecord {
        let event = fullEvent()
        let (request, response) = try sealedBodies(for: event)
        return try AuditRecord(event: event, sequence: sequence, protector: protector(), requestBody: request, responseBody: response)
    }

    /// `record`'s canonical object, changed by `change`, serialised canonically.
    static func mutated(_ record: AuditRecord, _ change: (inout [String: CanonicalJSON]) -> Void) -> [UInt8] {
        guard case .object(var members) = record.canonicalJSON else { return [] }
        change(&members)
        return CanonicalJSON.object(members).canonicalBytes
    }

    /// Whether `text` holds a run of exactly 12 ASCII digits bounded by non-digits.
    static func hasTwelveDigitRun(_ text: some StringProtocol) -> Bool {
        var run = 0
        for byte in text.utf8 {
            if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                run += 1
            } else {
                if run == 12 { return true }
                run = 0
            }
        }
        return run == 12
    }
}

/// Runs python-jsonschema (and other independent Python checks) without blocking a cooperative thread.
enum AuditSchemaCheck {
    /// The repository root.
    static let repositoryRoot = JSONSchemaCheck.repositoryRoot

    /// The first `python3` on `PATH`.
    static let python = JSONSchemaCheck.python

    /// Whether python3 is there and imports `jsonschema`.
    static func hasJSONSchema() async -> Bool {
        guard let python else { return false }
        return (try? await runPython(python, ["-c", "import jsonschema"]).status) == 0
    }

    /// Validates each document against `schema` (relative to the repository root) with
    /// `jsonschema.Draft202012Validator`, after checking the schema itself; also checks that each
    /// document's bytes are `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
    /// of itself (RFC 8785 for records' JSON subset). Returns the exit status and one line per error.
    static func validate(schema: String, documents: [[UInt8]]) async throws -> (status: Int32, output: String) {
        let program = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1], encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        failed = False
        for i, name in enumerate(sys.argv[2:]):
            raw = open(name, "rb").read()
            document = json.loads(raw.decode("utf-8"))
            if json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8") != raw:
                failed = True
                print(i, "not canonical")
            for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path)):
                failed = True
                print(i, "/".join(str(p) for p in error.path), error.message)
        sys.exit(1 if failed else 0)
        """
        return try await withFiles(documents) { files in
            try await runPython(python ?? "/usr/bin/python3", ["-c", program, repositoryRoot.appendingPathComponent(schema).path] + files)
        }
    }

    /// Runs `program` with `arguments`; returns its status and combined output.
    static func runPython(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await Subprocess.run(executable, arguments)
    }

    private static func withFiles<T>(_ documents: [[UInt8]], _ body: ([String]) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var files: [String] = []
        for (i, document) in documents.enumerated() {
            let file = directory.appendingPathComponent("document-\(i).json")
            try Data(document).write(to: file)
            files.append(file.path)
        }
        return try await body(files)
    }
}

/// A small seeded generator (SplitMix64), so the randomised tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Audit record

@Suite("Audit record")
struct AuditRecordTests {
    @Test func minimalRecordCanonicalBytes() throws {
        let record = try AuditRecord(event: RecordFixtures.minimalEvent(), sequence: 7, protector: RecordFixtures.protector())
        let expected = #"{"duration_ms":0,"ended_at":"2026-01-01T00:00:00.000Z","method":"GET","outcome":"failed","sequence":7,"#
            + #""server":"VN/GOV/000.00.00.H29/SS1","side":"consumer","started_at":"2026-01-01T00:00:00.000Z","status":0,"v":1}"#
        #expect(String(decoding: record.canonicalBytes(), as: UTF8.self) == expected)
        #expect(record.version == 1)
        #expect(record.path == nil && record.requestBody == nil)
        #expect(try AuditRecord(canonicalBytes: record.canonicalBytes()) == record)
    }

    @Test func fullRecordFieldsAndRoundTrip() throws {
        let record = try RecordFixtures.fullRecord()
        let bytes = record.canonicalBytes()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(!text.contains("null"))
        #expect(!text.contains(" :") && !text.contains(", "))
        #expect(text.contains(#""started_at":"2026-01-01T08:30:00.123Z""#))
        #expect(text.contains(#""ended_at":"2026-01-01T08:30:00.579Z""#))
        #expect(text.contains(#""duration_ms":456"#))
        #expect(text.contains(#""request_body":{"alg":"A256GCM","ciphertext":""#))
        #expect(text.contains(#""purpose":"Xác minh hồ sơ {pid:"#), "UTF-8 literally, not escaped")
        #expect(text.contains(#""request_bytes":0"#) && text.contains(#""response_bytes":1234"#))
        #expect(record.durationMilliseconds == 456)
        #expect(record.startedAt.millisecondsSince1970 == 1_767_256_200_123)

        let parsed = try AuditRecord(canonicalBytes: bytes)
        #expect(parsed == record)
        #expect(parsed.canonicalBytes() == bytes)

        // Every member name of the format appears in the full record.
        guard case .object(let members) = record.canonicalJSON else { throw AuditRecordError.notCanonical }
        #expect(members.keys.sorted() == AuditRecord.fieldNames)
    }

    @Test func protectsEveryFreeTextFieldAndRevealsNoIdentifier() throws {
        let protector = try RecordFixtures.protector()
        let record = try RecordFixtures.fullRecord()
        let token = protector.token(for: RecordFixtures.citizenId)
        #expect(record.path == "/v1/cong-dan/{pid:\(token)}?ngay=2024-01-15&ma=01234567890")
        #expect(record.userId == "VN{pid:\(token)}")
        #expect(record.errorMessage == "no record for {pid:\(token)}")
        #expect(record.purpose == "Xác minh hồ sơ {pid:\(token)}")
        #expect(record.mentions(token: token))
        #expect(!record.mentions(token: protector.token(for: "098765432109")))
        let text = String(decoding: record.canonicalBytes(), as: UTF8.self)
        #expect(!text.contains(RecordFixtures.citizenId))
        #expect(!RecordFixtures.hasTwelveDigitRun(text.replacingOccurrences(of: "{pid:\(token)}", with: "#")))
    }

    @Test func strictParsingGivesTypedErrors() throws {
        let record = try RecordFixtures.fullRecord()
        let canonical = String(decoding: record.canonicalBytes(), as: UTF8.self)
        func parse(_ bytes: [UInt8]) throws(AuditRecordError) { _ = try AuditRecord(canonicalBytes: bytes) }
        func parse(_ text: String) throws(AuditRecordError) { try parse(Array(text.utf8)) }

        #expect(throws: AuditRecordError.unknownField("extra")) { try parse(RecordFixtures.mutated(record) { $0["extra"] = .string("x") }) }
        #expect(throws: AuditRecordError.unknownField("request_body.kid")) {
            try parse(RecordFixtures.mutated(record) {
                guard case .object(var body) = $0["request_body"] else { return }
                body["kid"] = .string("k1")
                $0["request_body"] = .object(body)
            })
        }
        #expect(throws: AuditRecordError.unsupportedVersion(2)) { try parse(RecordFixtures.mutated(record) { $0["v"] = .integer(2) }) }
        #expect(throws: AuditRecordError.wrongType(field: "v")) { try parse(RecordFixtures.mutated(record) { $0["v"] = .string("1") }) }
        #expect(throws: AuditRecordError.wrongType(field: "sequence")) { try parse(RecordFixtures.mutated(record) { $0["sequence"] = .string("42") }) }
        #expect(throws: AuditRecordError.wrongType(field: "path")) { try parse(RecordFixtures.mutated(record) { $0["path"] = .integer(1) }) }
        #expect(throws: AuditRecordError.wrongType(field: "request_body")) {
            try parse(RecordFixtures.mutated(record) { $0["request_body"] = .array([]) })
        }
        #expect(throws: AuditRecordError.wrongType(field: "status")) { try parse(canonical.replacingOccurrences(of: #""status":200"#, with: #""status":true"#)) }
        #expect(throws: AuditRecordError.wrongType(field: "status")) { try parse(canonical.replacingOccurrences(of: #""status":200"#, with: #""status":200.0"#)) }
        #expect(throws: AuditRecordError.wrongType(field: "peer")) { try parse(canonical.replacingOccurrences(of: #""peer":"10.0.0.7""#, with: #""peer":null"#)) }
        #expect(throws: AuditRecordError.wrongType(field: "$")) { try parse("[]") }
        #expect(throws: AuditRecordError.missingField("server")) { try parse(RecordFixtures.mutated(record) { $0["server"] = nil }) }
        #expect(throws: AuditRecordError.missingField("request_body.tag")) {
            try parse(RecordFixtures.mutated(record) {
                guard case .object(var body) = $0["request_body"] else { return }
                body["tag"] = nil
                $0["request_body"] = .object(body)
            })
        }
        #expect(throws: AuditRecordError.invalidValue(field: "side")) { try parse(RecordFixtures.mutated(record) { $0["side"] = .string("both") }) }
        #expect(throws: AuditRecordError.invalidValue(field: "outcome")) { try parse(RecordFixtures.mutated(record) { $0["outcome"] = .string("ok") }) }
        #expect(throws: AuditRecordError.invalidValue(field: "started_at")) {
            try parse(RecordFixtures.mutated(record) { $0["started_at"] = .string("2026-01-01T08:30:00Z") })
        }
        #expect(throws: AuditRecordError.invalidValue(field: "duration_ms")) { try parse(RecordFixtures.mutated(record) { $0["duration_ms"] = .integer(455) }) }
        #expect(throws: AuditRecordError.invalidValue(field: "request_body.nonce")) {
            try parse(RecordFixtures.mutated(record) {
                guard case .object(var body) = $0["request_body"] else { return }
                body["nonce"] = .string("AAAA")
                $0["request_body"] = .object(body)
            })
        }
        #expect(throws: AuditRecordError.unsupportedAlgorithm("A128GCM")) {
            try parse(RecordFixtures.mutated(record) {
                guard case .object(var body) = $0["response_body"] else { return }
                body["alg"] = .string("A128GCM")
                $0["response_body"] = .object(body)
            })
        }
        #expect(throws: AuditRecordError.valueOutOfRange(field: "sequence")) {
            try parse(RecordFixtures.mutated(record) { $0["sequence"] = .integer(AuditRecord.maximumInteger + 1) })
        }
        #expect(throws: AuditRecordError.valueOutOfRange(field: "sequence")) { try parse(RecordFixtures.mutated(record) { $0["sequence"] = .integer(-1) }) }
        #expect(throws: AuditRecordError.valueOutOfRange(field: "status")) { try parse(RecordFixtures.mutated(record) { $0["status"] = .integer(1000) }) }
        #expect(throws: AuditRecordError.valueOutOfRange(field: "request_bytes")) {
            try parse(RecordFixtures.mutated(record) { $0["request_bytes"] = .integer(-5) })
        }
        #expect(throws: AuditRecordError.valueOutOfRange(field: "sequence")) {
            try parse(canonical.replacingOccurrences(of: #""sequence":42"#, with: #""sequence":99999999999999999999"#))
        }
        #expect(throws: AuditRecordError.duplicateField("v")) { try parse(canonical.replacingOccurrences(of: #""v":1}"#, with: #""v":1,"v":1}"#)) }
        // Valid JSON, valid record, but not the canonical bytes.
        #expect(throws: AuditRecordError.notCanonical) { try parse(" " + canonical) }
        #expect(throws: AuditRecordError.notCanonical) { try parse(canonical.replacingOccurrences(of: #""v":1"#, with: #""v" : 1"#)) }
        #expect(throws: AuditRecordError.notCanonical) {
            try parse(#"{"v":1,"#
                + canonical.dropFirst().replacingOccurrences(of: #","v":1}"#, with: "}"))
        }
        #expect(throws: AuditRecordError.notCanonical) { try parse(canonical.replacingOccurrences(of: #""method":"GET""#, with: #""method":"G\u0045T""#)) }
        #expect(throws: AuditRecordError.notCanonical) { try parse(canonical.replacingOccurrences(of: #""request_bytes":0"#, with: #""request_bytes":-0"#)) }
        // Not JSON.
        #expect(throws: AuditRecordError.malformedJSON(offset: 0)) { try parse("") }
        #expect(throws: AuditRecordError.malformedJSON(offset: canonical.utf8.count)) { try parse(canonical + "x") }
        #expect(throws: AuditRecordError.malformedJSON(offset: 6)) { try parse(#"{"v":01}"#) }
        #expect(throws: AuditRecordError.malformedJSON(offset: 3)) { try parse([0x7B, 0x22, 0xC3, 0x22, 0x3A, 0x31, 0x7D]) }
        #expect(throws: AuditRecordError.malformedJSON(offset: 12)) { try parse(#"{"a":"\ud800"}"#) }
        #expect(throws: AuditRecordError.self) { try parse(#"{"a":{"b":{"c":{"d":{"e":1}}}}}"#) }
    }

    @Test func eventsOutOfRangeAreRefused() throws {
        let protector = try RecordFixtures.protector()
        #expect(throws: AuditRecordError.valueOutOfRange(field: "sequence")) {
            try AuditRecord(event: RecordFixtures.minimalEvent(), sequence: UInt64(AuditRecord.maximumInteger) + 1, protector: protector)
        }
        _ = try AuditRecord(event: RecordFixtures.minimalEvent(), sequence: UInt64(AuditRecord.maximumInteger), protector: protector)
        var event = RecordFixtures.minimalEvent()
        event.status = 1000
        #expect(throws: AuditRecordError.valueOutOfRange(field: "status")) { try AuditRecord(event: event, sequence: 0, protector: protector) }
        event = RecordFixtures.minimalEvent()
        event.responseBytes = -1
        #expect(throws: AuditRecordError.valueOutOfRange(field: "response_bytes")) { try AuditRecord(event: event, sequence: 0, protector: protector) }
        event = RecordFixtures.minimalEvent()
        event.endedAt = Date(timeIntervalSince1970: 1e15)
        #expect(throws: AuditRecordError.valueOutOfRange(field: "ended_at")) { try AuditRecord(event: event, sequence: 0, protector: protector) }
    }

    @Test func codableUsesTheSameShape() throws {
        let record = try RecordFixtures.fullRecord()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let encoded = try encoder.encode(record)
        #expect(try JSONDecoder().decode(AuditRecord.self, from: encoded) == record)
        #expect(try JSONDecoder().decode(AuditRecord.self, from: Data(record.canonicalBytes())) == record)
        let object = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        #expect(object.keys.sorted() == AuditRecord.fieldNames)
        #expect(object["duration_ms"] as? Int == 456)
        let extra = RecordFixtures.mutated(record) { $0["extra"] = .integer(1) }
        #expect(throws: AuditRecordError.unknownField("extra")) { try JSONDecoder().decode(AuditRecord.self, from: Data(extra)) }
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(AuditRecord.self, from: Data(String(decoding: record.canonicalBytes(), as: UTF8.self)
                .replacingOccurrences(of: #""peer":"10.0.0.7""#, with: #""peer":false"#).utf8))
        }
    }

    @Test func timestamps() throws {
        func text(_ milliseconds: Int64) -> String? { AuditTimestamp(millisecondsSince1970: milliseconds)?.rfc3339 }
        #expect(text(0) == "1970-01-01T00:00:00.000Z")
        #expect(text(-1) == "1969-12-31T23:59:59.999Z")
        #expect(text(1_709_164_800_000) == "2024-02-29T00:00:00.000Z")
        #expect(text(AuditTimestamp.minimumMilliseconds) == "0000-01-01T00:00:00.000Z")
        #expect(text(AuditTimestamp.maximumMilliseconds) == "9999-12-31T23:59:59.999Z")
        #expect(text(AuditTimestamp.maximumMilliseconds + 1) == nil)
        #expect(text(AuditTimestamp.minimumMilliseconds - 1) == nil)
        for bad in ["2023-02-29T00:00:00.000Z", "2026-01-01T24:00:00.000Z", "2026-12-31T23:59:60.000Z", "2026-01-01T00:00:00Z",
                    "2026-01-01T00:00:00.000+07:00", "2026-01-01t00:00:00.000Z", "2026-13-01T00:00:00.000Z", "+026-01-01T00:00:00.000Z"] {
            #expect(AuditTimestamp(rfc3339: bad) == nil, "\(bad)")
        }
        // Random instants agree with Foundation and round-trip.
        var generator = SplitMix64(state: 5)
        let formatter = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        for _ in 0..<5000 {
            let milliseconds = Int64.random(in: 0...AuditTimestamp.maximumMilliseconds, using: &generator)
            let timestamp = try #require(AuditTimestamp(millisecondsSince1970: milliseconds))
            #expect(AuditTimestamp(rfc3339: timestamp.rfc3339) == timestamp)
            #expect(AuditTimestamp(timestamp.date) == timestamp)
            if milliseconds < 4_102_444_800_000 {  // before 2100; half a millisecond in, away from float edges
                #expect(timestamp.date.addingTimeInterval(0.0005).formatted(formatter) == timestamp.rfc3339)
            }
        }
        #expect(AuditTimestamp(Date(timeIntervalSince1970: 0.0019))?.millisecondsSince1970 == 1, "truncated, not rounded")
        #expect(AuditTimestamp(Date(timeIntervalSince1970: -0.0001))?.millisecondsSince1970 == -1, "floored before 1970")
    }

    @Test("records' canonical bytes validate against schemas/audit-record.schema.json; broken ones do not",
          .enabled { await AuditSchemaCheck.hasJSONSchema() })
    func schema() async throws {
        let protector = try RecordFixtures.protector()
        var refused = RecordFixtures.minimalEvent()
        refused.side = .provider
        refused.outcome = .refused
        refused.status = 403
        refused.errorType = "Server.ServerProxy.AccessDenied"
        refused.errorMessage = "không có thỏa thuận \"AG-1\"\n\t\u{1}"
        refused.path = "/v1/cong-dan/%30%31%32%33%34%35%36%37%38%39%30%31?q=a%20b"
        var provider = RecordFixtures.fullEvent(side: .provider)
        provider.requestBytes = nil
        provider.endedAt = provider.startedAt.addingTimeInterval(-1)   // the wall clock stepped back
        let documents = [
            try AuditRecord(event: RecordFixtures.minimalEvent(), sequence: 0, protector: protector).canonicalBytes(),
            try RecordFixtures.fullRecord(sequence: UInt64(AuditRecord.maximumInteger)).canonicalBytes(),
            try AuditRecord(event: refused, sequence: 3, protector: protector).canonicalBytes(),
            try AuditRecord(event: provider, sequence: 4, protector: protector,
                            responseBody: try BodyEncryption(key: RecordFixtures.bodyKey).seal([], associatedData: [])).canonicalBytes(),
        ]
        let good = try await AuditSchemaCheck.validate(schema: "schemas/audit-record.schema.json", documents: documents)
        #expect(good.status == 0, "\(good.output)")

        let record = try RecordFixtures.fullRecord()
        let broken = [
            RecordFixtures.mutated(record) { $0["extra"] = .string("x") },
            RecordFixtures.mutated(record) { $0["v"] = .integer(2) },
            RecordFixtures.mutated(record) { $0["started_at"] = .string("2026-01-01T08:30:00Z") },
            RecordFixtures.mutated(record) { $0["server"] = nil },
            RecordFixtures.mutated(record) {
                guard case .object(var body) = $0["request_body"] else { return }
                body["nonce"] = .string("AAAA")
                $0["request_body"] = .object(body)
            },
        ]
        let bad = try await AuditSchemaCheck.validate(schema: "schemas/audit-record.schema.json", documents: broken)
        #expect(bad.status == 1)
        for i in broken.indices { #expect(bad.output.contains("\(i) "), "document \(i) should fail: \(bad.output)") }
    }
}

// MARK: - Personal data

@Suite("Personal data protection")
struct PersonalDataTests {
    @Test func keyMustHaveThirtyTwoBytes() throws {
        #expect(throws: AuditRecordError.hmacKeyTooShort(byteCount: 31)) { try PersonalDataProtector(key: [UInt8](repeating: 1, count: 31)) }
        #expect(throws: AuditRecordError.hmacKeyTooShort(byteCount: 0)) { try PersonalDataProtector(key: []) }
        _ = try PersonalDataProtector(key: [UInt8](repeating: 1, count: 64))
    }

    @Test func tokenIsBase64urlHMACAndKeyed() throws {
        let protector = try RecordFixtures.protector()
        let token = protector.token(for: RecordFixtures.citizenId)
        let expected = Base64URL.encode(HMAC<SHA256>.authenticationCode(for: Array(RecordFixtures.citizenId.utf8),
                                                                         using: SymmetricKey(data: RecordFixtures.hmacKey)))
        #expect(token == expected)
        #expect(token.count == 43)
        #expect(try RecordFixtures.protector().token(for: RecordFixtures.citizenId) == token, "same key, same token")
        #expect(try RecordFixtures.protector(RecordFixtures.otherHmacKey).token(for: RecordFixtures.citizenId) != token, "other key, other token")
        #expect(protector.token(for: "012345678902") != token)
        let other = try RecordFixtures.protector(RecordFixtures.otherHmacKey).protect(path: "/x/\(RecordFixtures.citizenId)", service: nil)
        #expect(other.text != protector.protect(path: "/x/\(RecordFixtures.citizenId)", service: nil).text)
    }

    @Test func replacesTwelveDigitRunsInPathAndQuery() throws {
        let protector = try RecordFixtures.protector()
        let a = protector.token(for: "012345678901"), b = protector.token(for: "098765432109")
        let cases: [(String, String, [String])] = [
            ("/v1/cong-dan/012345678901", "/v1/cong-dan/{pid:\(a)}", [a]),
            ("/v1/tra-cuu?so_dinh_danh=012345678901&so_khac=098765432109", "/v1/tra-cuu?so_dinh_danh={pid:\(a)}&so_khac={pid:\(b)}", [a, b]),
            ("/v1/nhom/012345678901,098765432109;012345678901", "/v1/nhom/{pid:\(a)},{pid:\(b)};{pid:\(a)}", [a, b, a]),
            ("/v1/cd-012345678901.json", "/v1/cd-{pid:\(a)}.json", [a]),
            ("012345678901", "{pid:\(a)}", [a]),
            ("/v1/cong-dan/%30%31%32%33%34%35%36%37%38%39%30%31", "/v1/cong-dan/{pid:\(a)}", [a]),
            ("/v1/cong-dan/0123456789%30%31/ho-so", "/v1/cong-dan/{pid:\(a)}/ho-so", [a]),
            ("/v1/q?id=%20012345678901%20", "/v1/q?id=%20{pid:\(a)}%20", [a]),
            ("/v1/q?id=%3012345678901", "/v1/q?id={pid:\(a)}", [a]),
        ]
        for (path, expected, tokens) in cases {
            let protected = protector.protect(path: path, service: nil)
            #expect(protected.text == expected, "\(path)")
            #expect(protected.tokens == tokens, "\(path)")
        }
    }

    @Test func leavesOtherTextUntouched() throws {
        let protector = try RecordFixtures.protector()
        for path in ["/v1/cong-dan/01234567890", "/v1/cong-dan/0123456789012", "/v1/lich?tu=2024-01-15&den=2024-12-31T23:59:59Z",
                     "/v1/ho-so/20240115093000", "/v1/x?so=0912345678&ma=ABC0123456789012", "/v1/ten/Nguy%E1%BB%85n%20V%C4%83n%20A",
                     "/v1/x?a=%ZZ012345678&b=%", "", "/", "/v1/x?y=012345678901234567890123", "/v1/x/%2012345678901"] {
            let protected = protector.protect(path: path, service: nil)
            #expect(protected.text == path)
            #expect(protected.tokens.isEmpty)
        }
    }

    @Test func servicePatterns() throws {
        let protector = try RecordFixtures.protector(patterns: [
            RecordFixtures.traCuu: ["^[0-9]{9}$", "[A-Za-z0-9.]+@[A-Za-z0-9.]+"],
        ])
        let cmnd = protector.token(for: "123456789"), email = protector.token(for: "an.nguyen@example.vn")
        let path = "/v1/cmnd/123456789/x123456789?email=an.nguyen%40example.vn&id=012345678901"
        let protected = protector.protect(path: path, service: RecordFixtures.traCuu)
        #expect(protected.text == "/v1/cmnd/{pid:\(cmnd)}/x123456789?email={pid:\(email)}&id={pid:\(protector.token(for: "012345678901"))}")
        #expect(protected.tokens.count == 3)
        // Another service: the default rule only.
        let plain = protector.protect(path: path, service: "VN/GOV/000.00.00.G22/DANCU/xac-thuc")
        #expect(plain.text == "/v1/cmnd/123456789/x123456789?email=an.nguyen%40example.vn&id={pid:\(protector.token(for: "012345678901"))}")
        #expect(protector.protect(path: path, service: nil) == plain)
        // Overlapping matches merge into one token.
        let merging = try RecordFixtures.protector(patterns: ["S": ["[0-9]{12}-[A-Z]+"]])
        let merged = merging.protect(path: "/x/012345678901-AB/y", service: "S")
        #expect(merged.text == "/x/{pid:\(merging.token(for: "012345678901-AB"))}/y")

        #expect(throws: AuditRecordError.invalidPattern(service: "S", pattern: "([0-9]")) {
            try RecordFixtures.protector(patterns: ["S": ["([0-9]"]])
        }
    }

    @Test func noTwelveDigitRunSurvivesRandomPaths() throws {
        let protector = try RecordFixtures.protector()
        let alphabet = Array("0000011111222233334444555566667777888899990123456789%%%%/?&=AaEe3-".utf8)
        var generator = SplitMix64(state: 2026)
        var replaced = 0
        for _ in 0..<3000 {
            let length = Int.random(in: 0...48, using: &generator)
            let bytes = (0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
            let path = String(decoding: bytes, as: UTF8.self)
            let protected = protector.protect(path: path, service: nil)
            var rest = protected.text
            for token in protected.tokens { rest = rest.replacingOccurrences(of: ProtectedPath.placeholder(for: token), with: "#") }
            #expect(!RecordFixtures.hasTwelveDigitRun(rest), "\(path) → \(protected.text)")
            #expect(!RecordFixtures.hasTwelveDigitRun(String(decoding: Self.lenientPercentDecode(rest), as: UTF8.self)),
                    "\(path) → \(protected.text)")
            if protected.tokens.isEmpty { #expect(protected.text == path) } else { replaced += 1 }
        }
        #expect(replaced > 100, "the generator produces identifiers")
    }

    private static func lenientPercentDecode(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let hex = Array("0123456789abcdefABCDEF".utf8)
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, hex.contains(bytes[i + 1]), hex.contains(bytes[i + 2]),
               let value = UInt8(String(decoding: bytes[i + 1...i + 2], as: UTF8.self), radix: 16) {
                out.append(value)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    @Test("the Python snippet of docs/audit-record.md computes the same token", .enabled(if: AuditSchemaCheck.python != nil))
    func pythonAuditorComputesTheSameToken() async throws {
        let protector = try RecordFixtures.protector()
        let program = """
        import base64, hashlib, hmac, sys
        def pid_token(key: bytes, identifier: str) -> str:
            mac = hmac.new(key, identifier.encode("utf-8"), hashlib.sha256).digest()
            return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")
        print(pid_token(bytes.fromhex(sys.argv[1]), sys.argv[2]), end="")
        """
        let hex = RecordFixtures.hmacKey.map { String(format: "%02x", $0) }.joined()
        let python = try #require(AuditSchemaCheck.python)
        let result = try await AuditSchemaCheck.runPython(python, ["-c", program, hex, RecordFixtures.citizenId])
        #expect(result.status == 0)
        #expect(result.output == protector.token(for: RecordFixtures.citizenId))
    }
}

// MARK: - Body encryption

@Suite("Body encryption")
struct BodyEncryptionTests {
    let body = Array(#"{"so_dinh_danh":"012345678901","ho_ten":"Nguyễn Văn A"}"#.utf8)
    let ad = AuditRecord.bodyAssociatedData(messageId: "m-1", side: .provider, body: .request)

    @Test func keyMustBe256Bits() throws {
        #expect(throws: AuditRecordError.invalidBodyKey(bitCount: 128)) { try BodyEncryption(key: [UInt8](repeating: 0, count: 16)) }
        #expect(throws: AuditRecordError.invalidBodyKey(bitCount: 128)) { try BodyEncryption(key: SymmetricKey(size: .bits128)) }
        _ = try BodyEncryption(key: SymmetricKey(size: .bits256))
    }

    @Test func roundTrip() throws {
        let encryption = try BodyEncryption(key: RecordFixtures.bodyKey)
        let sealed = try encryption.seal(body, associatedData: ad)
        #expect(sealed.nonce.count == 12 && sealed.tag.count == 16 && sealed.ciphertext.count == body.count)
        #expect(sealed.ciphertext != body)
        #expect(try encryption.open(sealed, associatedData: ad) == body)
        #expect(try encryption.seal(body, associatedData: ad).nonce != sealed.nonce, "a fresh random nonce each time")
        #expect(try encryption.open(try encryption.seal([], associatedData: ad), associatedData: ad) == [])
        #expect(String(decoding: AuditRecord.bodyAssociatedData(messageId: "m-1", side: .provider, body: .request), as: UTF8.self)
                == #"{"body":"request","message_id":"m-1","side":"provider"}"#)
        #expect(String(decoding: AuditRecord.bodyAssociatedData(messageId: nil, side: .consumer, body: .response), as: UTF8.self)
                == #"{"body":"response","side":"consumer"}"#)

        let json = try JSONEncoder().encode(sealed)
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: String])
        #expect(object["alg"] == "A256GCM")
        #expect(object["nonce"] == Base64URL.encode(sealed.nonce) && object["tag"] == Base64URL.encode(sealed.tag))
        #expect(object["ciphertext"] == Base64URL.encode(sealed.ciphertext))
        #expect(try JSONDecoder().decode(EncryptedBody.self, from: json) == sealed)
    }

    @Test func wrongKeyFails() throws {
        let sealed = try BodyEncryption(key: RecordFixtures.bodyKey).seal(body, associatedData: ad)
        #expect(throws: AuditRecordError.openFailed) { try BodyEncryption(key: SymmetricKey(size: .bits256)).open(sealed, associatedData: ad) }
    }

    @Test func otherAssociatedDataFails() throws {
        let encryption = try BodyEncryption(key: RecordFixtures.bodyKey)
        let sealed = try encryption.seal(body, associatedData: ad)
        for other in [
            AuditRecord.bodyAssociatedData(messageId: "m-2", side: .provider, body: .request),
            AuditRecord.bodyAssociatedData(messageId: "m-1", side: .consumer, body: .request),
            AuditRecord.bodyAssociatedData(messageId: "m-1", side: .provider, body: .response),
            AuditRecord.bodyAssociatedData(messageId: nil, side: .provider, body: .request),
            [],
        ] {
            #expect(throws: AuditRecordError.openFailed) { try encryption.open(sealed, associatedData: other) }
        }
    }

    @Test func tamperingFails() throws {
        let encryption = try BodyEncryption(key: RecordFixtures.bodyKey)
        let sealed = try encryption.seal(body, associatedData: ad)
        func flipped(_ bytes: [UInt8], at index: Int) -> [UInt8] {
            var copy = bytes
            copy[index] ^= 0x01
            return copy
        }
        let tampered = [
            try EncryptedBody(nonce: sealed.nonce, ciphertext: flipped(sealed.ciphertext, at: 0), tag: sealed.tag),
            try EncryptedBody(nonce: sealed.nonce, ciphertext: flipped(sealed.ciphertext, at: sealed.ciphertext.count - 1), tag: sealed.tag),
            try EncryptedBody(nonce: sealed.nonce, ciphertext: Array(sealed.ciphertext.dropLast()), tag: sealed.tag),
            try EncryptedBody(nonce: sealed.nonce, ciphertext: sealed.ciphertext, tag: flipped(sealed.tag, at: 15)),
            try EncryptedBody(nonce: flipped(sealed.nonce, at: 0), ciphertext: sealed.ciphertext, tag: sealed.tag),
        ]
        for body in tampered {
            #expect(throws: AuditRecordError.openFailed) { try encryption.open(body, associatedData: ad) }
        }
        #expect(throws: AuditRecordError.invalidValue(field: "nonce")) { try EncryptedBody(nonce: [0], ciphertext: [], tag: sealed.tag) }
        #expect(throws: AuditRecordError.invalidValue(field: "tag")) { try EncryptedBody(nonce: sealed.nonce, ciphertext: [], tag: [0]) }
    }

    @Test func bodiesAreBoundToTheirRecord() throws {
        let encryption = try BodyEncryption(key: RecordFixtures.bodyKey)
        let protector = try RecordFixtures.protector()
        let record = try RecordFixtures.fullRecord()
        let parsed = try AuditRecord(canonicalBytes: record.canonicalBytes())
        #expect(try parsed.openBody(.request, with: encryption) == Array(#"{"so_dinh_danh":"012345678901"}"#.utf8))
        #expect(try parsed.openBody(.response, with: encryption) == Array(#"{"ho_ten":"Nguyễn Văn A"}"#.utf8))
        #expect(try AuditRecord(event: RecordFixtures.minimalEvent(), sequence: 1, protector: protector).openBody(.request, with: encryption) == nil)
        #expect(!String(decoding: record.canonicalBytes(), as: UTF8.self).contains("Nguy"), "bodies are never in clear")

        // Moved to another exchange's record, or to the other side's record of the same exchange.
        for event in [RecordFixtures.fullEvent(messageId: "m-other"), RecordFixtures.fullEvent(side: .provider)] {
            let moved = try AuditRecord(event: event, sequence: 43, protector: protector,
                                        requestBody: record.requestBody, responseBody: record.responseBody)
            #expect(throws: AuditRecordError.openFailed) { try moved.openBody(.request, with: encryption) }
            #expect(throws: AuditRecordError.openFailed) { try moved.openBody(.response, with: encryption) }
        }
        // Request and response swapped.
        let swapped = try AuditRecord(event: RecordFixtures.fullEvent(), sequence: 42, protector: protector,
                                      requestBody: record.responseBody, responseBody: record.requestBody)
        #expect(throws: AuditRecordError.openFailed) { try swapped.openBody(.request, with: encryption) }
        #expect(throws: AuditRecordError.openFailed) { try swapped.openBody(.response, with: encryption) }
    }
}
