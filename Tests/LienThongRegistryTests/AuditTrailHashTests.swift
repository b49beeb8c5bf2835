import Crypto
import Foundation
import LienThongCore
import LienThongRegistry
import Testing

@Suite("Admin audit trail hash chain")
struct AuditTrailHashTests {
    /// The recipe of docs/registry.md, "Admin audit trail", as an auditor would run it.
    static let pythonVerifier = #"""
import hashlib, json, sys
entries = json.loads(sys.argv[1])
previous = "0" * 64
for e in entries:
    obj = {k: e[k] for k in ("sequence", "at", "actor", "action", "entity", "previous_hash")}
    for k in ("before", "after"):
        if e.get(k) is not None:
            obj[k] = e[k]
            # before/after are canonical JSON texts themselves
            assert json.dumps(json.loads(e[k]), sort_keys=True, separators=(",", ":"), ensure_ascii=False) == e[k], k
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    digest = hashlib.sha256(canonical).hexdigest()
    assert e["previous_hash"] == previous, ("chain", e["sequence"])
    assert digest == e["hash"], ("hash", e["sequence"], digest)
    previous = digest
    print(e["sequence"], digest)
"""#

    @Test("an entry's hash is SHA-256 over the documented canonical object")
    func recipe() throws {
        let at = Date(timeIntervalSince1970: 1_751_356_800.75)
        let entry = AdminAuditChain.entry(after: 0, previousHash: AdminAuditChain.genesisHash, at: at,
                                          actor: "CN=Quản trị \"A\"\nO=Bộ", action: "member.create",
                                          entity: "member VN/GOV/1", before: nil, after: #"{"id":"VN/GOV/1"}"#)
        #expect(entry.at == Date(timeIntervalSince1970: 1_751_356_800), "the time is floored to a whole second")
        #expect(entry.sequence == 1)
        let expectedText = #"{"action":"member.create","actor":"CN=Quản trị \"A\"\nO=Bộ","after":"{\"id\":\"VN/GOV/1\"}","#
            + #""at":"2025-07-01T08:00:00Z","entity":"member VN/GOV/1","previous_hash":""#
            + String(repeating: "0", count: 64) + #"","sequence":1}"#
        #expect(AdminAuditChain.hashInput(of: entry).canonicalString == expectedText)
        let digest = SHA256.hash(data: Data(expectedText.utf8)).map { String(format: "%02x", $0) }.joined()
        #expect(entry.hash == digest)

        let next = AdminAuditChain.entry(after: entry.sequence, previousHash: entry.hash, at: at, actor: "a", action: "member.disable",
                                         entity: "member VN/GOV/1", before: #"{"disabled":false}"#, after: #"{"disabled":true}"#)
        #expect(AdminAuditChain.hashInput(of: next).canonicalString.contains(#""before":"{\"disabled\":false}""#))
        #expect(try Registry.verify(entries: [entry, next]).get().headHash == next.hash)
        #expect(try Registry.verify(entries: []).get() == AuditTrailVerification(count: 0, headSequence: 0, headHash: AdminAuditChain.genesisHash))
    }

    @Test("the offline check names the first bad entry")
    func offlineVerification() throws {
        var entries: [AdminAuditEntry] = []
        var previous = (sequence: Int64(0), hash: AdminAuditChain.genesisHash)
        for index in 0..<5 {
            let entry = AdminAuditChain.entry(after: previous.sequence, previousHash: previous.hash, at: RTFixtures.start,
                                              actor: "a", action: "x.y", entity: "e \(index)", before: nil, after: "{}")
            entries.append(entry)
            previous = (entry.sequence, entry.hash)
        }
        #expect(try Registry.verify(entries: entries).get().count == 5)

        var edited = entries
        edited[2].entity = "changed"
        #expect(Self.failure(Registry.verify(entries: edited))?.sequence == 3)

        var reordered = entries
        reordered.swapAt(1, 2)
        #expect(Self.failure(Registry.verify(entries: reordered))?.sequence == 2)

        var removed = entries
        removed.remove(at: 3)
        #expect(Self.failure(Registry.verify(entries: removed))?.sequence == 4)

        var relinked = entries
        relinked[4].previousHash = AdminAuditChain.genesisHash
        relinked[4].hash = AdminAuditChain.hash(of: relinked[4])
        #expect(Self.failure(Registry.verify(entries: relinked))?.sequence == 5)
    }

    @Test("Python recomputes every hash of a real trail from its wire JSON", .enabled(if: RTFixtures.executable("python3") != nil))
    func python() async throws {
        let python = try #require(RTFixtures.executable("python3"))
        let directory = try RTFixtures.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = RTClock(RTFixtures.start)
        let (registry, _) = try await RTFixtures.registry(in: directory, clock: clock)
        try await StorePersistenceTests.populate(registry, clock: clock)
        let trail = try await registry.auditTrail(fromSequence: 1, limit: 100)
        let wire = String(decoding: try RegistryJSON.makeEncoder().encode(trail), as: UTF8.self)

        let result = try await RTFixtures.run(python, ["-c", Self.pythonVerifier, wire])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == trail.count)
        for (line, entry) in zip(lines, trail) {
            #expect(line == "\(entry.sequence) \(entry.hash)")
        }

        // A single changed character in one entry makes the script fail at that entry.
        var tampered = trail
        tampered[6].action = "subsystem.delete"
        let tamperedWire = String(decoding: try RegistryJSON.makeEncoder().encode(tampered), as: UTF8.self)
        let refused = try await RTFixtures.run(python, ["-c", Self.pythonVerifier, tamperedWire])
        #expect(refused.status != 0)
        #expect(refused.output.contains("('hash', 7,"))
    }

    @Test("the Python recipe in docs/registry.md verifies a real trail and rejects a tampered one",
          .enabled(if: RTFixtures.executable("python3") != nil))
    func documentedRecipe() async throws {
        let python = try #require(RTFixtures.executable("python3"))
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/registry.md")
        let markdown = try String(contentsOf: docs, encoding: .utf8)
        let section = try #require(markdown.components(separatedBy: "## Admin audit trail").last)
        let afterFence = try #require(section.components(separatedBy: "```python\n").dropFirst().first)
        let script = try #require(afterFence.components(separatedBy: "```").first)

        let directory = try RTFixtures.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = RTClock(RTFixtures.start)
        let (registry, _) = try await RTFixtures.registry(in: directory, clock: clock)
        try await StorePersistenceTests.populate(registry, clock: clock)
        var trail = try await registry.auditTrail(fromSequence: 1, limit: 100)
        let file = directory.appendingPathComponent("trail.json")
        try RegistryJSON.makeEncoder().encode(trail).write(to: file)
        let result = try await RTFixtures.run(python, ["-c", script, file.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output == "\(trail.count) entries, head \(trail.last?.hash ?? "")\n")

        trail[10].after = trail[10].after?.replacingOccurrences(of: "active", with: "revoked")
        try RegistryJSON.makeEncoder().encode(trail).write(to: file)
        let refused = try await RTFixtures.run(python, ["-c", script, file.path])
        #expect(refused.status != 0)
        #expect(refused.output.contains("audit trail broken at sequence 11"))
    }

    static func failure(_ result: Result<AuditTrailVerification, AuditTrailError>) -> AuditTrailError? {
        if case .failure(let error) = result { return error }
        return nil
    }
}
