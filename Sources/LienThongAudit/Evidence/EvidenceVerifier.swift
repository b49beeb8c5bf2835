import Foundation
import LienThongCore
import LienThongTrust
import X509

/// What verifying an ``EvidenceBundle`` established, one sentence per check, in order.
public struct EvidenceReport: Sendable, Hashable {
    /// The checks that passed.
    public var checks: [String]
    /// Things the bundle does not prove (e.g. a checkpoint without a registry receipt yet).
    public var warnings: [String]
    /// The records, decoded.
    public var records: [AuditRecord]
}

/// Why an evidence bundle does not verify: the first failed check.
public struct EvidenceVerificationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The failed check, naming the side and the part.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// Verifies an ``EvidenceBundle`` with nothing but the instance's root CA certificates
/// (`docs/evidence.md` lists the same checks for doing it by hand):
///
/// 1. each record is canonical, names the bundle's exchange and its own leaf index;
/// 2. its inclusion proof leads from its leaf hash to the checkpoint's signed root;
/// 3. the checkpoint is signed by a member certificate of the recording server's owner, issued by
///    the root CA and valid at the checkpoint's time;
/// 4. the registry's receipt covers exactly that checkpoint and signature and is signed by the
///    registry's configuration-signing certificate (if the bundle has one; otherwise a warning);
/// 5. the message signatures in the record verify over the recorded digests: the request by the
///    client's member, the response by the service's member, each certificate chaining to the
///    root and shown not revoked at the exchange by the OCSP response stapled to it;
/// 6. the consumer's and the provider's records agree on the exchange (client, service, digests).
public enum EvidenceVerifier {
    /// How old a stapled OCSP response may be, relative to the exchange, and still count.
    public static let ocspFreshness: TimeInterval = 86_400

    /// Verifies `bundle` against `anchors`.
    ///
    /// - Throws: ``EvidenceVerificationError`` naming the first check that failed.
    public static func verify(_ bundle: EvidenceBundle, anchors: [Certificate]) async throws(EvidenceVerificationError) -> EvidenceReport {
        guard bundle.v == EvidenceBundle.currentVersion else { throw EvidenceVerificationError("unsupported bundle version \(bundle.v)") }
        guard !bundle.records.isEmpty else { throw EvidenceVerificationError("the bundle holds no record") }
        var report = EvidenceReport(checks: [], warnings: [], records: [])
        for entry in bundle.records {
            let record = try await verify(entry, exchange: bundle.exchange, anchors: anchors, report: &report)
            report.records.append(record)
        }
        try crossCheck(report.records, report: &report)
        if bundle.complete == false {
            let failed = (bundle.sources ?? []).filter { $0.status == .error }.map(\.summary)
            report.warnings.append("the registry's relay marked this bundle incomplete: a security server did not answer"
                + (failed.isEmpty ? "" : " (" + failed.joined(separator: "; ") + ")"))
        }
        return report
    }

