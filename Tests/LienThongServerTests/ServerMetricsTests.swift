import Foundation
import LienThongAudit
import LienThongCore
import LienThongServer
import Testing

@Suite("Server metrics")
struct ServerMetricsTests {
    static let traCuu = "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1"
    static let now = Date(timeIntervalSince1970: 1_767_225_600)

    func lines(_ text: String) -> Set<String> {
        Set(text.split(separator: "\n").map(String.init))
    }

    @Test func exchangesAreCountedAndTimed() throws {
        let metrics = ServerMetrics()
        metrics.recordExchange(side: .consumer, service: Self.traCuu, outcome: "success", duration: .milliseconds(3))
        metrics.recordExchange(side: .consumer, service: Self.traCuu, outcome: "success", duration: 0.2)
        metrics.recordExchange(side: .consumer, service: Self.traCuu, outcome: "server.serverproxy.access_denied", duration: .milliseconds(1))
        metrics.recordExchange(side: .provider, service: try ServiceId(parsing: Self.traCuu), fault: nil, duration: .seconds(40))
        metrics.recordExchange(side: .provider, service: try ServiceId(parsing: Self.traCuu), fault: .providerServiceFailed, duration: .seconds(1))
        metrics.recordExchange(side: .consumer, service: "-", outcome: "Made.Up", duration: .zero)

        let text = metrics.render(at: Self.now)
        let lines = lines(text)
        let s = Self.traCuu
        #expect(lines.contains("# TYPE lienthong_exchanges_total counter"))
        #expect(lines.contains("# TYPE lienthong_exchange_duration_seconds histogram"))
        #expect(lines.contains(#"lienthong_exchanges_total{side="consumer",service="\#(s)",outcome="success"} 2"#))
        #expect(lines.contains(#"lienthong_exchanges_total{side="consumer",service="\#(s)",outcome="Server.ServerProxy.AccessDenied"} 1"#),
                "the lower-case spelling is counted under the classic name")
        #expect(lines.contains(#"lienthong_exchanges_total{side="provider",service="\#(s)",outcome="success"} 1"#))
        #expect(lines.contains(#"lienthong_exchanges_total{side="provider",service="\#(s)",outcome="Server.ServerProxy.ServiceFailed"} 1"#))
        #expect(lines.contains(#"lienthong_exchanges_total{side="consumer",service="-",outcome="other"} 1"#))

