import Foundation
import LienThongCore
import LienThongRegistry
import Testing

/// `data_plane_actors` in the global configuration: who may call the security servers'
/// operations API, built from the registry's active registrations (hashes only).
@Suite("Global configuration: data-plane actors")
struct DataPlaneActorsTests {
    static func hash(_ digit: Character) -> String { String(repeating: digit, count: 64) }

    static func registration(_ digit: Character, _ role: ActorRole, member: MemberId?, revoked: Bool = false) -> ActorRegistration {
        ActorRegistration(certificateSHA256: hash(digit), certificate: "-----BEGIN CERTIFICATE-----PEM-MARKER", subject: "CN=SUBJECT-MARKER-\(digit)",
                          role: role, member: member, name: "NAME-MARKER", createdAt: GCFixtures.fixedNow,
                          revokedAt: revoked ? GCFixtures.fixedNow : nil)
    }

    let builder = GlobalConfigurationBuilder(instance: "VN", approvedCAs: [])

    @Test("active auditors and each member's active operators are published, by hash only; revoked, viewers and administrators are not")
    func builtFromActiveRegistrations() throws {
        let g22 = try GCFixtures.member("000.00.00.G22"), h29 = try GCFixtures.member("000.00.00.H29")
        var snapshot = try GCFixtures.snapshot()
        snapshot.registrations = [
            Self.registration("e", .memberOperator, member: h29),
            Self.registration("b", .memberOperator, member: g22),
            Self.registration("a", .memberOperator, member: g22),
            Self.registration("c", .memberOperator, member: g22, revoked: true),
            Self.registration("d", .viewer, member: g22),
            Self.registration("f", .instanceAdmin, member: nil),
            Self.registration("9", .auditor, member: nil),
            Self.registration("8", .auditor, member: nil, revoked: true),
        ]
        let document = builder.build(snapshot: snapshot, serial: 3, now: GCFixtures.fixedNow)
        let actors = document.dataPlaneActors
        #expect(actors.auditorCertificatesSHA256 == [Self.hash("9")])
        #expect(actors.memberOperators.map(\.member) == [g22, h29])
        #expect(actors.operators(of: g22) == [Self.hash("a"), Self.hash("b")])
        #expect(actors.operators(of: h29) == [Self.hash("e")])
        #expect(actors.isOperator(Self.hash("a"), of: g22) && !actors.isOperator(Self.hash("a"), of: h29))
        #expect(!actors.isOperator(Self.hash("c"), of: g22), "a revoked operator is not published")
        #expect(!actors.isOperator(Self.hash("d"), of: g22), "a viewer is no operator")
        #expect(!actors.isAuditor(Self.hash("8")) && !actors.isAuditor(Self.hash("f")))

        let canonical = try document.canonicalJSON()
        let json = String(decoding: canonical, as: UTF8.self)
        #expect(!json.contains("MARKER"), "no names, subjects or PEMs")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(Array(try encoder.encode(document)) == canonical)
        #expect(try JSONDecoder().decode(GlobalConfiguration.self, from: Data(canonical)) == document)
        #expect(try GlobalConfiguration(jsonBytes: canonical) == document)

        // Revoking the last operator of H29 removes it at the next build.
        snapshot.registrations[0].revokedAt = GCFixtures.fixedNow
        let next = builder.build(snapshot: snapshot, serial: 4, now: GCFixtures.fixedNow)
        #expect(next.dataPlaneActors.memberOperators.map(\.member) == [g22])
        #expect(next.dataPlaneActors.operators(of: h29).isEmpty)
    }

    @Test("nobody published: the key is absent and the bytes are those of a document without it")
    func emptyIsAbsent() throws {
        let document = builder.build(snapshot: try GCFixtures.snapshot(), serial: 3, now: GCFixtures.fixedNow)
        #expect(document.dataPlaneActors.isEmpty)
        #expect(!String(decoding: try document.canonicalJSON(), as: UTF8.self).contains("data_plane_actors"))
    }

    @Test("the parser refuses malformed hashes, unknown keys and missing lists inside data_plane_actors")
    func parserIsStrict() throws {
        let document = builder.build(snapshot: try GCFixtures.snapshot(), serial: 3, now: GCFixtures.fixedNow)
        let base = String(decoding: try document.canonicalJSON(), as: UTF8.self)
        func with(_ actors: String) -> [UInt8] {
            Array(base.replacingOccurrences(of: #""approved_cas":"#, with: #""data_plane_actors":\#(actors),"approved_cas":"#).utf8)
        }
        let good = with(#"{"auditor_certificates_sha256":["\#(Self.hash("1"))"],"member_operators":[{"certificates_sha256":["\#(Self.hash("2"))"],"member":"VN/GOV/000.00.00.G22"}]}"#)
        #expect(try GlobalConfiguration(jsonBytes: good).dataPlaneActors.isAuditor(Self.hash("1")))
        for bad in [
            #"{"auditor_certificates_sha256":["\#(String(repeating: "A", count: 64))"],"member_operators":[]}"#,
            #"{"auditor_certificates_sha256":["abc"],"member_operators":[]}"#,
            #"{"auditor_certificates_sha256":[],"member_operators":[],"admins":[]}"#,
            #"{"auditor_certificates_sha256":[]}"#,
            #"{"auditor_certificates_sha256":[],"member_operators":[{"certificates_sha256":[],"member":"VN"}]}"#,
            #"{"auditor_certificates_sha256":[],"member_operators":[{"member":"VN/GOV/000.00.00.G22"}]}"#,
        ] {
            #expect(throws: GlobalConfigurationError.self, "\(bad)") { try GlobalConfiguration(jsonBytes: with(bad)) }
        }
    }
}
