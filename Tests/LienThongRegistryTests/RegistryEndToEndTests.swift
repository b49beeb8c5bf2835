import AsyncHTTPClient
import Foundation
import LienThongCore
import LienThongRegistry
import LienThongTrust
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing
import X509

/// The built `lienthong` executable (scripts/test.sh builds it before `swift test`).
let lienthongBinary: URL = {
    var directory = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("lienthong")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/lienthong")
}()

/// Runs a command without blocking a concurrency thread.
func runCommand(_ executable: URL, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-cmd-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let out = directory.appendingPathComponent("out"), err = directory.appendingPathComponent("err")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    FileManager.default.createFile(atPath: err.path, contents: nil)
    let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.standardOutput = outHandle
    process.standardError = errHandle
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do { try process.run() } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    try outHandle.close()
    try errHandle.close()
    return (status, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
}

/// A development PKI, its OCSP responder and a registry, all live on loopback.
struct LiveRegistry {
    let root: URL
    let pki: DevelopmentPKI
    let port: Int
    let admin: IssuedCertificateRecord
    let auditor: IssuedCertificateRecord

    var url: String { "https://127.0.0.1:\(port)" }
    func path(_ relative: String) -> String { pki.directory.appendingPathComponent(relative).path }
    var caFile: String { pki.url(.rootCertificate).path }

    /// Connection options for `lienthong registry ...` as `record`.
    func connection(_ record: IssuedCertificateRecord) -> [String] {
        ["--registry", url, "--cert", path(record.certificatePath), "--key", path(record.keyPath), "--ca", caFile]
    }

    /// Runs `lienthong registry <arguments>` as the admin.
    func cli(_ arguments: [String], as record: IssuedCertificateRecord? = nil) async throws -> (status: Int32, stdout: String, stderr: String) {
        guard arguments.count >= 2 else { throw CLIError(message: "need a group and a command") }
        guard FileManager.default.isExecutableFile(atPath: lienthongBinary.path) else {
            throw CLIError(message: "the lienthong executable is not at \(lienthongBinary.path): run `swift build` before `swift test` (scripts/test.sh does)")
        }
        let args = ["registry"] + arguments + connection(record ?? admin)
        return try await runCommand(lienthongBinary, args)
    }

    /// Registers `record`'s certificate for `role` (and `member`) through the API, as the
    /// administrator: the registry knows only the certificates it has registered.
    func register(_ record: IssuedCertificateRecord, as role: ActorRole, member: String? = nil) async throws {
        var arguments = ["registration", "create", "--certificate", path(record.certificatePath), "--role", role.rawValue,
                         "--name", record.holderId]
        if let member { arguments += ["--member", member] }
        _ = try await ok(arguments)
    }

    /// Runs a CLI command that must succeed and returns its JSON.
    func ok(_ arguments: [String]) async throws -> Any {
        let result = try await cli(arguments)
        guard result.status == 0 else { throw CLIError(message: "\(arguments.joined(separator: " ")) failed: \(result.stderr)") }
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    }

    struct CLIError: Error, CustomStringConvertible { var message: String; var description: String { message } }

    static func with(validity: Int = 600, _ body: (LiveRegistry) async throws -> Void) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-registry-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let pkiDir = root.appendingPathComponent("pki")
        // Certificates carry no AIA here; the registry is told the responder's URL instead.
        let pki = try DevelopmentPKI.initialise(at: pkiDir, instance: "VN", ocspURL: nil)
        let admin = try pki.issue(role: .admin, holderId: "VN/GOV/000.00.00.VPCP/quan-tri-01")
        let auditor = try pki.issue(role: .auditor, holderId: "VN/GOV/000.00.00.KTNN/kiem-toan-vien-01")
        let tls = try pki.issue(role: .server, holderId: "VN/GOV/000.00.00.VPCP/registry")
        try await DevelopmentOCSPService(pki: pki).withRunning(host: "127.0.0.1", port: 0) { ocspPort in
            let configuration = RegistryServerConfiguration(
                instance: "VN", port: 0, dataDirectory: root.appendingPathComponent("data").path, pkiDirectory: pkiDir.path,
                tlsCertificateFile: pkiDir.appendingPathComponent(tls.certificatePath).path,
                tlsKeyFile: pkiDir.appendingPathComponent(tls.keyPath).path,
                ocspURL: "http://127.0.0.1:\(ocspPort)/", configurationValiditySeconds: validity)
            try await RegistryServer.initialise(
                dataDirectory: configuration.dataDirectory, instance: "VN",
                adminCertificatePEM: try PEMFiles.readText(pkiDir.appendingPathComponent(admin.certificatePath)), name: "Quản trị 01")
            try await RegistryServer(configuration: configuration).withRunning { port in
                let live = LiveRegistry(root: root, pki: pki, port: port, admin: admin, auditor: auditor)
                try await live.register(auditor, as: .auditor)
                try await body(live)
            }
        }
    }
}

