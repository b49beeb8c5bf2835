import Foundation
@testable import LienThongAudit
import LienThongCore
import Testing

// MARK: - Random records and their mutations

/// Random valid record objects, and mutations of them at the JSON and at the byte level, for the
/// differential tests of ``CanonicalRecordValidator`` against ``AuditRecord/init(canonicalBytes:)``.
struct RecordCorpus {
    var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(state: seed) }

    static let optionalTexts = ["agreement", "client", "dataset", "error_message", "error_type", "message_id", "path", "peer",
                                "purpose", "request_digest", "request_id", "request_ocsp", "request_signature", "response_digest",
                                "response_ocsp", "response_signature", "service", "user_id"]

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &generator) < percent }

    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &generator)] }

    mutating func int(_ range: ClosedRange<Int64>) -> Int64 { Int64.random(in: range, using: &generator) }

    /// Text that exercises every way canonical JSON writes a string.
    mutating func text() -> String {
        let pieces = ["a", "Z", "0", "9", "/", "-", ".", "{pid:", "}", " ", "\"", "\\", "\u{0}", "\u{1}", "\u{8}", "\t", "\n",
                      "\u{B}", "\u{C}", "\r", "\u{1F}", "\u{7F}", "é", "Ư", "ữ", "Nguyễn", "€", "\u{FEFF}", "\u{FFFF}", "𝄞", "😀",
                      "\u{10FFFF}", "\u{2028}", "e\u{301}", "VN/GOV/000.00.00.H26/ss1", "%30", "?", "=", "&"]
        var text = ""
        for _ in 0..<Int.random(in: 0...8, using: &generator) { text += pick(pieces) }
        return text
    }

    /// Milliseconds since 1970: mostly this century, sometimes the edges of years 0000 to 9999.
    mutating func instant() -> Int64 {
        switch Int.random(in: 0..<10, using: &generator) {
        case 0: pick([AuditTimestamp.minimumMilliseconds, AuditTimestamp.maximumMilliseconds, 0, -1, 951_782_400_000])
        case 1: int(AuditTimestamp.minimumMilliseconds...AuditTimestamp.maximumMilliseconds)
        default: int(1_700_000_000_000...1_900_000_000_000)
        }
    }

    static func rfc3339(_ milliseconds: Int64) -> String {
        AuditTimestamp(millisecondsSince1970: milliseconds)?.rfc3339 ?? "out of range"
    }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) } }

    mutating func body() -> CanonicalJSON {
        .object(["alg": .string("A256GCM"), "nonce": .string(Base64URL.encode(bytes(12))),
                 "ciphertext": .string(Base64URL.encode(bytes(Int.random(in: 0...40, using: &generator)))),
                 "tag": .string(Base64URL.encode(bytes(16)))])
    }

    /// The members of a random valid record.
    mutating func validMembers() -> [String: CanonicalJSON] {
        let started = instant()
        let ended = chance(80)
            ? min(AuditTimestamp.maximumMilliseconds, started + int(0...5_000))
            : instant()
        var members: [String: CanonicalJSON] = [
            "v": .integer(1),
            "sequence": .integer(chance(10) ? pick([0, AuditRecord.maximumInteger]) : int(0...10_000_000)),
            "side": .string(pick(["consumer", "provider"])),
            "server": .string(chance(50) ? "VN/GOV/000.00.00.H26/ss1" : text()),
            "method": .string(chance(70) ? "GET" : text()),
            "status": .integer(chance(20) ? pick([0, 999]) : int(0...999)),
            "outcome": .string(pick(["success", "refused", "failed"])),
            "started_at": .string(Self.rfc3339(started)),
            "ended_at": .string(Self.rfc3339(ended)),
            "duration_ms": .integer(ended - started),
        ]
        for name in Self.optionalTexts where chance(50) { members[name] = .string(text()) }
        for name in ["request_bytes", "response_bytes"] where chance(50) {
            members[name] = .integer(chance(20) ? pick([0, AuditRecord.maximumInteger]) : int(0...100_000))
        }
        for name in ["request_body", "response_body"] where chance(25) { members[name] = body() }
        return members
    }

    /// A value of any type the parser knows, some of them almost right for some member.
    mutating func anyValue() -> CanonicalJSON {
        switch Int.random(in: 0..<6, using: &generator) {
        case 0: .string(text())
        case 1: .string(pick(["consumer", "Consumer", "provider ", "success", "refused", "failed", "FAILED", "A256GCM", "1",
                              "2026-01-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z", "2023-02-29T00:00:00.000Z",
                              "2026-01-01T24:00:00.000Z", "2026-01-01T00:00:60.000Z", "2026-01-01T00:00:00Z",
                              "2026-01-01t00:00:00.000Z", "0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z", ""]))
        case 2: .integer(pick([0, 1, -1, 2, 999, 1000, AuditRecord.maximumInteger, AuditRecord.maximumInteger + 1,
                               -AuditRecord.maximumInteger, Int64.max, Int64.min, 10_000_000_000_000_000, 9_999_999_999_999_999]))
        case 3: .object(chance(50) ? [:] : ["alg": .string("A256GCM")])
        case 4: .array(chance(50) ? [] : [.integer(1)])
        default: body()
        }
    }

    /// One change at the JSON level: a member removed, added, retyped or given an edge value, or a
    /// body's member changed.
    mutating func mutateMembers(_ members: inout [String: CanonicalJSON]) {
        let names = members.keys.sorted()
        switch Int.random(in: 0..<8, using: &generator) {
        case 0:
            members[pick(names)] = nil
        case 1:
            members[pick(["extra", "v2", "sequenc", "Sequence", "request_bodies", "", "é", "\u{0}", "zz", "a"])] = anyValue()
        case 2, 3:
            members[pick(AuditRecord.fieldNames)] = anyValue()
        case 4:
            // Times and duration moved together, or apart.
            let started = instant(), ended = instant()
            members["started_at"] = .string(Self.rfc3339(started))
            members["ended_at"] = .string(Self.rfc3339(ended))
            members["duration_ms"] = .integer(ended - started + (chance(50) ? 0 : pick([-1, 1, 1000])))
        case 5:
            let name = pick(["request_body", "response_body"])
            guard case .object(var body) = members[name] ?? body() else { return }
            switch Int.random(in: 0..<5, using: &generator) {
            case 0: body[pick(["alg", "nonce", "ciphertext", "tag"])] = nil
            case 1: body["kid"] = .string("k1")
            case 2: body[pick(["alg", "nonce", "ciphertext", "tag"])] = anyValue()
            case 3: body[pick(["nonce", "tag", "ciphertext"])] = .string(Base64URL.encode(bytes(Int.random(in: 0...20, using: &generator))))
            default:
                body[pick(["nonce", "tag", "ciphertext"])] = .string(pick(["AAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAB", "AAAAAAAAAAAAAAAAAAAAAB",
                                                                          "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAA+", "AAAAAAAAAAAAAAA/",
                                                                          "A", "AB", "AAA", "AAE", "", "AAAAAAAAAAAAAAA"]))
            }
            members[name] = .object(body)
        case 6:
            members[pick(["sequence", "status", "request_bytes", "response_bytes", "v", "duration_ms"])] =
                .integer(pick([0, 1, -1, 999, 1000, AuditRecord.maximumInteger, AuditRecord.maximumInteger + 1, Int64.min, Int64.max]))
        default:
            members[pick(Self.optionalTexts)] = .string(text())
        }
    }

    /// Bytes that a mutation likes to put in: JSON punctuation, escapes, digits, UTF-8 edges.
    static let interestingBytes: [UInt8] = Array(#"{}[]":,\ -0159.eEu/nbtfrA_=+"#.utf8)
        + [0x00, 0x09, 0x0A, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]

    /// One change at the byte level.
    mutating func mutateBytes(_ bytes: [UInt8]) -> [UInt8] {
        guard !bytes.isEmpty else { return [pick(Self.interestingBytes)] }
        var bytes = bytes
        let position = Int.random(in: 0..<bytes.count, using: &generator)
        switch Int.random(in: 0..<9, using: &generator) {
        case 0: bytes[position] = pick(Self.interestingBytes)
        case 1: bytes[position] = UInt8.random(in: 0...255, using: &generator)
        case 2: bytes.insert(pick(Self.interestingBytes), at: position)
        case 3: bytes.removeSubrange(position..<min(bytes.count, position + Int.random(in: 1...3, using: &generator)))
        case 4:
            let end = min(bytes.count, position + Int.random(in: 1...40, using: &generator))
            bytes.insert(contentsOf: bytes[position..<end], at: Int.random(in: 0...bytes.count, using: &generator))
        case 5: bytes.removeSubrange(position...)
        case 6:
            // A printable ASCII byte written as an escape: valid JSON, not canonical.
            guard (0x20..<0x7F).contains(bytes[position]) else { return bytes }
            let hex = Array("0123456789abcdef".utf8)
            let escape = Array(#"\u00"#.utf8) + [hex[Int(bytes[position] >> 4)], hex[Int(bytes[position] & 0x0F)]]
            bytes.replaceSubrange(position...position, with: escape)
        case 7:
            // A canonical short escape spelled the long way, or a long one the short way, or upper-case.
            let text = String(decoding: bytes, as: UTF8.self)
            let swaps = [(#"\n"#, #"\u000a"#), (#"\t"#, #"\u0009"#), (#"\u000b"#, #"\u000B"#), (#"\u0000"#, #"\u0000\u0000"#),
                         (#"\""#, #"\u0022"#), (#"\\"#, #"\u005c"#), ("/", #"\/"#), (#"\u001f"#, #"\u001F"#), ("é", #"\u00e9"#),
                         (#"\b"#, #"\u0008"#), (#"\u0001"#, #"\b"#)]
            let (from, to) = pick(swaps)
            guard let range = text.range(of: from) else { return bytes }
            return Array(text.replacingCharacters(in: range, with: to).utf8)
        default:
            // Whitespace at a structural position.
            guard [UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "{"), UInt8(ascii: "}")].contains(bytes[position]) else {
                return bytes
            }
            bytes.insert(pick([0x20, 0x09, 0x0A, 0x0D]), at: position + Int.random(in: 0...1, using: &generator))
        }
        return bytes
    }

    /// The members written in a shuffled order (valid JSON; canonical only if the order happens to be sorted).
    mutating func shuffledSerialisation(_ members: [String: CanonicalJSON]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (index, (key, value)) in members.shuffled(using: &generator).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out += CanonicalJSON.string(key).canonicalBytes + [UInt8(ascii: ":")] + value.canonicalBytes
        }
        return out + [UInt8(ascii: "}")]
    }
}

/// Both verdicts on some bytes, and whether they agree.
struct DifferentialVerdict {
    let bytes: [UInt8]
    let reference: Result<AuditRecord, AuditRecordError>
    let validator: Result<CanonicalRecordSummary, CanonicalRecordRejection>

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        reference = Result { () throws(AuditRecordError) in try AuditRecord(canonicalBytes: bytes) }
        validator = Result { () throws(CanonicalRecordRejection) in try CanonicalRecordValidator.validate(bytes) }
    }

    var accepted: Bool { (try? reference.get()) != nil }

    /// Same verdict; for accepted bytes the same scalars; for refused ones, the fast entry point
    /// gives the reference's error.
    var agrees: Bool {
        switch (reference, validator) {
        case (.success(let record), .success(let summary)):
            return CanonicalRecordSummary(record) == summary
                && (try? AuditRecord.validateCanonicalBytes(bytes)) == summary
        case (.failure(let error), .failure):
            return Result { () throws(AuditRecordError) in try AuditRecord.validateCanonicalBytes(bytes) } == .failure(error)
        default:
            return false
        }
    }

    var description: String {
        "\(String(decoding: bytes, as: UTF8.self).debugDescription) (\(bytes.count) bytes): reference \(reference), validator \(validator)"
    }
}

/// Counts agreement over many byte strings, keeping the first few disagreements to show.
struct DifferentialTally {
    var checked = 0
    var accepted = 0
    var disagreements: [String] = []

    mutating func check(_ bytes: [UInt8]) {
        let verdict = DifferentialVerdict(bytes)
        checked += 1
        if verdict.accepted { accepted += 1 }
        if !verdict.agrees, disagreements.count < 10 { disagreements.append(verdict.description) }
    }
}

// MARK: - Tests

@Suite("Single-pass canonical record validator: accepts exactly what the strict parser accepts")
struct CanonicalRecordValidatorTests {
    /// The validator's table must follow the record format: a member added to ``AuditRecord`` but
    /// not to ``CanonicalRecordMember`` would send every record holding it down the slow path.
    @Test func memberTableMatchesTheRecordFormat() throws {
        #expect(CanonicalRecordMember.allCases.map(\.name) == AuditRecord.fieldNames)
        let keys = AuditRecord.fieldNames.map { Array($0.utf8) }
        #expect(zip(keys, keys.dropFirst()).allSatisfy { $0.lexicographicallyPrecedes($1) }, "canonical (bytewise) order")
        let record = try RecordFixtures.fullRecord()
        guard case .object(let members) = record.canonicalJSON else { throw AuditRecordError.notCanonical }
        #expect(members.keys.sorted() == AuditRecord.fieldNames, "the full fixture record has every member")
        #expect(try CanonicalRecordValidator.validate(record.canonicalBytes()) == CanonicalRecordSummary(record))
    }

    @Test func acceptsRecordsMadeFromEvents() throws {
        let full = try RecordFixtures.fullRecord()
        let minimal = try AuditRecord(event: RecordFixtures.minimalEvent(), sequence: 7, protector: RecordFixtures.protector())
        for record in [full, minimal, try RecordFixtures.fullRecord(sequence: UInt64(AuditRecord.maximumInteger))] {
            let summary = try CanonicalRecordValidator.validate(record.canonicalBytes())
            #expect(summary == CanonicalRecordSummary(record))
            #expect(try AuditRecord.validateCanonicalBytes(record.canonicalBytes()) == summary)
        }
    }

    @Test func refusalsKeepTheStrictParsersErrors() throws {
        let record = try RecordFixtures.fullRecord()
        let canonical = String(decoding: record.canonicalBytes(), as: UTF8.self)
        func fast(_ text: String) -> Result<CanonicalRecordSummary, AuditRecordError> {
            Result { () throws(AuditRecordError) in try AuditRecord.validateCanonicalBytes(Array(text.utf8)) }
        }
        #expect(fast(canonical.replacingOccurrences(of: #""v":1}"#, with: #""v":1,"v":1}"#)) == .failure(.duplicateField("v")))
        #expect(fast(" " + canonical) == .failure(.notCanonical))
        #expect(fast(canonical + "x") == .failure(.malformedJSON(offset: canonical.utf8.count)))
        #expect(fast(canonical.replacingOccurrences(of: #""status":200"#, with: #""status":1000"#))
            == .failure(.valueOutOfRange(field: "status")))
        #expect(fast(canonical.replacingOccurrences(of: #""side":"consumer""#, with: #""side":"both""#))
            == .failure(.invalidValue(field: "side")))
        #expect(fast("") == .failure(.malformedJSON(offset: 0)))
    }

    @Test func rejectionsSayWhereAndWhat() throws {
        let canonical = String(decoding: try RecordFixtures.fullRecord().canonicalBytes(), as: UTF8.self)
        func rejection(_ text: String) -> CanonicalRecordRejection? {
            do {
                _ = try CanonicalRecordValidator.validate(Array(text.utf8))
                return nil
            } catch {
                return error
            }
        }
        #expect(rejection(" " + canonical) == CanonicalRecordRejection(offset: 0, reason: .syntax))
        #expect(rejection(canonical + " ") == CanonicalRecordRejection(offset: canonical.utf8.count, reason: .trailingBytes))
        #expect(rejection(#"{"v":1}"#) == CanonicalRecordRejection(offset: 7, reason: .missingMember))
        #expect(rejection(#"{"v":1,"agreement":"x"}"#) == CanonicalRecordRejection(offset: 7, reason: .member))
        #expect(rejection(#"{"v":2}"#) == CanonicalRecordRejection(offset: 5, reason: .value))
    }

    /// Hand-picked edges of the canonical form, each put into the string members of a valid record.
    @Test func stringEdgesAgree() throws {
        let record = try AuditRecord(event: RecordFixtures.minimalEvent(), sequence: 3, protector: RecordFixtures.protector())
        let canonical = record.canonicalBytes()
        let method = Array(#""method":"GET""#.utf8)
        guard let at = canonical.firstRange(of: method) else { throw AuditRecordError.notCanonical }
        let contents: [[UInt8]] = [
            Array(#"\""#.utf8), Array(#"\\"#.utf8), Array(#"\/"#.utf8), Array("/".utf8), Array(#"\b\f\n\r\t"#.utf8),
            Array(#"\u0000\u0001\u000b\u000e\u001f"#.utf8), Array(#"\u0008"#.utf8), Array(#"\u0009"#.utf8), Array(#"\u000a"#.utf8),
            Array(#"\u000c"#.utf8), Array(#"\u000d"#.utf8), Array(#"\u000B"#.utf8), Array(#"\u001F"#.utf8), Array(#"\u0020"#.utf8),
            Array(#"\u007f"#.utf8), Array(#"\u00e9"#.utf8), Array(#"\ud834\udd1e"#.utf8), Array(#"\ud800"#.utf8), Array(#"\u"#.utf8),
            Array(#"\u00"#.utf8), Array(#"\x"#.utf8), Array(#"\"#.utf8), [0x7F], [0x00], [0x09], [0x1F],
            [0xC3, 0xA9], [0xC3], [0xA9], [0xC0, 0x80], [0xC1, 0xBF], [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0x80, 0x80], [0xE0, 0xA0, 0x80],
            [0xED, 0x9F, 0xBF], [0xED, 0xA0, 0x80], [0xEF, 0xBF, 0xBF], [0xEF, 0xBB, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF],
            [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF],
            [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xE2, 0x82, 0xAC, 0xAC], Array("e\u{301}".utf8), [],
        ]
        var tally = DifferentialTally()
        for content in contents {
            var bytes = canonical
            bytes.replaceSubrange(at, with: Array(#""method":""#.utf8) + content + [UInt8(ascii: "\"")])
            tally.check(bytes)
            // The same content as a member name.
            tally.check(Array(#"{""#.utf8) + content + Array(#"":1}"#.utf8))
        }
        #expect(tally.disagreements.isEmpty, "\(tally.disagreements.joined(separator: "\n"))")
        #expect(tally.accepted >= 15)
    }

    /// Hand-picked edges of numbers and structure.
    @Test func numberAndStructureEdgesAgree() throws {
        let canonical = String(decoding: try RecordFixtures.fullRecord().canonicalBytes(), as: UTF8.self)
        var tally = DifferentialTally()
        let numbers = ["0", "-0", "00", "01", "-1", "1", "42", "042", "42.0", "42e0", "4.2e1", "+42", "- 42", "9007199254740991",
                       "9007199254740992", "99999999999999999999", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
                       "1000000000000000", "10000000000000000", "true", "false", "null", "\"42\"", "[]", "{}", "[42]", ""]
        for number in numbers {
            for member in ["sequence", "status", "v", "request_bytes", "duration_ms"] {
                let pattern = #""\#(member)":-?[0-9]+"#
                guard let range = canonical.range(of: pattern, options: .regularExpression) else { continue }
                tally.check(Array(canonical.replacingCharacters(in: range, with: #""\#(member)":\#(number)"#).utf8))
            }
        }
        for text in ["", "{", "}", "{}", "[]", "null", "1", "\"x\"", #"{"v":1}"#, canonical + canonical, canonical + "\n",
                     #"{"a":{"b":{"c":{"d":{"e":1}}}}}"#, String(canonical.dropLast()), String(canonical.dropFirst())] {
            tally.check(Array(text.utf8))
        }
        #expect(tally.disagreements.isEmpty, "\(tally.disagreements.joined(separator: "\n"))")
        #expect(tally.accepted >= 5)
    }

    /// Thousands of random valid records, each also mutated at the JSON and the byte level.
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func randomRecordsAndMutationsAgree(seed: UInt64) throws {
        var corpus = RecordCorpus(seed: seed)
        var tally = DifferentialTally()
        for _ in 0..<1_000 {
            let members = corpus.validMembers()
            let bytes = CanonicalJSON.object(members).canonicalBytes
            tally.check(bytes)
            var changed = members
            for _ in 0..<Int.random(in: 1...3, using: &corpus.generator) { corpus.mutateMembers(&changed) }
            tally.check(CanonicalJSON.object(changed).canonicalBytes)
            tally.check(corpus.shuffledSerialisation(corpus.chance(50) ? members : changed))
            var mutated = bytes
            for _ in 0..<3 {
                mutated = corpus.mutateBytes(mutated)
                tally.check(mutated)
            }
        }
        #expect(tally.disagreements.isEmpty, "\(tally.disagreements.joined(separator: "\n"))")
        // The corpus must not be all refusals: every valid record, and some mutations, pass.
        #expect(tally.accepted > 1_000, "accepted \(tally.accepted) of \(tally.checked)")
    }

    /// Every single-byte substitution, deletion and insertion (of bytes that matter to JSON) in a
    /// record with every member, escapes and multi-byte UTF-8.
    @Test func everySingleByteEditAgrees() throws {
        var event = RecordFixtures.fullEvent()
        event.errorMessage = "không có \"AG-1\"\n\t\u{1}\u{7F} 𝄞 \\ /"
        let (request, response) = try RecordFixtures.sealedBodies(for: event)
        let record = try AuditRecord(event: event, sequence: 900_719_925_474, protector: RecordFixtures.protector(),
                                     requestBody: request, responseBody: response)
        let bytes = record.canonicalBytes()
        var tally = DifferentialTally()
        tally.check(bytes)
        let substitutes: [UInt8] = Array(#"{}":,\ 0-9.eu"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xED, 0xF4, 0xFF]
        for position in bytes.indices {
            var deleted = bytes
            deleted.remove(at: position)
            tally.check(deleted)
            for byte in substitutes {
                var substituted = bytes
                if substituted[position] != byte {
                    substituted[position] = byte
                    tally.check(substituted)
                }
            }
            for byte in [UInt8(ascii: " "), UInt8(ascii: "0"), UInt8(ascii: "\"")] {
                var inserted = bytes
                inserted.insert(byte, at: position)
                tally.check(inserted)
            }
        }
        #expect(tally.disagreements.isEmpty, "\(tally.disagreements.joined(separator: "\n"))")
        #expect(tally.accepted > 100, "accepted \(tally.accepted) of \(tally.checked)")
    }
}

// MARK: - Leaf checker

@Suite("Leaf checker: concurrent, and the first bad leaf is reported as a one-by-one check would")
struct LeafCheckerTests {
    /// What ``AuditLogVerifier`` did before the leaf checker, one leaf at a time: the reference.
    static func referenceCheck(_ leaves: [StoredLeaf], expectedFirst: UInt64) -> Result<[MerkleHash], AuditVerificationFailure> {
        var hashes: [MerkleHash] = []
        for (offset, leaf) in leaves.enumerated() {
            let expected = expectedFirst + UInt64(offset)
            guard leaf.sequence == expected else {
                return .failure(AuditVerificationFailure(sequence: expected, reason: "missing: the next stored record is \(leaf.sequence)"))
            }
            guard leaf.isConsistent else {
                return .failure(AuditVerificationFailure(sequence: leaf.sequence,
                                                         reason: "its bytes do not hash to the stored leaf hash (changed after it was written)"))
            }
            let record: AuditRecord
            do { record = try AuditRecord(canonicalBytes: leaf.bytes) } catch {
                return .failure(AuditVerificationFailure(sequence: leaf.sequence, reason: "not a valid canonical record: \(error)"))
            }
            guard record.sequence == leaf.sequence else {
                return .failure(AuditVerificationFailure(sequence: leaf.sequence,
                                                         reason: "it names itself record \(record.sequence): records were moved, swapped or inserted"))
            }
            guard let hash = MerkleHash(bytes: leaf.leafHash) else {
                return .failure(AuditVerificationFailure(sequence: leaf.sequence, reason: "the stored leaf hash is not 32 bytes"))
            }
            hashes.append(hash)
        }
        return .success(hashes)
    }

    static func leaves(_ range: Range<UInt64>, corpus: inout RecordCorpus) -> [StoredLeaf] {
        range.map { sequence in
            var members = corpus.validMembers()
            members["sequence"] = .integer(Int64(sequence))
            return StoredLeaf(sequence: sequence, bytes: CanonicalJSON.object(members).canonicalBytes)
        }
    }

    static func check(_ leaves: [StoredLeaf], expectedFirst: UInt64) async -> Result<[MerkleHash], AuditVerificationFailure> {
        do {
            return .success(try await LeafChecker.check(leaves, expectedFirst: expectedFirst))
        } catch {
            return .failure(error)
        }
    }

    @Test func goodLeavesGiveTheirHashesInOrder() async throws {
        var corpus = RecordCorpus(seed: 11)
        for (first, count) in [(0, 0), (0, 1), (5, 7), (100, 600), (20_000, 2_600)] as [(UInt64, UInt64)] {
            let leaves = Self.leaves(first..<first + count, corpus: &corpus)
            let hashes = try await LeafChecker.check(leaves, expectedFirst: first)
            #expect(hashes == leaves.map { MerkleHash.leaf($0.bytes) })
            #expect(Self.referenceCheck(leaves, expectedFirst: first) == .success(hashes))
        }
    }

    /// Several bad leaves of every kind, scattered over the slices: the first is reported, with the
    /// reference's reason.
    @Test func theFirstBadLeafIsReportedWithTheSameReason() async throws {
        var corpus = RecordCorpus(seed: 12)
        let first: UInt64 = 70_000
        let good = Self.leaves(first..<first + 2_600, corpus: &corpus)  // five slices
        let impostor = try AuditRecord(event: RecordFixtures.minimalEvent(), sequence: 3, protector: RecordFixtures.protector())
        for trial in 0..<40 {
            var leaves = good
            for _ in 0..<Int.random(in: 1...4, using: &corpus.generator) {
                let index = Int.random(in: 0..<leaves.count, using: &corpus.generator)
                let sequence = leaves[index].sequence
                switch Int.random(in: 0..<6, using: &corpus.generator) {
                case 0: leaves.remove(at: index)
                case 1: leaves[index].bytes = corpus.mutateBytes(leaves[index].bytes)   // stale hash
                case 2: leaves[index] = StoredLeaf(sequence: sequence, bytes: corpus.mutateBytes(leaves[index].bytes))
                case 3: leaves[index] = StoredLeaf(sequence: sequence, bytes: impostor.canonicalBytes())
                case 4: leaves[index].leafHash.removeLast()
                default: leaves[index] = StoredLeaf(sequence: sequence, bytes: Array(#"{"v":1}"#.utf8))
                }
            }
            let expected = Self.referenceCheck(leaves, expectedFirst: first)
            let actual = await Self.check(leaves, expectedFirst: first)
            #expect(actual == expected, "trial \(trial)")
        }
    }
}
