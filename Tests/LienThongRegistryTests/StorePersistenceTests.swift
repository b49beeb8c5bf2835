import Foundation
import GRDB
import LienThongCore
import LienThongRegistry
import Testing

/// A store that wraps SQLite and fails on demand, before writing anything.
actor RTFailingStore: RegistryStore {
    let inner: SQLiteRegistryStore
    var failCommits = false
    var failReads = false

    init(_ inner: SQLiteRegistryStore) { self.inner = inner }

    func setFailing(commits: Bool, reads: Bool = false) {
        failCommits = commits
        failReads = reads
    }

    func load() async throws -> (snapshot: RegistrySnapshot, auditHead: AdminAuditEntry?) {
        try await inner.load()
    }

    func commit(_ change: RegistryChange) async throws {
        if failCommits { throw RegistryStoreError(.staleChange, "injected failure") }
        try await inner.commit(change)
    }

    func auditTrail(fromSequence: Int64, limit: Int) async throws -> [AdminAuditEntry] {
        if failReads { throw RegistryStoreError(.corrupt, "injected read failure") }
        return try await inner.auditTrail(fromSequence: fromSequence, limit: limit)
    }
}

@Suite("Registry store")
struct StorePersistenceTests {
    /// A populated registry on disk: the seed, a server, agreements and decided requests.
    static func populate(_ registry: Registry, clock: RTClock) async throws {
        try await RTFixtures.seed(registry, clock: clock)
        let admin = RTFixtures.admin
        _ = try await registry.registerServer(
            NewSecurityServer(id: RTFixtures.server, address: "ss1.bca.gov.vn:5500", tlsCertificate: try RTFixtures.certificatePEM()),
            actor: admin)
        _ = try await registry.createAgreement(RTFixtures.agreementInput(), actor: admin)
        _ = try await registry.setAgreementStatus("AG-000001", status: .suspended, actor: admin)
        let approved = try await registry.fileAccessRequest(RTFixtures.accessRequestInput(), actor: admin)
        _ = try await registry.decide(approved.id, AccessDecisionInput(outcome: .approved, reason: "Đủ căn cứ"), actor: admin)
        let refused = try await registry.fileAccessRequest(RTFixtures.accessRequestInput(), actor: "CN=Quản trị \"viên\"\nO=Bộ/Sở")
        _ = try await registry.decide(refused.id, AccessDecisionInput(outcome: .refused, reason: "Trùng lặp",
                                                                      legalBasis: "Nghị định 194/2025/NĐ-CP, Điều 16"), actor: admin)
        _ = try await registry.fileAccessRequest(RTFixtures.accessRequestInput(), actor: admin)
        _ = try await registry.setServiceEnabled(RTFixtures.verify, enabled: false, actor: admin)
        _ = try await registry.disableMember(RTFixtures.province, actor: admin)
    }

    @Test("reopening the store gives the same snapshot and revision, and the trail verifies")
    func reopen() async throws {
        let directory = try RTFixtures.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = RTClock(RTFixtures.start)
        var (registry, _) = try await RTFixtures.registry(in: directory, clock: clock)
        try await Self.populate(registry, clock: clock)
        let snapshot = await registry.snapshot()
        let revision = await registry.revision
        let trail = try await registry.auditTrail(fromSequence: 1, limit: 1000)
        #expect(revision == 19)

        (registry, _) = try await RTFixtures.registry(in: directory, clock: clock)
        #expect(await registry.snapshot() == snapshot)
        #expect(await registry.revision == revision)
        #expect(try await registry.auditTrail(fromSequence: 1, limit: 1000) == trail)
        let verification = try await registry.verifyAuditTrail()
        #expect(verification.count == revision)
        #expect(verification.headHash == trail.last?.hash)

        // Ids continue where they stopped, and the chain continues from the stored head. (The
        // province is disabled by now, so another subsystem of the ministry consumes: not the
        // providing one, which needs no agreement with itself.)
        let internalUse = try SubsystemId(parsing: "VN/GOV/000.00.00.G22/NOIBO")
        _ = try await registry.createSubsystem(NewSubsystem(id: internalUse), actor: RTFixtures.admin)
        var agreement = RTFixtures.agreementInput()
        agreement.consumer = internalUse
        let next = try await registry.createAgreement(agreement, actor: RTFixtures.admin)
        #expect(next.id == "AG-000003")
        var request = RTFixtures.accessRequestInput()
        request.consumer = internalUse
        #expect(try await registry.fileAccessRequest(request, actor: RTFixtures.admin).id == "AR-000004")
        #expect(try await registry.verifyAuditTrail().count == revision + 3)
        #expect(try await registry.auditTrail(fromSequence: revision + 1, limit: 1).first?.previousHash == trail.last?.hash)
    }

