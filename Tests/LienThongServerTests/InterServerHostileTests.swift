import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongServer
import LienThongTrust
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import SwiftASN1
import Synchronization
import Testing
import X509

private typealias N = ExchangeNetwork

/// Hostile peers against a real provider security server's inter-server (mutual-TLS) port, and a
/// hostile "provider" against a real consumer server (docs/protocol.md §6, docs/threat-model.md).
///
/// Every case must end cleanly: a refused TLS handshake, or a typed X-Road error (`X-Road-Error`
/// and a `{type, message, detail}` body); the backend is never called; the side that refused
/// records the refusal once it knows who called; and the servers keep serving a valid exchange.
@Suite("Inter-server port: hostile peers", .serialized)
struct InterServerHostileTests {
    static let motCua = "\(N.consumer)/MOTCUA"
    static let servicePrefix = "/r1/\(N.lookup)"

    /// A TLS client identity: a chain (leaf first) and the leaf's key.
    struct Identity {
        var chain: [Certificate]
        var key: Certificate.PrivateKey
    }

    /// What came back from the inter-server port.
    struct Reply {
        var status: Int
        var headers: [(name: String, value: String)]
        var body: [UInt8]
        func header(_ name: String) -> String? { headers.last { $0.name.lowercased() == name.lowercased() }?.value }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// How a connection attempt ended.
    enum Outcome {
        /// The TLS handshake (or the connection right after it) was refused: no HTTP answer.
        case refused(String)
        case answered(Reply)
    }

