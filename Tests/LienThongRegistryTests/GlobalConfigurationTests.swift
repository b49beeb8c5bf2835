import Foundation
import LienThongCore
import LienThongRegistry
import LienThongTrust
import Testing
import X509

// MARK: - Fixtures shared by the GlobalConfiguration*Tests files (prefixed to stay out of other tests' way)

/// Fixtures for the global configuration tests.
enum GCFixtures {
    /// A fixed instant with a fractional second, for the builder tests (no certificates involved).
    static let fixedNow = Date(timeIntervalSince1970: 1_767_225_600.75)  // 2026-01-01T00:00:00.75Z

    static func member(_ code: String) throws -> MemberId { try MemberId(instance: "VN", memberClass: "GOV", memberCode: code) }
    static func subsystem(_ code: String, _ sub: String) throws -> SubsystemId { try SubsystemId(member: member(code), subsystemCode: sub) }
    static func service(_ code: String, _ sub: String, _ name: String, _ version: String? = nil) throws -> ServiceId {
        try ServiceId(subsystem: subsystem(code, sub), serviceCode: name, serviceVersion: version)
    }
    static func dataset(_ code: String, _ name: String) throws -> DatasetId { try DatasetId(owner: member(code), datasetCode: name) }

    /// A small registry exercising every rule of the builder.
    static func snapshot(now: Date = fixedNow, revision: Int64 = 7, memberName: String = "Bộ Công an") throws -> RegistrySnapshot {
        let created = now.addingTimeInterval(-86_400)
        let traCuu = try service("000.00.00.G22", "DANCU", "tra-cuu-cong-dan", "v1")
        let xacThuc = try service("000.00.00.G22", "DANCU", "xac-thuc")
        let maSoThue = try service("000.00.00.G12", "THUE", "ma-so-thue")
        let lgsp = try subsystem("000.00.00.H29", "LGSP")
        let thue = try subsystem("000.00.00.G12", "THUE")
        func agreement(_ id: String, _ services: [ServiceId], _ consumer: SubsystemId, status: AgreementStatus = .active,
                       from: TimeInterval = -86_400, until: TimeInterval = 30 * 86_400, purposes: [String] = ["1.004"]) throws -> Agreement {
            Agreement(id: id, dataset: try dataset("000.00.00.G22", "dan-cu"), services: services, consumer: consumer, purposes: purposes,
                      legalBasis: "Nghị định 47/2020/NĐ-CP", validFrom: now.addingTimeInterval(from), validUntil: now.addingTimeInterval(until),
                      status: status, createdAt: created)
        }
        return RegistrySnapshot(
            revision: revision,
            members: [
                Member(id: try member("000.00.00.G22"), name: memberName, nameEn: "Ministry of Public Security", kind: .ministry, createdAt: created),
                Member(id: try member("000.00.00.H29"), name: "UBND thành phố Hà Nội", kind: .province, createdAt: created),
                Member(id: try member("000.00.00.G12"), name: "Bộ Tài chính", kind: .ministry, disabled: true, createdAt: created),
            ],
            subsystems: [
                Subsystem(id: try subsystem("000.00.00.G22", "DANCU"), name: "CSDL quốc gia về dân cư", createdAt: created),
                Subsystem(id: lgsp, createdAt: created),
                Subsystem(id: thue, createdAt: created),
            ],
            servers: [
                SecurityServer(id: try SecurityServerId(owner: member("000.00.00.H29"), serverCode: "SS1"), address: "ss1.hanoi.gov.vn:5500",
                               tlsCertificate: "PEM", tlsCertificateSHA256: String(repeating: "ab", count: 32), createdAt: created),
                SecurityServer(id: try SecurityServerId(owner: member("000.00.00.G22"), serverCode: "SS1"), address: "ss1.bocongan.gov.vn:5500",
                               tlsCertificate: "PEM", tlsCertificateSHA256: String(repeating: "0f", count: 32), createdAt: created),
            ],
            services: [
                Service(id: traCuu, name: "Tra cứu công dân", openAPI: "OPENAPI-MARKER: a long OpenAPI document",
                        endpoints: [ServiceEndpoint(method: "GET", path: "/v1/cong-dan/{so-dinh-danh}"), ServiceEndpoint(method: "POST", path: "/v1/tra-cuu")],
                        createdAt: created),
                Service(id: xacThuc, endpoints: [ServiceEndpoint(method: "*", path: "/*")], enabled: false, createdAt: created),
                Service(id: maSoThue, endpoints: [ServiceEndpoint(method: "GET", path: "/v1/{mst}")], createdAt: created),
            ],
            datasets: [
                Dataset(id: try dataset("000.00.00.G22", "dan-cu"), nameVi: "Dân cư", nameEn: "Population", classification: .confidential,
                        personalData: true, legalBasis: "Luật Căn cước 2023", services: [xacThuc, traCuu, xacThuc], createdAt: created),
                Dataset(id: try dataset("000.00.00.G12", "thue"), nameVi: "Thuế", nameEn: "Tax", classification: .internal,
                        personalData: false, legalBasis: "Luật Quản lý thuế", services: [maSoThue], createdAt: created),
            ],
            agreements: [
                try agreement("AG-000003", [traCuu], lgsp, purposes: ["2.001", "1.004", "2.001"]),
                try agreement("AG-000001", [xacThuc, traCuu], thue, purposes: []),
                try agreement("AG-000002", [traCuu], thue, status: .suspended),
                try agreement("AG-000004", [traCuu], lgsp, until: -1),
                try agreement("AG-000005", [xacThuc], lgsp, from: 120),
                try agreement("AG-000006", [traCuu], lgsp, from: 3600),
                try agreement("AG-000007", [traCuu], lgsp, status: .revoked),
            ])
    }

