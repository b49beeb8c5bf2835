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
/// - `GET /api/v1/auditor/compliance`: the whole compliance view (JSON only: it is many tables,
///   so `format=csv` is refused; each section has its own CSV);
/// - `GET /api/v1/auditor/compliance/{section}`: one section (``ComplianceSection``), JSON or CSV;
/// - `GET /api/v1/auditor/agreements` and `/access-requests`: the registry's records, JSON or CSV;
/// - `GET /api/v1/auditor/agreements/{id}`: one agreement with its access request and history;
/// - `GET /api/v1/auditor/checkpoints`: the checkpoint ledger;
/// - `GET /api/v1/auditor/evidence/{exchange id}`: the evidence bundle of one exchange, fetched
///   from the security servers' auditor endpoints (the registry never stores exchange contents).
///
/// Every query, valid or not, is first written to the admin audit trail (`auditor.query`: who,
/// which path and query); if that fails, the query is not answered (503). Every route refuses a
/// query parameter it does not know, or one given twice, with 400 (``QueryParameters``).
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
            let query = try Self.query(request, now: clock())
            if let value = request.uri.queryParameters["format"] {
                switch value {
                case "json": break
                case "csv":
                    throw RegistryAPIError.badRequest("the whole compliance view is many tables, not one, so it has no CSV form; ask for one section "
                        + "as CSV (/api/v1/auditor/compliance/{section}?format=csv) or omit format for JSON")
                default: throw RegistryAPIError.badRequest("query parameter format=\(value.prefix(40)) must be json (csv only for one section)")
                }
            }
            return try Self.json(try await report(query))
        }
        auditor.get("compliance/:section") { request, context -> Response in
            let name = context.parameters.get("section") ?? ""
            guard let section = ComplianceSection(rawValue: name) else {
                throw RegistryAPIError.notFound("unknown compliance section \"\(name.prefix(40))\"; use one of "
                    + ComplianceSection.allCases.map(\.rawValue).joined(separator: ", "))
            }
            let query = try Self.query(request, now: clock())
            let format = try Self.format(request)
            let report = try await report(query)
            switch format {
            case .csv:
                let table = report.table(section)
                return Self.csv(ComplianceReport.csv(header: table.header, rows: table.rows), name: "compliance-\(section.rawValue)")
            case .json:
                return try Self.section(section, of: report)
            }
        }
        auditor.get("agreements") { request, _ -> Response in
            try QueryParameters.allowOnly(["format"], in: request)
            let format = try Self.format(request)
            let agreements = await registry.agreements()
            switch format {
            case .json:
                let now = clock()
                return try Self.json(agreements.map { Self.effective($0, now: now) })
            case .csv:
                let now = clock()
                let rows = agreements.map { a in
                    [a.id, a.consumer.canonical, a.dataset.owner.canonical, a.dataset.canonical, a.purposes.joined(separator: " "),
                     EffectiveAgreementStatus(a, now: now).rawValue, RegistryJSON.timestamp(a.validFrom), RegistryJSON.timestamp(a.validUntil),
                     a.legalBasis, a.accessRequestId ?? ""]
                }
                return Self.csv(ComplianceReport.csv(
                    header: ["agreement", "consumer", "provider", "dataset", "purposes", "status", "valid_from", "valid_until",
                             "legal_basis", "access_request"], rows: rows), name: "agreements")
            }
        }
        auditor.get("agreements/:id") { request, context -> Response in
            try QueryParameters.allowOnly([], in: request)
            let id = context.parameters.get("id") ?? ""
            // A malformed id is a bad request; a well-formed one the registry does not hold is 404.
            guard QueryParameters.isAgreementId(id) else {
                throw RegistryAPIError.badRequest("agreement id \"\(id.prefix(40))\" is malformed: it must be AG- and 6 to 18 digits, such as AG-000001")
            }
            var history: AgreementHistory
            do { history = try await registry.agreementHistory(id) } catch let error as RegistryError {
                throw RegistryAPIError(status: HTTPResponse.Status(code: error.httpStatus), type: error.xroadType, message: error.message)
            }
            history.agreement = Self.effective(history.agreement, now: clock())
            return try Self.json(history)
        }
        auditor.get("access-requests") { request, _ -> Response in
            try QueryParameters.allowOnly(["format"], in: request)
            let format = try Self.format(request)
            let requests = await registry.accessRequests()
            switch format {
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
            try QueryParameters.allowOnly(["server", "from", "limit", "format"], in: request)
            let server = try QueryParameters.securityServer("server", in: request)?.canonical
            let from = try QueryParameters.integer(request, "from", default: 1, range: 1...Int64.max)
            let limit = try QueryParameters.integer(request, "limit", default: 100, range: 1...1000)
            let format = try Self.format(request)
            let entries: [LedgerEntry]
            do { entries = try await ledger.entries(server: server, from: UInt64(from), limit: Int(limit)) } catch let refusal as CheckpointRefusal {
                throw CheckpointRoutes.apiError(refusal)
            }
            let views = entries.map(LedgerEntryView.init)
            switch format {
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
            try QueryParameters.allowOnly(["client", "service"], in: request)
            guard let exchange = EvidenceRelay.exchangeId(fromRawSegment: context.parameters.get("exchange") ?? "") else {
                throw RegistryAPIError.badRequest("exchange id must be 1 to 200 printable ASCII characters without /, percent-encoded once in the path")
            }
            let client = try request.uri.queryParameters["client"].map { try parse(ClientId.self, String($0)) }
            let service = try request.uri.queryParameters["service"].map { try parse(ServiceId.self, String($0)) }
            guard let evidence else {
                throw RegistryAPIError(status: .serviceUnavailable, type: "Server.Registry.EvidenceRelayUnavailable",
                                       message: "this registry has no evidence-relay certificate configured (evidence_certificate_file)")
            }
            let snapshot = await registry.snapshot()
            let caller = context.caller?.subject ?? "unknown"
            let bundle = await evidence.fetch(exchange: exchange, client: client, service: service, servers: snapshot.servers, onBehalfOf: caller)
            let sources = bundle.sources ?? []
            guard !bundle.records.isEmpty else {
                let said = sources.map(\.summary).joined(separator: "; ")
                // Not found only if every server asked said so; if one failed, nobody can tell.
                guard bundle.complete != false else {
                    throw RegistryAPIError(status: .badGateway, type: "Server.Registry.EvidenceUnavailable",
                                           message: "no evidence of exchange \(exchange) could be fetched, and not every security server answered: \(said)")
                }
                throw RegistryAPIError.notFound("no security server holds evidence of exchange \(exchange) (\(said.isEmpty ? "no server asked" : said))")
            }
            // A server that failed to answer leaves a one-sided bundle: 200, but the body says
            // `complete: false` and which server failed (and so do the headers).
            var response = try Self.json(bundle, encoder: EvidenceRelay.bundleEncoder())
            if let name = HTTPField.Name("X-LienThong-Evidence-Sources") {
                response.headers[name] = sources.map { "\($0.server)=\($0.status.rawValue)" }.joined(separator: ", ")
            }
            if let name = HTTPField.Name("X-LienThong-Evidence-Complete") {
                response.headers[name] = bundle.complete == false ? "false" : "true"
            }
            return response
        }
    }

    // MARK: - Query parameters

    /// The compliance view for a query (``query(_:now:)``).
    private func report(_ query: ComplianceQuery) async throws -> ComplianceReport {
        let snapshot = await registry.snapshot()
        do {
            return try await ComplianceEngine(ledger: ledger).report(query, snapshot: snapshot, now: clock())
        } catch let error as ComplianceQueryError {
            throw RegistryAPIError.badRequest(error.message)
        } catch let error as RegistryAPIError {
            throw error
        } catch let error as ArithmeticOverflow {
            // Usage totals beyond 2^53 − 1 (only hostile counters could make them): typed, never a trap.
            throw RegistryAPIError(status: .internalServerError, type: "Server.Registry.ValueOutOfRange",
                                   message: "the compliance view cannot be computed: \(error)")
        } catch {
            throw RegistryAPIError(status: .serviceUnavailable, type: "Server.Registry.StoreUnavailable",
                                   message: "the compliance view cannot be computed: \(error)")
        }
    }

    /// The parameters every compliance query takes: `from`, `to` (strict RFC 3339 or `YYYY-MM-DD`;
    /// default the last 30 days), `dormant_days`, `threshold`, `pending_days`, and the filters
    /// `agreement`, `member`, `dataset` (and `format`, which the route checks). Any other
    /// parameter, or one given twice, is refused.
    static func query(_ request: Request, now: Date) throws -> ComplianceQuery {
        let parameters = request.uri.queryParameters
        try QueryParameters.allowOnly(["from", "to", "dormant_days", "threshold", "pending_days", "agreement", "member", "dataset", "format"],
                                      in: request)
        let to = try parameters["to"].map { try date(String($0), "to") } ?? now
        let from = try parameters["from"].map { try date(String($0), "from") } ?? to.addingTimeInterval(-30 * 86_400)
        var query = ComplianceQuery(from: from, to: to)
        // Ranges are checked by ComplianceQuery.validate(); here only the types.
        if let value = parameters["dormant_days"] { query.dormantDays = try integer(String(value), "dormant_days") }
        if let value = parameters["pending_days"] { query.pendingDeadlineDays = try integer(String(value), "pending_days") }
        if let value = parameters["threshold"] {
            guard let number = Double(value), number.isFinite else {
                throw RegistryAPIError.badRequest("query parameter threshold=\(value.prefix(40)) must be a number from 0 to 1")
            }
            query.notSharedThreshold = number
        }
        if let value = parameters["agreement"] {
            guard QueryParameters.isAgreementId(value) else {
                throw RegistryAPIError.badRequest("query parameter agreement must be an agreement id: AG- and 6 to 18 digits, such as AG-000001")
            }
            query.agreement = String(value)
        }
        if let value = parameters["member"] {
            do { query.member = try MemberId(parsing: String(value)) } catch {
                throw RegistryAPIError.badRequest("query parameter member must be a member id such as VN/GOV/000.00.00.G22: \(error.description)")
            }
        }
        if let value = parameters["dataset"] {
            do { query.dataset = try DatasetId(parsing: String(value)) } catch {
                throw RegistryAPIError.badRequest(
                    "query parameter dataset must be a dataset id such as VN/GOV/000.00.00.G22/datasets/dan-cu: \(error.description)")
            }
        }
        return query
    }

    /// A strict RFC 3339 date-time or a `YYYY-MM-DD` date (midnight UTC), read as the management
    /// API reads dates (``RegistryJSON/parseTimestamp(_:)``): `2026-02-30`, `T25:00` or a
    /// five-digit year are refused, not rolled over into another date.
    private static func date(_ text: String, _ name: String) throws -> Date {
        if let date = RegistryJSON.parseTimestamp(text) { return date }
        if text.utf8.count == 10, let date = RegistryJSON.parseTimestamp(text + "T00:00:00Z") { return date }
        throw RegistryAPIError.badRequest("query parameter \(name)=\(text.prefix(40)) must be an RFC 3339 date-time or a YYYY-MM-DD date "
            + "with a real calendar date and time")
    }

    private static func integer(_ text: String, _ name: String) throws -> Int {
        guard let number = Int(text) else {
            throw RegistryAPIError.badRequest("query parameter \(name)=\(text.prefix(40)) must be an integer")
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

    // MARK: - Answers

    /// One section of the report as JSON: the report member of that name (`not-shared` is
    /// `not_shared`, ...; `daily` is the KPIs' `exchanges_per_day`).
    static func section(_ section: ComplianceSection, of report: ComplianceReport) throws -> Response {
        switch section {
        case .kpis: try json(report.kpis)
        case .daily: try json(report.kpis.exchangesPerDay)
        case .agreements: try json(report.agreements)
        case .datasets: try json(report.datasets)
        case .agencies: try json(report.agencies)
        case .dormant: try json(report.dormant)
        case .notShared: try json(report.notShared)
        case .withoutAgreement: try json(report.withoutAgreement)
        case .discrepancies: try json(report.discrepancies)
        case .pendingRequests: try json(report.pendingRequests)
        case .refusals: try json(report.refusals)
        }
    }

    /// The agreement as the auditor sees it: `expired` once an active agreement's `valid_until`
    /// has passed, as the compliance tables report it (``EffectiveAgreementStatus``; the stored
    /// status stays `active`, since nothing changes the record when time passes). An agreement
    /// that has not started yet stays `active` here; the CSV and the compliance tables call it
    /// `not_yet_valid`.
    static func effective(_ agreement: Agreement, now: Date) -> Agreement {
        var shown = agreement
        if EffectiveAgreementStatus(agreement, now: now) == .expired { shown.status = .expired }
        return shown
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

/// Writes every request of an auditor to the admin audit trail before it is answered (other
/// roles pass through: on routes that admins may call too, their reads are not auditor queries).
struct AuditorQueryRecorder: RouterMiddleware {
    typealias Context = RegistryRequestContext
    let registry: Registry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let caller = context.caller else { throw RegistryAPIError.unauthenticated("no caller") }
        guard caller.role == .auditor else { return try await next(request, context) }
        do {
            try await registry.recordAuditorQuery(actor: caller.actor, entity: "\(request.method) \(request.uri.description)")
        } catch {
            throw RegistryAPIError(status: .serviceUnavailable, type: "Server.Registry.StoreUnavailable",
                                   message: "the query could not be recorded in the admin audit trail, so it is not answered: \(error.message)")
        }
        return try await next(request, context)
    }
}
