import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongTrust
import Testing

@Suite("Registry checkpoint ledger: verify, countersign, store, refuse")
struct CheckpointLedgerTests {
    static let server = "VN/GOV/000.00.00.H26/ss1"

    struct Fixture {
        let directory: URL
        let pki: DevelopmentPKI
        let member: DetachedJWS.Signer
        let stranger: DetachedJWS.Signer
        let ledger: CheckpointLedger

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let pki = try DevelopmentPKI.initialise(at: directory.appendingPathComponent("pki"), instance: "VN", ocspURL: nil)
            self.pki = pki
            func signer(_ holder: String) throws -> DetachedJWS.Signer {
                let issued = try pki.issue(role: .member, holderId: holder)
                return try DetachedJWS.Signer(
                    key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(pki.directory.appendingPathComponent(issued.keyPath))),
                    chain: try PEMFiles.readCertificates(pki.directory.appendingPathComponent(issued.certificatePath)))
            }
            member = try signer("VN/GOV/000.00.00.H26")
            stranger = try signer("VN/GOV/000.00.00.G22")
            let registrySigner = try DetachedJWS.Signer(
                key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(pki.url(.configurationSigningKey))),
                chain: try PEMFiles.readCertificates(pki.url(.configurationSigningCertificate)))
            ledger = try CheckpointLedger(path: directory.appendingPathComponent("checkpoints.sqlite").path, instance: "VN",
                                          signer: registrySigner,
                                          validator: CertificateValidator(trustAnchors: [pki.rootCertificate], revocation: nil))
        }

        /// A real log's checkpoints, made with `count` records between each.
        func checkpoints(_ counts: [Int]) async throws -> [StoredCheckpoint] {
            let log = try await AuditLog(store: try SQLiteAuditLeafStore(path: directory.appendingPathComponent("\(UUID().uuidString).sqlite").path),
                                         protector: try PersonalDataProtector(key: [UInt8](repeating: 1, count: 32)))
            var made: [StoredCheckpoint] = []
            var i = 0
            for count in counts {
                for _ in 0..<count {
                    var event = ExchangeEvent(side: .consumer, server: CheckpointLedgerTests.server, method: "GET", startedAt: Date())
                    event.messageId = "m\(i)"
                    event.status = 200
                    event.outcome = .success
                    try await log.record(event)
                    i += 1
                }
                let member = self.member
                made.append(try await log.makeCheckpoint(server: CheckpointLedgerTests.server, node: "default", at: Date()) {
                    try member.sign(digest: $0.digest).compact
                })
            }
            return made
        }
    }

    static let serverId = try! SecurityServerId(parsing: server)
    /// The registry's records: the server, registered with the default node.
    static let registry = RegistrySnapshot(servers: [
        SecurityServer(id: serverId, address: "127.0.0.1:5500", tlsCertificate: "", tlsCertificateSHA256: String(repeating: "0", count: 64),
                       createdAt: Date(timeIntervalSince1970: 1_700_000_000)),
    ])

    func refusal(_ body: () async throws -> Void) async -> CheckpointRefusal.Code? {
        do { try await body(); return nil } catch let refusal as CheckpointRefusal { return refusal.code } catch { return nil }
    }

    @Test func acceptsChainsIdempotentlyAndRefusesTheRest() async throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let made = try await f.checkpoints([3, 4, 0, 5])

        // Out of order: checkpoint 1 before 0.
        #expect(await refusal { _ = try await f.ledger.submit(body: made[1].body, signature: made[1].signature, ocsp: nil, from: Self.serverId, registry: Self.registry) } == .conflict)

        let (first, created) = try await f.ledger.submit(body: made[0].body, signature: made[0].signature, ocsp: nil, from: Self.serverId, registry: Self.registry)
        #expect(created)
        let receipt = try CheckpointReceipt(canonicalBytes: first.receipt)
        #expect(receipt.covers(body: made[0].body, signature: made[0].signature) && receipt.registrySequence == 1 && receipt.previousReceipt == nil)
        let jws = try CanonicalSignature.verify(first.receiptSignature, over: first.receipt, what: "receipt")
        _ = try await CertificateValidator(trustAnchors: [f.pki.rootCertificate], revocation: nil)
            .validate(chain: jws.certificateChain, role: .configurationSigning)

        // Resubmission returns the same receipt.
        let (again, createdAgain) = try await f.ledger.submit(body: made[0].body, signature: made[0].signature, ocsp: nil, from: Self.serverId, registry: Self.registry)
        #expect(!createdAgain && again.receipt == first.receipt)

        for stored in made.dropFirst() {
            _ = try await f.ledger.submit(body: stored.body, signature: stored.signature, ocsp: nil, from: Self.serverId, registry: Self.registry)
        }
        let entries = try await f.ledger.entries()
        #expect(entries.map(\.checkpoint.sequence) == [0, 1, 2, 3])
        let second = try CheckpointReceipt(canonicalBytes: entries[1].receipt)
        #expect(second.previousReceipt == MerkleHash.plainSHA256(entries[0].receipt), "receipts form a hash chain")

        // Another log's checkpoint 4 does not extend this one.
        let other = try await f.checkpoints([2, 2, 2, 2, 2])
        #expect(await refusal { _ = try await f.ledger.submit(body: other[4].body, signature: other[4].signature, ocsp: nil, from: Self.serverId, registry: Self.registry) } == .conflict)
        // A different checkpoint 0 for the same server.
        #expect(await refusal { _ = try await f.ledger.submit(body: other[0].body, signature: other[0].signature, ocsp: nil, from: Self.serverId, registry: Self.registry) } == .conflict)
        #expect(try await f.ledger.entries().count == 4, "refusals change nothing")
    }

    /// Submissions that arrive together (a server retrying while its first try is in flight) are
    /// taken one at a time: one creates the entry, the others get the same receipt; none gets a
    /// 503 from a registry sequence taken twice (the ledger is an actor, and its write suspends).
    @Test func concurrentSubmissionsOfOneCheckpointTakeOneReceipt() async throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let made = try await f.checkpoints([2, 3])
        for (index, stored) in made.enumerated() {
            let outcomes = await withTaskGroup(of: String.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        do {
                            let (entry, created) = try await f.ledger.submit(body: stored.body, signature: stored.signature, ocsp: nil,
                                                                             from: Self.serverId, registry: Self.registry)
                            return created ? "created \(entry.registrySequence)" : "same \(entry.registrySequence)"
                        } catch {
                            return "refused: \(error)"
                        }
                    }
                }
                var all: [String] = []
                for await outcome in group { all.append(outcome) }
                return all.sorted()
            }
            let sequence = index + 1
            #expect(outcomes == ["created \(sequence)"] + Array(repeating: "same \(sequence)", count: 7), "\(outcomes)")
        }
        #expect(try await f.ledger.entries().map(\.registrySequence) == [1, 2])
    }

    @Test func refusesBadSignaturesStrangersAndUnknownServers() async throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let made = try await f.checkpoints([2])[0]
        var tampered = made.body
        tampered[tampered.count - 3] ^= 0x01
        #expect(await refusal { _ = try await f.ledger.submit(body: tampered, signature: made.signature, ocsp: nil, from: Self.serverId, registry: Self.registry) } != nil)
        #expect(await refusal { _ = try await f.ledger.submit(body: Array("{}".utf8), signature: made.signature, ocsp: nil, from: Self.serverId, registry: Self.registry) } == .malformed)
        let forged = try f.stranger.sign(digest: MessageDigest.sha256(of: made.body)).compact
        #expect(await refusal { _ = try await f.ledger.submit(body: made.body, signature: forged, ocsp: nil, from: Self.serverId, registry: Self.registry) } == .forbidden,
                "signed by another member than the server's owner")
        #expect(await refusal { _ = try await f.ledger.submit(body: made.body, signature: made.signature, ocsp: nil, from: Self.serverId, registry: RegistrySnapshot()) } == .forbidden,
                "an unregistered server")
        let badSignature = String(made.signature.dropLast(4)) + "AAAA"
        #expect(await refusal { _ = try await f.ledger.submit(body: made.body, signature: badSignature, ocsp: nil, from: Self.serverId, registry: Self.registry) } == .badSignature)
        #expect(try await f.ledger.entries().isEmpty)
    }
}