    /// The fixture registry with member names holding everything JSON escaping can get wrong.
    static func awkwardSnapshot(now: Date = fixedNow) throws -> RegistrySnapshot {
        var snapshot = try snapshot(now: now)
        snapshot.members[0].name = "Bộ \"Công\" an \\ / </script> \u{0}\u{1}\u{1F}\u{7F} \t\n\r\u{8}\u{C} \u{2028}\u{2029} 😀 é e\u{301}"
        snapshot.members[1].name = "Ủy ban nhân dân thành phố Hà Nội — Sở Thông tin & Truyền thông"
        snapshot.services[0].endpoints.append(ServiceEndpoint(method: "GET", path: "/v1/\u{1F}\"x\"?q=\\"))
        return snapshot
    }

    /// A throwaway development PKI.
    struct PKI {
        let directory: URL
        let pki: DevelopmentPKI
        let signer: GlobalConfigurationSigner
        let verifier: GlobalConfigurationVerifier

        init(instance: String = "VN") throws {
            directory = GCFixtures.temporaryDirectory("pki")
            pki = try DevelopmentPKI.initialise(at: directory, instance: instance, ocspURL: "http://127.0.0.1:1/")
            signer = try GlobalConfigurationSigner(developmentPKI: pki)
            verifier = GlobalConfigurationVerifier(trustAnchors: [pki.rootCertificate], expectedInstance: instance)
        }

        var approvedCAs: [GlobalConfiguration.ApprovedCA] {
            get throws { [try GlobalConfiguration.ApprovedCA(certificate: pki.rootCertificate, ocspURL: "http://127.0.0.1:1/")] }
        }

        func builder(policy: GlobalConfiguration.Policy = .init()) throws -> GlobalConfigurationBuilder {
            GlobalConfigurationBuilder(instance: pki.instance, approvedCAs: try approvedCAs, policy: policy)
        }

        /// Builds and signs the fixture snapshot at `now` (real time by default: certificates are real).
        func signed(serial: Int64 = 1, now: Date = Date(), policy: GlobalConfiguration.Policy = .init()) throws -> SignedGlobalConfiguration {
            try signer.sign(builder(policy: policy).build(snapshot: GCFixtures.snapshot(now: now), serial: serial, now: now))
        }

        func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    static func temporaryDirectory(_ label: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-gc-\(label)-\(UUID().uuidString)")
    }

    /// The repository root, from this file's path.
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The first executable named `name` on PATH.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs a process without blocking a concurrency thread: output goes to a file, completion
    /// comes through `terminationHandler` and a continuation.
    static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let output = temporaryDirectory("out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        try handle.close()
        return (status, try String(contentsOf: output, encoding: .utf8))
    }

    /// Replaces the JWS part `index` (0 header, 1 payload, 2 signature) after decoding, editing and re-encoding it.
    static func tamper(_ jws: String, part index: Int, _ edit: (inout [UInt8]) -> Void) -> String {
        var parts = jws.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var bytes = Base64URL.decode(parts[index]) ?? []
        edit(&bytes)
        parts[index] = Base64URL.encode(bytes)
        return parts.joined(separator: ".")
    }
}

/// Expects `body` to throw a ``GlobalConfigurationError`` with `code`.
func expectGCError<T>(_ code: GlobalConfigurationError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () async throws -> T) async {
    do {
        _ = try await body()
        Issue.record("expected a \(code) error, got success", sourceLocation: sourceLocation)
    } catch let error as GlobalConfigurationError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a \(code) GlobalConfigurationError, got \(error)", sourceLocation: sourceLocation)
    }
}