    @Test("a tampered audit row makes verification fail, naming its sequence")
    func tamperedJSON() async throws {
        let directory = try RTFixtures.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = RTClock(RTFixtures.start)
        let (registry, _) = try await RTFixtures.registry(in: directory, clock: clock)
        try await Self.populate(registry, clock: clock)
        #expect(try await registry.verifyAuditTrail().count == 19)

        let database = try DatabaseQueue(path: RTFixtures.databasePath(directory))
        try await database.write { db in
            try db.execute(sql: "UPDATE admin_audit SET json = replace(json, 'Trùng lặp', 'Hợp lệ') WHERE sequence = 16")
            #expect(db.changesCount == 1)
        }
        await #expect(throws: AuditTrailError.self) { try await registry.verifyAuditTrail() }
        do {
            _ = try await registry.verifyAuditTrail()
        } catch let error as AuditTrailError {
            #expect(error.sequence == 16)
            #expect(error.description.contains("sequence 16"))
        }
        // The offline check agrees.
        let entries = try await registry.auditTrail(fromSequence: 1, limit: 1000)
        guard case .failure(let failure) = Registry.verify(entries: entries) else {
            Issue.record("the offline check accepted a tampered trail")
            return
        }
        #expect(failure.sequence == 16)
    }

    @Test("a rewritten hash, a deleted entry and a truncated tail are detected")
    func tamperedChain() async throws {
        let directory = try RTFixtures.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = RTClock(RTFixtures.start)
        let (registry, _) = try await RTFixtures.registry(in: directory, clock: clock)
        try await Self.populate(registry, clock: clock)
        let database = try DatabaseQueue(path: RTFixtures.databasePath(directory))

        // Rewriting entry 5 consistently (content and its own hash) breaks the link from entry 6.
        let original: [String] = try await database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT json, hash FROM admin_audit WHERE sequence = 5") else { return [] }
            return [row["json"], row["hash"]]
        }
        try #require(original.count == 2)
        let (originalJSON, originalHash) = (original[0], original[1])
        var forged = try #require(try await registry.auditTrail(fromSequence: 5, limit: 1).first)
        forged.actor = "CN=someone else"
        forged.hash = AdminAuditChain.hash(of: forged)
        let json = try RegistryJSON.canonicalText(forged)
        let forgedHash = forged.hash
        try await database.write { db in
            try db.execute(sql: "UPDATE admin_audit SET json = ?, hash = ? WHERE sequence = 5", arguments: [json, forgedHash])
        }
        do {
            _ = try await registry.verifyAuditTrail()
            Issue.record("a forged entry verified")
        } catch let error as AuditTrailError {
            #expect(error.sequence == 6)
        }

        // Changing only the hash column is caught at that entry.
        try await database.write { db in
            try db.execute(sql: "UPDATE admin_audit SET json = ?, hash = ? WHERE sequence = 5",
                           arguments: [originalJSON, String(repeating: "f", count: 64)])
        }
        do {
            _ = try await registry.verifyAuditTrail()
            Issue.record("a rewritten hash verified")
        } catch let error as AuditTrailError {
            #expect(error.sequence == 5)
        }

        // Restored, the trail verifies again.
        try await database.write { db in
            try db.execute(sql: "UPDATE admin_audit SET hash = ? WHERE sequence = 5", arguments: [originalHash])
        }
        #expect(try await registry.verifyAuditTrail().count == 19)

