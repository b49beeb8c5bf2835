import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongTrust

/// `POST /checkpoints` bodies through the registry's real path: the route's decoding
/// (``RegistryJSONCoder``, ``CheckpointSubmission``, base64url), then ``CheckpointLedger/submit``
/// — canonical parse, signature and certificate, owner, chain, consistency, countersignature
/// and ingestion into the usage tables of a real SQLite ledger.
///
/// A mutated body no longer matches its signature, so each input is submitted twice: as it came
/// (the signature check), and re-signed with the owner's member key (a development PKI made in
/// `prepare`), so that hostile numbers reach the chain checks and the ingestion. The ledger keeps
/// what it accepts, so later inputs meet a chain in progress.
///
/// Properties: no crash (a trapping sum is a crash); an `outOfRange` refusal changes nothing (the
/// ledger's size is the same before and after); every accepted checkpoint's counters are within
/// 0 … 2^53 − 1.
enum CheckpointFuzz {
    nonisolated(unsafe) static var ledger: CheckpointLedger?
    nonisolated(unsafe) static var signer: DetachedJWS.Signer?
    /// How many checkpoints the ledger accepted (each run is serial).
    nonisolated(unsafe) static var accepted = 0

    static let owner = "VN/GOV/000.00.00.G22"

    static func prepare() {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-fuzz-checkpoint-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let pki = try DevelopmentPKI.initialise(at: directory.appendingPathComponent("pki"), instance: "VN", ocspURL: nil)
            let member = try pki.issue(role: .member, holderId: owner)
            signer = try DetachedJWS.Signer(
                key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(pki.directory.appendingPathComponent(member.keyPath))),
                chain: try PEMFiles.readCertificates(pki.directory.appendingPathComponent(member.certificatePath)))
            let registry = try DetachedJWS.Signer(
                key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(pki.url(.configurationSigningKey))),
                chain: try PEMFiles.readCertificates(pki.url(.configurationSigningCertificate)))
            ledger = try CheckpointLedger(path: directory.appendingPathComponent("checkpoints.sqlite").path, instance: "VN", signer: registry,
                                          validator: CertificateValidator(trustAnchors: [pki.rootCertificate], revocation: nil))
        } catch {
            fatalError("checkpoint fuzz target: cannot prepare the ledger: \(error)")
        }
    }

    static func run(_ input: [UInt8]) {
        guard let ledger, let signer else { return }
        // The route's decoding.
        guard let submission = try? RegistryJSONCoder.decoder().decode(CheckpointSubmission.self, from: Data(input)),
              let body = Base64URL.decode(submission.checkpoint) else { return }
        // The submitting server (its TLS identity in the route): the one the checkpoint names, if it
        // parses, registered to the owner with its default node; another one otherwise.
        let named = (try? AuditCheckpoint(canonicalBytes: body)).flatMap { try? SecurityServerId(parsing: $0.server) }
        guard let submitter = named ?? (try? SecurityServerId(parsing: "\(owner)/ss1")) else { return }
        let registry = RegistrySnapshot(servers: submitter.owner.canonical == owner ? [
            SecurityServer(id: submitter, address: "127.0.0.1:5500", tlsCertificate: "", tlsCertificateSHA256: String(repeating: "0", count: 64),
                           createdAt: Date(timeIntervalSince1970: 1_700_000_000)),
        ] : [])
        var signatures = [submission.signature]
        if let resigned = try? signer.sign(digest: MessageDigest.sha256(of: body)).compact { signatures.append(resigned) }
        for signature in signatures {
            _ = blocking { () async -> Bool in
                do {
                    let (entry, created) = try await ledger.submit(body: body, signature: signature, ocsp: nil,
                                                                   from: submitter, registry: registry)
                    if created { accepted += 1 }
                    for counter in entry.checkpoint.usage {
                        let values = [counter.count, UInt64(bitPattern: counter.durationMillisecondsTotal)] + counter.latencyBuckets
                        guard values.allSatisfy({ $0 <= UInt64(Checked.maximumSafeInteger) }) else {
                            fatalError("an accepted checkpoint carries a number beyond 2^53 − 1: \(counter)")
                        }
                    }
                } catch let refusal as CheckpointRefusal {
                    // Registry sequences are 1 … accepted: nothing may lie beyond after a refusal.
                    if refusal.code == .outOfRange, let beyond = try? await ledger.entries(from: UInt64(accepted + 1), limit: 1), !beyond.isEmpty {
                        fatalError("an out-of-range refusal changed the ledger: \(refusal)")
                    }
                } catch {}
                return true
            }
        }
    }
}
