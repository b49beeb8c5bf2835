import Foundation
import LienThongCore
import LienThongRegistry
import LienThongTrust
import Testing

/// Checks with tools that share no code with LienThong: the JSON Schema validator and the
/// Python verification script.
@Suite("Global configuration: schema and independent verification", .enabled(if: GCFixtures.which("python3") != nil))
struct GlobalConfigurationToolTests {
    static let python = GCFixtures.which("python3") ?? "/usr/bin/python3"
    static let schema = GCFixtures.repositoryRoot.appendingPathComponent("schemas/global-configuration.schema.json").path
    static let script = GCFixtures.repositoryRoot.appendingPathComponent("scripts/verify_global_configuration.py").path

    /// Validates the JSON file at `path` against the schema with python-jsonschema; returns (exit status, output).
    static func validate(_ path: String) async throws -> (status: Int32, output: String) {
        let program = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1], encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        document = json.load(open(sys.argv[2], encoding="utf-8"))
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.path))
        for error in errors:
            print("/".join(str(p) for p in error.path), error.message)
        sys.exit(1 if errors else 0)
        """
        return try await GCFixtures.run(python, ["-c", program, schema, path])
    }

    @Test("documents validate against schemas/global-configuration.schema.json; broken ones do not")
    func schemaValidation() async throws {
        let directory = GCFixtures.temporaryDirectory("schema")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let pki = try GCFixtures.PKI()
        defer { pki.remove() }
        let now = Date()
        let builder = try pki.builder()
        let documents = [
            builder.build(snapshot: try GCFixtures.snapshot(now: now), serial: 3, now: now),
            builder.build(snapshot: try GCFixtures.awkwardSnapshot(now: now), serial: 4, now: now),
            builder.build(snapshot: try GlobalConfigurationBenchmark.syntheticSnapshot(
                .init(ministries: 3, provinces: 2, subsystems: 20, services: 60, agreements: 30), now: now), serial: 5, now: now),
            builder.build(snapshot: RegistrySnapshot(), serial: 1, now: now),
        ]
        for (i, document) in documents.enumerated() {
            let file = directory.appendingPathComponent("good-\(i).json")
            try Data(try document.canonicalJSON()).write(to: file)
            let (status, output) = try await Self.validate(file.path)
            #expect(status == 0, "document \(i): \(output)")
        }

        let good = String(decoding: try documents[0].canonicalJSON(), as: UTF8.self)
        let broken = [
            "missing serial": good.replacingOccurrences(of: #""serial":3,"#, with: ""),
            "string serial": good.replacingOccurrences(of: #""serial":3"#, with: #""serial":"3""#),
            "extra key": good.replacingOccurrences(of: #""serial":3,"#, with: #""serial":3,"surprise":true,"#),
            "bad timestamp": good.replacingOccurrences(of: #""expires_at":""#, with: #""expires_at":"x"#),
            "format 2": good.replacingOccurrences(of: #""format_version":1"#, with: #""format_version":2"#),
            "bad kind": good.replacingOccurrences(of: #""kind":"province""#, with: #""kind":"city""#),
            "bad pin": good.replacingOccurrences(of: String(repeating: "ab", count: 32), with: "AB"),
            "bad id": good.replacingOccurrences(of: "VN/GOV/000.00.00.H29/LGSP", with: "VN/GOV/000.00.00.H29"),
        ]
        for (name, text) in broken {
            #expect(text != good, "\(name) did not change the document")
            let file = directory.appendingPathComponent("bad.json")
            try Data(text.utf8).write(to: file)
            let (status, output) = try await Self.validate(file.path)
            #expect(status == 1, "\(name) should be invalid: \(output)")
        }
    }

    @Test("scripts/verify_global_configuration.py accepts a signed document and rejects a tampered copy")
    func pythonVerification() async throws {
        let pki = try GCFixtures.PKI()
        defer { pki.remove() }
        let root = pki.pki.url(.rootCertificate).path
        let signed = try pki.signer.sign(try pki.builder().build(snapshot: GCFixtures.awkwardSnapshot(now: Date()), serial: 77, now: Date()))
        let file = pki.directory.appendingPathComponent("globalconf.jws")
        try Data(signed.jws.utf8).write(to: file)

        let good = try await GCFixtures.run(Self.python, [Self.script, file.path, root])
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains("serial:       77"))
        #expect(good.output.contains("expires_at:   \(ISO8601DateFormatter().string(from: signed.configuration.expiresAt))"))
        let strict = try await GCFixtures.run(Self.python, [Self.script, "--require-unexpired", file.path, root])
        #expect(strict.status == 0, "\(strict.output)")

        // One payload byte changed: the serial 77 becomes 78.
        let tampered = GCFixtures.tamper(signed.jws, part: 1) { bytes in
            if let range = bytes.firstRange(of: Array(#""serial":77,"#.utf8)) { bytes[range.upperBound - 2] = UInt8(ascii: "8") }
        }
        #expect(tampered != signed.jws)
        try Data(tampered.utf8).write(to: file)
        let bad = try await GCFixtures.run(Self.python, [Self.script, file.path, root])
        #expect(bad.status == 1, "\(bad.output)")
        #expect(bad.output.contains("FAILED"))
        await expectGCError(.badSignature) { try await pki.verifier.verify(tampered, at: Date()) }

        // Signed by a member key: issued by the root, but not a configuration-signing certificate.
        let record = try pki.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
        let memberSigner = try GlobalConfigurationSigner(
            keyFile: pki.directory.appendingPathComponent(record.keyPath),
            certificateFile: pki.directory.appendingPathComponent(record.certificatePath))
        try Data(try memberSigner.sign(signed.configuration).jws.utf8).write(to: file)
        let member = try await GCFixtures.run(Self.python, [Self.script, file.path, root])
        #expect(member.status == 1 && member.output.contains("configuration-signing"), "\(member.output)")

        // Signed under another instance's CA.
        let other = try GCFixtures.PKI()
        defer { other.remove() }
        try Data(try other.signer.sign(signed.configuration).jws.utf8).write(to: file)
        let foreign = try await GCFixtures.run(Self.python, [Self.script, file.path, root])
        #expect(foreign.status == 1 && foreign.output.contains("not issued by the root CA"), "\(foreign.output)")
    }
}

@Suite("Global configuration: benchmark harness")
struct GlobalConfigurationBenchmarkTests {
    @Test("a small run reports every phase and the document sizes")
    func smallRun() async throws {
        let directory = GCFixtures.temporaryDirectory("bench")
        defer { try? FileManager.default.removeItem(at: directory) }
        let parameters = GlobalConfigurationBenchmark.Parameters(subsystems: 200, services: 2_000, agreements: 400, repetitions: 2)
        let report = try await GlobalConfigurationBenchmark.run(parameters, pkiDirectory: directory)
        #expect(report.phases.map(\.name) == ["build", "encode", "sign", "verify", "total"])
        #expect(report.phases.allSatisfy { $0.seconds.count == 2 && $0.median > 0 })
        #expect(report.counts == ["members": 85, "subsystems": 200, "servers": 170, "services": 2_000, "datasets": 200, "agreements": 400])
        #expect(report.jwsBytes > report.payloadBytes * 4 / 3)
        #expect(report.table.contains("verify"))
    }

    /// The full national-scale run, only when asked for: `LIENTHONG_BENCH_CONFIG=1 swift test -c release --filter GlobalConfigurationBenchmarkTests`.
    @Test("national scale: 10,000 subsystems, 100,000 services, 20,000 agreements",
          .enabled(if: ProcessInfo.processInfo.environment["LIENTHONG_BENCH_CONFIG"] == "1"))
    func nationalScale() async throws {
        let directory = GCFixtures.temporaryDirectory("bench")
        defer { try? FileManager.default.removeItem(at: directory) }
        let report = try await GlobalConfigurationBenchmark.run(.init(), pkiDirectory: directory)
        print(report.table)
        print("counts: \(report.counts.sorted { $0.key < $1.key })")
        print("payload bytes: \(report.payloadBytes), JWS bytes: \(report.jwsBytes)")
        #expect(report.counts["agreements"] == 20_000)
    }
}
