import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongServer
import NIOHTTP1
import LienThongTrust

/// What `lienthong demo --once --json` prints.
struct DemoSummary: Encodable, Sendable {
    /// One thing the demo expected, and what it saw.
    struct Expectation: Encodable, Sendable {
        var name: String
        var expected: String
        var actual: String
        var held: Bool
    }

    var expectations: [Expectation] = []
    var allHeld: Bool { !expectations.isEmpty && expectations.allSatisfy(\.held) }
    var exchangesSent = 0
    var evidenceExchange = ""
    var evidenceFile = ""
    var networkFile = ""
    var seconds: Double = 0

    enum CodingKeys: String, CodingKey {
        case expectations, allHeld, exchangesSent, evidenceExchange, evidenceFile, networkFile, seconds
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(expectations, forKey: .expectations)
        try c.encode(allHeld, forKey: .allHeld)
        try c.encode(exchangesSent, forKey: .exchangesSent)
        try c.encode(evidenceExchange, forKey: .evidenceExchange)
        try c.encode(evidenceFile, forKey: .evidenceFile)
        try c.encode(networkFile, forKey: .networkFile)
        try c.encode(seconds, forKey: .seconds)
    }

    mutating func expect<T: Equatable & CustomStringConvertible>(_ name: String, _ actual: T, _ expected: T) {
        expectations.append(Expectation(name: name, expected: expected.description, actual: actual.description, held: actual == expected))
    }

    /// Records a step that threw as a failed expectation, with the error's description.
    mutating func failed(_ error: any Error) {
        expectations.append(Expectation(name: "the demo ran to the end", expected: "no error",
                                        actual: "error: \(String(describing: error))", held: false))
    }
}

/// The demo's story: traffic through the real exchange path (lookups, an expired agreement, an
/// attempt without any agreement, a wrong purpose, a provider veto window), then checkpoints, the
/// compliance view through the auditor API, and one exchange's evidence fetched from both servers
/// through the registry.
struct DemoStory: Sendable {
    let running: DemoNetworkRunner.Running
    let registry: DemoRegistry.Handle
    let pki: DevelopmentPKI
    let auditorFiles: (String, String)
    let out: DemoOutput

    /// What the traffic should produce, per agreement (both sides) and per attempt without one.
    struct Sent {
        var served: [String: Int] = [:]
        var refusedByProvider: [String: Int] = [:]
        var withoutAgreement: [String: Int] = [:]  // "client dataset" → count
        /// The attempt by a consumer for a dataset no agreement of any status covers.
        var noAgreementAtAll: (client: String, dataset: String)?
        var total = 0
        var evidenceExchange = ""
    }

    /// Runs the story, adding each expectation to `summary` as it is checked. If a step throws,
    /// the expectations checked so far stay in `summary` and the error is rethrown (the caller
    /// records it as a failed expectation).
    func run(into summary: inout DemoSummary) async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let operations = try ServerOperationsClient(certificateFile: running.node(DemoRegistry.justice).adminCert,
                                                    keyFile: running.node(DemoRegistry.justice).adminKey, caFile: pki.url(.rootCertificate).path)
        let auditor = try RegistryAPIClient(baseURL: registry.baseURL, certificateFile: auditorFiles.0, keyFile: auditorFiles.1,
                                            caFile: pki.url(.rootCertificate).path)
        let result: Result<Void, any Error>
        do {
            let sent = try await traffic(http, operations: operations, summary: &summary)
            summary.exchangesSent = sent.total
            try await waitForCheckpoints()
            try await compliance(auditor, sent: sent, summary: &summary)
            try await evidence(auditor, exchange: sent.evidenceExchange, summary: &summary)
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try? await http.shutdown()
        try? await operations.shutdown()
        try? await auditor.shutdown()
        try result.get()
    }

    // MARK: - Traffic