// MARK: - Document and builder

@Suite("Global configuration: document and builder")
struct GlobalConfigurationBuilderTests {
    let builder = GlobalConfigurationBuilder(
        instance: "VN", approvedCAs: [GlobalConfiguration.ApprovedCA(certificate: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", ocspURL: nil)])

    @Test("the same registry content gives the same bytes, whatever the order of the snapshot")
    func determinism() throws {
        let snapshot = try GCFixtures.snapshot()
        var shuffled = snapshot
        shuffled.members.reverse()
        shuffled.subsystems.reverse()
        shuffled.servers.reverse()
        shuffled.services.reverse()
        shuffled.datasets.reverse()
        shuffled.agreements.reverse()
        let a = builder.build(snapshot: snapshot, serial: 5, now: GCFixtures.fixedNow)
        let b = builder.build(snapshot: shuffled, serial: 5, now: GCFixtures.fixedNow)
        #expect(a == b)
        #expect(try a.canonicalJSON() == b.canonicalJSON())
        #expect(try a.canonicalJSON() == builder.build(snapshot: snapshot, serial: 5, now: GCFixtures.fixedNow).canonicalJSON())
    }

    @Test("lists are sorted by id, sets sorted and de-duplicated, dates truncated, OpenAPI left out")
    func content() throws {
        let document = builder.build(snapshot: try GCFixtures.snapshot(), serial: 5, now: GCFixtures.fixedNow)
        #expect(document.formatVersion == 1)
        #expect(document.instance == "VN")
        #expect(document.serial == 5)
        #expect(document.generatedAt == Date(timeIntervalSince1970: 1_767_225_600))
        #expect(document.expiresAt == Date(timeIntervalSince1970: 1_767_225_600 + 600))
        #expect(document.members.map(\.id.canonical) == ["VN/GOV/000.00.00.G12", "VN/GOV/000.00.00.G22", "VN/GOV/000.00.00.H29"])
        #expect(document.members[0].disabled)
        #expect(document.subsystems.map(\.id.canonical) == ["VN/GOV/000.00.00.G12/THUE", "VN/GOV/000.00.00.G22/DANCU", "VN/GOV/000.00.00.H29/LGSP"])
        #expect(document.servers.map(\.id.canonical) == ["VN/GOV/000.00.00.G22/SS1", "VN/GOV/000.00.00.H29/SS1"])
        #expect(document.services.map(\.id.canonical) == [
            "VN/GOV/000.00.00.G12/THUE/ma-so-thue", "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1", "VN/GOV/000.00.00.G22/DANCU/xac-thuc",
        ])
        #expect(document.services[1].endpoints.map(\.path) == ["/v1/cong-dan/{so-dinh-danh}", "/v1/tra-cuu"])
        #expect(document.datasets.map(\.id.canonical) == ["VN/GOV/000.00.00.G12/datasets/thue", "VN/GOV/000.00.00.G22/datasets/dan-cu"])
        #expect(document.datasets[1].services.map(\.canonical) == [
            "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1", "VN/GOV/000.00.00.G22/DANCU/xac-thuc",
        ])
        // Suspended, revoked, ended and far-future agreements are left out; one starting within the validity is kept.
        #expect(document.agreements.map(\.id) == ["AG-000001", "AG-000003", "AG-000005"])
        #expect(document.agreements[1].purposes == ["1.004", "2.001"])
        #expect(document.agreements.allSatisfy { $0.validFrom.timeIntervalSince1970.rounded(.down) == $0.validFrom.timeIntervalSince1970 })
        #expect(document.policy == GlobalConfiguration.Policy(ocspFreshnessSeconds: 3600, configurationValiditySeconds: 600, checkpointIntervalSeconds: 60))

