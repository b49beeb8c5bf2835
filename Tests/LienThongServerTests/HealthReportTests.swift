import Foundation
import LienThongCore
import LienThongServer
import LienThongTrust
import LienThongTestSupport
import Testing

@Suite("Health report")
struct HealthReportTests {
    static let now = Date(timeIntervalSince1970: 1_767_225_600.5)  // 2026-01-01T00:00:00.5Z
    static let certificate = "VN/GOV/000.00.00.G22"

    static var serverId: SecurityServerId {
        get throws { try SecurityServerId(parsing: "VN/GOV/000.00.00.G22/SS1") }
    }

    static let configuration = HealthReport.ConfigurationInput(
        serial: 42, generatedAt: now.addingTimeInterval(-60.5), expiresAt: now.addingTimeInterval(539.5))

    static func good(thisUpdate: TimeInterval = -120, nextUpdate: TimeInterval? = nil) -> HealthReport.OCSPInput {
        .init(certificate: certificate, status: .good, thisUpdate: now.addingTimeInterval(thisUpdate),
              nextUpdate: nextUpdate.map { now.addingTimeInterval($0) }, freshness: 3600)
    }

    func report(configuration: HealthReport.ConfigurationInput? = HealthReportTests.configuration, refreshError: String? = nil,
                ocsp: HealthReport.OCSPInput = HealthReportTests.good(), now: Date = HealthReportTests.now) throws -> HealthReport {
        HealthReport.evaluate(serverId: try Self.serverId, configuration: configuration, lastRefreshError: refreshError, ocsp: ocsp, now: now)
    }

    @Test func healthyServer() throws {
        let report = try report()
        #expect(report.status == .ok)
        #expect(report.httpStatus == 200)
        #expect(report.serverId == "VN/GOV/000.00.00.G22/SS1")
        let configuration = try #require(report.configuration)
        #expect(configuration.serial == 42)
        #expect(configuration.ageSeconds == 60)
        #expect(configuration.expiresInSeconds == 539)
        #expect(configuration.expired == false)
        #expect(configuration.lastRefreshError == nil)
        #expect(report.ocsp.status == .good)
        #expect(report.ocsp.freshUntil == Self.now.addingTimeInterval(3480))
        #expect(report.checks.map(\.name) == ["global_configuration", "ocsp_status"])
        #expect(report.checks.allSatisfy { $0.ok })
    }

    @Test func jsonUsesSnakeCaseAndWholeSecondUTCDates() throws {
        let text = String(decoding: try report(refreshError: "registry unreachable").jsonBody(), as: UTF8.self)
        #expect(text.contains(#""server_id":"VN/GOV/000.00.00.G22/SS1""#))
        #expect(text.contains(#""checked_at":"2026-01-01T00:00:00Z""#))
        #expect(text.contains(#""generated_at":"2025-12-31T23:59:00Z""#))
        #expect(text.contains(#""expires_at":"2026-01-01T00:09:00Z""#))
        #expect(text.contains(#""age_seconds":60"#))
        #expect(text.contains(#""expires_in_seconds":539"#))
        #expect(text.contains(#""last_refresh_error":"registry unreachable""#))
        #expect(text.contains(#""this_update":"2025-12-31T23:58:00Z""#))
        #expect(text.contains(#""fresh_until":"2026-01-01T00:58:00Z""#))
        #expect(text.hasPrefix(#"{"checked_at""#), "keys are sorted")

        let decoded = try JSONDecoder().decode(HealthReport.self, from: Data(text.utf8))
        #expect(decoded.status == .ok, "a refresh error alone does not fail the server")
        #expect(decoded.serverId == "VN/GOV/000.00.00.G22/SS1")
        #expect(decoded.configuration?.lastRefreshError == "registry unreachable")
        #expect(decoded.checkedAt == Date(timeIntervalSince1970: 1_767_225_600))
        #expect(decoded.ocsp.thisUpdate == Date(timeIntervalSince1970: 1_767_225_480))
    }

