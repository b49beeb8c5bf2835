import ArgumentParser
import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry

/// `lienthong auditor ...`: the auditor API from the command line. Readable tables by default,
/// `--json` or `--csv` on request. Every query is recorded by the registry in its admin audit trail.
struct AuditorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auditor",
        abstract: "Query the registry's read-only auditor API (compliance view, agreements, checkpoints, evidence).",
        subcommands: [Compliance.self, Agreements.self, AccessRequests.self, Checkpoints.self, Evidence.self])

    /// How to reach the auditor API: `--network DIR/network.json` (as `lienthong demo` writes
    /// it) or the registry URL with an auditor certificate.
    struct Connection: ParsableArguments {
        @Option(help: "network.json written by `lienthong demo` (gives the registry URL, CA and auditor certificate).") var network: String?
        @Option(help: "Registry base URL.") var registry: String?
        @Option(help: "Auditor certificate (PEM).") var cert: String?
        @Option(help: "Auditor key (PEM).") var key: String?
        @Option(help: "CA certificate to trust (PEM).") var ca: String?

        func client() throws -> RegistryAPIClient {
            if let network {
                let file = try DemoNetwork.load(URL(fileURLWithPath: network))
                return try RegistryAPIClient(baseURL: registry ?? file.registry.url, certificateFile: cert ?? file.registry.auditorCert,
                                             keyFile: key ?? file.registry.auditorKey, caFile: ca ?? file.registry.caCert)
            }
            guard let registry, let cert, let key, let ca else {
                throw ValidationError("give --network FILE, or --registry, --cert, --key and --ca")
            }
            return try RegistryAPIClient(baseURL: registry, certificateFile: cert, keyFile: key, caFile: ca)
        }

        /// `GET path` as raw bytes; API errors exit with status 1 after printing the X-Road error.
        func get(_ path: String, accept: String = "application/json") async throws -> Data {
            let client = try client()
            let result: Result<(status: Int, headers: [(String, String)], body: Data), any Error>
            do { result = .success(try await client.getRaw(path, headers: [("Accept", accept)])) } catch { result = .failure(error) }
            try? await client.shutdown()
            let answer = try result.get()
            guard (200..<300).contains(answer.status) else {
                if let error = try? RegistryJSONCoder.decoder().decode(XRoadErrorBody.self, from: answer.body) {
                    FileHandle.standardError.write(Data("error \(answer.status) \(error.type): \(error.message)\n".utf8))
                } else {
                    FileHandle.standardError.write(Data("error \(answer.status): \(String(decoding: answer.body.prefix(300), as: UTF8.self))\n".utf8))
                }
                throw ExitCode(1)
            }
            return answer.body
        }
    }

    /// `--json` / `--csv`.
    struct Output: ParsableArguments {
        @Flag(help: "Print the API's JSON.") var json = false
        @Flag(help: "Print CSV.") var csv = false

        func validate() throws {
            if json && csv { throw ValidationError("choose --json or --csv, not both") }
        }
    }

    /// The period and thresholds of a compliance query.
    struct Period: ParsableArguments {
        @Option(help: "Start of the period (RFC 3339 or YYYY-MM-DD; default 30 days before --to).") var from: String?
        @Option(help: "End of the period, exclusive (default now).") var to: String?
        @Option(help: "An agreement is dormant when unused for this many days (default 30).") var dormantDays: Int?
        @Option(help: "Flag agreements whose provider refuses or fails more than this share (0-1, default 0.2).") var threshold: Double?
        @Option(help: "Access requests are overdue after this many days without a decision (default 15).") var pendingDays: Int?
        @Option(help: "Only this agreement.") var agreement: String?
        @Option(help: "Only this member (consumer or provider).") var member: String?
        @Option(help: "Only this dataset.") var dataset: String?

        var query: String {
            let pairs: [(String, String?)] = [
                ("from", from), ("to", to), ("dormant_days", dormantDays.map(String.init)), ("threshold", threshold.map { String($0) }),
                ("pending_days", pendingDays.map(String.init)), ("agreement", agreement), ("member", member), ("dataset", dataset),
            ]
            return pairs.compactMap { name, value in value.map { "\(name)=\(AuditorCommand.escape($0))" } }.joined(separator: "&")
        }
    }

    struct Compliance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The compliance view: every section, or one of: \(ComplianceSection.allCases.map(\.rawValue).joined(separator: ", ")).")
        @OptionGroup var connection: Connection
        @OptionGroup var period: Period
        @OptionGroup var output: Output
        @Argument(help: "One section (default: all).") var section: String?

        func run() async throws {
            var chosen: ComplianceSection?
            if let section {
                guard let value = ComplianceSection(rawValue: section) else {
                    throw ValidationError("unknown section \(section); use one of \(ComplianceSection.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                chosen = value
            }
            let query = period.query
            if output.csv, let chosen {
                let data = try await connection.get("/api/v1/auditor/compliance/\(chosen.rawValue)?" + query + (query.isEmpty ? "" : "&") + "format=csv")
                print(String(decoding: data, as: UTF8.self), terminator: "")
                return
            }
            if output.json, let chosen {
                print(String(decoding: try await connection.get("/api/v1/auditor/compliance/\(chosen.rawValue)?" + query), as: UTF8.self))
                return
            }
            let data = try await connection.get("/api/v1/auditor/compliance" + (query.isEmpty ? "" : "?" + query))
            if output.json {
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let report: ComplianceReport
            do { report = try RegistryJSONCoder.decoder().decode(ComplianceReport.self, from: data) } catch {
                throw ValidationError("the registry's answer is not a compliance report: \(error)")
            }
            for section in chosen.map({ [$0] }) ?? ComplianceSection.allCases {
                if output.csv {
                    let table = report.table(section)
                    print("# \(section.rawValue)")
                    print(ComplianceReport.csv(header: table.header, rows: table.rows), terminator: "")
                } else {
                    let table = AuditorCommand.readableTable(section, of: report)
                    print(AuditorCommand.title(section))
                    print(TextTable.render(header: table.header, rows: table.rows))
                }
            }
        }
    }

    struct Agreements: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every agreement, or one agreement with its access request and history.")
        @OptionGroup var connection: Connection
        @OptionGroup var output: Output
        @Argument(help: "An agreement id (AG-…): show it with its history (readable, or --json; not --csv).") var id: String?

        func validate() throws {
            // One agreement with its access request and history is not one table: no CSV form.
            if let id, output.csv {
                throw ValidationError("--csv lists every agreement (omit \(id)); one agreement with its history has no CSV form: "
                    + "use --json, or no flag for a readable table")
            }
        }

        func run() async throws {
            if let id {
                let data = try await connection.get("/api/v1/auditor/agreements/\(AuditorCommand.escape(id))")
                if output.json {
                    print(String(decoding: data, as: UTF8.self))
                    return
                }
                let history = try RegistryJSONCoder.decoder().decode(AgreementHistory.self, from: data)
                let a = history.agreement
                print("Agreement \(a.id): \(a.consumer) may read \(a.dataset) (\(a.purposes.isEmpty ? "any purpose" : a.purposes.joined(separator: ", ")))")
                print("  \(a.status.rawValue), valid \(RegistryJSON.timestamp(a.validFrom)) to \(RegistryJSON.timestamp(a.validUntil)); legal basis: \(a.legalBasis)")
                if let request = history.accessRequest {
                    print("  from access request \(request.id), filed \(RegistryJSON.timestamp(request.requestedAt)): \(request.justification)")
                }
                print(TextTable.render(header: ["#", "at", "actor", "action", "entity"], rows: history.history.map {
                    [String($0.sequence), RegistryJSON.timestamp($0.at), $0.actor, $0.action, $0.entity]
                }))
                return
            }
            try await AuditorCommand.tabular(connection, "/api/v1/auditor/agreements", output)
        }
    }

    struct AccessRequests: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "access-requests", abstract: "Every access request and its decision.")
        @OptionGroup var connection: Connection
        @OptionGroup var output: Output

        func run() async throws {
            try await AuditorCommand.tabular(connection, "/api/v1/auditor/access-requests", output)
        }
    }

    struct Checkpoints: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The registry's checkpoint ledger.")
        @OptionGroup var connection: Connection
        @OptionGroup var output: Output
        @Option(help: "Only this security server.") var server: String?
        @Option(help: "From this registry sequence.") var from: Int = 1
        @Option(help: "At most this many entries (1-1000).") var limit: Int = 100

        func run() async throws {
            var path = "/api/v1/auditor/checkpoints?from=\(from)&limit=\(limit)"
            if let server { path += "&server=\(AuditorCommand.escape(server))" }
            try await AuditorCommand.tabular(connection, path, output)
        }
    }

    /// Fetches a bundle through the registry's relay. When the relay marks it incomplete (a
    /// security server did not answer, so a side may be missing), it still writes or prints it,
    /// warns on standard error, and exits with status 3.
    struct Evidence: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch the evidence bundle of one exchange from both security servers, through the registry, and verify it offline.",
            discussion: "Exits 3, after a warning on standard error, when a security server did not answer, so that the bundle may lack its side.")

        /// The exit status when the bundle is incomplete.
        static let incompleteExitCode: Int32 = 3
        @OptionGroup var connection: Connection
        @Argument(help: "The exchange id (X-Road-Id).") var exchange: String
        @Option(help: "The client subsystem, to ask only its member's servers.") var client: String?
        @Option(help: "The service, to ask only its provider's servers.") var service: String?
        @Option(help: "Write the bundle to this file (default: print it).") var out: String?
        @Option(help: "Verify the bundle against this root CA (PEM) after fetching it (default: the network's CA with --network).") var verifyCa: String?

        func run() async throws {
            var parameters: [String] = []
            if let client { parameters.append("client=\(AuditorCommand.escape(client))") }
            if let service { parameters.append("service=\(AuditorCommand.escape(service))") }
            let path = "/api/v1/auditor/evidence/\(AuditorCommand.escape(exchange))" + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&"))
            let data = try await connection.get(path)
            let bundle: EvidenceBundle
            do { bundle = try JSONDecoder().decode(EvidenceBundle.self, from: data) } catch {
                throw ValidationError("the registry's answer is not an evidence bundle: \(error)")
            }
            if let out {
                try data.write(to: URL(fileURLWithPath: out))
                print("wrote \(out): \(bundle.records.count) record(s) of exchange \(exchange) (\(bundle.records.map { "\($0.side) \($0.server)" }.joined(separator: ", ")))")
                let ca = try verifyCa ?? connection.network.map { try DemoNetwork.load(URL(fileURLWithPath: $0)).registry.caCert }
                if let ca {
                    let report = try await AuditCommand.verifyBundle(bundle, caFile: ca)
                    print(report)
                }
            } else {
                print(String(decoding: data, as: UTF8.self))
            }
            if bundle.complete == false {
                let failed = (bundle.sources ?? []).filter { $0.status == .error }
                var warning = "WARNING: INCOMPLETE evidence of exchange \(exchange): \(failed.count) security server(s) did not answer, "
                    + "so the bundle may lack their side (it holds: \(Set(bundle.records.map(\.side.rawValue)).sorted().joined(separator: ", ")))\n"
                for source in failed { warning += "  \(source.summary)\n" }
                FileHandle.standardError.write(Data(warning.utf8))
                throw ExitCode(Self.incompleteExitCode)
            }
        }
    }

    // MARK: - Helpers

    /// Fetches a tabular endpoint as CSV and prints it as CSV, JSON, or a table.
    static func tabular(_ connection: Connection, _ path: String, _ output: Output) async throws {
        if output.json {
            print(String(decoding: try await connection.get(path), as: UTF8.self))
            return
        }
        let csv = String(decoding: try await connection.get(path + (path.contains("?") ? "&" : "?") + "format=csv"), as: UTF8.self)
        if output.csv {
            print(csv, terminator: "")
            return
        }
        let rows = CSVText.parse(csv)
        guard let header = rows.first else { return }
        print(TextTable.render(header: header, rows: Array(rows.dropFirst())))
    }

    /// A section for the terminal: the agreement and dataset tables condensed to the figures an
    /// auditor reads first (each side's served/refused/failed, success rate, p95); the full
    /// columns are in `--csv` and `--json`.
    static func readableTable(_ section: ComplianceSection, of report: ComplianceReport) -> (header: [String], rows: [[String]]) {
        func counts(_ f: UsageFigures) -> String { "\(f.served)/\(f.refused)/\(f.failed)" }
        func rate(_ f: UsageFigures) -> String { f.successRate.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
        func p95(_ f: UsageFigures) -> String { f.latencyP95Ms.map { "≤\($0)" } ?? (f.latencyOverflow.isEmpty ? "-" : ">10000") }
        switch section {
        case .agreements:
            return (["agreement", "consumer", "dataset", "status", "consumer s/r/f", "provider s/r/f", "provider success", "p95 ms", "last used"],
                    report.agreements.map { a in
                        [a.id, a.consumer.canonical, a.dataset.canonical, a.status.rawValue, counts(a.consumerSide), counts(a.providerSide),
                         rate(a.providerSide), p95(a.providerSide), a.lastUsed.map(RegistryJSON.timestamp) ?? "never"]
                    })
        case .datasets:
            return (["dataset", "owner", "name", "agreements", "consumer s/r/f", "provider s/r/f", "provider success", "p95 ms"],
                    report.datasets.map { d in
                        [d.id.canonical, d.owner.canonical, d.nameVi, String(d.agreementCount), counts(d.consumerSide), counts(d.providerSide),
                         rate(d.providerSide), p95(d.providerSide)]
                    })
        default:
            return report.table(section)
        }
    }

    static func title(_ section: ComplianceSection) -> String {
        let titles: [ComplianceSection: String] = [
            .kpis: "Instance KPIs", .daily: "Exchanges per day", .agreements: "Agreements: served / refused / failed, each side",
            .datasets: "Datasets", .agencies: "Agency scorecards", .dormant: "Dormant agreements",
            .notShared: "Agreed but not shared (provider refuses or fails above the threshold)",
            .withoutAgreement: "Attempts without an agreement", .discrepancies: "Discrepancies between the two sides' counts",
            .pendingRequests: "Access requests waiting for a decision", .refusals: "Refused access requests (written reasons)",
        ]
        return "\n== " + (titles[section] ?? section.rawValue)
    }

    static func escape(_ text: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+/?#%")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// Plain-text tables for the terminal.
enum TextTable {
    /// Columns padded to the widest cell (by characters), separated by two spaces, with a rule under the header.
    static func render(header: [String], rows: [[String]]) -> String {
        guard !header.isEmpty else { return "" }
        if rows.isEmpty { return "   (none)" }
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            "   " + cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[min(index, widths.count - 1)] - cell.count))
            }.joined(separator: "  ")
        }
        return ([line(header), line(widths.map { String(repeating: "-", count: $0) })] + rows.map(line)).joined(separator: "\n")
    }
}

/// RFC 4180 CSV reading (quoted fields, doubled quotes, CRLF or LF).
enum CSVText {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = Array(text).makeIterator()
        var pending: Character? = nil
        while let c = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    let next = iterator.next()
                    if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                } else {
                    field.append(c)
                }
                continue
            }
            switch c {
            case "\"": quoted = true
            case ",": row.append(field); field = ""
            case "\r\n", "\n", "\r":
                row.append(field); field = ""
                rows.append(row); row = []
            default: field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
