import ArgumentParser
import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongServer
import LienThongTrust
import UnixSignals

/// `lienthong demo`: a whole LienThong instance on loopback, with the embedded defaults (SQLite,
/// a development PKI in `--dir`): the registry, an OCSP responder, four security servers (Bộ Công
/// an and Bộ Tư pháp providing, the Hà Nội and Đà Nẵng LGSP nodes consuming), a backend with
/// synthetic records per provided dataset, agreements set up through the management API, traffic
/// through the real exchange path, and the compliance view read through the auditor API.
///
/// Without `--once` it then stays up, prints every endpoint and writes `DIR/network.json`
/// until `SIGTERM` or `SIGINT`. With `--once --json` it prints one JSON summary; it exits 0 only if
/// every expectation held. A step that throws is recorded as a failed expectation (with the
/// error), and the summary is still printed.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a whole LienThong instance on loopback: registry, OCSP, four security servers, agreements, traffic, and the compliance view.")

    @Option(help: "Working directory (recreated on every run): PKI, data, network.json.")
    var dir: String = ".lienthong-demo"

    @Flag(help: "Run the story once and exit (0 only if every expectation held) instead of staying up.")
    var once = false

    @Flag(help: "With --once: print one JSON summary instead of the narrative.")
    var json = false

    func validate() throws {
        if json && !once { throw ValidationError("--json needs --once") }
    }

    func run() async throws {
        let started = Date()
        let out = DemoOutput(quiet: json)
        let directory = URL(fileURLWithPath: dir).standardizedFileURL
        let fm = FileManager.default
        if fm.fileExists(atPath: directory.path) {
            guard fm.fileExists(atPath: directory.appendingPathComponent("index.json").path) else {
                throw ValidationError("\(directory.path) exists and is not a LienThong demo directory; choose another --dir")
            }
            try fm.removeItem(at: directory)
        }
        out.say("LienThong demo — every person, record and code below is SYNTHETIC (dữ liệu thử nghiệm); agency codes are illustrative.")

        // A step that throws becomes a failed expectation: the summary (with --json, the JSON
        // document) is still printed, with what held so far, and the exit status is 1.
        var summary = DemoSummary()
        do {
            try await runStory(directory: directory, out: out, summary: &summary)
        } catch {
            summary.failed(error)
        }
        summary.seconds = Date().timeIntervalSince(started)
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            out.step(summary.allHeld ? "Every expectation held (\(summary.expectations.count) checks, \(String(format: "%.0f", summary.seconds)) s)."
                                     : "SOME EXPECTATIONS FAILED:")
            for failed in summary.expectations where !failed.held { out.say("   ✗ \(failed.name): expected \(failed.expected), got \(failed.actual)") }
        }
        if !summary.allHeld { throw ExitCode(1) }
    }

    /// Sets the instance up, runs the story into `summary` and, without `--once`, stays up until
    /// SIGTERM or SIGINT (only if the story ran to the end).
    private func runStory(directory: URL, out: DemoOutput, summary: inout DemoSummary) async throws {
        let ocspPort = try FreePort.find()
        let ocspURL = "http://127.0.0.1:\(ocspPort)/"
        out.step("1. Development PKI for instance VN in \(directory.path)")
        let pki = try DevelopmentPKI.initialise(at: directory, instance: "VN", ocspURL: ocspURL)
        for member in DemoRegistry.connected {
            try pki.issue(role: .member, holderId: member)
            try pki.issue(role: .server, holderId: "\(member)/ss1")
        }
        let auditor = try pki.issue(role: .auditor, holderId: "VN/GOV/000.00.00.KTNN/kiem-toan-vien-01")
        out.say("   root CA, configuration-signing and OCSP certificates; a signing and a TLS certificate for each of the 4 agencies; an auditor of the State Audit Office (Kiểm toán nhà nước)")

        try await DevelopmentOCSPService(pki: pki).withRunning(host: "127.0.0.1", port: ocspPort) { _ in
            out.step("2. OCSP responder (RFC 6960) on \(ocspURL)")
            let ports = try DemoRegistry.ServerPorts.pick()
            try await DemoRegistry.run(pki: pki, ocspURL: ocspURL, ocspFreshnessSeconds: 300, ports: ports, step: { out.step("3. " + $0) },
                                       say: { out.say($0) }) { registry in
                try await DemoNetworkRunner.withRunning(pki: pki, registryURL: registry.globalConfigurationURL, ports: ports) { running in
                    let auditorFiles = (pki.directory.appendingPathComponent(auditor.certificatePath).path,
                                        pki.directory.appendingPathComponent(auditor.keyPath).path)
                    let network = try Self.network(pki: pki, registry: registry, running: running, auditor: auditorFiles, ocspURL: ocspURL)
                    try network.write(directory.appendingPathComponent("network.json"))
                    out.step("4. Four security servers, two backends with synthetic records")
                    for node in running.nodes.values.sorted(by: { $0.member < $1.member }) {
                        out.say("   \(node.name.padding(toLength: 13, withPad: " ", startingAt: 0)) \(node.configuration.serverId)  client http://127.0.0.1:\(node.ports.client)  peer https://127.0.0.1:\(node.ports.interServer)")
                    }
                    let story = DemoStory(running: running, registry: registry, pki: pki, auditorFiles: auditorFiles, out: out)
                    summary.networkFile = directory.appendingPathComponent("network.json").path
                    try await story.run(into: &summary)
                    if !once {
                        Self.printEndpoints(network, out: out)
                        out.say("\nRunning until SIGTERM or Ctrl-C. Network description: \(summary.networkFile)")
                        await Self.waitForTermination()
                        out.say("Shutting down…")
                    }
                }
            }
        }
    }

    /// Waits for SIGTERM or SIGINT.
    static func waitForTermination() async {
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        for await _ in signals { return }
    }

    static func network(pki: DevelopmentPKI, registry: DemoRegistry.Handle, running: DemoNetworkRunner.Running,
                        auditor: (String, String), ocspURL: String) throws -> DemoNetwork {
        let admin = try pki.records().first { $0.role == .admin && $0.holderId == "VN/GOV/000.00.00.VPCP/quan-tri-02" }
        let file = { (path: String) in pki.directory.appendingPathComponent(path).path }
        let servers = running.nodes.values.sorted { $0.member < $1.member }.map { node in
            let c = node.configuration
            return DemoNetwork.Server(
                id: c.serverId, owner: node.member, ownerName: node.name,
                clientUrl: "http://127.0.0.1:\(node.ports.client)", peerUrl: "https://127.0.0.1:\(node.ports.interServer)",
                operationsUrl: "https://127.0.0.1:\(node.ports.interServer)",
                metricsUrl: "http://127.0.0.1:\(node.ports.client)/metrics", healthUrl: "http://127.0.0.1:\(node.ports.client)/healthz",
                auditPath: node.auditLog.path, dataDirectory: c.dataDirectory, adminCert: node.adminCert, adminKey: node.adminKey,
                subsystems: c.clients.map { .init(id: $0.subsystem, authentication: "plain HTTP from loopback; X-Road-Client names the subsystem") })
        }
        let a = registry.agreements
        return DemoNetwork(
            instance: "VN",
            note: "Development instance run by `lienthong demo`. All records are synthetic; agency codes are illustrative. Test-only keys.",
            registry: .init(url: registry.baseURL, globalconfUrl: registry.globalConfigurationURL, caCert: pki.url(.rootCertificate).path,
                            adminCert: admin.map { file($0.certificatePath) } ?? "", adminKey: admin.map { file($0.keyPath) } ?? "",
                            auditorCert: auditor.0, auditorKey: auditor.1),
            ocspUrl: ocspURL, servers: servers,
            services: [
                .init(id: DemoRegistry.population, dataset: DemoRegistry.populationDataset, providerServer: "\(DemoRegistry.bca)/ss1",
                      backendUrl: "http://127.0.0.1:\(running.backends[.population] ?? 0)",
                      purposes: [DemoRegistry.purposeResidence, DemoRegistry.purposeHousing]),
                .init(id: DemoRegistry.civilStatus, dataset: DemoRegistry.civilStatusDataset, providerServer: "\(DemoRegistry.justice)/ss1",
                      backendUrl: "http://127.0.0.1:\(running.backends[.civilStatus] ?? 0)", purposes: [DemoRegistry.purposeBirth]),
            ],
            agreements: [
                .init(id: a.hanoiPopulation, consumer: DemoRegistry.hanoiOneStop, dataset: DemoRegistry.populationDataset,
                      purposes: [DemoRegistry.purposeResidence], status: "active", role: "used"),
                .init(id: a.hanoiCivilStatus, consumer: DemoRegistry.hanoiOneStop, dataset: DemoRegistry.civilStatusDataset,
                      purposes: [DemoRegistry.purposeBirth], status: "active", role: "used; vetoed by the provider for a while"),
                .init(id: a.danangPopulation, consumer: DemoRegistry.danangOneStop, dataset: DemoRegistry.populationDataset,
                      purposes: [DemoRegistry.purposeResidence], status: "active", role: "used"),
                .init(id: a.dormant, consumer: DemoRegistry.danangResidents, dataset: DemoRegistry.populationDataset,
                      purposes: [DemoRegistry.purposeHousing], status: "active", role: "dormant"),
                .init(id: a.expired, consumer: DemoRegistry.danangOneStop, dataset: DemoRegistry.civilStatusDataset,
                      purposes: [DemoRegistry.purposeBirth], status: "expired", role: "expired"),
            ])
    }

    static func printEndpoints(_ network: DemoNetwork, out: DemoOutput) {
        out.step("Endpoints")
        out.say("   registry        \(network.registry.url)  (global configuration \(network.registry.globalconfUrl))")
        out.say("   OCSP responder  \(network.ocspUrl)")
        for server in network.servers {
            out.say("   \(server.ownerName): \(server.id)")
            out.say("     client (X-Road REST)  \(server.clientUrl)/r1/…    subsystems: \(server.subsystems.map(\.id).joined(separator: ", "))")
            out.say("     peer (mutual TLS)     \(server.peerUrl)    operations: \(server.operationsUrl)/auditor/v1/evidence/{id}, /admin/v1/veto")
            out.say("     metrics \(server.metricsUrl)   health \(server.healthUrl)   audit log \(server.auditPath)")
        }
        for service in network.services { out.say("   backend of \(service.id): \(service.backendUrl)") }
        out.say("   try:  curl -H 'X-Road-Client: \(DemoRegistry.hanoiOneStop)' -H 'X-LienThong-Purpose: \(DemoRegistry.purposeResidence)' \(network.servers.first { $0.owner == DemoRegistry.hanoi }?.clientUrl ?? "")/r1/\(DemoRegistry.population)/v1/001099012345")
    }
}

/// Prints the narrative unless `--json` asked for one JSON document.
struct DemoOutput: Sendable {
    let quiet: Bool
    /// Writes the line at once (not through `print`'s buffer), so that whoever watches the output —
    /// a pipe, a file — sees each step as it happens.
    func say(_ line: String) { if !quiet { FileHandle.standardOutput.write(Data((line + "\n").utf8)) } }
    func step(_ title: String) { say("\n== \(title)") }
}