        #expect(lines.contains(#"lienthong_exchange_duration_seconds_bucket{side="consumer",service="\#(s)",le="0.001"} 1"#))
        #expect(lines.contains(#"lienthong_exchange_duration_seconds_bucket{side="consumer",service="\#(s)",le="0.005"} 2"#))
        #expect(lines.contains(#"lienthong_exchange_duration_seconds_bucket{side="consumer",service="\#(s)",le="0.25"} 3"#))
        #expect(lines.contains(#"lienthong_exchange_duration_seconds_bucket{side="consumer",service="\#(s)",le="+Inf"} 3"#))
        #expect(lines.contains(#"lienthong_exchange_duration_seconds_count{side="consumer",service="\#(s)"} 3"#))
        #expect(lines.contains(#"lienthong_exchange_duration_seconds_sum{side="consumer",service="\#(s)"} 0.204"#))
        #expect(lines.contains(#"lienthong_exchange_duration_seconds_bucket{side="provider",service="\#(s)",le="30.0"} 1"#),
                "40 s is past the last bucket")
        #expect(lines.contains(#"lienthong_exchange_duration_seconds_bucket{side="provider",service="\#(s)",le="+Inf"} 2"#))
        #expect(!text.contains("lienthong_globalconf"), "no configuration set yet: no gauge")
        #expect(!text.contains("lienthong_ocsp"))
    }

    @Test func outcomeLabels() {
        #expect(ServerMetrics.outcomeLabel("success") == "success")
        #expect(ServerMetrics.outcomeLabel("Client.BadRequest") == "Client.BadRequest")
        #expect(ServerMetrics.outcomeLabel("server.clientproxy.outdated_global_conf") == "Server.ClientProxy.OutdatedGlobalConf")
        #expect(ServerMetrics.outcomeLabel("Success") == "other")
        #expect(ServerMetrics.outcomeLabel("") == "other")
    }

    @Test func bucketsRunFromOneMillisecondToThirtySeconds() {
        #expect(ServerMetrics.durationBuckets.first == .milliseconds(1))
        #expect(ServerMetrics.durationBuckets.last == .seconds(30))
        #expect(ServerMetrics.durationBuckets == ServerMetrics.durationBuckets.sorted())
    }

    @Test func configurationAndOCSPGaugesAreComputedWhenRendered() {
        let metrics = ServerMetrics()
        metrics.setGlobalConfiguration(serial: 42, generatedAt: Self.now.addingTimeInterval(-60), expiresAt: Self.now.addingTimeInterval(540))
        metrics.setOCSPStatus(thisUpdate: Self.now.addingTimeInterval(-120))
        var lines = lines(metrics.render(at: Self.now))
        #expect(lines.contains("# TYPE lienthong_globalconf_serial gauge"))
        #expect(lines.contains("lienthong_globalconf_serial 42.0"))
        #expect(lines.contains("lienthong_globalconf_age_seconds 60.0"))
        #expect(lines.contains("lienthong_globalconf_expires_in_seconds 540.0"))
        #expect(lines.contains("lienthong_ocsp_status_age_seconds 120.0"))
        #expect(lines.contains { $0.hasPrefix("# HELP lienthong_ocsp_status_age_seconds ") })

        lines = self.lines(metrics.render(at: Self.now.addingTimeInterval(600)))
        #expect(lines.contains("lienthong_globalconf_age_seconds 660.0"))
        #expect(lines.contains("lienthong_globalconf_expires_in_seconds -60.0"), "negative once expired")
        #expect(lines.contains("lienthong_ocsp_status_age_seconds 720.0"))

        metrics.setOCSPStatus(thisUpdate: nil)
        let text = metrics.render(at: Self.now)
        #expect(!text.contains("lienthong_ocsp_status_age_seconds"), "no status held: the series disappears")
        metrics.setOCSPStatus(thisUpdate: Self.now)
        #expect(self.lines(metrics.render(at: Self.now.addingTimeInterval(5))).contains("lienthong_ocsp_status_age_seconds 5.0"))
    }

    @Test func serversInOneProcessKeepSeparateRegistries() {
        let a = ServerMetrics()
        let b = ServerMetrics()
        a.recordExchange(side: .consumer, service: Self.traCuu, outcome: "success", duration: .milliseconds(1))
        a.setGlobalConfiguration(serial: 7, generatedAt: Self.now, expiresAt: Self.now.addingTimeInterval(600))
        #expect(a.render(at: Self.now).contains("lienthong_exchanges_total{"))
        #expect(!b.render(at: Self.now).contains("lienthong_exchanges_total{"))
        #expect(!b.render(at: Self.now).contains("lienthong_globalconf_serial"))
    }

    @Test func serviceLabelsAreBounded() {
        let metrics = ServerMetrics(maximumServices: 2)
        for code in ["a", "b", "c", "d", "a"] {
            metrics.recordExchange(side: .provider, service: "VN/GOV/M/S/\(code)", outcome: "success", duration: .milliseconds(1))
        }
        let lines = lines(metrics.render(at: Self.now))
        #expect(lines.contains(#"lienthong_exchanges_total{side="provider",service="VN/GOV/M/S/a",outcome="success"} 2"#))
        #expect(lines.contains(#"lienthong_exchanges_total{side="provider",service="VN/GOV/M/S/b",outcome="success"} 1"#))
        #expect(lines.contains(#"lienthong_exchanges_total{side="provider",service="_other",outcome="success"} 2"#))
        #expect(!lines.contains { $0.contains("VN/GOV/M/S/c") })
    }

    @Test func contentTypeIsTheTextExpositionFormat() {
        #expect(ServerMetrics.contentType == "text/plain; version=0.0.4; charset=utf-8")
    }

    @Test func concurrentRecordingLosesNothing() async {
        let metrics = ServerMetrics()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<250 {
                        metrics.recordExchange(side: .consumer, service: Self.traCuu, outcome: "success", duration: .milliseconds(2))
                    }
                }
            }
        }
        #expect(lines(metrics.render(at: Self.now)).contains(
            #"lienthong_exchanges_total{side="consumer",service="\#(Self.traCuu)",outcome="success"} 2000"#))
    }
}
