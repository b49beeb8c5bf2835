import Foundation
import Hummingbird
import LienThongAudit
import LienThongCore
import LienThongTrust
import Logging
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// The registry's checkpoint endpoints (`docs/registry-api.md` §Checkpoints):
///
/// - `POST /checkpoints`: a security server submits a signed checkpoint
///   (``CheckpointSubmission``); the answer is the countersigned receipt
///   (``CheckpointReceiptResponse``, 201, or 200 for a resubmission). The caller must present,
///   over mutual TLS, the TLS certificate registered (pinned) for a security server, valid for
///   the `server` role (chain, dates, OCSP): that is checked before the body is read. No
///   certificate is 401 `Client.Unauthenticated`; one that is no server's pin, or fails
///   validation, 403 `Client.Forbidden`. The checkpoint must then be that server's
///   (``CheckpointLedger/submit(body:signature:ocsp:from:registry:)`` for the rest). A body over
///   4 MiB is 413 `Client.RequestTooLarge`, one that is not a submission 400. Every refusal is
///   logged (warning, bounded text).
/// - `GET /api/v1/checkpoints?server=&from=&limit=`: the ledger, for administrators and auditors
///   (an auditor's read is recorded in the admin audit trail, like every auditor query). `server`
///   must be a security-server id; other parameters are refused (400).
struct CheckpointRoutes {
    let ledger: CheckpointLedger
    let registry: Registry
    /// Validates the submitting server's TLS certificate (chain, dates, `server` role, OCSP).
    let validator: CertificateValidator

    func register(on router: RouterGroup<RegistryRequestContext>) {
        router.post("checkpoints") { request, context -> Response in
            do {
                return try await submit(request, context)
            } catch let error as RegistryAPIError {
                context.logger.warning("checkpoint refused", metadata: [
                    "status": "\(error.status.code)", "type": "\(Self.bounded(error.type, 80))",
                    "reason": "\(Self.bounded(error.message, 400))", "detail": "\(error.detail)"])
                throw error
            }
        }

        router.group("api/v1").add(middleware: RequireRole([.instanceAdmin, .auditor])).add(middleware: AuditorQueryRecorder(registry: registry))
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

    /// `POST /checkpoints`: the submitting server first, then the body.
    private func submit(_ request: Request, _ context: RegistryRequestContext) async throws -> Response {
        let submitter = try await authenticatedServer(context)
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
        let entry: LedgerEntry, created: Bool
        do {
            (entry, created) = try await ledger.submit(body: body, signature: submission.signature, ocsp: ocsp,
                                                       from: submitter.id, registry: await registry.snapshot())
        } catch let refusal as CheckpointRefusal {
            throw Self.apiError(refusal)
        }
        let answer = CheckpointReceiptResponse(receipt: entry.receipt, signature: entry.receiptSignature)
        var response = try context.responseEncoder.encode(answer, from: request, context: context)
        response.status = created ? .created : .ok
        return response
    }

    /// The registered security server whose pinned TLS certificate the caller presented, valid
    /// for the `server` role now.
    ///
    /// - Throws: 401 without a client certificate, 403 for one that is no server's pin or does
    ///   not validate.
    private func authenticatedServer(_ context: RegistryRequestContext) async throws -> SecurityServer {
        let peer = try? await context.channel.nioSSL_peerCertificate().get()
        guard let peer else {
            throw RegistryAPIError.unauthenticated("POST /checkpoints needs the security server's registered TLS certificate as client certificate")
        }
        guard let der = try? peer.toDERBytes(), let certificate = try? Certificate(derEncoded: der) else {
            throw RegistryAPIError.unauthenticated("the client certificate cannot be read")
        }
        let pin = MessageDigest.sha256(of: der).hex
        let snapshot = await registry.snapshot()
        guard let server = snapshot.servers.first(where: { $0.tlsCertificateSHA256.lowercased() == pin }) else {
            throw RegistryAPIError.forbidden("the client certificate (SHA-256 \(pin)) is not the registered TLS certificate of any security server")
        }
        do {
            _ = try await validator.validate(chain: [certificate], role: .server)
        } catch {
            throw RegistryAPIError.forbidden("the TLS certificate of \(server.id) is not acceptable (\(error.code.rawValue)): \(error.message)")
        }
        return server
    }

    /// `text` with control characters replaced and cut to `limit` characters, for the log.
    static func bounded(_ text: String, _ limit: Int) -> String {
        let clean = String(String.UnicodeScalarView(text.unicodeScalars.prefix(limit).map {
            $0.properties.generalCategory == .control || $0.properties.generalCategory == .format ? "?" : $0
        }))
        return text.unicodeScalars.count > limit ? clean + "…" : clean
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
