import Foundation
import LienThongCore
import LienThongRegistry
import Testing

@Suite("Registry lifecycle")
struct RegistryLifecycleTests {
    @Test("members, subsystems, servers, services, datasets, agreements and access requests, end to end")
    func fullLifecycle() async throws {
        let directory = try RTFixtures.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = RTClock(RTFixtures.start)
        let (registry, _) = try await RTFixtures.registry(in: directory, clock: clock)
        #expect(await registry.revision == 0)
        try await RTFixtures.seed(registry, clock: clock)
        #expect(await registry.revision == 9)

        // Members.
        let members = await registry.members()
        #expect(members.map(\.id) == [RTFixtures.ministry, RTFixtures.province])
        let ministry = try await registry.member(RTFixtures.ministry)
        #expect(ministry.nameEn == "Ministry of Public Security")
        #expect(ministry.createdAt == Date(timeIntervalSince1970: 1_751_356_800), "dates are floored to whole seconds")
        #expect(!ministry.disabled)

        // Subsystems and services.
        #expect(await registry.subsystems(of: RTFixtures.province).map(\.id) == [RTFixtures.provinceDVC, RTFixtures.provinceLGSP])
        #expect(await registry.subsystems().count == 3)
        let services = await registry.services(of: RTFixtures.population)
        #expect(services.map(\.id) == [RTFixtures.lookup, RTFixtures.verify])
        let lookup = try await registry.service(RTFixtures.lookup)
        #expect(lookup.endpoints == [ServiceEndpoint(method: "GET", path: "/v1/cong-dan/{so-dinh-danh}")])
        #expect(lookup.enabled)
        #expect(lookup.openAPI == #"{"openapi":"3.0.3"}"#)

        // Security server: the pin is the SHA-256 of the certificate's DER.
        let pem = try RTFixtures.certificatePEM()
        let server = try await registry.registerServer(
            NewSecurityServer(id: RTFixtures.server, address: "ss1.bca.gov.vn:5500", tlsCertificate: pem), actor: RTFixtures.admin)
        #expect(server.tlsCertificateSHA256 == (try RTFixtures.pin(of: pem)))
        #expect(server.tlsCertificateSHA256.count == 64)
        #expect(await registry.servers(of: RTFixtures.ministry) == [server])
        #expect(await registry.servers(of: RTFixtures.province).isEmpty)

        // Dataset.
        let dataset = try await registry.dataset(RTFixtures.citizens)
        #expect(dataset.owner == RTFixtures.ministry)
        #expect(dataset.services == [RTFixtures.lookup, RTFixtures.verify])
        #expect(await registry.datasets() == [dataset])

        // Agreements and their status transitions.
        let first = try await registry.createAgreement(RTFixtures.agreementInput(), actor: RTFixtures.admin)
        #expect(first.id == "AG-000001")
        #expect(first.status == .active)
        #expect(first.validFrom == Date(timeIntervalSince1970: 1_751_356_800))
        #expect(first.isInForce(at: clock.now))
        let second = try await registry.createAgreement(RTFixtures.agreementInput(), actor: RTFixtures.admin)
        #expect(second.id == "AG-000002")
        #expect(try await registry.setAgreementStatus("AG-000001", status: .suspended, actor: RTFixtures.admin).status == .suspended)
        #expect(try await registry.setAgreementStatus("AG-000001", status: .active, actor: RTFixtures.admin).status == .active)
        #expect(try await registry.setAgreementStatus("AG-000001", status: .revoked, actor: RTFixtures.admin).status == .revoked)
        #expect(try await registry.setAgreementStatus("AG-000002", status: .suspended, actor: RTFixtures.admin).status == .suspended)
        #expect(try await registry.setAgreementStatus("AG-000002", status: .revoked, actor: RTFixtures.admin).status == .revoked)

        // Access requests: pending age, approval creating a linked agreement, refusal.
        let request = try await registry.fileAccessRequest(RTFixtures.accessRequestInput(), actor: "CN=lgsp,O=UBND Ha Tinh")
        #expect(request.id == "AR-000001")
        #expect(request.decision == nil)
        clock.advance(by: 3 * 86_400 + 5)
        let pending = await registry.pendingAccessRequests()
        #expect(pending.map(\.request.id) == ["AR-000001"])
        let age = try #require(pending.first)
        #expect(age.ageDays == 3)
        #expect(age.ageSeconds == 259_205)

        let approved = try await registry.decide("AR-000001", AccessDecisionInput(outcome: .approved), actor: RTFixtures.admin)
        let decision = try #require(approved.decision)
        #expect(decision.outcome == .approved)
        #expect(decision.decidedBy == RTFixtures.admin.subject)
        #expect(decision.agreementId == "AG-000003")
        let created = try await registry.agreement("AG-000003")
        #expect(created.accessRequestId == "AR-000001")
        #expect(created.consumer == RTFixtures.provinceLGSP)
        #expect(created.services == [RTFixtures.verify])
        #expect(created.purposes == ["1.004227"])
        #expect(created.legalBasis == "Luật Hộ tịch 2014")
        #expect(created.validFrom == RegistryJSON.wholeSecond(clock.now))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        #expect(created.validUntil == calendar.date(byAdding: .year, value: 1, to: RegistryJSON.wholeSecond(clock.now)))

        let secondRequest = try await registry.fileAccessRequest(
            NewAccessRequest(consumer: RTFixtures.provinceDVC, dataset: RTFixtures.citizens, purposes: ["1.001234"],
                             justification: "Cấp phiếu lý lịch tư pháp", legalBasis: "Luật Lý lịch tư pháp 2009",
                             requestedUntil: clock.now.addingTimeInterval(30 * 86_400)),
            actor: "CN=dvc,O=UBND Ha Tinh")
        #expect(secondRequest.id == "AR-000002")
        let refused = try await registry.decide(
            "AR-000002",
            AccessDecisionInput(outcome: .refused, reason: "Dữ liệu vượt quá phạm vi thủ tục",
                                legalBasis: "Nghị định 194/2025/NĐ-CP, Điều 16"),
            actor: RTFixtures.admin)
        #expect(refused.decision?.outcome == .refused)
        #expect(refused.decision?.reason == "Dữ liệu vượt quá phạm vi thủ tục")
        #expect(refused.decision?.agreementId == nil)
        #expect(await registry.pendingAccessRequests().isEmpty)
        #expect(await registry.accessRequests().map(\.id) == ["AR-000001", "AR-000002"])
        #expect(await registry.agreements().map(\.id) == ["AG-000001", "AG-000002", "AG-000003"])

        // Flags: a change records an entry; setting the same value again records nothing.
        #expect(try await registry.setServiceEnabled(RTFixtures.verify, enabled: false, actor: RTFixtures.admin).enabled == false)
        let revisionAfterDisable = await registry.revision
        #expect(try await registry.setServiceEnabled(RTFixtures.verify, enabled: false, actor: RTFixtures.admin).enabled == false)
        #expect(await registry.revision == revisionAfterDisable)
        #expect(try await registry.disableMember(RTFixtures.province, actor: RTFixtures.admin).disabled)
        #expect(try await registry.disableMember(RTFixtures.province, actor: RTFixtures.admin).disabled)

        // Revision, snapshot and the audit trail agree.
        let revision = await registry.revision
        #expect(revision == 23)
        let snapshot = await registry.snapshot()
        #expect(snapshot.revision == revision)
        #expect(snapshot.members.count == 2)
        #expect(snapshot.servers == [server])
        #expect(snapshot.agreements.count == 3)
        let trail = try await registry.auditTrail(fromSequence: 1, limit: 100)
        #expect(trail.map(\.sequence) == Array(1...revision))
        #expect(trail.map(\.action) == [
            "member.create", "member.create", "subsystem.create", "subsystem.create", "subsystem.create",
            "service.create", "service.create", "service.create", "dataset.create", "server.register",
            "agreement.create", "agreement.create", "agreement.suspend", "agreement.activate", "agreement.revoke",
            "agreement.suspend", "agreement.revoke", "access_request.file", "access_request.approve",
            "access_request.file", "access_request.refuse", "service.disable", "member.disable",
        ])
        #expect(trail.allSatisfy { !$0.actor.isEmpty })
        #expect(trail[0].before == nil)
        #expect(trail[0].previousHash == String(repeating: "0", count: 64))
        let approval = try #require(trail.first { $0.action == "access_request.approve" })
        #expect(approval.entity == "access_request AR-000001")
        #expect(approval.after?.hasPrefix(#"{"access_request":{"#) == true)
        #expect(approval.after?.contains(#""agreement":{"access_request_id":"AR-000001""#) == true)
        let disable = try #require(trail.last)
        #expect(disable.entity == "member VN/GOV/000.00.00.H29")
        #expect(disable.before?.contains(#""disabled":false"#) == true)
        #expect(disable.after?.contains(#""disabled":true"#) == true)

        let verification = try await registry.verifyAuditTrail()
        #expect(verification.count == revision)
        #expect(verification.headSequence == revision)
        #expect(verification.headHash == trail.last?.hash)
        #expect(try Registry.verify(entries: trail).get() == verification)
    }

    @Test("concurrent mutations are serialised: one revision and one chained entry each")
    func concurrentMutations() async throws {
        let directory = try RTFixtures.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = RTClock(RTFixtures.start)
        let (registry, _) = try await RTFixtures.registry(in: directory, clock: clock)
        try await RTFixtures.seed(registry, clock: clock)
        let base = await registry.revision
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<24 {
                group.addTask {
                    let id = try SubsystemId(member: RTFixtures.ministry, subsystemCode: "HT\(index)")
                    _ = try await registry.createSubsystem(NewSubsystem(id: id), actor: RTFixtures.admin)
                }
                group.addTask {
                    _ = try await registry.createAgreement(RTFixtures.agreementInput(), actor: RTFixtures.admin)
                }
            }
            try await group.waitForAll()
        }
        #expect(await registry.revision == base + 48)
        #expect(Set(await registry.agreements().map(\.id)).count == 24)
        let verification = try await registry.verifyAuditTrail()
        #expect(verification.count == base + 48)
    }
}