        // Deleting an entry in the middle is reported at the gap.
        try await database.write { db in try db.execute(sql: "DELETE FROM admin_audit WHERE sequence = 12") }
        do {
            _ = try await registry.verifyAuditTrail()
            Issue.record("a trail with a gap verified")
        } catch let error as AuditTrailError {
            #expect(error.sequence == 12)
            #expect(error.reason.contains("missing"))
        }
    }

    @Test("a truncated tail is detected against the head the registry wrote")
    func truncatedTail() async throws {
        let directory = try RTFixtures.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = RTClock(RTFixtures.start)
        let (registry, _) = try await RTFixtures.registry(in: directory, clock: clock)
        try await Self.populate(registry, clock: clock)
        let database = try DatabaseQueue(path: RTFixtures.databasePath(directory))
        try await database.write { db in try db.execute(sql: "DELETE FROM admin_audit WHERE sequence >= 19") }
        do {
            _ = try await registry.verifyAuditTrail()
            Issue.record("a truncated trail verified")
        } catch let error as AuditTrailError {
            #expect(error.sequence == 19)
        }
    }

    @Test("a failing store gives .storage and leaves memory unchanged")
    func failingStore() async throws {
        let directory = try RTFixtures.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = RTClock(RTFixtures.start)
        let failing = RTFailingStore(try SQLiteRegistryStore(path: RTFixtures.databasePath(directory)))
        let registry = try await Registry(store: failing, instance: "VN", clock: clock.function)
        try await RTFixtures.seed(registry, clock: clock)
        let snapshot = await registry.snapshot()
        let revision = await registry.revision
        let stored = try await failing.inner.load()

        await failing.setFailing(commits: true)
        for attempt in 0..<2 {
            do throws(RegistryError) {
                if attempt == 0 {
                    _ = try await registry.createAgreement(RTFixtures.agreementInput(), actor: RTFixtures.admin)
                } else {
                    _ = try await registry.disableMember(RTFixtures.province, actor: RTFixtures.admin)
                }
                Issue.record("the commit failure was not reported")
            } catch {
                #expect(error.code == .storage)
                #expect(error.httpStatus == 500)
                #expect(error.xroadType == "Server.Registry.StorageError")
            }
        }
        #expect(await registry.snapshot() == snapshot)
        #expect(await registry.revision == revision)
        #expect(try await failing.inner.load().snapshot == stored.snapshot)
        #expect(try await failing.inner.load().auditHead == stored.auditHead)

        // Read failures surface as .storage too.
        await failing.setFailing(commits: false, reads: true)
        do throws(RegistryError) {
            _ = try await registry.auditTrail(fromSequence: 1, limit: 10)
            Issue.record("the read failure was not reported")
        } catch {
            #expect(error.code == .storage)
        }

        // Once the store recovers, the same operation succeeds with the next id and revision.
        await failing.setFailing(commits: false)
        let agreement = try await registry.createAgreement(RTFixtures.agreementInput(), actor: RTFixtures.admin)
        #expect(agreement.id == "AG-000001")
        #expect(await registry.revision == revision + 1)
        #expect(try await registry.verifyAuditTrail().count == revision + 1)
    }

    @Test("the store refuses a change that does not follow its revision or audit head")
    func staleChange() async throws {
        let directory = try RTFixtures.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = RTClock(RTFixtures.start)
        let (registry, store) = try await RTFixtures.registry(in: directory, clock: clock)
        try await RTFixtures.seed(registry, clock: clock)
        let before = try await store.load()
        let member = Member(id: RTFixtures.other, name: "Công ty", kind: .other, createdAt: RegistryJSON.wholeSecond(RTFixtures.start))
        let head = try #require(before.auditHead)
        let entry = AdminAuditChain.entry(after: head.sequence, previousHash: head.hash, at: RTFixtures.start, actor: "t",
                                          action: "member.create", entity: "member x", before: nil, after: "{}")
        for change in [RegistryChange(revision: before.snapshot.revision, members: [member], auditEntry: entry),
                       RegistryChange(revision: before.snapshot.revision + 2, members: [member], auditEntry: entry)] {
            await #expect(throws: RegistryStoreError.self) { try await store.commit(change) }
        }
        var skipped = entry
        skipped.sequence += 1
        await #expect(throws: RegistryStoreError.self) {
            try await store.commit(RegistryChange(revision: before.snapshot.revision + 1, members: [member], auditEntry: skipped))
        }
        let after = try await store.load()
        #expect(after.snapshot == before.snapshot)
        #expect(after.auditHead == before.auditHead)

        // A well-formed change is written atomically, with every column.
        try await store.commit(RegistryChange(revision: before.snapshot.revision + 1, members: [member], auditEntry: entry))
        let written = try await store.load()
        #expect(written.snapshot.revision == before.snapshot.revision + 1)
        #expect(written.snapshot.members.contains(member))
        #expect(written.auditHead == entry)
    }

    @Test("the database uses WAL with synchronous=FULL and the v1 schema")
    func schema() async throws {
        let directory = try RTFixtures.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try SQLiteRegistryStore(path: RTFixtures.databasePath(directory))
        let database = try DatabaseQueue(path: RTFixtures.databasePath(directory))
        try await database.read { db in
            #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal")
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            for table in ["access_requests", "admin_audit", "agreements", "datasets", "members", "meta", "servers", "services", "subsystems"] {
                #expect(tables.contains(table))
            }
            #expect(try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'revision'") == "0")
        }
        // Opening twice (migrations already applied) is fine.
        _ = try SQLiteRegistryStore(path: RTFixtures.databasePath(directory))
    }
}