    private func traffic(_ http: HTTPClient, operations: ServerOperationsClient, summary: inout DemoSummary) async throws -> Sent {
        var sent = Sent()
        let a = registry.agreements
        let hanoi = try running.node(DemoRegistry.hanoi).ports.client
        let danang = try running.node(DemoRegistry.danang).ports.client
        let population = "/r1/\(DemoRegistry.population)/v1/"
        let civil = "/r1/\(DemoRegistry.civilStatus)/v1/"
        var identity = 199_000_100

        func lookup(_ port: Int, _ client: String, _ base: String, purpose: String) async throws -> DemoExchange.Answer {
            identity += 7
            sent.total += 1
            return try await DemoExchange.call(http, port, base + "001\(identity)", client: client, purpose: purpose)
        }
        func served(_ answer: DemoExchange.Answer, _ agreement: String, _ label: String) throws {
            guard answer.status == 200 else {
                throw DemoError("\(label) should have succeeded: \(answer.status) \(answer.headers.first(name: "X-Road-Error") ?? "") \(answer.body.prefix(200))")
            }
            sent.served[agreement, default: 0] += 1
        }

        out.step("5. Traffic through the real exchange path (signed, checked, logged on both sides)")
        var first: DemoExchange.Answer?
        for _ in 0..<6 {
            let answer = try await lookup(hanoi, DemoRegistry.hanoiOneStop, population, purpose: DemoRegistry.purposeResidence)
            try served(answer, a.hanoiPopulation, "Hà Nội → dân cư")
            if first == nil { first = answer }
        }
        if let first {
            out.say("   Hà Nội LGSP → Bộ Công an, population lookup (purpose \(DemoRegistry.purposeResidence)): \(first.status)  \(first.body)")
            out.say("     X-Road-Id \(first.headers.first(name: "X-Road-Id") ?? "-"), X-Road-Request-Hash \(first.headers.first(name: "X-Road-Request-Hash")?.prefix(24) ?? "-")…")
            sent.evidenceExchange = first.headers.first(name: "X-Road-Id") ?? ""
        }
        for _ in 0..<5 {
            try served(try await lookup(danang, DemoRegistry.danangOneStop, population, purpose: DemoRegistry.purposeResidence), a.danangPopulation, "Đà Nẵng → dân cư")
        }
        for _ in 0..<4 {
            try served(try await lookup(hanoi, DemoRegistry.hanoiOneStop, civil, purpose: DemoRegistry.purposeBirth), a.hanoiCivilStatus, "Hà Nội → hộ tịch")
        }
        out.say("   successful lookups: Hà Nội → dân cư ×6, Đà Nẵng → dân cư ×5, Hà Nội → hộ tịch ×4")

        for _ in 0..<2 {
            let answer = try await lookup(danang, DemoRegistry.danangOneStop, civil, purpose: DemoRegistry.purposeBirth)
            guard answer.status != 200 else { throw DemoError("an expired agreement let Đà Nẵng read hộ tịch") }
            if sent.withoutAgreement["\(DemoRegistry.danangOneStop) \(DemoRegistry.civilStatusDataset)"] == nil {
                out.say("   Đà Nẵng → hộ tịch, agreement \(a.expired) expired: \(answer.status) \(answer.headers.first(name: "X-Road-Error") ?? "-") — \(Self.message(answer))")
            }
            sent.withoutAgreement["\(DemoRegistry.danangOneStop) \(DemoRegistry.civilStatusDataset)", default: 0] += 1
        }
        // No agreement of any status covers Đà Nẵng's residents subsystem on hộ tịch: its own
        // server refuses before sending, and says that no agreement exists (not that one lapsed).
        let unagreed = try await lookup(danang, DemoRegistry.danangResidents, civil, purpose: DemoRegistry.purposeBirth)
        guard unagreed.status != 200 else { throw DemoError("Đà Nẵng's residents subsystem read hộ tịch without any agreement") }
        summary.expect("no agreement at all: \(DemoRegistry.danangResidents) → hộ tịch refused with",
                       unagreed.headers.first(name: "X-Road-Error") ?? "-", "Server.ClientProxy.AccessDenied")
        summary.expect("no agreement at all: the refusal says no agreement exists",
                       Self.message(unagreed).hasPrefix("No sharing agreement allows \(DemoRegistry.danangResidents)"), true)
        sent.withoutAgreement["\(DemoRegistry.danangResidents) \(DemoRegistry.civilStatusDataset)", default: 0] += 1
        sent.noAgreementAtAll = (DemoRegistry.danangResidents, DemoRegistry.civilStatusDataset)
        out.say("   Đà Nẵng QLDC → hộ tịch, no agreement of any status: \(unagreed.status) \(unagreed.headers.first(name: "X-Road-Error") ?? "-") — \(Self.message(unagreed))")

        let wrong = try await lookup(hanoi, DemoRegistry.hanoiOneStop, population, purpose: DemoRegistry.purposeHousing)
        guard wrong.status != 200 else { throw DemoError("a wrong purpose was let through") }
        sent.withoutAgreement["\(DemoRegistry.hanoiOneStop) \(DemoRegistry.populationDataset)", default: 0] += 1
        out.say("   Hà Nội → dân cư for purpose \(DemoRegistry.purposeHousing) (not agreed; request still pending): \(wrong.status) \(wrong.headers.first(name: "X-Road-Error") ?? "-") — \(Self.message(wrong))")

        let justice = try running.node(DemoRegistry.justice)
        let address = "127.0.0.1:\(justice.ports.interServer)"
        _ = try await operations.setVeto(server: address, VetoSettings(maintenance: true))
        out.say("   Bộ Tư pháp's operator puts its server in maintenance (PUT /admin/v1/veto with the certificate the registry registered as Bộ Tư pháp's operator, published by hash in the global configuration): the data owner's veto")
        for _ in 0..<3 {
            let answer = try await lookup(hanoi, DemoRegistry.hanoiOneStop, civil, purpose: DemoRegistry.purposeBirth)
            guard answer.status != 200 else { throw DemoError("the provider's veto was not applied") }
            if sent.refusedByProvider[a.hanoiCivilStatus] == nil {
                out.say("   Hà Nội → hộ tịch during the veto window: \(answer.status) \(answer.headers.first(name: "X-Road-Error") ?? "-") (×3)")
            }
            sent.refusedByProvider[a.hanoiCivilStatus, default: 0] += 1
        }
        _ = try await operations.setVeto(server: address, VetoSettings(maintenance: false))
        try served(try await lookup(hanoi, DemoRegistry.hanoiOneStop, civil, purpose: DemoRegistry.purposeBirth), a.hanoiCivilStatus, "Hà Nội → hộ tịch after the veto")
        out.say("   veto lifted; Hà Nội → hộ tịch succeeds again. \(sent.total) exchanges in all.")
        summary.expect("exchanges answered as the story says", sent.total, 23)
        return sent
    }

