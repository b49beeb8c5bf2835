import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongTrust
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import X509

/// Sends a checkpoint to the registry and returns its countersigned receipt.
public protocol CheckpointSubmitting: Sendable {
    /// Submits `checkpoint` (with the signer's OCSP response) and returns the registry's answer.
    func submit(_ checkpoint: StoredCheckpoint, ocsp: [UInt8]?) async throws -> CheckpointReceiptResponse
}

/// `POST {registry_url}/checkpoints` over the registry's HTTPS (`docs/registry-api.md`): mutual
/// TLS, the client certificate being the server's registered TLS certificate (the registry takes a
/// server's checkpoints only over a connection authenticated by its pin).
public struct RegistryCheckpointClient: CheckpointSubmitting {
    /// The registry's base URL (the global configuration URL without its `/globalconf` path).
    public let baseURL: String
    /// The HTTP client (trusting the instance CA, presenting the server's TLS certificate; see
    /// ``makeHTTPClient(certificateFile:keyFile:caFile:)``).
    public let http: HTTPClient

    /// A client for ``http``: TLS 1.3, trusting the CA certificates in `caFile`, presenting the
    /// certificate chain in `certificateFile` (PEM, the server's `tls_certificate_file`) with
    /// the key in `keyFile` (`tls_key_file`); a 5 s connect timeout. The caller shuts it down.
    public static func makeHTTPClient(certificateFile: String, keyFile: String, caFile: String) throws -> HTTPClient {
        try MutualTLSHTTPClient.make(certificateFile: certificateFile, keyFile: keyFile, caFile: caFile)
    }

    /// Creates a client for the registry whose global configuration is at `configurationURL`.
    public init(configurationURL: String, http: HTTPClient) {
        var base = configurationURL
        if base.hasSuffix("/globalconf") { base.removeLast("/globalconf".count) }
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.http = http
    }

    /// Submits `checkpoint`; a non-2xx answer throws with the registry's X-Road error message.
    public func submit(_ checkpoint: StoredCheckpoint, ocsp: [UInt8]?) async throws -> CheckpointReceiptResponse {
        var request = HTTPClientRequest(url: baseURL + "/checkpoints")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let body = try JSONEncoder().encode(CheckpointSubmission(body: checkpoint.body, signature: checkpoint.signature, ocsp: ocsp))
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            let reason = (try? JSONDecoder().decode(XRoadErrorBody.self, from: bytes)).map { "\($0.type): \($0.message)" }
                ?? String(decoding: bytes.prefix(200), as: UTF8.self)
            throw CheckpointError(.mismatch, "the registry refused checkpoint \(checkpoint.sequence) (\(response.status.code)): \(reason)")
        }
        return try JSONDecoder().decode(CheckpointReceiptResponse.self, from: bytes)
    }
}

/// Makes the audit log's checkpoints and gets them countersigned (`docs/audit-log.md`
/// §Checkpoints): every checkpoint interval of the global configuration, it signs the log's tree
/// head and the window's usage with the member key, stores the checkpoint beside the log, and
/// submits every checkpoint still waiting for a receipt, oldest first. A receipt is stored only
/// after it verifies: the registry's signature, its certificate (configuration-signing role, an
/// approved CA), and that it covers exactly this checkpoint and signature. Failures are retried
/// every few seconds; past the log's ``AuditLog/checkpointFailureLimit`` the server refuses
/// exchanges (``AuditLog/checkWritable()``).
///
/// With a ``Retention`` policy it also archives old records (``AuditArchiver``), at most once per
/// ``Retention/interval`` and only after every checkpoint has its receipt, signing the manifests
/// with the member key.
public struct CheckpointService: ServiceLifecycle.Service {
    /// When old records move to archive files (`audit.retention_days`, `audit.archive_directory`).
    public struct Retention: Sendable, Hashable {
        /// Records older than this are archived.
        public var maximumAge: Duration
        /// Where the archive files go.
        public var directory: URL
        /// How often to look for records due; one hour by default.
        public var interval: Duration

        /// Creates a policy.
        public init(maximumAge: Duration, directory: URL, interval: Duration = .seconds(3600)) {
            self.maximumAge = maximumAge
            self.directory = directory
            self.interval = interval
        }
    }


    let log: AuditLog
    let server: SecurityServerId
    let node: String
    let signer: MemberSigner
    let trust: TrustState
    let submitter: any CheckpointSubmitting
    let logger: Logger
    let clock: @Sendable () -> Date
    let retention: Retention?
    /// Test-only: see ``ExchangeTestHooks/misreportCheckpointUsage``.
    let misreportUsage: (@Sendable ([UsageCounter]) -> [UsageCounter])?
    private let archiveState = ArchiveState()

    /// Creates the service; `retention` `nil` keeps every record in the store.
    public init(log: AuditLog, server: SecurityServerId, node: String, signer: MemberSigner, trust: TrustState,
                submitter: any CheckpointSubmitting, logger: Logger, clock: @escaping @Sendable () -> Date = { Date() },
                retention: Retention? = nil, misreportUsage: (@Sendable ([UsageCounter]) -> [UsageCounter])? = nil) {
        self.retention = retention
        self.misreportUsage = misreportUsage
        self.log = log
        self.server = server
        self.node = node
        self.signer = signer
        self.trust = trust
        self.submitter = submitter
        self.logger = logger
        self.clock = clock
    }