    @Test func missingOrExpiredConfigurationFails() throws {
        let missing = try report(configuration: nil, refreshError: "connection refused")
        #expect(missing.status == .failing)
        #expect(missing.httpStatus == 503)
        #expect(missing.configuration == nil)
        let check = try #require(missing.checks.first { $0.name == HealthReport.configurationCheck })
        #expect(!check.ok)
        #expect(check.detail.contains("connection refused"))

        let expired = try report(now: Self.now.addingTimeInterval(539.5))
        #expect(expired.status == .failing, "expires_at itself is already expired")
        #expect(expired.configuration?.expired == true)
        #expect(expired.configuration?.expiresInSeconds == 0)
        let later = try report(now: Self.now.addingTimeInterval(600))
        #expect(later.configuration?.expiresInSeconds == -61)
        #expect(try report(now: Self.now.addingTimeInterval(539)).status == .ok)
    }

    @Test func ocspMustBeGoodAndFresh() throws {
        let missing = try report(ocsp: .missing(certificate: Self.certificate))
        #expect(missing.status == .failing)
        #expect(missing.ocsp.status == .missing)
        #expect(missing.ocsp.thisUpdate == nil && missing.ocsp.freshUntil == nil)

        for status in [HealthReport.OCSPHealth.Status.revoked, .unknown] {
            let report = try report(ocsp: .init(certificate: Self.certificate, status: status, thisUpdate: Self.now))
            #expect(report.status == .failing, "\(status)")
            #expect(report.ocsp.status == status)
        }

        let stale = try report(ocsp: Self.good(thisUpdate: -3600))
        #expect(stale.status == .failing, "thisUpdate + freshness == now is stale")
        #expect(try report(ocsp: Self.good(thisUpdate: -3599)).status == .ok)

        let nextUpdatePassed = try report(ocsp: Self.good(thisUpdate: -120, nextUpdate: -1))
        #expect(nextUpdatePassed.status == .failing)
        #expect(nextUpdatePassed.ocsp.freshUntil == Self.now.addingTimeInterval(-1), "nextUpdate caps fresh_until")

        // The responder's clock may run ahead: tolerated as far as the OCSP verifier tolerates it.
        let skewed = try report(ocsp: Self.good(thisUpdate: 30))
        #expect(skewed.status == .ok)
        let future = try report(ocsp: Self.good(thisUpdate: OCSPResponseVerifier().allowedClockSkew + 1))
        #expect(future.status == .failing)
    }

    @Test func ocspStatusMapsFromTheTrustModule() {
        #expect(HealthReport.OCSPHealth.Status(nil) == .missing)
        #expect(HealthReport.OCSPHealth.Status(.good) == .good)
        #expect(HealthReport.OCSPHealth.Status(.unknown) == .unknown)
        #expect(HealthReport.OCSPHealth.Status(.revoked(at: Self.now, reason: nil)) == .revoked)
    }

    @Test("reports validate against schemas/server-health.schema.json; broken ones do not",
          .enabled(if: JSONSchemaCheck.python != nil))
    func schema() async throws {
        let schema = "schemas/server-health.schema.json"
        let reports = [
            try report(),
            try report(refreshError: "timeout"),
            try report(configuration: nil, refreshError: "connection refused"),
            try report(configuration: nil, ocsp: .missing(certificate: Self.certificate)),
            try report(now: Self.now.addingTimeInterval(3 * 86_400)),
            try report(ocsp: .init(certificate: Self.certificate, status: .revoked, thisUpdate: Self.now)),
        ]
        let (status, output) = try await JSONSchemaCheck.validate(reports.map { (schema, $0.jsonBody()) })
        #expect(status == 0, "\(output)")

        let good = String(decoding: try report().jsonBody(), as: UTF8.self)
        let broken = [
            good.replacingOccurrences(of: #""status":"ok""#, with: #""status":"fine""#),
            good.replacingOccurrences(of: #""checked_at":"2026-01-01T00:00:00Z""#, with: #""checked_at":"2026-01-01 00:00:00""#),
            good.replacingOccurrences(of: #""server_id""#, with: #""serverId""#),
            good.replacingOccurrences(of: #""ok":true}"#, with: #""ok":false}"#),
            good.replacingOccurrences(of: #""status":"good""#, with: #""status":"missing""#),
        ]
        for (i, text) in broken.enumerated() {
            #expect(text != good, "mutation \(i) did not apply")
            let (status, output) = try await JSONSchemaCheck.validate([(schema, Array(text.utf8))])
            #expect(status == 1, "broken report \(i) was accepted: \(output)")
        }
    }
}