    private static func message(_ answer: DemoExchange.Answer) -> String {
        struct Body: Decodable { var message: String }
        return (try? JSONDecoder().decode(Body.self, from: Data(answer.body.utf8)).message) ?? String(answer.body.prefix(160))
    }

    // MARK: - Checkpoints

    /// Waits until each server's log is fully covered by checkpoints the registry countersigned,
    /// verifying each log offline against the root CA.
    private func waitForCheckpoints() async throws {
        out.step("6. Audit logs: each server checkpoints every \(DemoRegistry.checkpointIntervalSeconds) s; the registry countersigns and ingests the usage counters")
        let anchors = [pki.rootCertificate]
        for node in running.nodes.values.sorted(by: { $0.member < $1.member }) {
            var report: AuditVerificationReport?
            let deadline = Date().addingTimeInterval(Double(DemoRegistry.checkpointIntervalSeconds) * 10 + 10)
            while Date() < deadline {
                let current = try await AuditLogVerifier.verify(try SQLiteAuditLeafStore(path: node.auditLog.path), anchors: anchors)
                report = current
                if current.uncheckpointedRecords == 0, current.receipts == current.checkpoints, current.receipts > 0 { break }
                try await Task.sleep(for: .milliseconds(300))
            }
            guard let report, report.uncheckpointedRecords == 0, report.receipts == report.checkpoints else {
                throw DemoError("the audit log of \(node.name) was not checkpointed in time")
            }
            out.say("   \(node.name.padding(toLength: 13, withPad: " ", startingAt: 0)) \(report.treeHead.treeSize) records, \(report.checkpoints) checkpoints, all countersigned; verified offline against the root CA")
        }
    }