    private static func verify(_ entry: EvidenceRecord, exchange: String, anchors: [Certificate],
                               report: inout EvidenceReport) async throws(EvidenceVerificationError) -> AuditRecord {
        let who = "\(entry.side) record (\(entry.server))"
        func fail(_ message: String) -> EvidenceVerificationError { EvidenceVerificationError("\(who): \(message)") }

        // 1. The record.
        guard let bytes = Base64URL.decode(entry.record) else { throw fail("record is not base64url") }
        let record: AuditRecord
        do { record = try AuditRecord(canonicalBytes: bytes) } catch { throw fail("not a canonical audit record: \(error)") }
        guard record.messageId == exchange else { throw fail("it is about exchange \(record.messageId ?? "(none)"), not \(exchange)") }
        guard record.side == entry.side, record.server == entry.server else { throw fail("it was written by \(record.side) \(record.server)") }
        guard record.sequence == entry.leafIndex else { throw fail("it names itself record \(record.sequence), the bundle says leaf \(entry.leafIndex)") }
        report.checks.append("\(who): record \(record.sequence) is a canonical record of exchange \(exchange)")

        // 2. Inclusion in the checkpoint's tree.
        guard let checkpointBytes = Base64URL.decode(entry.checkpoint) else { throw fail("checkpoint is not base64url") }
        let checkpoint: AuditCheckpoint
        do { checkpoint = try AuditCheckpoint(canonicalBytes: checkpointBytes) } catch { throw fail("not a canonical checkpoint: \(error)") }
        guard checkpoint.server == record.server else { throw fail("the checkpoint is of \(checkpoint.server)'s log") }
        let proof = MerkleInclusionProof(leafIndex: entry.leafIndex, treeSize: checkpoint.tree.treeSize, auditPath: entry.inclusionProof)
        do { try checkpoint.tree.verifyInclusion(leafHash: MerkleHash.leaf(bytes), proof: proof) } catch {
            throw fail("the inclusion proof does not lead to checkpoint \(checkpoint.sequence)'s root: \(error)")
        }
        report.checks.append("\(who): leaf \(entry.leafIndex) is in the tree of \(checkpoint.tree.treeSize) records signed by checkpoint \(checkpoint.sequence) (root \(checkpoint.tree.rootHash.base64URL))")

        // 3. The checkpoint's signature and signer.
        let jws: DetachedJWS
        do { jws = try CanonicalSignature.verify(entry.checkpointSignature, over: checkpointBytes, what: "the checkpoint") } catch {
            throw fail(error.message)
        }
        let owner: MemberId
        do { owner = try SecurityServerId(parsing: checkpoint.server).owner } catch { throw fail("the checkpoint names no security server: \(error)") }
        do {
            let signer = try await CertificateValidator(trustAnchors: anchors, revocation: nil)
                .validate(chain: jws.certificateChain, role: .member, at: checkpoint.windowEnd.date)
            guard signer.holderId == owner.canonical else { throw fail("the checkpoint is signed by \(signer.holderId), not by \(owner)") }
        } catch let error as EvidenceVerificationError {
            throw error
        } catch {
            throw fail("the checkpoint's signer is not trusted: \(error)")
        }
        report.checks.append("\(who): checkpoint \(checkpoint.sequence) is signed by \(owner) (window ending \(checkpoint.windowEnd))")

        // 4. The registry's receipt.
        if let receiptText = entry.receipt, let receiptSignature = entry.receiptSignature {
            guard let receiptBytes = Base64URL.decode(receiptText) else { throw fail("receipt is not base64url") }
            let receipt: CheckpointReceipt
            do { receipt = try CheckpointReceipt(canonicalBytes: receiptBytes) } catch { throw fail("not a canonical receipt: \(error)") }
            guard receipt.covers(body: checkpointBytes, signature: entry.checkpointSignature) else {
                throw fail("the registry's receipt is for another checkpoint or signature")
            }
            do {
                let receiptJWS = try CanonicalSignature.verify(receiptSignature, over: receiptBytes, what: "the receipt")
                _ = try await CertificateValidator(trustAnchors: anchors, revocation: nil)
                    .validate(chain: receiptJWS.certificateChain, role: .configurationSigning, at: receipt.receivedAt.date)
            } catch let error as CheckpointError {
                throw fail(error.message)
            } catch {
                throw fail("the receipt is not signed by the registry: \(error)")
            }
            report.checks.append("\(who): the registry countersigned checkpoint \(checkpoint.sequence) at \(receipt.receivedAt) (receipt \(receipt.registrySequence))")
        } else {
            report.warnings.append("\(who): checkpoint \(checkpoint.sequence) has no registry receipt in this bundle; only the server's own signature fixes it")
        }

        // 5. The message signatures in the record.
        try await verifyMessageSignature(record.requestSignature, digest: record.requestDigest, ocsp: record.requestOCSP,
                                         signer: record.client.flatMap { try? SubsystemId(parsing: $0).member },
                                         what: "request", at: record.startedAt.date, anchors: anchors, who: who, report: &report)
        try await verifyMessageSignature(record.responseSignature, digest: record.responseDigest, ocsp: record.responseOCSP,
                                         signer: record.service.flatMap { try? ServiceId(parsing: $0).subsystem.member },
                                         what: "response", at: record.endedAt.date, anchors: anchors, who: who, report: &report)
        return record
    }

