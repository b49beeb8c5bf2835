import Foundation
import LienThongCore
import LienThongRegistry
import Testing

/// Every rejection asserts its code and that the snapshot, the revision and the audit trail (in
/// memory and in the store) are unchanged.
@Suite("Registry rejections change nothing")
struct RegistryRejectionTests {
    /// A seeded registry on a fresh file.
    struct Seeded {
        let directory: URL
        let clock: RTClock
        let registry: Registry
        let store: SQLiteRegistryStore

        func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    static func seeded() async throws -> Seeded {
        let directory = try RTFixtures.directory()
        let clock = RTClock(RTFixtures.start)
        let (registry, store) = try await RTFixtures.registry(in: directory, clock: clock)
        try await RTFixtures.seed(registry, clock: clock)
        return Seeded(directory: directory, clock: clock, registry: registry, store: store)
    }

    @Test("unknown ids are .notFound")
    func unknownIds() async throws {
        let s = try await Self.seeded()
        defer { s.remove() }
        let (r, store) = (s.registry, s.store)
        let admin = RTFixtures.admin
        let ghostMember = try MemberId(parsing: "VN/GOV/000.00.00.X99")
        let ghostSubsystem = try SubsystemId(parsing: "VN/GOV/000.00.00.G22/KHONGCO")
        let ghostService = try ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/khong-co")
        let ghostDataset = try DatasetId(parsing: "VN/GOV/000.00.00.G22/datasets/khong-co")

        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in try await r.member(ghostMember) }
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in try await r.service(ghostService) }
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in try await r.dataset(ghostDataset) }
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in try await r.agreement("AG-999999") }
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in try await r.accessRequest("AR-999999") }
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in
            try await r.disableMember(ghostMember, actor: admin)
        }
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in
            try await r.createSubsystem(NewSubsystem(id: try! SubsystemId(member: ghostMember, subsystemCode: "A")), actor: admin)
        }
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in
            try await r.registerServer(NewSecurityServer(id: try! SecurityServerId(owner: ghostMember, serverCode: "SS1"),
                                                         address: "a.b:1", tlsCertificate: try! RTFixtures.certificatePEM()), actor: admin)
        }
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in
            try await r.createService(NewService(id: try! ServiceId(subsystem: ghostSubsystem, serviceCode: "x")), actor: admin)
        }
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in
            try await r.setServiceEnabled(ghostService, enabled: false, actor: admin)
        }
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in
            try await r.createDataset(NewDataset(id: try! DatasetId(owner: ghostMember, datasetCode: "x"), nameVi: "x", nameEn: "x",
                                                 classification: .public, personalData: false, legalBasis: "x", services: []), actor: admin)
        }
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in
            try await r.createDataset(NewDataset(id: try! DatasetId(owner: RTFixtures.ministry, datasetCode: "moi"), nameVi: "x", nameEn: "x",
                                                 classification: .public, personalData: false, legalBasis: "x", services: [ghostService]), actor: admin)
        }
        var input = RTFixtures.agreementInput()
        input.dataset = ghostDataset
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in try await r.createAgreement(input, actor: admin) }
        input = RTFixtures.agreementInput()
        input.consumer = ghostSubsystem
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in try await r.createAgreement(input, actor: admin) }
        input = RTFixtures.agreementInput()
        input.services = [ghostService]
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in try await r.createAgreement(input, actor: admin) }
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in
            try await r.setAgreementStatus("AG-000042", status: .suspended, actor: admin)
        }
        var request = RTFixtures.accessRequestInput()
        request.dataset = ghostDataset
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in try await r.fileAccessRequest(request, actor: admin) }
        request = RTFixtures.accessRequestInput()
        request.consumer = ghostSubsystem
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in try await r.fileAccessRequest(request, actor: admin) }
        try await RTFixtures.expectRejected(.notFound, r, store) { () async throws(RegistryError) in
            try await r.decide("AR-000042", AccessDecisionInput(outcome: .approved), actor: admin)
        }
    }

    @Test("duplicate ids are .duplicate")
    func duplicates() async throws {
        let s = try await Self.seeded()
        defer { s.remove() }
        let (r, store) = (s.registry, s.store)
        let admin = RTFixtures.admin
        let pem = try RTFixtures.certificatePEM()
        _ = try await r.registerServer(NewSecurityServer(id: RTFixtures.server, address: "ss1.bca.gov.vn:5500", tlsCertificate: pem), actor: admin)

        try await RTFixtures.expectRejected(.duplicate, r, store) { () async throws(RegistryError) in
            try await r.createMember(NewMember(id: RTFixtures.ministry, name: "Bộ Công an (lần hai)", kind: .ministry), actor: admin)
        }
        try await RTFixtures.expectRejected(.duplicate, r, store) { () async throws(RegistryError) in
            try await r.createSubsystem(NewSubsystem(id: RTFixtures.population), actor: admin)
        }
        try await RTFixtures.expectRejected(.duplicate, r, store) { () async throws(RegistryError) in
            try await r.registerServer(NewSecurityServer(id: RTFixtures.server, address: "ss2.bca.gov.vn:5500", tlsCertificate: pem), actor: admin)
        }
        try await RTFixtures.expectRejected(.duplicate, r, store) { () async throws(RegistryError) in
            try await r.createService(NewService(id: RTFixtures.lookup), actor: admin)
        }
        try await RTFixtures.expectRejected(.duplicate, r, store) { () async throws(RegistryError) in
            try await r.createDataset(NewDataset(id: RTFixtures.citizens, nameVi: "x", nameEn: "x", classification: .public,
                                                 personalData: false, legalBasis: "x", services: []), actor: admin)
        }
    }

    @Test("agreements: provider not the dataset owner, bad dates, bad purposes, missing parts")
    func agreementRules() async throws {
        let s = try await Self.seeded()
        defer { s.remove() }
        let (r, store) = (s.registry, s.store)
        let admin = RTFixtures.admin

        var input = RTFixtures.agreementInput()
        input.services = [RTFixtures.provinceService]
        let error = try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
            try await r.createAgreement(input, actor: admin)
        }
        #expect(error?.message.contains("the provider VN/GOV/000.00.00.H29") == true)
        #expect(error?.message.contains("is not the dataset owner VN/GOV/000.00.00.G22") == true)
        #expect(error?.httpStatus == 400)
        #expect(error?.xroadType == "Client.BadRequest")

        // A service of the owner that does not expose the dataset.
        let unrelated = try ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/thong-ke")
        _ = try await r.createService(NewService(id: unrelated), actor: admin)
        input = RTFixtures.agreementInput()
        input.services = [RTFixtures.lookup, unrelated]
        let exposure = try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
            try await r.createAgreement(input, actor: admin)
        }
        #expect(exposure?.message.contains("does not expose") == true)

        // valid_until equal to and before valid_from.
        for until in [RTFixtures.start, RTFixtures.start.addingTimeInterval(-1), RTFixtures.start.addingTimeInterval(0.5)] {
            let dated = RTFixtures.agreementInput(validFrom: RTFixtures.start, validUntil: until)
            try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
                try await r.createAgreement(dated, actor: admin)
            }
        }

        var cases: [NewAgreement] = []
        input = RTFixtures.agreementInput(); input.services = []; cases.append(input)
        input = RTFixtures.agreementInput(); input.services = [RTFixtures.lookup, RTFixtures.lookup]; cases.append(input)
        input = RTFixtures.agreementInput(); input.legalBasis = "  \n"; cases.append(input)
        input = RTFixtures.agreementInput(); input.purposes = ["1 001"]; cases.append(input)
        input = RTFixtures.agreementInput(); input.purposes = [String(repeating: "a", count: 65)]; cases.append(input)
        input = RTFixtures.agreementInput(); input.purposes = [""]; cases.append(input)
        input = RTFixtures.agreementInput(); input.purposes = ["thủ-tục"]; cases.append(input)
        input = RTFixtures.agreementInput(); input.purposes = ["A.1", "A.1"]; cases.append(input)
        for bad in cases {
            try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
                try await r.createAgreement(bad, actor: admin)
            }
        }

        // A disabled consumer member.
        _ = try await r.disableMember(RTFixtures.province, actor: admin)
        try await RTFixtures.expectRejected(.conflict, r, store) { () async throws(RegistryError) in
            try await r.createAgreement(RTFixtures.agreementInput(), actor: admin)
        }
        // Another subsystem of the owner member may consume, and 64-character codes are fine.
        _ = try await r.createSubsystem(NewSubsystem(id: try SubsystemId(parsing: "VN/GOV/000.00.00.G22/NOIBO")), actor: admin)
        input = RTFixtures.agreementInput()
        input.consumer = try SubsystemId(parsing: "VN/GOV/000.00.00.G22/NOIBO")
        input.purposes = [String(repeating: "Z", count: 64), "a.b-c_d"]
        #expect(try await r.createAgreement(input, actor: admin).purposes.count == 2)
    }

    /// The rules of issue 15 item 9: an agreement's dates are plausible and not already over, a
    /// subsystem does not share with itself, and personal data is shared only for named purposes
    /// (Decree 13/2023); elsewhere an empty purpose list means any purpose.
    @Test("agreements: valid_from before 2000, already expired, consumer = provider subsystem, no purposes on personal data")
    func agreementContractRules() async throws {
        let s = try await Self.seeded()
        defer { s.remove() }
        let (r, store) = (s.registry, s.store)
        let admin = RTFixtures.admin
        let utc = ISO8601DateFormatter()
        func date(_ text: String) -> Date { utc.date(from: text) ?? .distantPast }

        var cases: [(String, NewAgreement, String)] = []
        var input = RTFixtures.agreementInput(validFrom: date("0041-01-01T00:00:00Z"))
        cases.append(("valid_from in the year 41", input, "2000-01-01"))
        input = RTFixtures.agreementInput(validFrom: date("1999-12-31T23:59:59Z"))
        cases.append(("valid_from one second before 2000", input, "2000-01-01"))
        // Over before it is created: valid_until before, and equal to, the registry's clock.
        input = RTFixtures.agreementInput(validFrom: date("2024-01-01T00:00:00Z"), validUntil: date("2025-01-01T00:00:00Z"))
        cases.append(("already expired", input, "already over"))
        input = RTFixtures.agreementInput(validFrom: date("2024-01-01T00:00:00Z"), validUntil: RegistryJSON.wholeSecond(s.clock.now))
        cases.append(("expiring at creation", input, "already over"))
        input = RTFixtures.agreementInput()
        input.consumer = RTFixtures.population
        cases.append(("consumer is the providing subsystem", input, "its own provider"))
        input = RTFixtures.agreementInput()
        input.purposes = []
        cases.append(("no purpose on personal data", input, "Decree 13/2023"))
        for (label, bad, words) in cases {
            let error = try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
                try await r.createAgreement(bad, actor: admin)
            }
            #expect(error?.httpStatus == 400 && error?.xroadType == "Client.BadRequest", "\(label)")
            #expect(error?.message.contains(words) == true, "\(label): \(error?.message ?? "accepted")")
        }

        // Filing an access request: the same purpose and self-sharing rules, before a decision.
        var request = RTFixtures.accessRequestInput()
        request.purposes = []
        let noPurpose = try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
            try await r.fileAccessRequest(request, actor: admin)
        }
        #expect(noPurpose?.message.contains("Decree 13/2023") == true, "\(noPurpose?.message ?? "accepted")")
        request = RTFixtures.accessRequestInput()
        request.consumer = RTFixtures.population
        let selfRequest = try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
            try await r.fileAccessRequest(request, actor: admin)
        }
        #expect(selfRequest?.message.contains("its own provider") == true, "\(selfRequest?.message ?? "accepted")")
        // Approving with a start before 2000, or an end already past, is refused and leaves the request pending.
        let pending = try await r.fileAccessRequest(RTFixtures.accessRequestInput(), actor: admin).id
        for decision in [AccessDecisionInput(outcome: .approved, validFrom: date("1970-01-01T00:00:00Z")),
                         AccessDecisionInput(outcome: .approved, validFrom: date("2024-01-01T00:00:00Z"), validUntil: date("2025-01-01T00:00:00Z"))] {
            try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
                try await r.decide(pending, decision, actor: admin)
            }
        }

        // What stays allowed: 2000-01-01 itself, another subsystem of the owner member, and an
        // empty purpose list (any purpose) on a dataset without personal data.
        #expect(try await r.createAgreement(RTFixtures.agreementInput(validFrom: date("2000-01-01T00:00:00Z")), actor: admin).status == .active)
        let internalUse = try SubsystemId(parsing: "VN/GOV/000.00.00.G22/NOIBO")
        _ = try await r.createSubsystem(NewSubsystem(id: internalUse), actor: admin)
        input = RTFixtures.agreementInput()
        input.consumer = internalUse
        #expect(try await r.createAgreement(input, actor: admin).consumer == internalUse)
        let statistics = try DatasetId(owner: RTFixtures.ministry, datasetCode: "thong-ke-dan-so")
        _ = try await r.createDataset(NewDataset(id: statistics, nameVi: "Thống kê dân số", nameEn: "Population statistics",
                                                 classification: .public, personalData: false, legalBasis: "Luật Thống kê 2015",
                                                 services: [RTFixtures.verify]), actor: admin)
        input = RTFixtures.agreementInput()
        input.dataset = statistics
        input.services = [RTFixtures.verify]
        input.purposes = []
        #expect(try await r.createAgreement(input, actor: admin).purposes.isEmpty)
        var open = RTFixtures.accessRequestInput()
        open.dataset = statistics
        open.purposes = []
        #expect(try await r.fileAccessRequest(open, actor: admin).purposes.isEmpty)
    }

    @Test("status transitions: expired and revoked are final, no self-transitions")
    func transitions() async throws {
        let s = try await Self.seeded()
        defer { s.remove() }
        let (r, store) = (s.registry, s.store)
        let admin = RTFixtures.admin
        let id = try await r.createAgreement(RTFixtures.agreementInput(), actor: admin).id
        for target in [AgreementStatus.active, .expired] {
            let error = try await RTFixtures.expectRejected(.conflict, r, store) { () async throws(RegistryError) in
                try await r.setAgreementStatus(id, status: target, actor: admin)
            }
            #expect(error?.httpStatus == 409)
        }
        _ = try await r.setAgreementStatus(id, status: .suspended, actor: admin)
        for target in [AgreementStatus.suspended, .expired] {
            try await RTFixtures.expectRejected(.conflict, r, store) { () async throws(RegistryError) in
                try await r.setAgreementStatus(id, status: target, actor: admin)
            }
        }
        _ = try await r.setAgreementStatus(id, status: .revoked, actor: admin)
        for target in AgreementStatus.allCases {
            try await RTFixtures.expectRejected(.conflict, r, store) { () async throws(RegistryError) in
                try await r.setAgreementStatus(id, status: target, actor: admin)
            }
        }
    }

    @Test("access requests: refusal needs reason and legal basis; one decision only")
    func decisions() async throws {
        let s = try await Self.seeded()
        defer { s.remove() }
        let (r, store) = (s.registry, s.store)
        let admin = RTFixtures.admin
        let id = try await r.fileAccessRequest(RTFixtures.accessRequestInput(), actor: admin).id

        let refusals = [
            AccessDecisionInput(outcome: .refused, legalBasis: "Nghị định 194/2025/NĐ-CP"),
            AccessDecisionInput(outcome: .refused, reason: "   ", legalBasis: "Nghị định 194/2025/NĐ-CP"),
            AccessDecisionInput(outcome: .refused, reason: "Không đủ căn cứ"),
            AccessDecisionInput(outcome: .refused, reason: "Không đủ căn cứ", legalBasis: ""),
            AccessDecisionInput(outcome: .refused, reason: "Không đủ căn cứ", legalBasis: "Nghị định 194/2025/NĐ-CP",
                                validUntil: RTFixtures.start.addingTimeInterval(86_400)),
        ]
        for refusal in refusals {
            let error = try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
                try await r.decide(id, refusal, actor: admin)
            }
            #expect(error?.code == .invalid)
        }
        // Approval with bad validity.
        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
            try await r.decide(id, AccessDecisionInput(outcome: .approved, validFrom: s.clock.now, validUntil: s.clock.now), actor: admin)
        }

        _ = try await r.decide(id, AccessDecisionInput(outcome: .approved), actor: admin)
        for second in [AccessDecisionInput(outcome: .approved),
                       AccessDecisionInput(outcome: .refused, reason: "Đổi ý", legalBasis: "Nghị định 194/2025/NĐ-CP")] {
            let error = try await RTFixtures.expectRejected(.conflict, r, store) { () async throws(RegistryError) in
                try await r.decide(id, second, actor: admin)
            }
            #expect(error?.xroadType == "Client.Conflict")
        }

        let refusedId = try await r.fileAccessRequest(RTFixtures.accessRequestInput(), actor: admin).id
        _ = try await r.decide(refusedId, AccessDecisionInput(outcome: .refused, reason: "Trùng lặp",
                                                              legalBasis: "Nghị định 194/2025/NĐ-CP, Điều 16"), actor: admin)
        try await RTFixtures.expectRejected(.conflict, r, store) { () async throws(RegistryError) in
            try await r.decide(refusedId, AccessDecisionInput(outcome: .approved), actor: admin)
        }

        // Filing rules.
        var request = RTFixtures.accessRequestInput()
        request.justification = " "
        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in try await r.fileAccessRequest(request, actor: admin) }
        request = RTFixtures.accessRequestInput()
        request.requestedUntil = s.clock.now.addingTimeInterval(-60)
        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in try await r.fileAccessRequest(request, actor: admin) }
        request = RTFixtures.accessRequestInput()
        request.services = [RTFixtures.provinceService]
        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in try await r.fileAccessRequest(request, actor: admin) }
        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
            try await r.fileAccessRequest(RTFixtures.accessRequestInput(), actor: "  ")
        }
    }

    @Test("security servers: bad PEM and bad addresses are .invalid")
    func servers() async throws {
        let s = try await Self.seeded()
        defer { s.remove() }
        let (r, store) = (s.registry, s.store)
        let admin = RTFixtures.admin
        let pem = try RTFixtures.certificatePEM()

        let badPEMs = [
            "",
            "not a certificate",
            "-----BEGIN CERTIFICATE-----\n!!!notbase64!!!\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\nSGVsbG8sIHdvcmxkIQ==\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\nMIIB\n",
            pem + "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n",
            pem.replacingOccurrences(of: "CERTIFICATE", with: "PUBLIC KEY"),
        ]
        for bad in badPEMs {
            try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
                try await r.registerServer(NewSecurityServer(id: RTFixtures.server, address: "ss1.bca.gov.vn:5500", tlsCertificate: bad), actor: admin)
            }
        }
        let badAddresses = ["ss1.bca.gov.vn", "ss1.bca.gov.vn:", "ss1.bca.gov.vn:0", "ss1.bca.gov.vn:65536", "ss1.bca.gov.vn:http",
                            ":5500", "ss1 .bca.gov.vn:5500", "-ss1.bca.gov.vn:5500", "ss1..gov.vn:5500", "[::1:5500", "[]:5500",
                            "ss1.bca.gov.vn:+443", "https://ss1.bca.gov.vn:5500"]
        for bad in badAddresses {
            try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
                try await r.registerServer(NewSecurityServer(id: RTFixtures.server, address: bad, tlsCertificate: pem), actor: admin)
            }
        }
        // Good forms, including a chain (the first certificate is pinned) and IPv6.
        for (code, address) in [("SS1", "10.0.0.5:5500"), ("SS2", "[2001:db8::1]:443"), ("SS3", "localhost:65535")] {
            let id = try SecurityServerId(owner: RTFixtures.ministry, serverCode: code)
            let server = try await r.registerServer(NewSecurityServer(id: id, address: address, tlsCertificate: pem + pem), actor: admin)
            #expect(server.tlsCertificateSHA256 == (try RTFixtures.pin(of: pem)))
        }
    }

    @Test("other rules: instance, blank names, foreign dataset services, endpoints, disabled members")
    func otherRules() async throws {
        let s = try await Self.seeded()
        defer { s.remove() }
        let (r, store) = (s.registry, s.store)
        let admin = RTFixtures.admin

        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
            try await r.createMember(NewMember(id: try! MemberId(parsing: "FI/GOV/1234567-8"), name: "Finland", kind: .other), actor: admin)
        }
        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
            try await r.createMember(NewMember(id: RTFixtures.other, name: " ", kind: .other), actor: admin)
        }
        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
            try await r.createMember(NewMember(id: RTFixtures.other, name: "Công ty", kind: .other), actor: "")
        }
        let newDataset = try DatasetId(owner: RTFixtures.ministry, datasetCode: "can-cuoc")
        try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
            try await r.createDataset(NewDataset(id: newDataset, nameVi: "Căn cước", nameEn: "Identity cards", classification: .secret,
                                                 personalData: true, legalBasis: "Luật Căn cước 2023",
                                                 services: [RTFixtures.provinceService]), actor: admin)
        }
        for (vi, en, basis) in [("", "x", "x"), ("x", " ", "x"), ("x", "x", "\t")] {
            try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
                try await r.createDataset(NewDataset(id: newDataset, nameVi: vi, nameEn: en, classification: .secret,
                                                     personalData: true, legalBasis: basis, services: []), actor: admin)
            }
        }
        let newService = try ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/moi")
        for endpoint in [ServiceEndpoint(method: "GET", path: "v1/x"), ServiceEndpoint(method: "G ET", path: "/x"),
                         ServiceEndpoint(method: "", path: "/x"), ServiceEndpoint(method: "GET", path: "/a b")] {
            try await RTFixtures.expectRejected(.invalid, r, store) { () async throws(RegistryError) in
                try await r.createService(NewService(id: newService, endpoints: [endpoint]), actor: admin)
            }
        }
        _ = try await r.disableMember(RTFixtures.province, actor: admin)
        let error = try await RTFixtures.expectRejected(.conflict, r, store) { () async throws(RegistryError) in
            try await r.createSubsystem(NewSubsystem(id: try! SubsystemId(parsing: "VN/GOV/000.00.00.H29/MOI")), actor: admin)
        }
        #expect(error?.message.contains("disabled") == true)
        try await RTFixtures.expectRejected(.conflict, r, store) { () async throws(RegistryError) in
            try await r.fileAccessRequest(NewAccessRequest(consumer: RTFixtures.provinceDVC, dataset: RTFixtures.citizens, purposes: [],
                                                           justification: "x", legalBasis: "x"), actor: admin)
        }
    }

    @Test("error codes map to HTTP statuses and X-Road types")
    func errorMapping() {
        let expected: [(RegistryError.Code, Int, String)] = [
            (.notFound, 404, "Client.NotFound"), (.duplicate, 409, "Client.Duplicate"), (.invalid, 400, "Client.BadRequest"),
            (.conflict, 409, "Client.Conflict"), (.storage, 500, "Server.Registry.StorageError"),
        ]
        for (code, status, type) in expected {
            let error = RegistryError(code, "m")
            #expect(error.httpStatus == status)
            #expect(error.xroadType == type)
            #expect(error.errorBody(detail: "d") == XRoadErrorBody(type: type, message: "m", detail: "d"))
        }
    }
}