    // MARK: - Compliance

    private func compliance(_ auditor: RegistryAPIClient, sent: Sent, summary: inout DemoSummary) async throws {
        out.step("7. The compliance view, read through the auditor API (mutual TLS, auditor certificate; every query lands in the admin audit trail)")
        let answer = try await auditor.getRaw("/api/v1/auditor/compliance?dormant_days=30&threshold=0.2")
        guard answer.status == 200 else { throw DemoError("the auditor API answered \(answer.status): \(String(decoding: answer.body.prefix(300), as: UTF8.self))") }
        let report = try RegistryJSONCoder.decoder().decode(ComplianceReport.self, from: answer.body)
        for section: ComplianceSection in [.kpis, .agreements, .agencies, .dormant, .notShared, .withoutAgreement, .discrepancies, .pendingRequests, .refusals] {
            let table = AuditorCommand.readableTable(section, of: report)
            out.say(AuditorCommand.title(section))
            out.say(TextTable.render(header: table.header, rows: table.rows))
        }
        DemoExpectations.check(report, sent: sent, agreements: registry.agreements, into: &summary)

        let denied = try RegistryAPIClient(baseURL: registry.baseURL, certificateFile: running.node(DemoRegistry.justice).adminCert,
                                           keyFile: running.node(DemoRegistry.justice).adminKey, caFile: pki.url(.rootCertificate).path)
        let refused = try? await denied.getRaw("/api/v1/auditor/compliance")
        try? await denied.shutdown()
        summary.expect("auditor API refuses an admin certificate", refused?.status ?? 0, 403)
        let bad = try await auditor.getRaw("/api/v1/auditor/compliance?from=yesterday")
        summary.expect("auditor API refuses a bad parameter", bad.status, 400)
        out.say("\n   an admin certificate gets \(refused?.status ?? 0) from the auditor API; from=yesterday gets \(bad.status)")
    }

    // MARK: - Evidence

    private func evidence(_ auditor: RegistryAPIClient, exchange: String, summary: inout DemoSummary) async throws {
        out.step("8. Evidence of one exchange, fetched through the auditor API from both security servers (the registry holds no exchange contents)")
        let answer = try await auditor.getRaw("/api/v1/auditor/evidence/\(exchange)")
        guard answer.status == 200 else {
            throw DemoError("evidence of \(exchange): \(answer.status) \(String(decoding: answer.body.prefix(300), as: UTF8.self))")
        }
        let file = pki.directory.appendingPathComponent("evidence-\(exchange).json")
        try answer.body.write(to: file)
        let bundle = try JSONDecoder().decode(EvidenceBundle.self, from: answer.body)
        let report = try await EvidenceVerifier.verify(bundle, anchors: [pki.rootCertificate])
        out.say("   \(file.path): \(bundle.records.count) records (\(bundle.records.map { "\($0.side)" }.joined(separator: " + ")))")
        for check in report.checks { out.say("     ✓ \(check)") }
        for warning in report.warnings { out.say("     ! \(warning)") }
        summary.expect("evidence bundle holds both sides", Set(bundle.records.map(\.side.rawValue)).sorted().joined(separator: "+"), "consumer+provider")
        summary.expect("evidence relay: every security server answered (complete)", bundle.complete.map(String.init) ?? "absent", "true")
        summary.evidenceExchange = exchange
        summary.evidenceFile = file.path
        let network = pki.directory.appendingPathComponent("network.json").path
        out.say("   fetch and verify it yourself:")
        out.say("     lienthong auditor evidence \(exchange) --network \(network) --out evidence.json")
        out.say("     lienthong audit verify-bundle evidence.json --ca \(pki.url(.rootCertificate).path)")
        out.say("   the compliance view from the command line:  lienthong auditor compliance --network \(network)")
    }
}