    private static func verifyMessageSignature(_ compact: String?, digest: String?, ocsp: String?, signer: MemberId?, what: String,
                                               at time: Date, anchors: [Certificate], who: String,
                                               report: inout EvidenceReport) async throws(EvidenceVerificationError) {
        guard let compact else {
            report.warnings.append("\(who): no \(what) signature was recorded (the exchange did not get that far)")
            return
        }
        func fail(_ message: String) -> EvidenceVerificationError { EvidenceVerificationError("\(who): the \(what) signature \(message)") }
        guard let digestText = digest, let messageDigest = MessageDigest(base64URL: digestText) else { throw fail("has no recorded digest") }
        let jws: DetachedJWS
        do {
            jws = try DetachedJWS(compact: compact)
            try jws.verify(digest: messageDigest)
        } catch {
            throw fail("does not verify over the recorded digest: \(error)")
        }
        var stapled: [UInt8]?
        if let ocsp {
            guard let der = Data(base64Encoded: ocsp) else { throw fail("has an OCSP response that is not base64") }
            stapled = Array(der)
        }
        let revocation = stapled == nil ? nil : RevocationChecker(source: HTTPOCSPStatusSource(responderURL: nil),
                                                                   policy: .init(freshness: ocspFreshness))
        do {
            let validated = try await CertificateValidator(trustAnchors: anchors, revocation: revocation)
                .validate(chain: jws.certificateChain, role: .member, stapledOCSP: stapled, at: time)
            guard let signer else {
                throw fail("cannot be attributed: the record does not name the member who must have signed it")
            }
            guard validated.holderId == signer.canonical else {
                throw fail("is by \(validated.holderId), not by \(signer)")
            }
            let status = validated.revocation.map { " and not revoked (OCSP of \(AuditTimestamp($0.thisUpdate)?.rfc3339 ?? "?"))" } ?? ""
            report.checks.append("\(who): the \(what) is signed by \(validated.holderId), certificate valid at the exchange\(status)")
            if revocation == nil {
                report.warnings.append("\(who): no OCSP response was recorded with the \(what) signature; revocation at the time is not shown")
            }
        } catch let error as EvidenceVerificationError {
            throw error
        } catch {
            throw fail("is by a certificate that was not acceptable at the exchange: \(error)")
        }
    }

    private static func crossCheck(_ records: [AuditRecord], report: inout EvidenceReport) throws(EvidenceVerificationError) {
        guard let consumer = records.first(where: { $0.side == .consumer }), let provider = records.first(where: { $0.side == .provider }) else {
            report.warnings.append("the bundle holds only one side's record")
            return
        }
        let pairs: [(String, String?, String?)] = [
            ("client", consumer.client, provider.client), ("service", consumer.service, provider.service),
            ("request digest", consumer.requestDigest, provider.requestDigest),
        ]
        for (name, left, right) in pairs where left != right {
            throw EvidenceVerificationError("the consumer's and the provider's records disagree on the \(name): \(left ?? "(none)") vs \(right ?? "(none)")")
        }
        if let left = consumer.responseDigest, let right = provider.responseDigest, left != right {
            throw EvidenceVerificationError("the consumer received another response than the provider recorded (digest \(left) vs \(right))")
        }
        report.checks.append("both sides' records agree on client, service and request\(consumer.responseDigest != nil && provider.responseDigest != nil ? " and response" : "") digests")
    }
}