@Suite("Registry end to end (real registry, mutual TLS, CLI)", .serialized)
struct RegistryEndToEndTests {
    static let bca = "VN/GOV/000.00.00.G22"
    static let hanoi = "VN/GOV/000.00.00.H26"
    static let service = "\(bca)/DANCU/tra-cuu-cong-dan"
    static let dataset = "\(bca)/datasets/dan-cu"

    /// Members, subsystems, a server, a service and a dataset: the common ground of the tests.
    func seed(_ r: LiveRegistry) async throws {
        _ = try await r.ok(["member", "create", "--id", Self.bca, "--name", "Bộ Công an", "--name-en", "Ministry of Public Security", "--kind", "ministry"])
        _ = try await r.ok(["member", "create", "--id", Self.hanoi, "--name", "UBND Thành phố Hà Nội", "--kind", "province"])
        _ = try await r.ok(["subsystem", "create", "--id", "\(Self.bca)/DANCU", "--name", "CSDL quốc gia về dân cư"])
        _ = try await r.ok(["subsystem", "create", "--id", "\(Self.hanoi)/MOTCUA", "--name", "Hệ thống một cửa"])
        let serverCert = try r.pki.issue(role: .server, holderId: "\(Self.bca)/ss1")
        _ = try await r.ok(["server", "register", "--id", "\(Self.bca)/ss1", "--address", "127.0.0.1:5500", "--tls-cert", r.path(serverCert.certificatePath)])
        _ = try await r.ok(["service", "create", "--id", Self.service, "--name", "Tra cứu công dân", "--endpoint", "GET /v1/cong-dan/{so-dinh-danh}"])
        _ = try await r.ok(["dataset", "create", "--id", Self.dataset, "--name-vi", "Dữ liệu dân cư", "--name-en", "Population data",
                            "--classification", "confidential", "--personal-data", "--legal-basis", "Nghị định 47/2020/NĐ-CP", "--service", Self.service])
    }

    /// Counts of every collection plus the audit trail length: what "nothing changed" compares.
    func state(_ r: LiveRegistry) async throws -> [Int] {
        var counts: [Int] = []
        for collection in ["member", "subsystem", "server", "service", "dataset", "agreement", "request"] {
            counts.append((try await r.ok([collection, "list"]) as? [Any])?.count ?? -1)
        }
        let trail = try await r.ok(["audit-trail", "list", "--limit", "1000"]) as? [Any]
        counts.append(trail?.count ?? -1)
        return counts
    }