/// What the compliance view must say after the demo's traffic.
enum DemoExpectations {
    static func check(_ report: ComplianceReport, sent: DemoStory.Sent, agreements a: DemoRegistry.Agreements, into summary: inout DemoSummary) {
        let byId = Dictionary(report.agreements.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for (id, count) in sent.served.sorted(by: { $0.key < $1.key }) {
            summary.expect("\(id) served, consumer side", byId[id]?.consumerSide.served ?? -1, count)
            summary.expect("\(id) served, provider side", byId[id]?.providerSide.served ?? -1, count)
        }
        for (id, count) in sent.refusedByProvider {
            summary.expect("\(id) refused by the provider's veto, consumer side", byId[id]?.consumerSide.refused ?? -1, count)
            summary.expect("\(id) refused by the provider's veto, provider side", byId[id]?.providerSide.refused ?? -1, count)
            summary.expect("\(id) flagged as agreed but not shared", report.notShared.contains { $0.id == id }, true)
        }
        summary.expect("\(a.dormant) is dormant", report.dormant.contains { $0.id == a.dormant }, true)
        summary.expect("used agreements are not dormant",
                       report.dormant.filter { [a.hanoiPopulation, a.hanoiCivilStatus, a.danangPopulation].contains($0.id) }.count, 0)
        summary.expect("\(a.expired) reported expired", byId[a.expired]?.status.rawValue ?? "-", "expired")
        for (key, count) in sent.withoutAgreement.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: " ").map(String.init)
            let seen = report.withoutAgreement.filter { $0.client == parts[0] && $0.target == parts[1] && $0.refusedBy == "consumer" }
                .reduce(0) { $0 + $1.count }
            summary.expect("attempts without an agreement by \(parts[0]) on \(parts[1])", seen, count)
        }
        if case let (client, dataset)? = sent.noAgreementAtAll {
            // The attempt without any agreement, by its consumer and dataset: no agreement of any
            // status covers the pair, and the view lists exactly that attempt, refused by the consumer's server.
            summary.expect("no agreement of any status for \(client) on \(dataset)",
                           report.agreements.filter { $0.consumer.canonical == client && $0.dataset.canonical == dataset }.count, 0)
            let listed = report.withoutAgreement.filter { $0.client == client && $0.target == dataset }
            summary.expect("attempt without any agreement listed: consumer, dataset, refused by, count",
                           listed.map { "\($0.client) \($0.target) (\($0.targetKind)) refused by \($0.refusedBy) ×\($0.count)" }.joined(separator: "; "),
                           "\(client) \(dataset) (dataset) refused by consumer ×1")
        } else {
            summary.expect("the story made an attempt without any agreement", false, true)
        }
        summary.expect("discrepancies between the two sides", report.discrepancies.count, 0)
        summary.expect("\(a.refusedRequest) listed with its written reason",
                       report.refusals.contains { $0.id == a.refusedRequest && !($0.reason ?? "").isEmpty && !($0.legalBasis ?? "").isEmpty }, true)
        summary.expect("\(a.pendingRequest) waiting for a decision", report.pendingRequests.contains { $0.id == a.pendingRequest }, true)
        summary.expect("members connected", "\(report.kpis.membersConnected)/\(report.kpis.membersRegistered)", "4/5")
        summary.expect("ministries sharing", "\(report.kpis.ministriesSharing)/\(report.kpis.ministriesRegistered)", "2/2")
        summary.expect("provinces sharing", "\(report.kpis.provincesSharing)/\(report.kpis.provincesRegistered)", "2/3")
        summary.expect("exchanges served today (consumer side)", report.kpis.served, sent.served.values.reduce(0, +))
    }
}
