import Foundation
import Hummingbird
import LienThongAudit
import LienThongCore
import LienThongTrust
import NIOCore

/// The registry's checkpoint endpoints (`docs/registry-api.md` §Checkpoints):
///
/// - `POST /checkpoints`: a security server submits a signed checkpoint
///   (``CheckpointSubmission``); the answer is the countersigned receipt
///   (``CheckpointReceiptResponse``, 201, or 200 for a resubmission). No client certificate is
///   needed: the member's signature authenticates the checkpoint. A body over 4 MiB is 413
///   `Client.RequestTooLarge`, one that is not a submission 400.
/// - `GET /api/v1/checkpoints?server=&from=&limit=`: the ledger, for administrators and auditors
///   (an auditor's read is recorded in the admin audit trail, like every auditor query). `server`
///   must be a security-server id; other parameters are refused (400).
struct CheckpointRoutes {
    let ledger: CheckpointLedger
    let registry: Registry

    func register(on router: RouterGroup<RegistryRequestContext>) {
        router.post("checkpoints") { request, context -> Response in
            // Over the limit is 413 like the management API; anything else unreadable 400.
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: context.maxUploadSize)
            } catch let error as HTTPError where error.status == .contentTooLarge {
                throw Self.tooLarge(context)
            } catch is NIOTooManyBytesError {
                throw Self.tooLarge(context)
            }
            let submission: CheckpointSubmission
            do { submission = try RegistryJSONCoder.decoder().decode(CheckpointSubmission.self, from: Data(buffer.readableBytesView)) } catch {
                throw RegistryAPIError.badRequest("the body is not a checkpoint submission: \(error)")
            }
            guard let body = Base64URL.decode(submission.checkpoint) else {
                throw RegistryAPIError.badRequest("checkpoint is not unpadded base64url")
            }
            var ocsp: [UInt8]?
            if let text = submission.ocsp {
                guard let der = Data(base64Encoded: text) else { throw RegistryAPIError.badRequest("ocsp is not standard base64") }
                ocsp = Array(der)
            }
            let snapshot = await registry.snapshot()
            let servers = Dictionary(snapshot.servers.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            let entry: LedgerEntry, created: Bool
            do {
                (entry, created) = try await ledger.submit(body: body, signature: submission.signature, ocsp: ocsp) { id in
                    servers[id].map { $0.id.owner }
                }
            } catch let refusal as CheckpointRefusal {
                throw Self.apiError(refusal)
            }
            let answer = CheckpointReceiptResponse(receipt: entry.receipt, signature: entry.receiptSignature)
            var response = try context.responseEncoder.encode(answer, from: request, context: context)
            response.status = created ? .created : .ok
            return response
        }

        router.group("api/v1").add(middleware: RequireRole([.admin, .auditor])).add(middleware: AuditorQueryRecorder(registry: registry))
            .get("checkpoints") { request, _ -> [LedgerEntryView] in
            try QueryParameters.allowOnly(["server", "from", "limit"], in: request)
            let server = try QueryParameters.securityServer("server", in: request)?.canonical
            let from = try QueryParameters.integer(request, "from", default: 1, range: 1...Int64.max)
            let limit = try QueryParameters.integer(request, "limit", default: 100, range: 1...1000)
            do {
                let entries = try await ledger.entries(server: server, from: UInt64(from), limit: Int(limit))
                return entries.map(LedgerEntryView.init)
            } catch let refusal as CheckpointRefusal {
                throw Self.apiError(refusal)
            }
        }
    }

    /// 413 `Client.RequestTooLarge`: a body over ``RegistryRequestContext/maxUploadSize``.
    static func tooLarge(_ context: RegistryRequestContext) -> RegistryAPIError {
        RegistryAPIError(status: .contentTooLarge, type: "Client.RequestTooLarge",
                         message: "the body is larger than the limit of \(context.maxUploadSize) bytes")
    }

    static func apiError(_ refusal: CheckpointRefusal) -> RegistryAPIError {
        switch refusal.code {
        case .malformed: RegistryAPIError.badRequest(refusal.message)
        case .badSignature: RegistryAPIError(status: .badRequest, type: "Client.InvalidSignature", message: refusal.message)
        case .forbidden: RegistryAPIError.forbidden(refusal.message)
        case .conflict: RegistryAPIError(status: .conflict, type: "Client.CheckpointConflict", message: refusal.message)
        case .unavailable: RegistryAPIError(status: .serviceUnavailable, type: "Server.Registry.StoreUnavailable", message: refusal.message)
        case .outOfRange: RegistryAPIError(status: .badRequest, type: "Client.ValueOutOfRange", message: refusal.message)
        }
    }
}

/// One ledger entry as `GET /api/v1/checkpoints` lists it (schema in
/// `schemas/registry-api.openapi.yaml`, `CheckpointEntry`).
struct LedgerEntryView: Codable, Sendable, ResponseEncodable {
    var registrySequence: UInt64
    var server: String
    var node: String
    var sequence: UInt64
    var treeSize: UInt64
    var rootHash: String
    var windowStart: String
    var windowEnd: String
    var records: UInt64
    var checkpoint: String
    var signature: String
    var receipt: String
    var receiptSignature: String

    init(_ entry: LedgerEntry) {
        registrySequence = entry.registrySequence
        server = entry.checkpoint.server
        node = entry.checkpoint.node
        sequence = entry.checkpoint.sequence
        treeSize = entry.checkpoint.tree.treeSize
        rootHash = entry.checkpoint.tree.rootHash.base64URL
        windowStart = entry.checkpoint.windowStart.rfc3339
        windowEnd = entry.checkpoint.windowEnd.rfc3339
        records = entry.checkpoint.windowRecordCount
        checkpoint = Base64URL.encode(entry.body)
        signature = entry.signature
        receipt = Base64URL.encode(entry.receipt)
        receiptSignature = entry.receiptSignature
    }
}
