import Foundation
import HTTPTypes
import Hummingbird
import LienThongAudit
import LienThongCore
import LienThongTrust
import NIOCore

/// The read-only auditor API (`/api/v1/auditor/...`, auditor certificates only; any other role
/// gets 403), described in `schemas/registry-api.openapi.yaml` and `docs/auditor-api.md`.
///
/// - `GET /api/v1/auditor/compliance`: the whole compliance view (JSON);
/// - `GET /api/v1/auditor/compliance/{section}`: one section (``ComplianceSection``), JSON or CSV;
/// - `GET /api/v1/auditor/agreements` and `/access-requests`: the registry's records, JSON or CSV;
/// - `GET /api/v1/auditor/agreements/{id}`: one agreement with its access request and history;
/// - `GET /api/v1/auditor/checkpoints`: the checkpoint ledger;
/// - `GET /api/v1/auditor/evidence/{exchange id}`: the evidence bundle of one exchange, fetched
///   from the security servers' auditor endpoints (the registry never stores exchange contents).
///
/// Every query, valid or not, is first written to the admin audit trail (`auditor.query`: who,
/// which path and query); if that fails, the query is not answered (503).
struct AuditorRoutes {
    let registry: Registry
    let ledger: CheckpointLedger
    /// Fetches evidence from the security servers; `nil` when the registry has no relay identity.
    let evidence: EvidenceRelay?
    let clock: @Sendable () -> Date

    func register(on router: RouterGroup<RegistryRequestContext>) {
        let auditor = router.group("api/v1/auditor")
            .add(middleware: RequireRole([.auditor]))
            .add(middleware: AuditorQueryRecorder(registry: registry))

        auditor.get("compliance") { request, _ -> Response in
            let report = try await report(request)
            return try Self.json(report)
        }
        auditor.get("compliance/:section") { request, context -> Response in
            let name = context.parameters.get("section") ?? ""
            guard let section = ComplianceSection(rawValue: name) else {
                throw RegistryAPIError.notFound("unknown compliance section \"\(name.prefix(40))\"; use one of "
                    + ComplianceSection.allCases.map(\.rawValue).joined(separator: ", "))
            }
            let format = try Self.format(request)
            let report = try await report(request)
            switch format {
            case .csv:
                let table = report.table(section)
                return Self.csv(ComplianceReport.csv(header: table.header, rows: table.rows), name: "compliance-\(section.rawValue)")
            case .json:
                return try Self.json(Self.section(section, of: report))
            }
        }
        auditor.get("agreements") { request, _ -> Response in
            let agreements = await registry.agreements()
            switch try Self.format(request) {
            case .json: return try Self.json(agreements)
            case .csv:
                let now = clock()
                let rows = agreements.map { a in
                    [a.id, a.consumer.canonical, a.dataset.owner.canonical, a.dataset.canonical, a.purposes.joined(separator: " "),
                     Self.effectiveStatus(a, now: now), RegistryJSON.timestamp(a.validFrom), RegistryJSON.timestamp(a.validUntil),
                     a.legalBasis, a.accessRequestId ?? ""]
                }
                return Self.csv(ComplianceReport.csv(
                    header: ["agreement", "consumer", "provider", "dataset", "purposes", "status", "valid_from", "valid_until",
                             "legal_basis", "access_request"], rows: rows), name: "agreements")
            }
        }
        auditor.get("agreements/:id") { _, context -> Response in
            let id = context.parameters.get("id") ?? ""
            let history: AgreementHistory
            do { history = try await registry.agreementHistory(id) } catch let error as RegistryError {
                throw RegistryAPIError(status: HTTPResponse.Status(code: error.httpStatus), type: error.xroadType, message: error.message)
            }
            return try Self.json(history)
        }
        auditor.get("access-requests") { request, _ -> Response in
            let requests = await registry.accessRequests()
            switch try Self.format(request) {
            case .json: return try Self.json(requests)
            case .csv:
                let rows = requests.map { r in
                    [r.id, r.consumer.canonical, r.dataset.canonical, r.purposes.joined(separator: " "), RegistryJSON.timestamp(r.requestedAt),
                     r.decision?.outcome.rawValue ?? "pending", r.decision.map { RegistryJSON.timestamp($0.decidedAt) } ?? "",
                     r.decision?.decidedBy ?? "", r.decision?.reason ?? "", r.decision?.legalBasis ?? r.legalBasis]
                }
                return Self.csv(ComplianceReport.csv(
                    header: ["access_request", "consumer", "dataset", "purposes", "requested_at", "decision", "decided_at", "decided_by",
                             "reason", "legal_basis"], rows: rows), name: "access-requests")
            }
        }
        auditor.get("checkpoints") { request, _ -> Response in
            let server = request.uri.queryParameters["server"].map(String.init)
            let from = try CheckpointRoutes.integer(request, "from", default: 1, range: 1...Int64.max)
            let limit = try CheckpointRoutes.integer(request, "limit", default: 100, range: 1...1000)
            let entries: [LedgerEntry]
            do { entries = try await ledger.entries(server: server, from: UInt64(from), limit: Int(limit)) } catch let refusal as CheckpointRefusal {
                throw CheckpointRoutes.apiError(refusal)
            }
            let views = entries.map(LedgerEntryView.init)
            switch try Self.format(request) {
            case .json: return try Self.json(views)
            case .csv:
                return Self.csv(ComplianceReport.csv(
                    header: ["registry_sequence", "server", "node", "sequence", "tree_size", "root_hash", "window_start", "window_end", "records"],
                    rows: views.map { v in
                        [String(v.registrySequence), v.server, v.node, String(v.sequence), String(v.treeSize), v.rootHash, v.windowStart,
                         v.windowEnd, String(v.records)]
                    }), name: "checkpoints")
            }
        }
        auditor.get("evidence/:exchange") { request, context -> Response in
            let exchange = context.parameters.get("exchange") ?? ""
            guard EvidenceRelay.isValidExchangeId(exchange) else {
                throw RegistryAPIError.badRequest("exchange id must be 1 to 200 printable ASCII characters without / or %")
            }
            guard let evidence else {
                throw RegistryAPIError(status: .serviceUnavailable, type: "Server.Registry.EvidenceRelayUnavailable",
                                       message: "this registry has no evidence-relay certificate configured (evidence_certificate_file)")
            }
            let client = try request.uri.queryParameters["client"].map { try parse(ClientId.self, String($0)) }
            let service = try request.uri.queryParameters["service"].map { try parse(ServiceId.self, String($0)) }
            let snapshot = await registry.snapshot()
            let caller = context.caller?.subject ?? "unknown"
            let result = await evidence.fetch(exchange: exchange, client: client, service: service, servers: snapshot.servers, onBehalfOf: caller)
            guard !result.bundle.records.isEmpty else {
                let said = result.sources.map { "\($0.server): \($0.status)" }.joined(separator: "; ")
                throw RegistryAPIError.notFound("no security server holds evidence of exchange \(exchange) (\(said.isEmpty ? "no server asked" : said))")
            }
            var response = try Self.json(result.bundle, encoder: EvidenceRelay.bundleEncoder())
            if let name = HTTPField.Name("X-LienThong-Evidence-Sources") {
                response.headers[name] = result.sources.map { "\($0.server)=\($0.status)" }.joined(separator: ", ")
            }
            return response
        }
    }

