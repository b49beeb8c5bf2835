import Foundation
import GRDB
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongTrust
import Testing
import X509

// The compliance view: real signed checkpoints submitted to a real ledger (SQLite file), then the
// engine's figures checked against what was submitted. Helpers are prefixed `CT`.

@Suite("Compliance view: usage ingestion, figures per side, periods, discrepancies, findings")
struct ComplianceTests {
    /// 2025-03-01T00:00:00Z, a UTC day boundary.
    static let t0 = Date(timeIntervalSince1970: 1_740_787_200)
    static let hour: TimeInterval = 3_600
    static let day: TimeInterval = 86_400
    static let window: TimeInterval = 300

    static let consumerMember = try! MemberId(parsing: "VN/GOV/000.00.00.H26")
    static let providerMember = try! MemberId(parsing: "VN/GOV/000.00.00.G22")
    static let consumerServer = "VN/GOV/000.00.00.H26/ss1"
    static let providerServer = "VN/GOV/000.00.00.G22/ss1"
    static let client = "VN/GOV/000.00.00.H26/MOTCUA"
    static let service = "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan"
    static let dataset = "VN/GOV/000.00.00.G22/datasets/dan-cu"
    static let denied = "Server.ClientProxy.AccessDenied"
    static let maintenance = "Server.ServerProxy.MaintenanceMode"
    static let backendFailed = "Server.ServerProxy.ServiceFailed"

    static func at(_ offset: TimeInterval) -> Date { t0.addingTimeInterval(offset) }

    // MARK: - Fixture

