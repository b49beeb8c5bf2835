import Crypto
import Foundation
import GRDB
import LienThongCore
import LienThongRegistry
import LienThongTrust
import Synchronization
import LienThongTestSupport
import Testing

// Shared fixtures for the registry logic, store and audit-trail tests (prefixed `RT` so they do
// not collide with other suites' helpers), plus the tests of `RegistryJSON`.

/// A settable clock.
final class RTClock: Sendable {
    private let time: Mutex<Date>

    init(_ start: Date) { time = Mutex(start) }

    var now: Date { time.withLock { $0 } }

    func advance(by seconds: TimeInterval) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }

    var function: @Sendable () -> Date { { [self] in now } }
}

/// Everything a test observes to check that a rejected operation changed nothing.
struct RTObservation: Equatable {
    var snapshot: RegistrySnapshot
    var revision: Int64
    var auditCount: Int
    var storedSnapshot: RegistrySnapshot
    var storedHead: AdminAuditEntry?
}

enum RTFixtures {
    /// 2025-07-01T08:00:00.250Z: the fraction checks that the registry floors to whole seconds.
    static let start = Date(timeIntervalSince1970: 1_751_356_800.25)

    static let ministry = try! MemberId(parsing: "VN/GOV/000.00.00.G22")
    static let province = try! MemberId(parsing: "VN/GOV/000.00.00.H29")
    static let other = try! MemberId(parsing: "VN/COM/0101234567")
    static let population = try! SubsystemId(parsing: "VN/GOV/000.00.00.G22/DANCU")
    static let provinceLGSP = try! SubsystemId(parsing: "VN/GOV/000.00.00.H29/LGSP")
    static let provinceDVC = try! SubsystemId(parsing: "VN/GOV/000.00.00.H29/DVC")
    static let lookup = try! ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1")
    static let verify = try! ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/xac-thuc")
    static let provinceService = try! ServiceId(parsing: "VN/GOV/000.00.00.H29/LGSP/ho-tich")
    static let citizens = try! DatasetId(parsing: "VN/GOV/000.00.00.G22/datasets/dan-cu")
    static let server = try! SecurityServerId(parsing: "VN/GOV/000.00.00.G22/SS1")
    static let admin: RegistryActor = "CN=admin,OU=admin,O=LienThong,C=VN"

    /// A fresh directory under the temporary directory.
    static func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-registry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The registry database file in `directory`.
    static func databasePath(_ directory: URL) -> String {
        directory.appendingPathComponent("registry.sqlite").path
    }