        let json = String(decoding: try document.canonicalJSON(), as: UTF8.self)
        #expect(!json.contains("OPENAPI-MARKER"))
        #expect(!json.contains("Ministry of Public Security"))
        #expect(json.contains(#""generated_at":"2026-01-01T00:00:00Z""#))
        #expect(json.contains(#""tls_certificate_sha256":"0f0f"#))
    }

    @Test("the canonical form of a small document, byte for byte")
    func goldenBytes() throws {
        let document = GlobalConfiguration(
            instance: "VN", serial: 42, generatedAt: Date(timeIntervalSince1970: 0), expiresAt: Date(timeIntervalSince1970: 600),
            members: [.init(id: try GCFixtures.member("000.00.00.G22"), name: "Bộ \"Công\" an/\\\n", kind: .ministry, disabled: false)],
            agreements: [.init(id: "AG-1", dataset: try GCFixtures.dataset("000.00.00.G22", "dan-cu"),
                               services: [try GCFixtures.service("000.00.00.G22", "DANCU", "x")],
                               consumer: try GCFixtures.subsystem("000.00.00.H29", "LGSP"), purposes: [],
                               validFrom: Date(timeIntervalSince1970: -86_400 * 366), validUntil: Date(timeIntervalSince1970: 951_782_400))])
        let expected = #"{"agreements":[{"consumer":"VN/GOV/000.00.00.H29/LGSP","dataset":"VN/GOV/000.00.00.G22/datasets/dan-cu","id":"AG-1","purposes":[],"services":["VN/GOV/000.00.00.G22/DANCU/x"],"valid_from":"1968-12-31T00:00:00Z","valid_until":"2000-02-29T00:00:00Z"}],"approved_cas":[],"datasets":[],"expires_at":"1970-01-01T00:10:00Z","format_version":1,"generated_at":"1970-01-01T00:00:00Z","instance":"VN","members":[{"disabled":false,"id":"VN/GOV/000.00.00.G22","kind":"ministry","name":"Bộ \"Công\" an/\\\n"}],"policy":{"checkpoint_interval_seconds":60,"configuration_validity_seconds":600,"ocsp_freshness_seconds":3600},"serial":42,"servers":[],"services":[],"subsystems":[]}"#
        #expect(String(decoding: try document.canonicalJSON(), as: UTF8.self) == expected)
        #expect(try GlobalConfiguration(jsonBytes: Array(expected.utf8)) == document)
    }

    @Test("the canonical writer agrees byte for byte with JSONEncoder(.sortedKeys, .withoutEscapingSlashes)")
    func writerMatchesJSONEncoder() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var extremes = builder.build(snapshot: try GCFixtures.snapshot(), serial: Int64.max, now: GCFixtures.fixedNow)
        extremes.approvedCAs.append(GlobalConfiguration.ApprovedCA(certificate: "x", ocspURL: "http://ocsp.example/a?b=c"))
        extremes.policy = .init(ocspFreshnessSeconds: Int(Int32.max), configurationValiditySeconds: 1, checkpointIntervalSeconds: 0)
        let documents = [
            builder.build(snapshot: try GCFixtures.snapshot(), serial: 1, now: GCFixtures.fixedNow),
            builder.build(snapshot: try GCFixtures.awkwardSnapshot(), serial: 2, now: GCFixtures.fixedNow),
            builder.build(snapshot: try GlobalConfigurationBenchmark.syntheticSnapshot(
                .init(ministries: 2, provinces: 3, subsystems: 30, services: 120, agreements: 50), now: GCFixtures.fixedNow),
                serial: 3, now: GCFixtures.fixedNow),
            builder.build(snapshot: RegistrySnapshot(), serial: 4, now: Date(timeIntervalSince1970: -1_000_000_000.5)),
            extremes,
        ]
        for document in documents {
            let canonical = try document.canonicalJSON()
            #expect(Array(try encoder.encode(document)) == canonical)
            // Both decoders read it back.
            #expect(try JSONDecoder().decode(GlobalConfiguration.self, from: Data(canonical)) == document)
            #expect(try GlobalConfiguration(jsonBytes: canonical) == document)
        }
    }

    @Test("the parser accepts any spelling of the same JSON and rejects duplicate keys, nulls, fractions and bad UTF-8")
    func parser() async throws {
        let document = builder.build(snapshot: try GCFixtures.awkwardSnapshot(), serial: 9, now: GCFixtures.fixedNow)
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted]  // whitespace, unsorted keys, "\/" escapes
        #expect(try GlobalConfiguration(jsonBytes: Array(try pretty.encode(document))) == document)

        let text = String(decoding: try document.canonicalJSON(), as: UTF8.self)
        let escaped = text
            .replacingOccurrences(of: "Hà Nội", with: #"H\u00e0 N\u1ED9i"#)
            .replacingOccurrences(of: "😀", with: #"\ud83d\ude00"#)
        #expect(escaped != text)
        #expect(try GlobalConfiguration(jsonBytes: Array(escaped.utf8)) == document)

        var bad: [String: [UInt8]] = [
            "duplicate key": Array(text.replacingOccurrences(of: #""instance":"VN","#, with: #""instance":"VN","instance":"LA","#).utf8),
            "unknown key": Array(text.replacingOccurrences(of: #""instance":"VN","#, with: #""instance":"VN","x":1,"#).utf8),
            "null": Array(text.replacingOccurrences(of: #""serial":9"#, with: #""serial":null"#).utf8),
            "fraction": Array(text.replacingOccurrences(of: #""serial":9"#, with: #""serial":9.0"#).utf8),
            "exponent": Array(text.replacingOccurrences(of: #""serial":9"#, with: #""serial":9e0"#).utf8),
            "leading zero": Array(text.replacingOccurrences(of: #""serial":9"#, with: #""serial":09"#).utf8),
            "overflow": Array(text.replacingOccurrences(of: #""serial":9"#, with: #""serial":9223372036854775808"#).utf8),
            "lone surrogate": Array(text.replacingOccurrences(of: "😀", with: #"\ud83d"#).utf8),
            "bad escape": Array(text.replacingOccurrences(of: "😀", with: #"\x"#).utf8),
            "trailing data": Array((text + "{}").utf8),
            "truncated": Array(text.utf8.dropLast()),
            "missing policy key": Array(text.replacingOccurrences(of: #""checkpoint_interval_seconds":60,"#, with: "").utf8),
            "unknown kind": Array(text.replacingOccurrences(of: #""kind":"province""#, with: #""kind":"city""#).utf8),
        ]
        var invalidUTF8 = Array(text.utf8)
        if let range = invalidUTF8.firstRange(of: Array("Hà".utf8)) { invalidUTF8[range.lowerBound + 1] = 0xC3; invalidUTF8[range.lowerBound + 2] = 0x28 }
        bad["invalid UTF-8"] = invalidUTF8
        for (name, bytes) in bad {
            #expect(bytes != Array(text.utf8), "\(name) did not change the text")
            await expectGCError(.malformed, sourceLocation: #_sourceLocation) { try GlobalConfiguration(jsonBytes: bytes) }
        }
        await expectGCError(.unsupportedVersion) { try GlobalConfiguration(jsonBytes: Array(#"{"agreements":{"new":"shape"},"format_version":2}"#.utf8)) }
    }

    @Test("decoding round-trips, and rejects bad timestamps, a missing field and another format version")
    func decoding() async throws {
        let document = builder.build(snapshot: try GCFixtures.snapshot(), serial: 9, now: GCFixtures.fixedNow)
        let bytes = try document.canonicalJSON()
        #expect(try GlobalConfiguration(jsonBytes: bytes) == document)
        let text = String(decoding: bytes, as: UTF8.self)
        for bad in [
            text.replacingOccurrences(of: "2026-01-01T00:00:00Z", with: "2026-02-30T00:00:00Z"),
            text.replacingOccurrences(of: "2026-01-01T00:00:00Z", with: "2026-01-01T00:00:00.5Z"),
            text.replacingOccurrences(of: "2026-01-01T00:00:00Z", with: "2026-01-01 00:00:00Z"),
            text.replacingOccurrences(of: #""serial":9,"#, with: ""),
            text.replacingOccurrences(of: #""serial":9"#, with: #""serial":"9""#),
            text.replacingOccurrences(of: "VN/GOV/000.00.00.H29/LGSP", with: "VN/GOV/000.00.00.H29/LG SP"),
            "[]", "",
        ] {
            await expectGCError(.malformed) { try GlobalConfiguration(jsonBytes: Array(bad.utf8)) }
        }
        await expectGCError(.unsupportedVersion) {
            try GlobalConfiguration(jsonBytes: Array(text.replacingOccurrences(of: #""format_version":1"#, with: #""format_version":2"#).utf8))
        }
    }

    @Test("lookups: agreements by consumer and service at a time, servers, callability")
    func index() throws {
        let now = GCFixtures.fixedNow
        let document = builder.build(snapshot: try GCFixtures.snapshot(), serial: 1, now: now)
        let index = GlobalConfigurationIndex(document)
        let lgsp = try GCFixtures.subsystem("000.00.00.H29", "LGSP")
        let thue = try GCFixtures.subsystem("000.00.00.G12", "THUE")
        let traCuu = try GCFixtures.service("000.00.00.G22", "DANCU", "tra-cuu-cong-dan", "v1")
        let xacThuc = try GCFixtures.service("000.00.00.G22", "DANCU", "xac-thuc")

        #expect(index.agreements(consumer: lgsp, service: traCuu, at: now).map(\.id) == ["AG-000003"])
        #expect(document.agreements(consumer: lgsp, service: traCuu, at: now).map(\.id) == ["AG-000003"])
        #expect(index.agreements(consumer: lgsp, service: xacThuc, at: now).isEmpty)  // AG-000005 starts in 120 s
        #expect(index.agreements(consumer: lgsp, service: xacThuc, at: now.addingTimeInterval(121)).map(\.id) == ["AG-000005"])
        #expect(index.agreements(consumer: lgsp, service: traCuu, at: now.addingTimeInterval(31 * 86_400)).isEmpty)

        #expect(index.isCallable(consumer: lgsp, service: traCuu, purpose: "2.001", at: now))
        #expect(!index.isCallable(consumer: lgsp, service: traCuu, purpose: "9.999", at: now))
        #expect(!index.isCallable(consumer: thue, service: traCuu, at: now))  // consumer's member is disabled
        #expect(!index.isCallable(consumer: lgsp, service: xacThuc, at: now.addingTimeInterval(121)))  // service disabled

        let server = try SecurityServerId(owner: GCFixtures.member("000.00.00.G22"), serverCode: "SS1")
        #expect(index.server(server)?.address == "ss1.bocongan.gov.vn:5500")
        #expect(document.server(server)?.address == "ss1.bocongan.gov.vn:5500")
        #expect(index.server(tlsCertificateSHA256: String(repeating: "AB", count: 32))?.id.canonical == "VN/GOV/000.00.00.H29/SS1")
        #expect(index.servers(of: try GCFixtures.member("000.00.00.H29")).count == 1)
        #expect(index.member(try GCFixtures.member("000.00.00.G12"))?.disabled == true)
        #expect(index.dataset(try GCFixtures.dataset("000.00.00.G22", "dan-cu"))?.personalData == true)
        #expect(index.service(xacThuc)?.enabled == false)

        #expect(!document.isExpired(at: document.expiresAt.addingTimeInterval(-1)))
        #expect(document.isExpired(at: document.expiresAt))
        #expect(index.isExpired(at: document.expiresAt))
    }
}

// MARK: - Signing and verification

@Suite("Global configuration: signing and verification")
struct GlobalConfigurationSigningTests {
    @Test("sign and verify round trip with a development PKI; header, ETag, If-None-Match")
    func roundTrip() async throws {
        let pki = try GCFixtures.PKI()
        defer { pki.remove() }
        let signed = try pki.signed(serial: 12)
        let parts = signed.jws.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3 && parts.allSatisfy { !$0.isEmpty })

        let header = try #require(JSONSerialization.jsonObject(with: Data(Base64URL.decode(parts[0]) ?? [])) as? [String: Any])
        #expect(header["alg"] as? String == "ES256")
        #expect(header["typ"] as? String == "lienthong-globalconf+jws")
        #expect((header["x5c"] as? [String])?.count == 1)
        #expect(try Base64URL.decode(parts[1]) == signed.configuration.canonicalJSON())

        #expect(signed.etag.wholeMatch(of: /"12-[0-9a-f]{16}"/) != nil)
        #expect(signed.etag == SignedGlobalConfiguration.etag(serial: 12, jws: signed.jws))
        #expect(signed.matches(ifNoneMatch: signed.etag))
        #expect(signed.matches(ifNoneMatch: "\"1-0000000000000000\", W/\(signed.etag)"))
        #expect(signed.matches(ifNoneMatch: "*"))
        #expect(!signed.matches(ifNoneMatch: "\"12-0000000000000000\""))
        #expect(SignedGlobalConfiguration.mediaType == "application/jose")

        let verified = try await pki.verifier.verifySigned(signed.jws, at: Date())
        #expect(verified.configuration == signed.configuration)
        #expect(verified.etag == signed.etag)
        #expect(verified.payloadSHA256 == signed.payloadSHA256)
        #expect(try await pki.verifier.verify(signed.jws + "", at: Date()) == signed.configuration)
        // A verifier built from the trust anchor file agrees.
        let fromFile = try GlobalConfigurationVerifier(trustAnchorFile: pki.pki.url(.rootCertificate))
        #expect(try await fromFile.verify(signed.jws, at: Date()).serial == 12)
    }

    @Test("a changed payload byte, header or signature fails with badSignature")
    func tampering() async throws {
        let pki = try GCFixtures.PKI()
        defer { pki.remove() }
        let jws = try pki.signed().jws
        let payloadByte = GCFixtures.tamper(jws, part: 1) { bytes in
            // Turn `"serial":1,` into `"serial":2,`: still a valid document, so only the signature can catch it.
            if let range = bytes.firstRange(of: Array(#""serial":1,"#.utf8)) {
                bytes[range.upperBound - 2] = UInt8(ascii: "2")
            }
        }
        #expect(payloadByte != jws)
        let header = GCFixtures.tamper(jws, part: 0) { bytes in
            var text = String(decoding: bytes, as: UTF8.self)
            text.removeLast()
            text += #","kid":"x"}"#
            bytes = Array(text.utf8)
        }
        let signature = GCFixtures.tamper(jws, part: 2) { $0[10] ^= 0x01 }
        for tampered in [payloadByte, header, signature] {
            await expectGCError(.badSignature) { try await pki.verifier.verify(tampered, at: Date()) }
        }
    }

    @Test("a document signed with a member key, or by another instance's CA, has an untrusted signer")
    func untrustedSigners() async throws {
        let pki = try GCFixtures.PKI()
        defer { pki.remove() }
        let record = try pki.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
        let memberSigner = try GlobalConfigurationSigner(
            keyFile: pki.directory.appendingPathComponent(record.keyPath),
            certificateFile: pki.directory.appendingPathComponent(record.certificatePath))
        let document = try pki.builder().build(snapshot: GCFixtures.snapshot(now: Date()), serial: 1, now: Date())
        await expectGCError(.untrustedSigner) { try await pki.verifier.verify(try memberSigner.sign(document).jws, at: Date()) }

        let other = try GCFixtures.PKI()
        defer { other.remove() }
        await expectGCError(.untrustedSigner) { try await pki.verifier.verify(try other.signer.sign(document).jws, at: Date()) }
        // After the configuration-signing certificate's validity.
        let signed = try pki.signer.sign(document)
        await expectGCError(.untrustedSigner) { try await pki.verifier.verify(signed.jws, at: Date().addingTimeInterval(3 * 365 * 86_400)) }
    }

    @Test("malformed input, other algorithms, format versions and instances are refused")
    func refusals() async throws {
        let pki = try GCFixtures.PKI()
        defer { pki.remove() }
        for bad in ["", "abc", "a.b", "a..c", "a.b.c.d", "!!.e30.AA", "e30.e30.AA"] {
            await expectGCError(.malformed) { try await pki.verifier.verify(bad, at: Date()) }
        }
        let jws = try pki.signed().jws
        let rs256 = GCFixtures.tamper(jws, part: 0) { bytes in
            bytes = Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "ES256", with: "RS256").utf8)
        }
        await expectGCError(.unsupportedAlgorithm) { try await pki.verifier.verify(rs256, at: Date()) }
        let wrongType = GCFixtures.tamper(jws, part: 0) { bytes in
            bytes = Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "globalconf", with: "msg").utf8)
        }
        await expectGCError(.malformed) { try await pki.verifier.verify(wrongType, at: Date()) }

        var future = try pki.builder().build(snapshot: GCFixtures.snapshot(now: Date()), serial: 1, now: Date())
        future.formatVersion = 2
        await expectGCError(.unsupportedVersion) { try await pki.verifier.verify(try pki.signer.sign(future).jws, at: Date()) }

        let elsewhere = GlobalConfigurationVerifier(trustAnchors: [pki.pki.rootCertificate], expectedInstance: "LA")
        await expectGCError(.wrongInstance) { try await elsewhere.verify(jws, at: Date()) }

        // Correctly signed, but not in canonical form.
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted, .sortedKeys]
        let document = try pki.builder().build(snapshot: GCFixtures.snapshot(now: Date()), serial: 1, now: Date())
        let nonCanonical = try GlobalConfigurationJWS.sign(
            payload: Array(try pretty.encode(document)), key: pki.signer.key, chain: pki.signer.certificateChain)
        try nonCanonical.verifySignature()
        #expect(try GlobalConfiguration(jsonBytes: nonCanonical.payload) == document)
        await expectGCError(.malformed) { try await pki.verifier.verify(nonCanonical.compact, at: Date()) }

        let small = GlobalConfigurationVerifier(trustAnchors: [pki.pki.rootCertificate], maximumSize: 100)
        await expectGCError(.malformed) { try await small.verify(jws, at: Date()) }
    }
}

// MARK: - Publisher

@Suite("Global configuration: publisher")
struct GlobalConfigurationPublisherTests {
    @Test("serials only grow, across a restart (state file)")
    func serialAcrossRestart() async throws {
        let pki = try GCFixtures.PKI()
        defer { pki.remove() }
        let state = pki.directory.appendingPathComponent("registry/globalconf-state.json")
        let snapshot = try GCFixtures.snapshot(now: Date())
        let first = try GlobalConfigurationPublisher(instance: "VN", signer: pki.signer, approvedCAs: try pki.approvedCAs, stateFile: state)
        #expect(await first.current() == nil)
        #expect(await first.latestSerial() == 0)
        var serials: [Int64] = []
        for _ in 0..<3 { serials.append(try await first.publish(snapshot: snapshot, now: Date()).serial) }
        #expect(serials == [1, 2, 3])
        #expect(await first.current()?.serial == 3)

        let stateJSON = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: state)) as? [String: Any])
        #expect(stateJSON["last_serial"] as? Int == 3)
        #expect(stateJSON["snapshot_revision"] as? Int == 7)

        // A restarted registry continues from the file.
        let restarted = try GlobalConfigurationPublisher(
            instance: "VN", signingKey: pki.signer.key, signingChain: pki.signer.certificateChain,
            approvedCAs: try pki.approvedCAs, stateFile: state)
        #expect(await restarted.latestSerial() == 3)
        let next = try await restarted.publish(snapshot: snapshot, now: Date())
        #expect(next.serial == 4)
        #expect(try await pki.verifier.verify(next.jws, at: Date()).serial == 4)

        // A damaged state file stops the publisher rather than restarting at 1.
        try Data("{\"last_serial\":".utf8).write(to: state)
        await expectGCError(.storage) {
            try GlobalConfigurationPublisher(instance: "VN", signer: pki.signer, approvedCAs: [], stateFile: state)
        }
        await expectGCError(.invalidArgument) {
            try GlobalConfigurationPublisher(instance: "VN", signer: pki.signer, approvedCAs: [],
                                             policy: .init(configurationValiditySeconds: 0), stateFile: pki.directory.appendingPathComponent("x.json"))
        }
    }

    @Test("re-signs when the registry changes, when half the validity is gone, or when settings change")
    func refreshRules() async throws {
        let pki = try GCFixtures.PKI()
        defer { pki.remove() }
        let publisher = try GlobalConfigurationPublisher(
            instance: "VN", signer: pki.signer, approvedCAs: try pki.approvedCAs,
            stateFile: pki.directory.appendingPathComponent("state.json"))
        let t0 = Date()
        let snapshot = try GCFixtures.snapshot(now: t0, revision: 1)
        #expect(await publisher.needsRefresh(snapshotRevision: 1, now: t0))
        #expect(try await publisher.refreshIfNeeded(snapshot: snapshot, now: t0).serial == 1)
        #expect(try await publisher.refreshIfNeeded(snapshot: snapshot, now: t0.addingTimeInterval(200)).serial == 1)
        #expect(!(await publisher.needsRefresh(snapshotRevision: 1, now: t0.addingTimeInterval(299))))
        // Less than half of the 600 s validity left.
        #expect(try await publisher.refreshIfNeeded(snapshot: snapshot, now: t0.addingTimeInterval(302)).serial == 2)
        // The registry changed.
        let changed = try GCFixtures.snapshot(now: t0, revision: 2, memberName: "Bộ Công an (mới)")
        let republished = try await publisher.refreshIfNeeded(snapshot: changed, now: t0.addingTimeInterval(303))
        #expect(republished.serial == 3)
        #expect(republished.configuration.members.contains { $0.name == "Bộ Công an (mới)" })
        #expect(try await publisher.refreshIfNeeded(snapshot: changed, now: t0.addingTimeInterval(304)).serial == 3)
        // New policy.
        try await publisher.update(approvedCAs: try pki.approvedCAs, policy: .init(configurationValiditySeconds: 60))
        let shorter = try await publisher.refreshIfNeeded(snapshot: changed, now: t0.addingTimeInterval(305))
        #expect(shorter.serial == 4)
        #expect(shorter.configuration.expiresAt.timeIntervalSince(shorter.configuration.generatedAt) == 60)
        #expect(await publisher.current()?.etag == shorter.etag)
    }
}