    @Test("TLS and signature attacks on the inter-server port, and a lying provider: refused, typed, recorded, nothing reaches the backend")
    func hostilePeers() async throws {
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let backend = BackendLog()
        let providerAudit = InMemoryExchangeAuditSink()
        let consumerAudit = InMemoryExchangeAuditSink()
        let http = ClientCaller.makeHTTPClient()
        let caller = ClientCaller(http: http)
        let fakeMode = FakeProvider.ModeBox()

        try await N.withBackend(backend) { backendPort in
            try await network.withInfrastructure { network in
                let providerServer = "\(N.provider)/ss1", consumerServer = "\(N.consumer)/ss1"
                let revokedServer = "\(N.consumer)/ss2"      // pinned; its TLS certificate gets revoked
                let lyingServer = "\(N.provider)/ss2"        // a compromised provider server (a fake in this test)
                let adminPinned = "\(N.consumer)/ss3"        // "TLS certificate" registered: an admin certificate
                let memberPinned = "\(N.consumer)/ss4"       // "TLS certificate" registered: the member signing certificate
                let caLikePinned = "\(N.consumer)/ss5"       // "TLS certificate" registered: a server certificate that may sign certificates
                let ports = [providerServer: try await N.freePort(), consumerServer: try await N.freePort(),
                             revokedServer: try await N.freePort(), lyingServer: try await N.freePort()]
                try await network.register(serverPorts: ports)

                // Certificates of the wrong role, registered as TLS certificates of the consumer's member
                // (the registry checks only that the PEM is a certificate).
                let consumerAdmin = try network.pki.issue(role: .admin, holderId: "\(N.consumer)/quan-tri-01")
                let consumerMember = try network.memberRecord(N.consumer)
                let root = try PEMFiles.readCertificate(network.pki.url(.rootCertificate))
                let rootKey = try PEMFiles.readPrivateKey(network.pki.url(.rootKey))
                let keyCertSign = try Self.craftedServerCertificate(
                    holder: caLikePinned, root: root, rootKey: rootKey, keyUsage: KeyUsage(digitalSignature: true, keyCertSign: true),
                    usages: [.serverAuth, .clientAuth])
                try await Self.registerServers(network, [
                    (adminPinned, try Self.pem(network, consumerAdmin)), (memberPinned, try Self.pem(network, consumerMember)),
                    (caLikePinned, try keyCertSign.chain[0].serializeAsPEM().pemString),
                ])

                let provider = LienThongSecurityServer(configuration: try network.configuration(
                    server: providerServer, member: N.provider, interServerPort: ports[providerServer] ?? 0,
                    services: [.init(id: N.lookup, backendURL: "http://127.0.0.1:\(backendPort)/api")]), audit: providerAudit)
                let consumer = LienThongSecurityServer(configuration: try network.configuration(
                    server: consumerServer, member: N.consumer, interServerPort: ports[consumerServer] ?? 0, clients: [Self.motCua]),
                    audit: consumerAudit)

                // Identities.
                let consumerTLS = try Self.identity(network, try network.tlsRecord(consumerServer))
                let revokedRecord = try network.tlsRecord(revokedServer)
                let revokedTLS = try Self.identity(network, revokedRecord)
                let now = Date()
                let expired = try Self.identity(network, try network.pki.issue(
                    role: .server, holderId: "\(N.consumer)/het-han", validity: 86_400, notBefore: now.addingTimeInterval(-2 * 86_400)))
                let notYetValid = try Self.identity(network, try network.pki.issue(
                    role: .server, holderId: "\(N.consumer)/chua-hieu-luc", validity: 86_400, notBefore: now.addingTimeInterval(86_400)))
                let otherPKI = try DevelopmentPKI.initialise(at: network.directory.appendingPathComponent("pki-khac"), instance: "VN", ocspURL: nil)
                let otherRecord = try otherPKI.issue(role: .server, holderId: consumerServer)
                let otherCA = Identity(chain: try PEMFiles.readCertificates(otherPKI.directory.appendingPathComponent(otherRecord.certificatePath)),
                                       key: try PEMFiles.readPrivateKey(otherPKI.directory.appendingPathComponent(otherRecord.keyPath)))
                let unpinned = try Self.identity(network, try network.pki.issue(role: .server, holderId: "\(N.consumer)/ss9"))
                let otherMembersServer = try Self.identity(network, try network.tlsRecord(lyingServer))   // pinned, but the provider's
                let memberAsTLS = try Self.identity(network, consumerMember)
                let adminAsTLS = try Self.identity(network, consumerAdmin)
                let unpinnedMember = try Self.identity(network, try network.memberRecord(N.justice))
                let unpinnedAdmin = try Self.identity(network, try network.pki.issue(role: .admin, holderId: "\(N.consumer)/quan-tri-02"))
                let auditorAsTLS = try Self.identity(network, try network.pki.issue(role: .auditor, holderId: "\(N.consumer)/kiem-toan-01"))
                let serverAuthOnly = try Self.craftedServerCertificate(
                    holder: "\(N.consumer)/ss1", root: root, rootKey: rootKey, keyUsage: KeyUsage(digitalSignature: true), usages: [.serverAuth])

                // Signers.
                let consumerSigner = try Self.signer(network, consumerMember)
                let providerSigner = try Self.signer(network, try network.memberRecord(N.provider))
                let justiceSigner = try Self.signer(network, try network.memberRecord(N.justice))
                let tlsKeySigner = try Self.signer(network, try network.tlsRecord(consumerServer))

                try await FakeProvider.withRunning(
                    port: ports[lyingServer] ?? 0, tls: try Self.identity(network, try network.tlsRecord(lyingServer)),
                    providerSigner: providerSigner, otherSigner: justiceSigner, mode: fakeMode
                ) {
                try await provider.withRunning { providerPorts in
                try await consumer.withRunning { consumerPorts in
                    let inter = providerPorts.interServer
                    let providerPin = try N.pin(of: network.path(try network.tlsRecord(providerServer)))
                    let endpoint = PeerEndpoint(host: "127.0.0.1", port: inter, pinnedCertificateSHA256: [providerPin])
                    let validHeaders = [("X-Road-Client", Self.motCua), ("X-LienThong-Purpose", N.purpose)]

                    // A valid exchange first, through the consumer server.
                    let first = try await caller.call(consumerPorts.client, .GET, Self.servicePrefix + "/v1/0", headers: validHeaders)
                    #expect(first.status == 200, "a valid exchange first: \(first.text)")

                    var count = (tls: 0, signature: 0, consumer: 0)
                    var sequence = 0
                    func nextId(_ tag: String) -> String {
                        sequence += 1
                        return "hostile-\(sequence)-\(tag)"
                    }

                    /// Checks one case against the provider: the outcome, the backend, the audit record.
                    func expectProvider(_ name: String, _ id: String, _ attempt: () async throws -> Outcome,
                                        refusedAtTLS: Bool = false, type: String? = nil, signed: Bool = false) async throws {
                        let calls = await backend.count
                        let records = await providerAudit.events.count
                        let outcome = try await attempt()
                        #expect(await backend.count == calls, "\(name): the backend was called")
                        switch outcome {
                        case .refused(let why):
                                        #expect(refusedAtTLS, "\(name): expected \(type ?? "-"), but the TLS connection was refused: \(why)")
                            // The provider refused with a TLS alert (not the client giving up on its own certificate).
                            #expect(why.contains("ALERT"), "\(name): the provider sends a TLS alert: \(why)")
                            #expect(await providerAudit.events.count == records, "\(name): nothing to record for a refused handshake")
                        case .answered(let reply):
                            #expect(!refusedAtTLS, "\(name): expected a refused TLS handshake, got \(reply.status) \(reply.header("X-Road-Error") ?? "") \(reply.text)")
                            guard let type else { return }
                            Self.expectTyped(reply, type, name)
                            #expect((reply.header("X-LienThong-Signature") != nil) == signed,
                                    "\(name): the refusal is \(signed ? "" : "not ")signed")
                            let events = await providerAudit.events.filter { $0.messageId == id }
                            #expect(events.last?.outcome == .refused && events.last?.errorType == type,
                                    "\(name): the provider records its refusal: \(events.map { "\($0.outcome) \($0.errorType ?? "-")" })")
                        }
                    }

                    // MARK: TLS to the inter-server port
                    func tls(_ name: String, _ identity: Identity?, refusedAtTLS: Bool = true, type: String? = nil,
                             signer: DetachedJWS.Signer? = nil) async throws {
                        count.tls += 1
                        let id = nextId("tls")
                        let request = try Self.request(id: id, signer: signer)
                        try await expectProvider(name, id, { try await Self.attempt(port: inter, identity: identity, root: root, request) },
                                                 refusedAtTLS: refusedAtTLS, type: type)
                    }
                    let ssl = "Server.ServerProxy.SslAuthenticationFailed"
                    try await tls("no client certificate", nil)
                    try await tls("an expired certificate", expired)
                    try await tls("a certificate not yet valid", notYetValid)
                    try await tls("a certificate from another CA (claiming the consumer's server)", otherCA)
                    try await tls("a certificate with extended key usage serverAuth only", serverAuthOnly)
                    try await tls("a valid instance server certificate that is not pinned", unpinned, refusedAtTLS: false, type: ssl)
                    try await tls("a pinned certificate of another member's server", otherMembersServer, refusedAtTLS: false, type: ssl,
                                  signer: consumerSigner)
                    try await tls("a member signing certificate (not pinned) as TLS client certificate", unpinnedMember, refusedAtTLS: false, type: ssl)
                    try await tls("an admin certificate (not pinned) as TLS client certificate", unpinnedAdmin, refusedAtTLS: false, type: ssl)
                    try await tls("an auditor certificate (not pinned) as TLS client certificate", auditorAsTLS, refusedAtTLS: false, type: ssl)
                    // Pinned in the configuration by a careless registration, and a valid signature: the role still decides.
                    try await tls("a pinned admin certificate as TLS client certificate", adminAsTLS, refusedAtTLS: false, type: ssl,
                                  signer: consumerSigner)
                    try await tls("a pinned member signing certificate as TLS client certificate", memberAsTLS, refusedAtTLS: false,
                                  type: ssl, signer: consumerSigner)
                    try await tls("a pinned server certificate with key usage keyCertSign", keyCertSign, refusedAtTLS: false,
                                  type: ssl, signer: consumerSigner)

                    // MARK: Signatures, over the consumer server's own pinned TLS identity (the real peer client)
                    let peers = try Self.peerClient(consumerTLS, network)
                    func signature(_ name: String, _ id: String, _ request: PeerRequest, type: String, signed: Bool = false) async throws {
                        count.signature += 1
                        try await expectProvider(name, id, { try await Self.send(peers, request, endpoint) }, type: type, signed: signed)
                    }
                    // A valid request made by hand is served: the cases below differ from it in one thing only.
                    let replayId = nextId("replay")
                    let original = try Self.request(id: replayId, signer: consumerSigner)
                    let served = try await Self.send(peers, original, endpoint)
                    guard case .answered(let servedReply) = served, servedReply.status == 200 else {
                        Issue.record("a valid hand-signed request over the consumer's pinned TLS identity is served: \(served)")
                        return
                    }
                    #expect(servedReply.header("X-LienThong-Signature") != nil)
                    let invalid = "Server.ServerProxy.InvalidSignatureValue"
                    let id1 = nextId("unsigned")
                    try await signature("no signature header", id1, try Self.request(id: id1, signer: nil), type: invalid)
                    let id2 = nextId("garbage")
                    try await signature("a garbage signature", id2, try Self.request(id: id2, signer: nil, signature: "eyJhbGciOiJub25lIn0..Zm9v"), type: invalid)
                    let id3 = nextId("alg-none")
                    let none = Base64URL.encode(Array(#"{"alg":"none","typ":"lienthong-msg+jws"}"#.utf8)) + ".."
                    try await signature("an unsigned JWS (alg none)", id3, try Self.request(id: id3, signer: nil, signature: none), type: invalid)
                    let id4 = nextId("other-path")
                    let signedA = try Self.request(id: id4, path: "/v1/cong-dan/A", signer: consumerSigner)
                    var requestB = try Self.request(id: id4, path: "/v1/cong-dan/B", signer: nil)
                    requestB.headers.append((name: "X-LienThong-Signature", value: signedA.header("X-LienThong-Signature") ?? ""))
                    try await signature("a valid signature of request A on request B (another path)", id4, requestB, type: invalid)
                    let id5 = nextId("other-body")
                    let bodyA = try Self.request(id: id5, method: "POST", body: Array("{\"so\":1}".utf8), signer: consumerSigner)
                    var bodyB = try Self.request(id: id5, method: "POST", body: Array("{\"so\":2}".utf8), signer: nil)
                    bodyB.headers.append((name: "X-LienThong-Signature", value: bodyA.header("X-LienThong-Signature") ?? ""))
                    try await signature("a valid signature of request A on request B (another body)", id5, bodyB, type: invalid)
                    try await signature("a replayed request (same X-Road-Id within the window)", replayId, original,
                                        type: "Server.ServerProxy.DuplicateMessage", signed: true)
                    let id6 = nextId("provider-signs")
                    try await signature("signed by the provider's member, not the client's", id6,
                                        try Self.request(id: id6, signer: providerSigner), type: invalid)
                    let id7 = nextId("third-member")
                    try await signature("signed by a third member, not the client's", id7,
                                        try Self.request(id: id7, signer: justiceSigner), type: invalid)
                    let id8 = nextId("tls-key-signs")
                    try await signature("signed with the server's TLS key (a server certificate, not a member one)", id8,
                                        try Self.request(id: id8, signer: tlsKeySigner), type: "Server.ServerProxy.CertValidation")
                    let id9 = nextId("bad-staple")
                    var badStaple = try Self.request(id: id9, signer: consumerSigner)
                    badStaple.headers.append((name: "X-LienThong-OCSP", value: "not base64 !"))
                    try await signature("a stapled OCSP response that is not base64", id9, badStaple, type: "Server.ServerProxy.CertValidation")
                    await peers.shutdown()

                    // MARK: A lying provider server, through the real consumer server
                    func lying(_ name: String, _ mode: FakeProvider.Mode, type: String) async throws {
                        count.consumer += 1
                        fakeMode.set(mode)
                        let id = nextId("lying")
                        let calls = await backend.count
                        let providerRecords = await providerAudit.events.count
                        let answer = try await caller.call(consumerPorts.client, .GET, Self.servicePrefix + "/v1/cong-dan/7",
                                                           headers: validHeaders + [("X-Road-Id", id), ("X-Road-Security-Server", lyingServer)])
                        #expect(answer.status == 500 && answer.errorType == type, "\(name): \(answer.status) \(answer.text)")
                        Self.expectTyped(Reply(status: answer.status, headers: answer.headers.map { (name: $0.name, value: $0.value) }, body: answer.body),
                                         type, name)
                        #expect(answer.headers.first(name: "X-LienThong-Signature") == nil, "\(name): inter-server headers never reach the client")
                        let callsAfter = await backend.count
                        let providerRecordsAfter = await providerAudit.events.count
                        #expect(callsAfter == calls && providerRecordsAfter == providerRecords, "\(name): the real provider saw nothing")
                        let events = await consumerAudit.events.filter { $0.messageId == id }
                        #expect(events.count == 1 && events.first?.outcome == .refused && events.first?.errorType == type,
                                "\(name): the consumer records its refusal: \(events.map { "\($0.outcome) \($0.errorType ?? "-")" })")
                        #expect(await fakeMode.served(id), "\(name): the request reached the lying provider")
                    }
                    try await lying("a response signed over another request's digest", .boundToAnotherRequest, type: "Server.ClientProxy.InvalidSignatureValue")
                    try await lying("a correctly signed response with another request's X-Road-Request-Hash", .wrongRequestHash,
                                    type: "Server.ClientProxy.InconsistentResponse")
                    try await lying("a correctly signed response without X-Road-Request-Hash", .noRequestHash, type: "Server.ClientProxy.InconsistentResponse")
                    try await lying("an unsigned 200 answer", .unsigned, type: "Server.ClientProxy.InvalidSignatureValue")
                    try await lying("a response signed by another member than the provider", .signedByAnotherMember,
                                    type: "Server.ClientProxy.InvalidSignatureValue")

                    // MARK: A revoked, pinned server certificate (last: it waits for the OCSP freshness)
                    count.tls += 1
                    let beforeId = nextId("before-revocation")
                    let before = try await Self.attempt(port: inter, identity: revokedTLS, root: root, try Self.request(id: beforeId, signer: consumerSigner))
                    if case .answered(let reply) = before {
                        #expect(reply.status == 200, "the second consumer server is served before its TLS certificate is revoked: \(reply.text)")
                    } else {
                        Issue.record("the second consumer server is served before its TLS certificate is revoked: \(before)")
                    }
                    try network.pki.revoke(serial: revokedRecord.serial, reason: "keyCompromise")
                    let revokedAt = Date()
                    var refusal: (id: String, reply: Reply)?
                    while refusal == nil, Date().timeIntervalSince(revokedAt) < Double(N.ocspFreshness) + 5 {
                        let id = nextId("revoked")
                        let calls = await backend.count
                        let outcome = try await Self.attempt(port: inter, identity: revokedTLS, root: root, try Self.request(id: id, signer: consumerSigner))
                        if case .answered(let reply) = outcome, reply.status == 200 {
                            try await Task.sleep(for: .milliseconds(250))
                            continue
                        }
                        #expect(await backend.count == calls, "a revoked TLS peer reaches no backend")
                        switch outcome {
                        case .answered(let reply): refusal = (id, reply)
                        case .refused(let why): Issue.record("a revoked pinned certificate: refused at TLS (\(why)); expected a typed refusal")
                            refusal = (id, Reply(status: 0, headers: [], body: []))
                        }
                    }
                    let elapsed = Date().timeIntervalSince(revokedAt)
                    if let refusal {
                        let type = "Server.ServerProxy.CertValidation"
                        Self.expectTyped(refusal.reply, type, "a revoked pinned server certificate")
                        let events = await providerAudit.events.filter { $0.messageId == refusal.id }
                        #expect(events.count == 1 && events.first?.outcome == .refused && events.first?.errorType == type,
                                "the provider records the revoked peer: \(events.map { "\($0.outcome) \($0.errorType ?? "-")" })")
                        // Within the freshness limit, plus slack for the attempts themselves on a loaded machine.
                        #expect(elapsed <= Double(N.ocspFreshness) + 4, "refused \(elapsed) s after revocation; freshness is \(N.ocspFreshness) s")
                    } else {
                        Issue.record("a revoked, pinned TLS certificate is still accepted \(Int(elapsed)) s after revocation (OCSP freshness \(N.ocspFreshness) s)")
                    }

                    // Still serving.
                    let calls = await backend.count
                    let last = try await caller.call(consumerPorts.client, .GET, Self.servicePrefix + "/v1/9", headers: validHeaders + [("X-Road-Id", "after-hostile")])
                    #expect(last.status == 200 && last.headers.first(name: "X-Road-Request-Hash") != nil,
                            "the provider still serves a valid signed exchange after every hostile input: \(last.text)")
                    #expect(await backend.count == calls + 1)
                    #expect(await providerAudit.events.last { $0.messageId == "after-hostile" }?.outcome == .success)
                    let total = count.tls + count.signature + count.consumer
                    print("InterServerHostileTests: \(total) hostile inputs (\(count.tls) TLS, \(count.signature) signature and replay on the provider's inter-server port, \(count.consumer) lying-provider answers to the consumer); none reached the backend, every typed refusal recorded, both servers still serving")
                }
                }
                }
            }
        }
        try await http.shutdown()
    }

    // MARK: Helpers

    static func expectTyped(_ reply: Reply, _ type: String, _ name: String) {
        #expect(reply.status == (type.hasPrefix("Client.") ? 400 : 500), "\(name): status \(reply.status) \(reply.text)")
        #expect(reply.header("X-Road-Error") == type, "\(name): expected \(type), got \(reply.header("X-Road-Error") ?? "none"): \(reply.text)")
        let json = try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
        #expect(json?["type"] as? String == type && (json?["message"] as? String)?.isEmpty == false
                && UUID(uuidString: json?["detail"] as? String ?? "") != nil, "\(name): a {type, message, detail} body: \(reply.text)")
    }

    static func identity(_ network: ExchangeNetwork, _ record: IssuedCertificateRecord) throws -> Identity {
        Identity(chain: try PEMFiles.readCertificates(URL(fileURLWithPath: network.path(record))),
                 key: try PEMFiles.readPrivateKey(URL(fileURLWithPath: network.path(record, key: true))))
    }

    static func signer(_ network: ExchangeNetwork, _ record: IssuedCertificateRecord) throws -> DetachedJWS.Signer {
        let key = try MessageSigningKey(pemEncoded: try PEMFiles.readText(URL(fileURLWithPath: network.path(record, key: true))))
        return try DetachedJWS.Signer(key: key, chain: try PEMFiles.readCertificates(URL(fileURLWithPath: network.path(record))))
    }

    /// A certificate with the subject of a security server, signed by the instance CA, with the given key usages.
    static func craftedServerCertificate(holder: String, root: Certificate, rootKey: Certificate.PrivateKey, keyUsage: KeyUsage,
                                         usages: [ExtendedKeyUsage.Usage]) throws -> Identity {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(86_400),
            issuer: root.subject, subject: try CertificateRole.server.subject(holderId: holder, instance: "VN"),
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(keyUsage)
                try ExtendedKeyUsage(usages)
                SubjectKeyIdentifier(hash: key.publicKey)
            },
            issuerPrivateKey: rootKey)
        return Identity(chain: [certificate], key: key)
    }

    static func pem(_ network: ExchangeNetwork, _ record: IssuedCertificateRecord) throws -> String {
        try PEMFiles.readText(URL(fileURLWithPath: network.path(record)))
    }

    /// Registers servers whose "TLS certificate" is the given PEM.
    static func registerServers(_ network: ExchangeNetwork, _ servers: [(id: String, pem: String)]) async throws {
        let admin = try await network.registeredActor(.admin, "VN/GOV/000.00.00.VPCP/quan-tri-02", as: .instanceAdmin)
        let api = try RegistryAPIClient(baseURL: network.registryURL, certificateFile: network.path(admin), keyFile: network.path(admin, key: true),
                                        caFile: network.pki.url(.rootCertificate).path)
        do {
            for (id, pem) in servers {
                let port = try await N.freePort()
                let _: Created = try await api.post("/api/v1/servers", NewSecurityServer(
                    id: try SecurityServerId(parsing: id), address: "127.0.0.1:\(port)", tlsCertificate: pem, nodes: ["default"]))
            }
        } catch {
            try? await api.shutdown()
            throw error
        }
        try await api.shutdown()
    }

    /// A request from the consumer's MOTCUA subsystem to the lookup service, signed by `signer`
    /// (or carrying `signature` as is, or no signature at all).
    static func request(id: String, path: String = "/v1/cong-dan/1", method: String = "GET", body: [UInt8] = [],
                        signer: DetachedJWS.Signer?, signature: String? = nil) throws -> PeerRequest {
        let target = servicePrefix + path
        var headers: [(name: String, value: String)] = [
            (name: "X-Road-Client", value: motCua), (name: "X-Road-Id", value: id), (name: "X-LienThong-Purpose", value: N.purpose),
        ]
        if !body.isEmpty { headers.append((name: "Content-Type", value: "application/json")) }
        let time = CanonicalMessage.milliseconds(Date())
        headers.append(contentsOf: [(name: "X-LienThong-Protocol", value: "2"), (name: "X-LienThong-Time", value: String(time))])
        if let signer {
            let parsed = try ParsedClientRequest(method: method, rawTarget: target, headers: headers)
            let canonical = parsed.canonicalRequest(bodyDigest: .sha256(of: body), time: time)
            headers.append((name: "X-LienThong-Signature", value: try signer.sign(digest: canonical.digest).compact))
        } else if let signature {
            headers.append((name: "X-LienThong-Signature", value: signature))
        }
        return PeerRequest(method: method, target: target, headers: headers, body: SpooledBody(bytes: body))
    }

    static func peerClient(_ identity: Identity, _ network: ExchangeNetwork) throws -> PeerClient {
        try PeerClient(identity: PeerTLSIdentity(certificateChain: identity.chain, privateKey: identity.key),
                       connectTimeout: .seconds(5), responseTimeout: .seconds(15),
                       responseBodyLimits: BodySpoolLimits(maximumSize: 1 << 20, memoryThreshold: 1 << 20,
                                                           directory: network.directory.appendingPathComponent("peer-spool")),
                       maximumIdleConnectionsPerPeer: 0)
    }

    /// Sends with the real peer client (pinned to the provider's TLS certificate).
    static func send(_ client: PeerClient, _ request: PeerRequest, _ endpoint: PeerEndpoint) async throws -> Outcome {
        do {
            let response = try await client.send(request, to: endpoint)
            let body = try await response.body.collect(upTo: 1 << 20)
            return .answered(Reply(status: response.status, headers: response.headers, body: Array(body.readableBytesView)))
        } catch {
            return .refused("\(error)")
        }
    }

    /// One TLS 1.3 connection to the inter-server port with `identity` as the client certificate
    /// (none if `nil`), sending `request`.
    static func attempt(port: Int, identity: Identity?, root: Certificate, _ request: PeerRequest) async throws -> Outcome {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.trustRoots = .certificates([try nioCertificate(root)])
        tls.certificateVerification = .noHostnameVerification
        if let identity {
            tls.certificateChain = try identity.chain.map { .certificate(try nioCertificate($0)) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(try identity.key.serializeAsPEM().pemString.utf8), format: .pem))
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        var http = HTTPClientRequest(url: "https://127.0.0.1:\(port)\(request.target)")
        http.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { http.headers.add(name: name, value: value) }
        let buffer = try await request.body.collect(upTo: 1 << 20)
        if buffer.readableBytes > 0 { http.body = .bytes(buffer) }
        let outcome: Outcome
        do {
            let response = try await client.execute(http, timeout: .seconds(15))
            let body = try await response.body.collect(upTo: 1 << 20)
            outcome = .answered(Reply(status: Int(response.status.code), headers: response.headers.map { (name: $0.name, value: $0.value) },
                                      body: Array(body.readableBytesView)))
        } catch {
            outcome = .refused("\(error)")
        }
        try await client.shutdown()
        return outcome
    }

    static func nioCertificate(_ certificate: Certificate) throws -> NIOSSLCertificate {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)
    }
}

