import AsyncHTTPClient
import Foundation
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

        #expect(demo.terminate())
        let exit = await demo.waitForExit(timeout: .seconds(20))
        #expect(exit == BackgroundProcess.Exit(status: 0, bySignal: false), "\(String(describing: exit)): \(demo.outputTail(20))")
        #expect(demo.output().contains("Shutting down"))
    }
}