    struct Fixture {
        let directory: URL
        let consumerSigner: DetachedJWS.Signer
        let providerSigner: DetachedJWS.Signer
        let ledger: CheckpointLedger
        let registrySigner: DetachedJWS.Signer
        let root: Certificate
        var next: [String: (sequence: UInt64, end: AuditTimestamp?)] = [:]
        var trees: [String: InMemoryMerkleTree] = [:]

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("compliance-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let pki = try DevelopmentPKI.initialise(at: directory.appendingPathComponent("pki"), instance: "VN", ocspURL: nil)
            func signer(_ holder: String) throws -> DetachedJWS.Signer {
                let issued = try pki.issue(role: .member, holderId: holder)
                return try DetachedJWS.Signer(
                    key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(pki.directory.appendingPathComponent(issued.keyPath))),
                    chain: try PEMFiles.readCertificates(pki.directory.appendingPathComponent(issued.certificatePath)))
            }
            consumerSigner = try signer(ComplianceTests.consumerMember.canonical)
            providerSigner = try signer(ComplianceTests.providerMember.canonical)
            registrySigner = try DetachedJWS.Signer(
                key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(pki.url(.configurationSigningKey))),
                chain: try PEMFiles.readCertificates(pki.url(.configurationSigningCertificate)))
            root = pki.rootCertificate
            ledger = try CheckpointLedger(path: directory.appendingPathComponent("checkpoints.sqlite").path, instance: "VN",
                                          signer: registrySigner, validator: CertificateValidator(trustAnchors: [root], revocation: nil))
        }

        /// Another ledger over the same file (migrations run again).
        func reopen() throws -> CheckpointLedger {
            try CheckpointLedger(path: directory.appendingPathComponent("checkpoints.sqlite").path, instance: "VN",
                                 signer: registrySigner, validator: CertificateValidator(trustAnchors: [root], revocation: nil))
        }

        var engine: ComplianceEngine { ComplianceEngine(ledger: ledger) }

        /// Signs and submits the next checkpoint of `server` (an empty log: only the usage
        /// counters and the window matter here), covering up to `end`.
        mutating func submit(_ server: String, until end: Date, _ usage: [UsageCounter]) async throws {
            let state = next[server] ?? (0, nil)
            guard let endStamp = AuditTimestamp(end) else { throw ComplianceQueryError("bad end") }
            // A tree with one (synthetic) leaf per record counted, so the counters add up to the
            // window's records as the registry requires; the first window starts at the earliest
            // usage window, so every counter lies inside it.
            var tree = trees[server] ?? InMemoryMerkleTree()
            let previous = tree.treeHead
            let records = usage.reduce(UInt64(0)) { $0 + $1.count }
            for _ in 0..<records { tree.append(leafHash: MerkleHash.plainSHA256(Array("\(server) \(tree.size)".utf8))) }
            let head = tree.treeHead
            let proof = previous.treeSize == 0 || previous.treeSize == head.treeSize
                ? [] : try tree.consistencyProof(oldSize: previous.treeSize, newSize: head.treeSize).path
            let start = state.end ?? min(endStamp, usage.map(\.key.window).min() ?? endStamp)
            let checkpoint = AuditCheckpoint(
                server: server, node: "default", sequence: state.sequence, tree: head, previous: state.sequence == 0 ? nil : previous,
                consistencyProof: proof, windowStart: start, windowEnd: endStamp, usage: usage)
            let body = checkpoint.canonicalBytes
            let signer = server == ComplianceTests.consumerServer ? consumerSigner : providerSigner
            let signature = try signer.sign(digest: MessageDigest.sha256(of: body)).compact
            let (_, created) = try await ledger.submit(body: body, signature: signature, ocsp: nil, from: try SecurityServerId(parsing: server),
                                                       registry: ComplianceTests.ledgerRegistry)
            #expect(created)
            next[server] = (state.sequence + 1, endStamp)
            trees[server] = tree
        }

        /// Submits both sides' counters: the consumer's to the consumer's server, the provider's to
        /// the provider's.
        mutating func submit(until end: Date, _ usage: [UsageCounter]) async throws {
            try await submit(ComplianceTests.consumerServer, until: end, usage.filter { $0.key.side == .consumer })
            try await submit(ComplianceTests.providerServer, until: end, usage.filter { $0.key.side == .provider })
        }
    }

    /// A counter of `count` exchanges of `milliseconds` each.
    static func counter(_ side: ExchangeSide, _ start: Date, agreement: String? = "AG-000001", outcome: ExchangeOutcome = .success,
                        errorType: String? = nil, count: Int, milliseconds: Int64 = 40, client: String? = ComplianceTests.client,
                        dataset: String? = ComplianceTests.dataset) -> UsageCounter {
        let window = UsageCounter.window(containing: AuditTimestamp(start)!)
        var counter = UsageCounter(key: UsageCounter.Key(
            side: side, window: window, client: client, service: service, dataset: dataset, agreement: agreement,
            outcome: outcome, errorType: errorType))
        for _ in 0..<count { counter.add(durationMilliseconds: milliseconds) }
        return counter
    }

    /// Both sides counting the same exchanges.
    static func both(_ start: Date, agreement: String? = "AG-000001", outcome: ExchangeOutcome = .success, errorType: String? = nil,
                     count: Int, milliseconds: Int64 = 40) -> [UsageCounter] {
        [counter(.consumer, start, agreement: agreement, outcome: outcome, errorType: errorType, count: count, milliseconds: milliseconds),
         counter(.provider, start, agreement: agreement, outcome: outcome, errorType: errorType, count: count, milliseconds: milliseconds)]
    }

    static func agreement(_ id: String, dataset: String = ComplianceTests.dataset, validFrom: Date = ComplianceTests.at(-60 * day),
                          status: AgreementStatus = .active) -> Agreement {
        Agreement(id: id, dataset: try! DatasetId(parsing: dataset), services: [try! ServiceId(parsing: service)],
                  consumer: try! SubsystemId(parsing: client), purposes: ["1.001234"], legalBasis: "Nghị định 47/2020/NĐ-CP",
                  validFrom: validFrom, validUntil: at(365 * day), status: status, createdAt: validFrom)
    }

    /// What the ledger checks checkpoints against: both servers (node `default`) and every
    /// agreement the tests' counters name.
    static let ledgerRegistry = snapshot(agreements: (1...7).map { agreement(String(format: "AG-%06d", $0)) })

    static func snapshot(agreements: [Agreement] = [agreement("AG-000001")], requests: [AccessRequest] = []) -> RegistrySnapshot {
        let created = at(-100 * day)
        return RegistrySnapshot(
            revision: 1,
            members: [Member(id: consumerMember, name: "UBND tỉnh Bắc Giang", kind: .province, createdAt: created),
                      Member(id: providerMember, name: "Bộ Công an", kind: .ministry, createdAt: created),
                      Member(id: try! MemberId(parsing: "VN/GOV/000.00.00.G01"), name: "Bộ Tư pháp", kind: .ministry, createdAt: created)],
            subsystems: [Subsystem(id: try! SubsystemId(parsing: client), createdAt: created),
                         Subsystem(id: try! SubsystemId(parsing: "VN/GOV/000.00.00.G22/DANCU"), createdAt: created)],
            servers: [SecurityServer(id: try! SecurityServerId(parsing: consumerServer), address: "ss1.h26:5500", tlsCertificate: "",
                                     tlsCertificateSHA256: String(repeating: "0", count: 64), createdAt: created),
                      SecurityServer(id: try! SecurityServerId(parsing: providerServer), address: "ss1.g22:5500", tlsCertificate: "",
                                     tlsCertificateSHA256: String(repeating: "1", count: 64), createdAt: created)],
            services: [Service(id: try! ServiceId(parsing: service), createdAt: created)],
            datasets: [Dataset(id: try! DatasetId(parsing: dataset), nameVi: "Cơ sở dữ liệu quốc gia về dân cư", nameEn: "Population",
                               classification: .confidential, personalData: true, legalBasis: "Luật Căn cước 2023",
                               services: [try! ServiceId(parsing: service)], createdAt: created),
                       Dataset(id: try! DatasetId(parsing: "VN/GOV/000.00.00.G22/datasets/cu-tru"), nameVi: "Cư trú", nameEn: "Residence",
                               classification: .confidential, personalData: true, legalBasis: "Luật Cư trú 2020", services: [], createdAt: created)],
            agreements: agreements, accessRequests: requests)
    }

    // MARK: - Figures

    @Test func figuresPerSideMatchWhatWasIngestedAndPartialDaysAreExact() async throws {
        var f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let w1 = Self.at(10 * Self.hour)                          // day 0, 10:00
        let w2 = Self.at(Self.day + 3 * Self.hour)                // day 1, 03:00
        let w3 = Self.at(2 * Self.day + 23 * Self.hour + 55 * 60) // day 2, 23:55
        try await f.submit(until: Self.at(11 * Self.hour), Self.both(w1, count: 5, milliseconds: 40))
        try await f.submit(until: Self.at(Self.day + 4 * Self.hour),
                           Self.both(w2, count: 7, milliseconds: 300)
                           + Self.both(w2, outcome: .refused, errorType: Self.maintenance, count: 2, milliseconds: 3))
        try await f.submit(until: Self.at(3 * Self.day + Self.hour),
                           [Self.counter(.consumer, w3, outcome: .failed, errorType: Self.backendFailed, count: 1, milliseconds: 60_000),
                            Self.counter(.provider, w3, outcome: .success, count: 1, milliseconds: 20_000)])
        let snapshot = Self.snapshot()
        let now = Self.at(10 * Self.day)

        // The whole of it: three days from the daily rollup.
        let all = try await f.engine.report(ComplianceQuery(from: Self.t0, to: Self.at(3 * Self.day)), snapshot: snapshot, now: now)
        let a = try #require(all.agreements.first { $0.id == "AG-000001" })
        #expect(a.consumerSide.served == 12 && a.consumerSide.refused == 2 && a.consumerSide.failed == 1)
        #expect(a.providerSide.served == 13 && a.providerSide.refused == 2 && a.providerSide.failed == 0)
        #expect(a.providerSide.refusedByReason == [ReasonCount(errorType: Self.maintenance, count: 2)])
        #expect(a.consumerSide.failedByReason == [ReasonCount(errorType: Self.backendFailed, count: 1)])
        #expect(a.consumerSide.successRate == 0.8)
        // Consumer successes: 5 at 40 ms (bucket ≤50), 7 at 300 ms (bucket ≤500).
        #expect(a.consumerSide.latencyP50Ms == 500 && a.consumerSide.latencyP95Ms == 500 && a.consumerSide.latencyP99Ms == 500)
        #expect(a.consumerSide.latencyMeanMs == 191.7)
        // Provider: 13 successes, one of them 20 s: p95 and p99 (the 13th) are in the overflow bucket.
        #expect(a.providerSide.latencyP99Ms == nil && a.providerSide.latencyP95Ms == nil && a.providerSide.latencyOverflow == ["p95", "p99"])
        #expect(a.providerSide.latencyP50Ms == 500)
        #expect(a.lastUsed == UsageCounter.window(containing: AuditTimestamp(w3)!).date)
        #expect(all.kpis.served == 12 && all.kpis.refused == 2 && all.kpis.failed == 1)
        #expect(all.kpis.exchangesPerDay.map(\.day) == ["2025-03-01", "2025-03-02", "2025-03-03"])
        #expect(all.kpis.exchangesPerDay.map(\.served) == [5, 7, 0] && all.kpis.exchangesPerDay.map(\.failed) == [0, 0, 1])
        #expect(all.kpis.membersRegistered == 3 && all.kpis.membersConnected == 2)
        #expect(all.kpis.ministriesRegistered == 2 && all.kpis.ministriesSharing == 1)
        #expect(all.kpis.provincesRegistered == 1 && all.kpis.provincesSharing == 1)
        let d = try #require(all.datasets.first { $0.id.canonical == Self.dataset })
        #expect(d.providerSide.served == 13 && d.consumerSide.served == 12 && d.agreementCount == 1)
        let g22 = try #require(all.agencies.first { $0.member == Self.providerMember })
        #expect(g22.datasetsOwned == 2 && g22.datasetsProvided == 1 && g22.agreementsAsProvider == 1 && g22.agreementsUsed == 1)
        #expect(g22.providerServed == 13 && g22.providerTotal == 15 && g22.fulfilmentRate == 0.866667)
        let h26 = try #require(all.agencies.first { $0.member == Self.consumerMember })
        #expect(h26.datasetsConsumed == 1 && h26.agreementsAsConsumer == 1 && h26.shareUsed == 1)

        // Partial days only: [10:00 day 0, 03:00 day 1) holds w1 and not w2 (a window belongs to
        // the period when its start does).
        let edges = try await f.engine.report(ComplianceQuery(from: w1, to: w2), snapshot: snapshot, now: now)
        #expect(edges.agreements[0].consumerSide.served == 5 && edges.agreements[0].providerSide.refused == 0)
        let shifted = try await f.engine.report(ComplianceQuery(from: w1.addingTimeInterval(1), to: w2.addingTimeInterval(1)),
                                                snapshot: snapshot, now: now)
        #expect(shifted.agreements[0].consumerSide.served == 7 && shifted.agreements[0].providerSide.refused == 2)
        // Edges and a whole day in between: [05:00 day 0, 23:56 day 2).
        let mixed = try await f.engine.report(ComplianceQuery(from: Self.at(5 * Self.hour), to: w3.addingTimeInterval(60)),
                                              snapshot: snapshot, now: now)
        #expect(mixed.agreements[0].consumerSide == a.consumerSide && mixed.agreements[0].providerSide == a.providerSide)
        // A whole calendar month (March, from the monthly rollup) with whole days and partial
        // days on either side.
        let months = try await f.engine.report(ComplianceQuery(from: Self.at(-14 * Self.day - 3 * Self.hour), to: Self.at(40 * Self.day + Self.hour)),
                                               snapshot: snapshot, now: now)
        #expect(months.agreements[0].consumerSide == a.consumerSide && months.agreements[0].providerSide == a.providerSide)
        #expect(months.kpis.exchangesPerDay.count == 56 && months.kpis.served == 12)
        // ... and without the last window.
        let before = try await f.engine.report(ComplianceQuery(from: Self.at(5 * Self.hour), to: w3), snapshot: snapshot, now: now)
        #expect(before.agreements[0].consumerSide.failed == 0 && before.agreements[0].providerSide.served == 12)

        // Last use as of a period's end in the past: through the daily rollup, and through the raw
        // rows of a partial last day.
        let firstDay = try await f.engine.report(ComplianceQuery(from: Self.t0, to: Self.at(Self.day)), snapshot: snapshot, now: now)
        #expect(firstDay.agreements[0].lastUsed == w1)
        let partial = try await f.engine.report(ComplianceQuery(from: Self.t0, to: w2.addingTimeInterval(60)), snapshot: snapshot, now: now)
        #expect(partial.agreements[0].lastUsed == w2)
        let nothing = try await f.engine.report(ComplianceQuery(from: Self.at(-Self.day), to: Self.t0), snapshot: snapshot, now: now)
        #expect(nothing.agreements[0].lastUsed == nil && nothing.agreements[0].consumerSide == UsageFigures())

        // Filters.
        let other = try await f.engine.report(ComplianceQuery(from: Self.t0, to: Self.at(3 * Self.day),
                                                              member: try MemberId(parsing: "VN/GOV/000.00.00.G01")),
                                              snapshot: snapshot, now: now)
        #expect(other.agreements.isEmpty && other.kpis.served == 0 && other.kpis.membersRegistered == 1)
        let byDataset = try await f.engine.report(ComplianceQuery(from: Self.t0, to: Self.at(3 * Self.day),
                                                                  dataset: try DatasetId(parsing: Self.dataset)),
                                                  snapshot: snapshot, now: now)
        #expect(byDataset.kpis.served == 12 && byDataset.datasets.count == 1)

        // The JSON uses snake_case keys and decodes back to the same report.
        let data = try RegistryJSON.makeEncoder().encode(all)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"latency_p50_ms\":500") && text.contains("\"not_shared\":") && text.contains("\"exchanges_per_day\":"))
        #expect(try RegistryJSON.makeDecoder().decode(ComplianceReport.self, from: data) == all)
    }

    @Test func countersFromARealAuditLogAreIngested() async throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let log = try await AuditLog(store: try SQLiteAuditLeafStore(path: f.directory.appendingPathComponent("log.sqlite").path),
                                     protector: try PersonalDataProtector(key: [UInt8](repeating: 1, count: 32)))
        let started = Date()
        for i in 0..<6 {
            var event = ExchangeEvent(side: .consumer, server: Self.consumerServer, method: "GET", startedAt: started)
            event.messageId = "m\(i)"
            event.client = Self.client
            event.service = Self.service
            event.dataset = Self.dataset
            event.agreement = "AG-000001"
            event.status = i < 4 ? 200 : 503
            event.outcome = i < 4 ? .success : .refused
            event.errorType = i < 4 ? nil : Self.maintenance
            event.endedAt = started.addingTimeInterval(0.02)
            try await log.record(event)
        }
        let signer = f.consumerSigner
        let stored = try await log.makeCheckpoint(server: Self.consumerServer, node: "default", at: Date()) {
            try signer.sign(digest: $0.digest).compact
        }
        _ = try await f.ledger.submit(body: stored.body, signature: stored.signature, ocsp: nil,
                                      from: try SecurityServerId(parsing: Self.consumerServer), registry: Self.ledgerRegistry)
        let report = try await f.engine.report(ComplianceQuery(from: started.addingTimeInterval(-3_600), to: started.addingTimeInterval(3_600)),
                                               snapshot: Self.snapshot(), now: Date())
        #expect(report.agreements[0].consumerSide.served == 4 && report.agreements[0].consumerSide.refused == 2)
        #expect(report.agreements[0].consumerSide.latencyP50Ms == 25)
        #expect(report.kpis.membersConnected == 1)
        #expect(try f.ledger.latestWindowEnds()[Self.consumerServer] != nil)
    }

    @Test func resubmissionsAreNotCountedTwiceAndTheMigrationBackfills() async throws {
        var f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let w = Self.at(9 * Self.hour)
        try await f.submit(until: Self.at(10 * Self.hour), Self.both(w, count: 3))
        // The same checkpoint again (a lost answer): the stored receipt, nothing counted.
        let again = try #require(try await f.ledger.entries(server: Self.consumerServer).first)
        let (_, created) = try await f.ledger.submit(body: again.body, signature: again.signature, ocsp: nil,
                                                     from: try SecurityServerId(parsing: Self.consumerServer), registry: Self.ledgerRegistry)
        #expect(!created)
        let query = ComplianceQuery(from: Self.t0, to: Self.at(Self.day))
        let first = try await f.engine.report(query, snapshot: Self.snapshot(), now: Self.at(Self.day))
        #expect(first.agreements[0].consumerSide.served == 3 && first.agreements[0].providerSide.served == 3)

        // A ledger from before the usage tables: they are built from the stored checkpoints.
        let queue = try DatabaseQueue(path: f.directory.appendingPathComponent("checkpoints.sqlite").path)
        try await queue.write { db in
            for table in ["usage_windows", "usage_daily", "usage_monthly", "usage_reconciliation", "usage_last", "checkpoint_heads", "checkpoint_days"] {
                try db.execute(sql: "DROP TABLE \(table)")
            }
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v2-usage'")
        }
        try queue.close()
        let reopened = try f.reopen()
        let rebuilt = try await ComplianceEngine(ledger: reopened).report(query, snapshot: Self.snapshot(), now: Self.at(Self.day))
        #expect(rebuilt == first)
    }

    // MARK: - Discrepancies

    @Test func discrepanciesFlagUnderReportingButNotStraddlesOrUnsettledWindows() async throws {
        var f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let a = Self.at(10 * Self.hour)          // provider under-reports by 3
        let b = Self.at(12 * Self.hour)          // two exchanges straddle b → b+5min
        let e = Self.at(14 * Self.hour)          // provider over-reports by 2
        let c = Self.at(20 * Self.hour)          // provider under-reports, but has not checkpointed that far
        try await f.submit(until: Self.at(15 * Self.hour), [
            Self.counter(.consumer, a, count: 10), Self.counter(.provider, a, count: 7),
            Self.counter(.consumer, b, count: 10), Self.counter(.provider, b, count: 8),
            Self.counter(.consumer, b.addingTimeInterval(Self.window), count: 5),
            Self.counter(.provider, b.addingTimeInterval(Self.window), count: 7),
            Self.counter(.consumer, b.addingTimeInterval(2 * Self.window), count: 6),
            Self.counter(.provider, b.addingTimeInterval(2 * Self.window), count: 6),
            Self.counter(.consumer, e, count: 3), Self.counter(.provider, e, count: 5),
        ])
        // The consumer's server goes on checkpointing; the provider's stops at 20:04.
        try await f.submit(Self.consumerServer, until: Self.at(22 * Self.hour),
                           [Self.counter(.consumer, c, count: 4)])
        try await f.submit(Self.providerServer, until: Self.at(20 * Self.hour + 4 * 60),
                           [Self.counter(.provider, c, count: 2)])
        let report = try await f.engine.report(ComplianceQuery(from: Self.t0, to: Self.at(Self.day)), snapshot: Self.snapshot(),
                                               now: Self.at(2 * Self.day), sections: [.discrepancies])
        let settled = report.discrepancies.filter { $0.settled }
        #expect(settled.map(\.windowStart) == [a, e])
        // c is not settled: listed as provisional, on what both sides reported so far.
        let provisional = report.discrepancies.filter { !$0.settled }
        #expect(provisional.map(\.windowStart) == [c])
        #expect(provisional.first?.unexplained == 2)
        let under = try #require(settled.first)
        #expect(under.consumerServed == 10 && under.providerServed == 7 && under.difference == 3 && under.unexplained == 3)
        #expect(under.agreement == "AG-000001" && under.consumerMember == Self.consumerMember.canonical
                && under.providerMember == Self.providerMember.canonical)
        #expect(settled.last?.unexplained == -2)
        #expect(report.agreements.isEmpty, "only the discrepancies were asked for")

        // Once the provider's checkpoints pass the window (and the margin), c is settled and flagged.
        try await f.submit(Self.providerServer, until: Self.at(21 * Self.hour), [])
        let later = try await f.engine.report(ComplianceQuery(from: Self.t0, to: Self.at(Self.day)), snapshot: Self.snapshot(),
                                              now: Self.at(2 * Self.day), sections: [.discrepancies])
        #expect(later.discrepancies.map(\.windowStart) == [a, e, c])
        let allSettled = later.discrepancies.allSatisfy { $0.settled }
        #expect(allSettled)
        // A period starting inside the straddle still reconciles it with the window before.
        let inside = try await f.engine.report(ComplianceQuery(from: b.addingTimeInterval(Self.window), to: Self.at(13 * Self.hour)),
                                               snapshot: Self.snapshot(), now: Self.at(2 * Self.day), sections: [.discrepancies])
        #expect(inside.discrepancies.isEmpty)
    }

    @Test func aSurplusCrossesAtMostAnHourOfBusyWindowsAndIsFlaggedWhereItArose() async throws {
        var f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        func window(_ start: Date, _ k: Int) -> Date { start.addingTimeInterval(Double(k) * Self.window) }
        func pair(_ start: Date, _ consumer: Int, _ provider: Int) -> [UsageCounter] {
            [Self.counter(.consumer, start, count: consumer), Self.counter(.provider, start, count: provider)]
        }
        let k = Self.at(16 * Self.hour), m = Self.at(17 * Self.hour), n = Self.at(18 * Self.hour + 30 * 60), q = Self.at(19 * Self.hour)
        var usage: [UsageCounter] = []
        // +1, one busy window with equal counts, −1: exchanges straddled two boundaries in turn.
        usage += pair(k, 10, 9) + pair(window(k, 1), 10, 10) + pair(window(k, 2), 10, 11)
        // +1, thirteen busy windows, −1: too far apart to be one straddle chain.
        usage += pair(m, 10, 9) + (1...13).flatMap { pair(window(m, $0), 10, 10) } + pair(window(m, 14), 10, 11)
        // +1, an idle window, −1: nothing can have straddled through a window without exchanges.
        usage += pair(n, 10, 9) + pair(window(n, 2), 10, 11)
        // A real under-report (+1), then a straddle (+2, −2): the under-report is flagged where it
        // arose, the straddle is not.
        usage += pair(q, 10, 9) + pair(window(q, 1), 10, 8) + pair(window(q, 2), 10, 12)
        try await f.submit(until: Self.at(21 * Self.hour), usage)
        let report = try await f.engine.report(ComplianceQuery(from: Self.t0, to: Self.at(Self.day)), snapshot: Self.snapshot(),
                                               now: Self.at(2 * Self.day), sections: [.discrepancies])
        #expect(report.discrepancies.map(\.windowStart) == [m, window(m, 14), n, window(n, 2), q])
        #expect(report.discrepancies.map(\.unexplained) == [1, -1, 1, -1, 1])
        #expect(report.discrepancies.map(\.difference) == [1, -1, 1, -1, 1])
    }

    // MARK: - Findings

    @Test func dormantNotSharedWithoutAgreementPendingAndRefusals() async throws {
        var f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let to = Self.at(40 * Self.day)
        let recent = Self.at(35 * Self.day)
        let old = Self.at(2 * Self.day)
        var usage: [UsageCounter] = []
        usage += Self.both(recent, count: 4)                                          // AG-000001 used recently
        usage += Self.both(old, agreement: "AG-000004", count: 2)                     // AG-000004 used 38 days before `to`
        usage += [Self.counter(.provider, recent, agreement: "AG-000003", count: 3),  // AG-000003: provider refuses and fails
                  Self.counter(.provider, recent, agreement: "AG-000003", outcome: .refused, errorType: "Server.ServerProxy.ServiceDisabled", count: 2),
                  Self.counter(.provider, recent, agreement: "AG-000003", outcome: .failed, errorType: Self.backendFailed, count: 5),
                  Self.counter(.consumer, recent, agreement: "AG-000003", count: 3)]
        usage += [Self.counter(.consumer, recent, agreement: "AG-000005", count: 1),  // AG-000005: the provider reported nothing
                  Self.counter(.consumer, recent, agreement: "AG-000005", outcome: .failed, errorType: "Server.ClientProxy.NetworkError", count: 4)]
        // Attempts without an agreement: refused by the consumer's own server, twice, on two days.
        usage += [Self.counter(.consumer, Self.at(20 * Self.day), agreement: nil, outcome: .refused, errorType: Self.denied, count: 3),
                  Self.counter(.consumer, Self.at(30 * Self.day + 7 * Self.hour), agreement: nil, outcome: .refused, errorType: Self.denied, count: 2),
                  // ... and by the provider once, for a service without a dataset named.
                  Self.counter(.provider, Self.at(31 * Self.day), agreement: nil, outcome: .refused, errorType: "Server.ServerProxy.AccessDenied",
                               count: 1, dataset: nil),
                  // Not an access refusal: left out.
                  Self.counter(.consumer, Self.at(31 * Self.day), agreement: nil, outcome: .refused, errorType: Self.maintenance, count: 9)]
        try await f.submit(until: Self.at(39 * Self.day), usage)

        let requests = [
            AccessRequest(id: "AR-000001", consumer: try SubsystemId(parsing: Self.client), dataset: try DatasetId(parsing: Self.dataset),
                          services: [], purposes: ["1.001"], justification: "thủ tục hành chính", legalBasis: "NĐ 47/2020",
                          requestedUntil: nil, requestedAt: Self.at(40 * Self.day - 20 * Self.day)),
            AccessRequest(id: "AR-000002", consumer: try SubsystemId(parsing: Self.client), dataset: try DatasetId(parsing: Self.dataset),
                          services: [], purposes: ["1.002"], justification: "x", legalBasis: "y", requestedUntil: nil,
                          requestedAt: Self.at(40 * Self.day - 3 * Self.day)),
            AccessRequest(id: "AR-000003", consumer: try SubsystemId(parsing: Self.client), dataset: try DatasetId(parsing: Self.dataset),
                          services: [], purposes: ["1.003"], justification: "x", legalBasis: "y", requestedUntil: nil, requestedAt: Self.at(5 * Self.day),
                          decision: AccessDecision(outcome: .refused, reason: "Không đủ căn cứ, \"mục đích\" chưa rõ", legalBasis: "Điều 16 NĐ 194/2025",
                                                   decidedBy: "CN=admin", decidedAt: Self.at(12 * Self.day), agreementId: nil)),
            AccessRequest(id: "AR-000004", consumer: try SubsystemId(parsing: Self.client), dataset: try DatasetId(parsing: Self.dataset),
                          services: [], purposes: ["1.004"], justification: "x", legalBasis: "y", requestedUntil: nil, requestedAt: Self.at(-50 * Self.day),
                          decision: AccessDecision(outcome: .refused, reason: "cũ", legalBasis: "z", decidedBy: "CN=admin",
                                                   decidedAt: Self.at(-40 * Self.day), agreementId: nil)),
        ]
        let agreements = ["AG-000001", "AG-000002", "AG-000003", "AG-000004", "AG-000005"].map { Self.agreement($0) }
            + [Self.agreement("AG-000006", validFrom: Self.at(20 * Self.day)),           // too recent to be dormant
               Self.agreement("AG-000007", status: .suspended)]                          // not in force
        let snapshot = Self.snapshot(agreements: agreements, requests: requests)
        let report = try await f.engine.report(ComplianceQuery(from: Self.t0, to: to), snapshot: snapshot, now: to)

        #expect(report.dormant.map(\.id) == ["AG-000002", "AG-000004"])
        let never = report.dormant[0]
        #expect(never.lastUsed == nil && never.idleDays == 100)
        let idle = report.dormant[1]
        #expect(idle.lastUsed == old && idle.idleDays == 37)
        let agreementFour = try #require(report.agreements.first { $0.id == "AG-000004" })
        #expect(agreementFour.lastUsed == old)

        #expect(report.notShared.map(\.id) == ["AG-000003", "AG-000005"])
        let three = report.notShared[0]
        #expect(three.basis == "provider" && three.total == 10 && three.served == 3 && three.refused == 2 && three.failed == 5 && three.share == 0.7)
        #expect(three.reasons.first == ReasonCount(errorType: Self.backendFailed, count: 5))
        #expect(report.notShared[1].basis == "consumer" && report.notShared[1].share == 0.8)
        let lenient = try await f.engine.report(ComplianceQuery(from: Self.t0, to: to, notSharedThreshold: 0.75), snapshot: snapshot, now: to)
        #expect(lenient.notShared.map(\.id) == ["AG-000005"])

        #expect(report.withoutAgreement.count == 2)
        let byConsumer = try #require(report.withoutAgreement.first { $0.refusedBy == "consumer" })
        #expect(byConsumer.count == 5 && byConsumer.client == Self.client && byConsumer.consumerMember == Self.consumerMember.canonical)
        #expect(byConsumer.target == Self.dataset && byConsumer.targetKind == "dataset")
        #expect(byConsumer.firstWindow == Self.at(20 * Self.day) && byConsumer.lastWindow == Self.at(30 * Self.day + 7 * Self.hour))
        let byProvider = try #require(report.withoutAgreement.first { $0.refusedBy == "provider" })
        #expect(byProvider.count == 1 && byProvider.target == Self.service && byProvider.targetKind == "service")

        #expect(report.pendingRequests.map(\.id) == ["AR-000001", "AR-000002"])
        #expect(report.pendingRequests.map(\.ageDays) == [20, 3] && report.pendingRequests.map(\.overdue) == [true, false])
        #expect(report.refusals.map(\.id) == ["AR-000003"])
        #expect(report.refusals[0].legalBasis == "Điều 16 NĐ 194/2025" && report.refusals[0].decidedBy == "CN=admin")

        // Tables and CSV for every section.
        for section in ComplianceSection.allCases {
            let table = report.table(section)
            #expect(table.rows.allSatisfy { $0.count == table.header.count }, "\(section)")
        }
        let csv = ComplianceReport.csv(header: report.table(.refusals).header, rows: report.table(.refusals).rows)
        #expect(csv.contains("\"Không đủ căn cứ, \"\"mục đích\"\" chưa rõ\""))
        #expect(report.table(.dormant).rows.map { $0[0] } == ["AG-000002", "AG-000004"])
        #expect(report.table(.pendingRequests).rows.map { $0.last } == ["yes", "no"])
    }

    // MARK: - Validation and CSV

    @Test func invalidQueriesAreRefused() async throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let bad = [
            ComplianceQuery(from: Self.t0, to: Self.t0),
            ComplianceQuery(from: Self.at(Self.day), to: Self.t0),
            ComplianceQuery(from: Self.t0, to: Self.at(1_097 * Self.day)),
            ComplianceQuery(from: Self.t0, to: Self.at(Self.day), dormantDays: 0),
            ComplianceQuery(from: Self.t0, to: Self.at(Self.day), dormantDays: 3_651),
            ComplianceQuery(from: Self.t0, to: Self.at(Self.day), notSharedThreshold: 1.5),
            ComplianceQuery(from: Self.t0, to: Self.at(Self.day), notSharedThreshold: -0.1),
            ComplianceQuery(from: Self.t0, to: Self.at(Self.day), notSharedThreshold: .nan),
            ComplianceQuery(from: Self.t0, to: Self.at(Self.day), pendingDeadlineDays: -1),
            ComplianceQuery(from: Self.t0, to: Self.at(Self.day), pendingDeadlineDays: 3_651),
        ]
        for query in bad {
            await #expect(throws: ComplianceQueryError.self) {
                _ = try await f.engine.report(query, snapshot: Self.snapshot(), now: Self.t0)
            }
        }
        let longest = ComplianceQuery(from: Self.t0, to: Self.at(1_096 * Self.day), dormantDays: 3_650, notSharedThreshold: 1,
                                      pendingDeadlineDays: 0)
        #expect(throws: Never.self) { try longest.validate() }
        let report = try await f.engine.report(longest, snapshot: Self.snapshot(), now: Self.t0)
        #expect(report.kpis.exchangesPerDay.count == 1_096 && report.kpis.served == 0)
    }

    @Test func csvFollowsRFC4180() {
        let text = ComplianceReport.csv(header: ["a", "b c"], rows: [["x,y", "say \"hi\""], ["line\nbreak", "plain"], ["", " padded"], ["cr\r", "ok"]])
        #expect(text == "a,b c\r\n\"x,y\",\"say \"\"hi\"\"\"\r\n\"line\nbreak\",plain\r\n,\" padded\"\r\n\"cr\r\",ok\r\n")
        #expect(ComplianceReport.csv(header: ["only"], rows: []) == "only\r\n")
        // Formulas are defused; negative numbers are left alone.
        let formulas = ComplianceReport.csv(header: ["x"], rows: [["=HYPERLINK(\"http://x\")"], ["+1+1"], ["@SUM(A1)"], ["-2"], ["-cmd"], ["\tx"]])
        #expect(formulas == "x\r\n\"'=HYPERLINK(\"\"http://x\"\")\"\r\n'+1+1\r\n'@SUM(A1)\r\n-2\r\n'-cmd\r\n'\tx\r\n")
    }
}