extension PeerRequest {
    /// The last value of `name` (case-insensitive).
    fileprivate func header(_ name: String) -> String? { headers.last { $0.name.lowercased() == name.lowercased() }?.value }
}

/// A compromised security server of the provider, pinned in the configuration: it answers the
/// consumer with answers a real provider never sends (signed with the provider's member key where
/// the lie needs it), and never calls a backend.
enum FakeProvider {
    enum Mode: Sendable, Equatable {
        /// Signed by the provider, but bound to another request (another path): `requestDigest` differs.
        case boundToAnotherRequest
        /// Correctly signed and bound, but `X-Road-Request-Hash` is another request's.
        case wrongRequestHash
        /// Correctly signed and bound, without `X-Road-Request-Hash`.
        case noRequestHash
        /// A 200 without any signature.
        case unsigned
        /// Correctly bound, signed by another member.
        case signedByAnotherMember
        /// An unsigned X-Road error of `type` with `message` (`DataPlaneAccessTests`).
        case unsignedError(type: String, message: String)
    }

    final class ModeBox: Sendable {
        private let state = Mutex<(mode: Mode, served: Set<String>)>((.unsigned, []))
        func set(_ mode: Mode) { state.withLock { $0.mode = mode } }
        var mode: Mode { state.withLock { $0.mode } }
        func record(_ id: String) { state.withLock { _ = $0.served.insert(id) } }
        func served(_ id: String) async -> Bool { state.withLock { $0.served.contains(id) } }
    }