    // MARK: - Query parameters

    /// The compliance view for the request's period and thresholds.
    private func report(_ request: Request) async throws -> ComplianceReport {
        let query = try Self.query(request, now: clock())
        let snapshot = await registry.snapshot()
        do {
            return try await ComplianceEngine(ledger: ledger).report(query, snapshot: snapshot, now: clock())
        } catch let error as ComplianceQueryError {
            throw RegistryAPIError.badRequest(error.message)
        } catch let error as RegistryAPIError {
            throw error
        } catch {
            throw RegistryAPIError(status: .serviceUnavailable, type: "Server.Registry.StoreUnavailable",
                                   message: "the compliance view cannot be computed: \(error)")
        }
    }

    /// The parameters every compliance query takes: `from`, `to` (RFC 3339 or `YYYY-MM-DD`;
    /// default the last 30 days), `dormant_days`, `threshold`, `pending_days`, and the filters
    /// `agreement`, `member`, `dataset`.
    static func query(_ request: Request, now: Date) throws -> ComplianceQuery {
        let parameters = request.uri.queryParameters
        let known: Set<String> = ["from", "to", "dormant_days", "threshold", "pending_days", "agreement", "member", "dataset", "format"]
        for (name, _) in parameters where !known.contains(String(name)) {
            throw RegistryAPIError.badRequest("unknown query parameter \"\(name.prefix(40))\"; known: \(known.sorted().joined(separator: ", "))")
        }
        let to = try parameters["to"].map { try date(String($0), "to") } ?? now
        let from = try parameters["from"].map { try date(String($0), "from") } ?? to.addingTimeInterval(-30 * 86_400)
        var query = ComplianceQuery(from: from, to: to)
        if let value = parameters["dormant_days"] { query.dormantDays = try integer(String(value), "dormant_days", 1...3650) }
        if let value = parameters["pending_days"] { query.pendingDeadlineDays = try integer(String(value), "pending_days", 0...3650) }
        if let value = parameters["threshold"] {
            guard let number = Double(value), number.isFinite, (0...1).contains(number) else {
                throw RegistryAPIError.badRequest("query parameter threshold=\(value.prefix(40)) must be a number from 0 to 1")
            }
            query.notSharedThreshold = number
        }
        if let value = parameters["agreement"] {
            guard value.count <= 64, value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw RegistryAPIError.badRequest("query parameter agreement must be an agreement id such as AG-000001")
            }
            query.agreement = String(value)
        }
        query.member = try parameters["member"].map { try parse(MemberId.self, String($0)) }
        query.dataset = try parameters["dataset"].map { try parse(DatasetId.self, String($0)) }
        return query
    }

    private static func date(_ text: String, _ name: String) throws -> Date {
        if let date = RegistryJSON.parseTimestamp(text) { return date }
        if text.count == 10, let date = RegistryJSON.parseTimestamp(text + "T00:00:00Z") { return date }
        throw RegistryAPIError.badRequest("query parameter \(name)=\(text.prefix(40)) must be an RFC 3339 date-time or a YYYY-MM-DD date")
    }

    private static func integer(_ text: String, _ name: String, _ range: ClosedRange<Int>) throws -> Int {
        guard let number = Int(text), range.contains(number) else {
            throw RegistryAPIError.badRequest("query parameter \(name)=\(text.prefix(40)) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    enum Format { case json, csv }

    /// `format=json|csv`, else the `Accept` header (`text/csv`), else JSON.
    static func format(_ request: Request) throws -> Format {
        if let value = request.uri.queryParameters["format"] {
            switch value {
            case "json": return .json
            case "csv": return .csv
            default: throw RegistryAPIError.badRequest("query parameter format=\(value.prefix(40)) must be json or csv")
            }
        }
        if let accept = request.headers[.accept], accept.contains("text/csv") { return .csv }
        return .json
    }

    /// An agreement's status as the compliance view reports it: `expired` once past its end.
    static func effectiveStatus(_ agreement: Agreement, now: Date) -> String {
        if agreement.status == .active {
            if agreement.validUntil <= now { return "expired" }
            if agreement.validFrom > now { return "not_yet_valid" }
        }
        return agreement.status.rawValue
    }

    // MARK: - Answers

    /// One section of the report as JSON: the report member of that name (`not-shared` is
    /// `not_shared`, ...).
    static func section(_ section: ComplianceSection, of report: ComplianceReport) throws -> JSONValue {
        let data = try RegistryJSON.makeEncoder().encode(report)
        guard case .object(let members) = try JSONDecoder().decode(JSONValue.self, from: data) else {
            throw RegistryAPIError(status: .internalServerError, type: "Server.Registry.InternalError", message: "the report is not an object")
        }
        let key = section.rawValue.replacingOccurrences(of: "-", with: "_")
        if let value = members[key] { return value }
        // A section kept inside another member (e.g. the daily figures inside the KPIs): its table.
        let table = report.table(section)
        return .array(table.rows.map { row in
            .object(Dictionary(zip(table.header, row.map(JSONValue.string)), uniquingKeysWith: { first, _ in first }))
        })
    }

    static func json<T: Encodable>(_ value: T, encoder: JSONEncoder = RegistryJSON.makeEncoder()) throws -> Response {
        let data = try encoder.encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func csv(_ text: String, name: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8; header=present"
        headers[.contentDisposition] = "attachment; filename=\"\(name).csv\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Writes every auditor request to the admin audit trail before it is answered.
struct AuditorQueryRecorder: RouterMiddleware {
    typealias Context = RegistryRequestContext
    let registry: Registry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let caller = context.caller else { throw RegistryAPIError.unauthenticated("no caller") }
        do {
            try await registry.recordAuditorQuery(actor: caller.subject, entity: "\(request.method) \(request.uri.description)")
        } catch {
            throw RegistryAPIError(status: .serviceUnavailable, type: "Server.Registry.StoreUnavailable",
                                   message: "the query could not be recorded in the admin audit trail, so it is not answered: \(error.message)")
        }
        return try await next(request, context)
    }
}

/// Any JSON value, to pick one member out of an encoded report.
enum JSONValue: Codable, Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value.rounded() == value, abs(value) < 9.0e15 { try container.encode(Int64(value)) } else { try container.encode(value) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
