import Foundation
import LienThongCore
import LienThongRegistry
import Testing

/// An agreement may narrow its services' registered endpoints, never widen them (issue 15, item 5).
@Suite("Agreement endpoints")
struct AgreementEndpointsTests {
    static let registered = ServiceEndpoint(method: "GET", path: "/v1/cong-dan/{so-dinh-danh}")

    @Test("an agreement, access request or approval names only registered endpoints of its services; the configuration carries them")
    func agreementsNarrowOnly() async throws {
        let s = try await RegistryRejectionTests.seeded()
        defer { s.remove() }
        let (r, store, admin) = (s.registry, s.store, RTFixtures.admin)

        var widening = RTFixtures.agreementInput()
        widening.endpoints = [ServiceEndpoint(method: "DELETE", path: "/internal/export")]
        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in try await r.createAgreement(widening, actor: admin) }
        var empty = RTFixtures.agreementInput()
        empty.endpoints = []
        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in try await r.createAgreement(empty, actor: admin) }
        var otherMethod = RTFixtures.agreementInput()
        otherMethod.endpoints = [ServiceEndpoint(method: "POST", path: Self.registered.path)]
        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in try await r.createAgreement(otherMethod, actor: admin) }

        var narrowed = RTFixtures.agreementInput()
        narrowed.endpoints = [ServiceEndpoint(method: "get", path: Self.registered.path)]
        let agreement = try await r.createAgreement(narrowed, actor: admin)
        #expect(agreement.endpoints == [Self.registered], "methods are upper-cased")
        let all = try await r.createAgreement(RTFixtures.agreementInput(), actor: admin)
        #expect(all.endpoints == nil, "no endpoints named: all of the services'")

        // The configuration carries the narrowing, and reads back the same.
        let configuration = GlobalConfigurationBuilder(instance: "VN", approvedCAs: [])
            .build(snapshot: await r.snapshot(), serial: 1, now: RTFixtures.start.addingTimeInterval(120))
        let entries = Dictionary(uniqueKeysWithValues: configuration.agreements.map { ($0.id, $0) })
        #expect(entries[agreement.id]?.endpoints == [Self.registered] && entries[all.id]?.endpoints == nil)
        let canonical = try configuration.canonicalJSON()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(Array(try encoder.encode(configuration)) == canonical, "the canonical writer and Codable agree")
        #expect(String(decoding: canonical, as: UTF8.self).contains(#""endpoints":[{"method":"GET","path":"/v1/cong-dan/{so-dinh-danh}"}],"id":"\#(agreement.id)""#))
        #expect(try GlobalConfiguration(jsonBytes: canonical).agreements == configuration.agreements)

        // Access requests: checked when filed; an approval takes the request's unless it narrows itself.
        var request = RTFixtures.accessRequestInput()
        request.services = [RTFixtures.lookup]
        request.endpoints = [ServiceEndpoint(method: "PUT", path: "/v1/cong-dan/{so-dinh-danh}")]
        let bad = request
        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in try await r.fileAccessRequest(bad, actor: admin) }
        request.endpoints = [Self.registered]
        let filed = try await r.fileAccessRequest(request, actor: admin)
        #expect(filed.endpoints == [Self.registered])
        let approved = try await r.decide(filed.id, AccessDecisionInput(outcome: .approved), actor: admin)
        let created = try await r.agreement(approved.decision?.agreementId ?? "")
        #expect(created.endpoints == [Self.registered])
        let refusal = AccessDecisionInput(outcome: .refused, reason: "x", legalBasis: "y", endpoints: [Self.registered])
        let other = try await r.fileAccessRequest(RTFixtures.accessRequestInput(), actor: admin)
        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in try await r.decide(other.id, refusal, actor: admin) }
    }
}
