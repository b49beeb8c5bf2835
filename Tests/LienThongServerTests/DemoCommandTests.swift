import AsyncHTTPClient
import Foundation
import LienThongRegistry
import LienThongTestSupport
import NIOCore
import NIOHTTP1
import Testing

/// `lienthong demo` as a user runs it: the real executable, a whole instance on loopback.
@Suite("lienthong demo", .serialized)
struct DemoCommandTests {
    /// `--once --json` prints one JSON summary whose every expectation held, and exits 0.
    @Test func onceWithJSONPrintsASummaryAndExitsZero() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-demo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try await Subprocess.run(BackgroundProcess.lienthongExecutable, ["demo", "--once", "--json", "--dir", directory.path])
        #expect(result.status == 0, "\(result.output.suffix(3000))")
        let start = result.output.firstIndex(of: "{") ?? result.output.startIndex
        let data = Data(result.output[start...].utf8)
        struct Summary: Decodable {
            struct Expectation: Decodable { let name: String; let held: Bool }
            let all_held: Bool
            let expectations: [Expectation]
            let exchanges_sent: Int
            let evidence_file: String
        }
        let summary = try JSONDecoder().decode(Summary.self, from: data)
        #expect(summary.all_held)
        #expect(summary.expectations.count > 20)
        #expect(summary.exchanges_sent == 23)
        // The attempt for which no agreement of any status exists is checked by consumer and dataset.
        #expect(summary.expectations.contains { $0.name.hasPrefix("attempt without any agreement listed") && $0.held })
        #expect(summary.expectations.contains { $0.name.hasPrefix("no agreement at all") && $0.held })
        #expect(FileManager.default.fileExists(atPath: summary.evidence_file))
        // The evidence the demo fetched through the auditor API verifies with the CLI, offline.
        let verified = try await Subprocess.run(BackgroundProcess.lienthongExecutable,
                                                ["audit", "verify-bundle", summary.evidence_file, "--ca", directory.appendingPathComponent("ca/root.crt").path])
        #expect(verified.status == 0, "\(verified.output)")
    }

    /// When a step throws, `--once --json` still prints its JSON summary, with the error as a
    /// failed expectation, and exits 1. (Here the first step fails: `--dir` lies under a regular
    /// file, so the development PKI cannot be created.)
    @Test func onceWithJSONReportsAStepThatThrowsAsAFailedExpectation() async throws {
        let blocker = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-demo-blocker-\(UUID().uuidString)")
        try Data("not a directory".utf8).write(to: blocker)
        defer { try? FileManager.default.removeItem(at: blocker) }
        let result = try await Subprocess.run(BackgroundProcess.lienthongExecutable,
                                              ["demo", "--once", "--json", "--dir", blocker.appendingPathComponent("demo").path])
        #expect(result.status == 1, "\(result.output.suffix(3000))")
        let start = try #require(result.output.firstIndex(of: "{"), "no JSON summary: \(result.output.suffix(3000))")
        struct Summary: Decodable {
            struct Expectation: Decodable { let name: String; let expected: String; let actual: String; let held: Bool }
            let all_held: Bool
            let expectations: [Expectation]
            let exchanges_sent: Int
        }
        let summary = try JSONDecoder().decode(Summary.self, from: Data(result.output[start...].utf8))
        #expect(!summary.all_held)
        #expect(summary.exchanges_sent == 0)
        let failed = summary.expectations.filter { !$0.held }
        #expect(failed.count == 1, "\(summary.expectations)")
        #expect(failed.first?.name == "the demo ran to the end")
        #expect(failed.first?.expected == "no error")
        #expect(failed.first.map { $0.actual.hasPrefix("error: ") && $0.actual.count > "error: ".count } == true, "\(failed)")
    }

    /// Without `--once` the demo stays up, writes a `network.json` that matches its schema and
    /// drives the running network, and shuts down cleanly on SIGTERM.
    @Test func staysUpWritesNetworkJSONAndStopsOnSIGTERM() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-demo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.deletingLastPathComponent(), withIntermediateDirectories: true)
        let demo = try BackgroundProcess(BackgroundProcess.lienthongExecutable, ["demo", "--dir", directory.appendingPathComponent("d").path],
                                         outputFile: directory.appendingPathExtension("log"))
        defer {
            _ = demo.kill()
            try? FileManager.default.removeItem(at: directory.appendingPathExtension("log"))
        }
        var ready = false
        for _ in 0..<600 where demo.isRunning {
            if demo.output().contains("Running until SIGTERM") { ready = true; break }
            try await Task.sleep(for: .milliseconds(250))
        }
        try #require(ready, "the demo did not come up: \(demo.outputTail(40))")

        let networkFile = directory.appendingPathComponent("d/network.json")
        let bytes = try Array(Data(contentsOf: networkFile))
        let schema = try await JSONSchemaCheck.validate([(schema: "schemas/demo-network.schema.json", document: bytes)])
        #expect(schema.status == 0, "\(schema.output)")

        struct Network: Decodable {
            struct Server: Decodable { let owner: String; let client_url: String; let health_url: String; let metrics_url: String; let audit_path: String }
            struct Service: Decodable { let id: String; let purposes: [String] }
            struct Agreement: Decodable { let consumer: String; let dataset: String; let status: String }
            let servers: [Server]
            let services: [Service]
            let agreements: [Agreement]
        }
        let network = try JSONDecoder().decode(Network.self, from: Data(bytes))
        #expect(network.servers.count == 4)
        #expect(network.agreements.map(\.status).sorted() == ["active", "active", "active", "active", "expired"])
        let hanoi = try #require(network.servers.first { $0.owner == "VN/GOV/000.00.00.H26" })
        let population = try #require(network.services.first { $0.id.hasSuffix("DANCU/tra-cuu-cong-dan") })
        #expect(network.servers.allSatisfy { FileManager.default.fileExists(atPath: $0.audit_path) })

        // Drive the running network from what network.json says.
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        defer { _ = http.shutdown() }
        var request = HTTPClientRequest(url: "\(hanoi.client_url)/r1/\(population.id)/v1/001099012345")
        request.headers.add(name: "X-Road-Client", value: "VN/GOV/000.00.00.H26/MOTCUA")
        request.headers.add(name: "X-LienThong-Purpose", value: population.purposes.first ?? "")
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        #expect(response.status == .ok, "\(String(buffer: body))")
        #expect(String(buffer: body).contains("synthetic"))
        let health = try await http.execute(HTTPClientRequest(url: hanoi.health_url), timeout: .seconds(10))
        #expect(health.status == .ok)
        let metrics = try await http.execute(HTTPClientRequest(url: hanoi.metrics_url), timeout: .seconds(10))
        #expect(metrics.status == .ok)

        try await auditorCLIAgainstTheRunningDemo(networkFile: networkFile.path, agreements: network.agreements.count)

        #expect(demo.terminate())
        let exit = await demo.waitForExit(timeout: .seconds(20))
        #expect(exit == BackgroundProcess.Exit(status: 0, bySignal: false), "\(String(describing: exit)): \(demo.outputTail(20))")
        #expect(demo.output().contains("Shutting down"))
    }

    /// `lienthong auditor` as an auditor runs it against the demo, from its network.json: the
    /// whole compliance view as JSON, one section as CSV, the agreements as a table; an unknown
    /// section and an invalid date exit non-zero and say why.
    func auditorCLIAgainstTheRunningDemo(networkFile: String, agreements: Int) async throws {
        let lienthong = BackgroundProcess.lienthongExecutable
        let json = try await Subprocess.run(lienthong, ["auditor", "compliance", "--network", networkFile, "--json"])
        #expect(json.status == 0, "\(json.output.suffix(2000))")
        let start = try #require(json.output.firstIndex(of: "{"), "no JSON: \(json.output.prefix(2000))")
        let data = Data(json.output[start...].utf8)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(json.output.prefix(2000))")
        for key in ["kpis", "agreements", "datasets", "agencies", "dormant", "not_shared", "without_agreement", "discrepancies",
                    "pending_requests", "refusals"] {
            #expect(object[key] != nil, "no \(key) in the JSON: \(object.keys.sorted())")
        }
        let report = try RegistryJSONCoder.decoder().decode(ComplianceReport.self, from: data)
        #expect(Set(report.sections) == Set(ComplianceSection.allCases.map(\.rawValue)), "\(report.sections)")
        #expect(report.kpis.membersRegistered == 5)
        #expect(report.kpis.ministriesRegistered == 2)
        #expect(report.kpis.ministriesSharing == 2)
        #expect(report.kpis.served > 0)
        #expect(report.kpis.exchangesPerDay.reduce(0) { $0 + $1.served } == report.kpis.served)
        #expect(report.agreements.count == agreements)
        #expect(report.agreements.contains { $0.consumerSide.served > 0 && $0.providerSide.served > 0 && $0.providerSide.latencyP50Ms != nil })
        #expect(!report.dormant.isEmpty)
        #expect(!report.withoutAgreement.isEmpty)
        #expect(report.refusals.contains { !($0.legalBasis ?? "").isEmpty })

        let csv = try await Subprocess.run(lienthong, ["auditor", "compliance", "agreements", "--network", networkFile, "--csv"])
        #expect(csv.status == 0, "\(csv.output.suffix(2000))")
        let lines = csv.output.split(whereSeparator: \.isNewline).map(String.init)
        #expect(lines.first?.hasPrefix("agreement,consumer,provider,dataset,purposes,status,") == true, "\(lines.prefix(2))")
        #expect(lines.first?.contains("consumer_failed") == true && lines.first?.contains("provider_p95_ms") == true, "\(lines.prefix(1))")
        #expect(lines.count == agreements + 1, "header and one row per agreement: \(lines)")
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("AG-") }, "\(lines)")
        #expect(Set(lines.dropFirst().map { String($0.prefix { $0 != "," }) }) == Set(report.agreements.map(\.id)))

        let table = try await Subprocess.run(lienthong, ["auditor", "agreements", "--network", networkFile])
        #expect(table.status == 0, "\(table.output.suffix(2000))")
        let tableLines = table.output.split(whereSeparator: \.isNewline).map(String.init)
        #expect(tableLines.first?.contains("agreement") == true && tableLines.first?.contains("legal_basis") == true, "\(table.output)")
        #expect(tableLines.count == agreements + 2, "header, rule and one line per agreement: \(table.output)")
        #expect(report.agreements.allSatisfy { a in tableLines.contains { $0.contains(a.id) } }, "\(table.output)")

        let unknown = try await Subprocess.run(lienthong, ["auditor", "compliance", "everything", "--network", networkFile])
        #expect(unknown.status != 0)
        #expect(unknown.output.contains("unknown section everything"), "\(unknown.output)")
        #expect(unknown.output.contains("not-shared"), "the message lists the sections: \(unknown.output)")
        let badDate = try await Subprocess.run(lienthong, ["auditor", "compliance", "kpis", "--network", networkFile, "--from", "yesterday"])
        #expect(badDate.status == 1, "\(badDate.output)")
        #expect(badDate.output.contains("error 400 Client.BadRequest"), "\(badDate.output)")
        #expect(badDate.output.lowercased().contains("from"), "the message names the parameter: \(badDate.output)")
    }
}