    /// Runs until graceful shutdown, then makes and submits a last checkpoint.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var nextCheckpoint = ContinuousClock.now
            while !Task.isCancelled {
                if ContinuousClock.now >= nextCheckpoint {
                    await makeCheckpoint()
                    nextCheckpoint = ContinuousClock.now + .seconds(await interval())
                }
                let settled = await submitPending()
                if settled { await archiveIfDue() }
                let wait = settled ? nextCheckpoint - ContinuousClock.now : min(.seconds(2), nextCheckpoint - ContinuousClock.now)
                do { try await Task.sleep(for: max(wait, .milliseconds(50))) } catch { break }
            }
        }
        // Seal the log on the way out, so the last exchanges are countersigned too (best effort:
        // the next start submits whatever is still waiting).
        await makeCheckpoint()
        _ = await submitPending()
    }

    /// Makes one checkpoint now and submits what waits; for tests and `lienthong` commands.
    /// - Returns: whether every checkpoint has its receipt afterwards.
    @discardableResult
    public func checkpointNow() async -> Bool {
        await makeCheckpoint()
        return await submitPending()
    }

    /// Archives the records older than the retention age, if the last run is at least an
    /// interval ago. Failures are logged and retried at the next interval; the records stay in
    /// the store meanwhile.
    /// - Returns: the archive made, if any.
    @discardableResult
    public func archiveIfDue(force: Bool = false) async -> StoredArchive? {
        guard let retention else { return nil }
        let now = ContinuousClock.now
        guard await archiveState.begin(at: now, interval: retention.interval, force: force) else { return nil }
        let signer = self.signer
        let wallClock = clock()
        let seconds = Double(retention.maximumAge.components.seconds) + Double(retention.maximumAge.components.attoseconds) / 1e18
        do {
            let archive = try await AuditArchiver.archive(
                store: log.store, olderThan: wallClock.addingTimeInterval(-seconds), directory: retention.directory,
                server: server.canonical, node: node, now: wallClock) { manifest in
                    try signer.sign(digest: manifest.digest).compact
                }
            if let archive {
                logger.info("archived audit records", metadata: [
                    "archive": "\(archive.sequence)", "records": "\(archive.firstSequence)..<\(archive.endSequence)",
                    "directory": "\(retention.directory.path)"])
            }
            return archive
        } catch {
            logger.error("cannot archive old audit records; they stay in the log", metadata: ["error": "\(error)"])
            return nil
        }
    }

    private func interval() async -> Int64 {
        let seconds = (try? await trust.configuration.current().policy.checkpointIntervalSeconds) ?? 60
        return Int64(max(1, seconds))
    }

    private func makeCheckpoint() async {
        let signer = self.signer
        do {
            _ = try await log.makeCheckpoint(server: server.canonical, node: node, at: clock(), misreportUsage: misreportUsage) { checkpoint in
                try signer.sign(digest: checkpoint.digest).compact
            }
        } catch {
            logger.error("cannot make an audit checkpoint", metadata: ["error": "\(error)"])
            await log.noteCheckpointFailure("cannot make a checkpoint: \(error)")
        }
    }

    /// Submits waiting checkpoints in order; stops at the first failure.
    private func submitPending() async -> Bool {
        for checkpoint in await log.awaitingReceipt {
            do {
                let snapshot = try await trust.snapshot(at: clock())
                let ocsp = try? await signer.stapledOCSP(validator: snapshot.validator, at: clock())
                let answer = try await submitter.submit(checkpoint, ocsp: ocsp)
                let receipt = try await verify(answer, for: checkpoint, anchors: snapshot.validator.trustAnchors)
                try await log.attachReceipt(checkpoint: checkpoint.sequence, receipt: receipt, signature: answer.signature)
            } catch {
                logger.warning("checkpoint \(checkpoint.sequence) is not countersigned yet", metadata: ["error": "\(error)"])
                await log.noteCheckpointFailure("\(error)")
                return false
            }
        }
        return true
    }

    /// Checks the registry's receipt for `checkpoint`; returns its canonical bytes.
    private func verify(_ answer: CheckpointReceiptResponse, for checkpoint: StoredCheckpoint,
                        anchors: [Certificate]) async throws -> [UInt8] {
        guard let bytes = Base64URL.decode(answer.receipt) else {
            throw CheckpointError(.malformed, "the registry's receipt is not base64url")
        }
        let receipt: CheckpointReceipt
        do { receipt = try CheckpointReceipt(canonicalBytes: bytes) } catch {
            throw CheckpointError(.malformed, "the registry's receipt is not a canonical receipt: \(error)")
        }
        guard receipt.covers(body: checkpoint.body, signature: checkpoint.signature), receipt.sequence == checkpoint.sequence,
              receipt.server == server.canonical, receipt.node == node else {
            throw CheckpointError(.mismatch, "the registry's receipt is for another checkpoint")
        }
        let jws = try CanonicalSignature.verify(answer.signature, over: bytes, what: "the receipt of checkpoint \(checkpoint.sequence)")
        do {
            _ = try await CertificateValidator(trustAnchors: anchors, revocation: nil)
                .validate(chain: jws.certificateChain, role: .configurationSigning, at: clock())
        } catch {
            throw CheckpointError(.untrustedSigner, "the receipt's signer is not the registry: \(error)")
        }
        return bytes
    }
}

/// When the archiver last ran.
private actor ArchiveState {
    private var lastRun: ContinuousClock.Instant?

    /// Whether a run may start now (an interval after the last); marks it started.
    func begin(at now: ContinuousClock.Instant, interval: Duration, force: Bool) -> Bool {
        if !force, let lastRun, now - lastRun < interval { return false }
        lastRun = now
        return true
    }
}