    /// A server TLS certificate (PEM) from a throwaway development PKI, made once.
    static let certificate: Result<String, any Error> = Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-registry-pki-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let pki = try DevelopmentPKI.initialise(at: directory, instance: "VN", ocspURL: nil)
        let record = try pki.issue(role: .server, holderId: "VN/GOV/000.00.00.G22/SS1")
        return try PEMFiles.readText(directory.appendingPathComponent(record.certificatePath))
    }

    static func certificatePEM() throws -> String { try certificate.get() }

    /// The SHA-256 of the first PEM block's DER, computed independently of the registry.
    static func pin(of pem: String) throws -> String {
        let lines = pem.split(whereSeparator: \.isNewline)
        guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN CERTIFICATE") }),
              let end = lines[begin...].firstIndex(where: { $0.hasPrefix("-----END CERTIFICATE") }) else {
            throw RegistryJSONError("no certificate block")
        }
        let body = lines[(begin + 1)..<end].joined()
        guard let der = Data(base64Encoded: body) else { throw RegistryJSONError("bad base64") }
        return SHA256.hash(data: der).map { String(format: "%02x", $0) }.joined()
    }

    /// A registry on a new SQLite file in `directory`.
    static func registry(in directory: URL, clock: RTClock) async throws -> (Registry, SQLiteRegistryStore) {
        let store = try SQLiteRegistryStore(path: databasePath(directory))
        let registry = try await Registry(store: store, instance: "VN", clock: clock.function)
        return (registry, store)
    }

    /// Members, subsystems, services and a dataset:
    /// - the ministry (G22) provides `lookup` and `verify` from `DANCU`, exposing `citizens`;
    /// - the province (H29) has `LGSP` (providing `ho-tich`) and `DVC`.
    static func seed(_ registry: Registry, clock: RTClock) async throws {
        _ = try await registry.createMember(NewMember(id: ministry, name: "Bộ Công an", nameEn: "Ministry of Public Security", kind: .ministry), actor: admin)
        _ = try await registry.createMember(NewMember(id: province, name: "UBND tỉnh Hà Tĩnh", kind: .province), actor: admin)
        _ = try await registry.createSubsystem(NewSubsystem(id: population, name: "CSDL quốc gia về dân cư"), actor: admin)
        _ = try await registry.createSubsystem(NewSubsystem(id: provinceLGSP), actor: admin)
        _ = try await registry.createSubsystem(NewSubsystem(id: provinceDVC), actor: admin)
        _ = try await registry.createService(NewService(id: lookup, name: "Tra cứu công dân", openAPI: #"{"openapi":"3.0.3"}"#,
                                                        endpoints: [ServiceEndpoint(method: "get", path: "/v1/cong-dan/{so-dinh-danh}")]), actor: admin)
        _ = try await registry.createService(NewService(id: verify), actor: admin)
        _ = try await registry.createService(NewService(id: provinceService), actor: admin)
        _ = try await registry.createDataset(NewDataset(id: citizens, nameVi: "Dữ liệu dân cư", nameEn: "Population data",
                                                        classification: .confidential, personalData: true,
                                                        legalBasis: "Nghị định 47/2020/NĐ-CP", services: [lookup, verify]), actor: admin)
        clock.advance(by: 60)
    }

    /// A valid agreement input for the seed.
    static func agreementInput(validFrom: Date = start, validUntil: Date = start.addingTimeInterval(86_400 * 365)) -> NewAgreement {
        NewAgreement(dataset: citizens, services: [lookup], consumer: provinceDVC, purposes: ["1.001234", "2.002345"],
                     legalBasis: "Nghị định 47/2020/NĐ-CP, Điều 12", validFrom: validFrom, validUntil: validUntil)
    }

    /// A valid access-request input for the seed.
    static func accessRequestInput() -> NewAccessRequest {
        NewAccessRequest(consumer: provinceLGSP, dataset: citizens, services: [verify], purposes: ["1.004227"],
                         justification: "Xác thực thông tin công dân khi đăng ký hộ tịch",
                         legalBasis: "Luật Hộ tịch 2014")
    }

    /// What a test compares before and after a rejected operation.
    static func observe(_ registry: Registry, _ store: any RegistryStore) async throws -> RTObservation {
        let stored = try await store.load()
        return RTObservation(
            snapshot: await registry.snapshot(), revision: await registry.revision,
            auditCount: try await registry.auditTrail(fromSequence: 1, limit: 1_000_000).count,
            storedSnapshot: stored.snapshot, storedHead: stored.auditHead)
    }

    /// Runs `body`, expects a `RegistryError` with `code`, and checks that nothing changed.
    @discardableResult
    static func expectRejected<T>(
        _ code: RegistryError.Code, _ registry: Registry, _ store: any RegistryStore,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () async throws(RegistryError) -> T
    ) async throws -> RegistryError? {
        let before = try await observe(registry, store)
        var caught: RegistryError?
        do throws(RegistryError) {
            _ = try await body()
            Issue.record("expected a \(code) rejection, but the operation succeeded", sourceLocation: sourceLocation)
        } catch {
            caught = error
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        }
        let after = try await observe(registry, store)
        #expect(after == before, "a rejected operation changed the registry", sourceLocation: sourceLocation)
        return caught
    }

    /// Runs a program without blocking a cooperative thread; returns its status and output.
    static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await Subprocess.run(executable, arguments)
    }

    /// The first executable called `name` on `PATH`.
    static func executable(_ name: String) -> String? { Subprocess.executable(name) }
}