    static func withRunning<T: Sendable>(port: Int, tls identity: InterServerHostileTests.Identity, providerSigner: DetachedJWS.Signer,
                                         otherSigner: DetachedJWS.Signer, mode: ModeBox, _ body: () async throws -> T) async throws -> T {
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let bytes = Array(try await request.body.collect(upTo: 1 << 20).readableBytesView)
            let headers = request.headers.map { (name: $0.name.rawName, value: $0.value) }
            let parsed = try ParsedClientRequest(method: request.method.rawValue, rawTarget: request.head.path ?? "", headers: headers,
                                                 generateMessageId: { "" })
            mode.record(parsed.messageId)
            if case .unsignedError(let type, let message) = mode.mode {
                let body = try JSONSerialization.data(withJSONObject: ["type": type, "message": message, "detail": UUID().uuidString.lowercased()])
                var fields = HTTPFields()
                fields.append(HTTPField(name: .contentType, value: "application/json; charset=utf-8"))
                if let name = HTTPField.Name("X-Road-Error") { fields.append(HTTPField(name: name, value: type)) }
                return Response(status: .internalServerError, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
            }
            let time = Int64(headers.last { $0.name.lowercased() == "x-lienthong-time" }?.value ?? "") ?? 0
            let canonical = parsed.canonicalRequest(bodyDigest: .sha256(of: bytes), time: time)
            let other = CanonicalMessage.request(messageId: canonical.messageId, method: canonical.method, service: canonical.service,
                                                 client: canonical.client, path: canonical.path + "/khac",
                                                 headers: canonical.headers.map { (name: $0.key, value: $0.value) }, bodyDigest: canonical.bodyDigest,
                                                 time: time)
            let answer = Array(#"{"ho_ten":"Nguyễn Văn A"}"#.utf8)
            let answerHeaders = [(name: "Content-Type", value: "application/json")]
            let current = mode.mode
            let boundTo = current == .boundToAnotherRequest ? other : canonical
            let response = CanonicalMessage.response(to: boundTo, status: 200, headers: answerHeaders, bodyDigest: .sha256(of: answer))
            var fields = answerHeaders + [
                (name: "X-Road-Id", value: parsed.messageId), (name: "X-Road-Client", value: parsed.client.percentEncoded),
                (name: "X-Road-Service", value: parsed.service.percentEncoded),
            ]
            switch current {
            case .wrongRequestHash:
                fields.append((name: "X-Road-Request-Hash", value: XRoadRequestHash.compute(for: other, body: bytes)))
            case .noRequestHash:
                break
            default:
                fields.append((name: "X-Road-Request-Hash", value: XRoadRequestHash.compute(for: canonical, body: bytes)))
            }
            switch current {
            case .unsigned:
                break
            case .signedByAnotherMember:
                fields.append((name: "X-LienThong-Signature", value: try otherSigner.sign(digest: response.digest).compact))
            default:
                fields.append((name: "X-LienThong-Signature", value: try providerSigner.sign(digest: response.digest).compact))
            }
            var httpFields = HTTPFields()
            for (name, value) in fields {
                if let name = HTTPField.Name(name) { httpFields.append(HTTPField(name: name, value: value)) }
            }
            return Response(status: .ok, headers: httpFields, body: .init(byteBuffer: ByteBuffer(bytes: answer)))
        }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try identity.chain.map { .certificate(try InterServerHostileTests.nioCertificate($0)) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(try identity.key.serializeAsPEM().pemString.utf8), format: .pem)))
        tls.minimumTLSVersion = .tlsv13
        var logger = Logger(label: "lying-provider")
        logger.logLevel = .warning
        let app = Application(responder: responder, server: try .tls(.http1(), tlsConfiguration: tls),
                              configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        return try await ExchangeNetwork.withRunning(app, port: port, logger: logger, body)
    }
}