    @Test("the whole entity lifecycle works through the CLI, and the audit trail verifies")
    func lifecycle() async throws {
        try await LiveRegistry.with { r in
            try await seed(r)
            let agreement = try await r.ok(["agreement", "create", "--dataset", Self.dataset, "--service", Self.service,
                                            "--consumer", "\(Self.hanoi)/MOTCUA", "--purpose", "1.004227", "--legal-basis", "Nghị định 47/2020/NĐ-CP",
                                            "--valid-until", "2027-12-31"]) as? [String: Any]
            let agreementId = try #require(agreement?["id"] as? String)
            #expect(agreement?["status"] as? String == "active")
            #expect((try await r.ok(["agreement", "suspend", "--id", agreementId]) as? [String: Any])?["status"] as? String == "suspended")
            #expect((try await r.ok(["agreement", "activate", "--id", agreementId]) as? [String: Any])?["status"] as? String == "active")

            let request = try await r.ok(["request", "file", "--consumer", "\(Self.hanoi)/MOTCUA", "--dataset", Self.dataset,
                                          "--purpose", "2.001234", "--justification", "Giải quyết thủ tục hộ tịch", "--legal-basis", "Nghị định 194/2025/NĐ-CP"]) as? [String: Any]
            let requestId = try #require(request?["id"] as? String)
            let approved = try await r.ok(["request", "approve", "--id", requestId]) as? [String: Any]
            let decision = approved?["decision"] as? [String: Any]
            #expect(decision?["outcome"] as? String == "approved")
            #expect(decision?["agreement_id"] as? String != nil)

            let second = try await r.ok(["request", "file", "--consumer", "\(Self.hanoi)/MOTCUA", "--dataset", Self.dataset,
                                         "--purpose", "9.999", "--justification", "Thống kê", "--legal-basis", "—"]) as? [String: Any]
            let pending = try #require(try await r.ok(["request", "pending"]) as? [[String: Any]])
            #expect(pending.count == 1)
            #expect((pending.first?["age_seconds"] as? Int).map { $0 >= 0 } == true)
            #expect((pending.first?["request"] as? [String: Any])?["id"] as? String == second?["id"] as? String)
            let refused = try await r.ok(["request", "refuse", "--id", try #require(second?["id"] as? String),
                                          "--reason", "Mục đích thống kê không cần dữ liệu định danh", "--legal-basis", "Luật Bảo vệ dữ liệu cá nhân 2025"]) as? [String: Any]
            #expect((refused?["decision"] as? [String: Any])?["reason"] as? String == "Mục đích thống kê không cần dữ liệu định danh")

            #expect((try await r.ok(["member", "show", "--id", Self.bca]) as? [String: Any])?["name"] as? String == "Bộ Công an")
            #expect((try await r.ok(["member", "disable", "--id", Self.hanoi]) as? [String: Any])?["disabled"] as? Bool == true)
            #expect((try await r.ok(["agreement", "list"]) as? [Any])?.count == 2)

            let verification = try await r.ok(["audit-trail", "verify"]) as? [String: Any]
            #expect(verification != nil)
            let trail = try #require(try await r.ok(["audit-trail", "list"]) as? [[String: Any]])
            #expect(trail.count >= 14)
            // The first entry is the bootstrap of the administrator on the registry's host; every
            // later one is the administrator's, with its role.
            #expect(trail.first?["action"] as? String == "registration.bootstrap" && trail.first?["actor"] as? String == "cli:local")
            #expect(trail.dropFirst().allSatisfy {
                ($0["actor"] as? String)?.contains("quan-tri-01") == true && $0["actor_role"] as? String == "instance-admin"
            })
        }
    }

    @Test("every rejection gets a clear typed error and changes nothing")
    func rejections() async throws {
        try await LiveRegistry.with { r in
            try await seed(r)
            let before = try await state(r)
            let cases: [([String], String)] = [
                (["member", "show", "--id", "VN/GOV/000.00.00.X99"], "Client.NotFound"),
                (["subsystem", "create", "--id", "VN/GOV/000.00.00.X99/ABC"], "Client.NotFound"),
                (["member", "create", "--id", Self.bca, "--name", "again", "--kind", "ministry"], "Client.Duplicate"),
                (["subsystem", "create", "--id", "\(Self.bca)/DANCU"], "Client.Duplicate"),
                // The provider's service belongs to Hanoi, but the dataset is owned by the ministry.
                (["agreement", "create", "--dataset", Self.dataset, "--service", "\(Self.hanoi)/MOTCUA/tra-cuu-ho-so",
                  "--consumer", "\(Self.hanoi)/MOTCUA", "--legal-basis", "x", "--valid-until", "2027-01-01"], "Client."),
                (["agreement", "create", "--dataset", Self.dataset, "--service", Self.service, "--consumer", "\(Self.hanoi)/MOTCUA",
                  "--legal-basis", "x", "--valid-from", "2027-01-01", "--valid-until", "2026-01-01"], "Client.BadRequest"),
                (["agreement", "suspend", "--id", "AG-999999"], "Client.NotFound"),
            ]
            for (arguments, type) in cases {
                let result = try await r.cli(arguments)
                #expect(result.status == 1, "\(arguments)")
                #expect(result.stderr.contains(type), "\(arguments): \(result.stderr)")
                #expect(try await state(r) == before, "\(arguments) changed state")
            }
            // Refusing without a reason.
            let request = try await r.ok(["request", "file", "--consumer", "\(Self.hanoi)/MOTCUA", "--dataset", Self.dataset,
                                          "--purpose", "1.004227", "--justification", "x", "--legal-basis", "y"]) as? [String: Any]
            let id = try #require(request?["id"] as? String)
            let afterFiling = try await state(r)
            for arguments in [["request", "refuse", "--id", id], ["request", "refuse", "--id", id, "--legal-basis", "Luật"],
                              ["request", "refuse", "--id", id, "--reason", "Không"]] {
                let result = try await r.cli(arguments)
                #expect(result.status == 1)
                #expect(result.stderr.contains("Client.BadRequest"), "\(result.stderr)")
                #expect(try await state(r) == afterFiling)
            }
            // A malformed identifier never reaches the registry: the CLI names the bad part.
            let bad = try await r.cli(["member", "create", "--id", "VN/GOV/Bộ", "--name", "x", "--kind", "ministry"])
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("member code"), "\(bad.stderr)")
        }
    }

    @Test("raw HTTP: a creation answers 201, a duplicate 409 with the X-Road-Error header and a {type, message, detail} body")
    func rawStatuses() async throws {
        try await LiveRegistry.with { r in
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(r.caFile))
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(r.path(r.admin.certificatePath)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: r.path(r.admin.keyPath), format: .pem))
            let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
            func post(_ body: String) async throws -> (Int, String?, Data) {
                var request = HTTPClientRequest(url: "\(r.url)/api/v1/members")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
                let response = try await http.execute(request, timeout: .seconds(10))
                let data = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
                return (Int(response.status.code), response.headers.first(name: "X-Road-Error"), data)
            }
            let member = #"{"id":"VN/GOV/000.00.00.G22","name":"Bộ Công an","kind":"ministry"}"#
            let (created, _, _) = try await post(member)
            #expect(created == 201)
            let (duplicate, type, body) = try await post(member)
            #expect(duplicate == 409)
            #expect(type == "Client.Duplicate")
            let error = try JSONDecoder().decode(XRoadErrorBody.self, from: body)
            #expect(error.type == "Client.Duplicate")
            #expect(UUID(uuidString: error.detail) != nil)
            let (malformed, malformedType, _) = try await post(#"{"id":"VN/GOV/000.00.00.G22/x/y","name":"x","kind":"ministry"}"#)
            #expect(malformed == 400)
            #expect(malformedType == "Client.BadRequest")
            try await http.shutdown()
        }
    }

    @Test("only admin certificates may manage: auditor gets 403, no certificate 401, revoked admin 401")
    func authorisation() async throws {
        try await LiveRegistry.with { r in
            let asAuditor = try await r.cli(["member", "list"], as: r.auditor)
            #expect(asAuditor.status == 1)
            #expect(asAuditor.stderr.contains("Client.Forbidden") && asAuditor.stderr.contains("403"), "\(asAuditor.stderr)")

            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(r.caFile))
            let anonymous = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
            let response = try await anonymous.execute(HTTPClientRequest(url: "\(r.url)/api/v1/members"), timeout: .seconds(10))
            #expect(response.status.code == 401)
            #expect(response.headers.first(name: "X-Road-Error") == "Client.Unauthenticated")
            // The signed configuration needs no certificate.
            let conf = try await anonymous.execute(HTTPClientRequest(url: "\(r.url)/globalconf"), timeout: .seconds(10))
            #expect(conf.status.code == 200)
            try await anonymous.shutdown()

            // A second admin certificate, revoked before its first use (so no cached "good" status exists).
            let second = try r.pki.issue(role: .admin, holderId: "VN/GOV/000.00.00.VPCP/quan-tri-02")
            try r.pki.revoke(serial: second.serial, reason: "keyCompromise")
            let revoked = try await r.cli(["member", "list"], as: second)
            #expect(revoked.status == 1)
            #expect(revoked.stderr.contains("Client.Unauthenticated") && revoked.stderr.contains("revoked"), "\(revoked.stderr)")
        }
    }

    @Test("global configuration: ETag and 304, independent verification, tampering fails, cache survives a stopped registry, expiry fails closed")
    func globalConfiguration() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-gc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let cacheFile = work.appendingPathComponent("globalconf.jws")
        var root: Certificate?
        var url = ""
        var serial: Int64 = 0

        try await LiveRegistry.with { r in
            try await seed(r)
            _ = try await r.ok(["agreement", "create", "--dataset", Self.dataset, "--service", Self.service,
                                "--consumer", "\(Self.hanoi)/MOTCUA", "--purpose", "1.004227", "--legal-basis", "Nghị định 47/2020/NĐ-CP",
                                "--valid-until", "2030-01-01"])
            root = r.pki.rootCertificate
            url = "\(r.url)/globalconf"

            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(r.caFile))
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
            configuration.connectionPool.retryConnectionEstablishment = false
            let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            defer { _ = http.shutdown() }

            // ETag and If-None-Match.
            let first = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
            #expect(first.status.code == 200)
            #expect(first.headers.first(name: "Content-Type") == "application/jose")
            let etag = try #require(first.headers.first(name: "ETag"))
            let jws = String(buffer: try await first.body.collect(upTo: 16 << 20))
            var conditional = HTTPClientRequest(url: url)
            conditional.headers.add(name: "If-None-Match", value: etag)
            #expect(try await http.execute(conditional, timeout: .seconds(10)).status.code == 304)

            // An independent tool verifies it; a tampered copy fails.
            let python = try #require((ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
                .map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) })
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("scripts/verify_global_configuration.py").path
            let signedFile = work.appendingPathComponent("conf.jws")
            try Data(jws.utf8).write(to: signedFile)
            let good = try await runCommand(URL(fileURLWithPath: python), [script, signedFile.path, r.caFile])
            #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
            var bytes = Array(jws.utf8)
            let payloadStart = try #require(bytes.firstIndex(of: UInt8(ascii: "."))) + 10
            bytes[payloadStart] = bytes[payloadStart] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let tamperedFile = work.appendingPathComponent("tampered.jws")
            try Data(bytes).write(to: tamperedFile)
            let bad = try await runCommand(URL(fileURLWithPath: python), [script, tamperedFile.path, r.caFile])
            #expect(bad.status != 0)

            // The security servers' client: fetch, verify, cache.
            let client = await GlobalConfigurationClient(url: url, cacheFile: cacheFile, trustAnchors: [r.pki.rootCertificate], httpClient: http)
            let result = try await client.refresh()
            guard case .updated(let s) = result else { Issue.record("expected a new configuration, got \(result)"); return }
            serial = s
            let document = try await client.current()
            #expect(document.agreements.count == 1)
            #expect(document.servers.first?.tlsCertificateSHA256.count == 64)
            #expect(try await client.refresh() == .notModified(serial: s))
        }

        // The registry is stopped: a restarted client serves from its cache until expires_at, then fails closed.
        let anchor = try #require(root)
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let restarted = await GlobalConfigurationClient(url: url, cacheFile: cacheFile, trustAnchors: [anchor], httpClient: http)
        let cached = try await restarted.current(at: Date())
        #expect(cached.serial == serial)
        let refreshError = await #expect(throws: GlobalConfigurationError.self) { try await restarted.refresh() }
        #expect(refreshError?.code == .transport)
        #expect(try await restarted.current(at: Date()).serial == serial)
        let expired = await #expect(throws: GlobalConfigurationError.self) {
            try await restarted.current(at: cached.expiresAt.addingTimeInterval(1))
        }
        #expect(expired?.code == .expired)
        try await http.shutdown()
    }
}