@Suite("Registry JSON conventions")
struct RegistryJSONTests {
    @Test("snake_case keys map back to the model's acronym properties")
    func acronyms() throws {
        let server = SecurityServer(id: RTFixtures.server, address: "ss1.bca.gov.vn:5500", tlsCertificate: "PEM",
                                    tlsCertificateSHA256: String(repeating: "ab", count: 32), createdAt: RTFixtures.start)
        let text = try RegistryJSON.canonicalText(server)
        #expect(text.contains(#""tls_certificate_sha256":"abab"#))
        #expect(text.contains(#""created_at":"2025-07-01T08:00:00Z""#))
        let decoded = try RegistryJSON.decode(SecurityServer.self, from: text)
        #expect(decoded.tlsCertificateSHA256 == server.tlsCertificateSHA256)
        #expect(decoded.createdAt == RegistryJSON.wholeSecond(RTFixtures.start))
    }

    @Test("NewService accepts open_api through either snake_case decoder")
    func newServiceDecoders() throws {
        let body = Data(#"{"id":"VN/GOV/000.00.00.G22/DANCU/tra-cuu","open_api":"openapi: 3.0.3","endpoints":[{"method":"get","path":"/x"}]}"#.utf8)
        let foundation = JSONDecoder()
        foundation.keyDecodingStrategy = .convertFromSnakeCase
        for decoder in [RegistryJSON.makeDecoder(), foundation] {
            let input = try decoder.decode(NewService.self, from: body)
            #expect(input.openAPI == "openapi: 3.0.3")
        }
        let encoded = String(decoding: try RegistryJSON.makeEncoder().encode(try RegistryJSON.makeDecoder().decode(NewService.self, from: body)), as: UTF8.self)
        #expect(encoded.contains(#""open_api":"openapi: 3.0.3""#))
    }

    @Test("canonical text: sorted keys, no slash escaping, booleans, minimal escapes")
    func canonicalText() throws {
        let member = Member(id: RTFixtures.ministry, name: "Bộ \"Công\" an\n/", kind: .ministry, createdAt: RTFixtures.start)
        let text = try RegistryJSON.canonicalText(member)
        #expect(text == #"{"created_at":"2025-07-01T08:00:00Z","disabled":false,"id":"VN/GOV/000.00.00.G22","kind":"ministry","name":"Bộ \"Công\" an\n/"}"#)
    }

    @Test("dates with fractional seconds or offsets are accepted on input")
    func dates() throws {
        #expect(RegistryJSON.parseTimestamp("2025-07-01T08:00:00Z") == Date(timeIntervalSince1970: 1_751_356_800))
        #expect(RegistryJSON.parseTimestamp("2025-07-01T08:00:00.500Z") == Date(timeIntervalSince1970: 1_751_356_800.5))
        #expect(RegistryJSON.parseTimestamp("2025-07-01T15:00:00+07:00") == Date(timeIntervalSince1970: 1_751_356_800))
        #expect(RegistryJSON.parseTimestamp("2025-07-01") == nil)
        // Impossible dates and times are refused, not rolled over into other ones.
        for impossible in ["2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-07-01T25:00:00Z", "2026-07-01T08:00:60Z",
                           "12026-07-01T00:00:00Z", "2026-07-01T08:00:00+24:00", "2026-07-01T08:00:00.Z", "0000-01-01T00:00:00Z"] {
            #expect(RegistryJSON.parseTimestamp(impossible) == nil, "\(impossible)")
        }
        #expect(RegistryJSON.parseTimestamp("2024-02-29T23:59:59Z") != nil, "a real leap day")
        #expect(RegistryJSON.timestamp(Date(timeIntervalSince1970: 1_751_356_800.999)) == "2025-07-01T08:00:00Z")
    }
}
