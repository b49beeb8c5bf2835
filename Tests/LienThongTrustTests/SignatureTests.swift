import Foundation
import LienThongCore
import SwiftASN1
import Testing
import X509
@testable import LienThongTrust

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Suite("Message signatures (detached JWS)")
struct SignatureTests {
    static func sampleRequest() throws -> CanonicalMessage {
        CanonicalMessage.request(
            messageId: "4f1c1f4e-2a56-4b8e-9a53-3f0b7b6e1d11", method: "post",
            service: try ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan"),
            client: try ClientId(parsing: "VN/GOV/000.00.00.H26/MOTCUA"),
            path: "/v1/cong-dan/tra-cuu?ma-thu-tuc=1.004227",
            headers: [("Content-Type", " application/json "), ("X-LienThong-Purpose", "1.004227"),
                      ("X-Road-UserId", "VN001099012345"), ("X-Road-Issue", "HS-2026-0001"), ("Accept", "ignored")],
            bodyDigest: MessageDigest.sha256(of: Array(#"{"so-dinh-danh":"001099012345"}"#.utf8)), time: 1_767_225_600_000)
    }

    struct Signer {
        let t: TemporaryPKI
        let key: MessageSigningKey
        let chain: [Certificate]

        init(_ algorithm: KeyAlgorithm = .p256) throws {
            t = try TemporaryPKI()
            let record = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.H26", keyAlgorithm: algorithm)
            key = try MessageSigningKey(pemEncoded: try PEMFiles.readText(t.directory.appendingPathComponent(record.keyPath)))
            chain = try t.chain(record)
        }
    }

    @Test("canonical form: sorted keys, selected headers only, trimmed values, upper-case method")
    func canonicalForm() throws {
        let m = try Self.sampleRequest()
        let text = m.canonicalJSON.canonicalString
        #expect(text.hasPrefix(#"{"body":""#))
        #expect(text.contains(#""headers":{"content-type":"application/json","x-lienthong-purpose":"1.004227","x-road-issue":"HS-2026-0001","x-road-userid":"VN001099012345"}"#))
        #expect(!text.contains("accept"))
        #expect(text.contains(#""method":"POST""#))
        #expect(text.contains(#""time":1767225600000,"#))
        #expect(text.hasSuffix(#""v":2}"#))
        // Decoding the canonical JSON gives the same message back.
        let decoded = try JSONDecoder().decode(CanonicalMessage.self, from: Data(m.canonicalBytes))
        #expect(decoded == m)
    }

    @Test("canonical JSON escapes control characters, quotes and backslashes as RFC 8785 does")
    func canonicalEscaping() {
        let value = CanonicalJSON.object(["b": .string("a\"b\\c\n\u{01}\u{7f}é"), "a": .integer(-5), "c": .array([])])
        #expect(value.canonicalString == #"{"a":-5,"b":"a\"b\\c\n\u0001"# + "\u{7f}é\",\"c\":[]}")
    }

    @Test("sign and verify round trip, ES256 and RS256", arguments: [KeyAlgorithm.p256, .rsa2048])
    func roundTrip(algorithm: KeyAlgorithm) throws {
        let s = try Signer(algorithm)
        defer { s.t.remove() }
        let m = try Self.sampleRequest()
        let jws = try DetachedJWS.sign(digest: m.digest, key: s.key, chain: s.chain)
        let parsed = try DetachedJWS(compact: jws.compact)
        #expect(parsed.algorithm == (algorithm == .p256 ? "ES256" : "RS256"))
        #expect(parsed.certificateChain == s.chain)
        try parsed.verify(digest: m.digest)
        #expect(jws.compact.split(separator: ".", omittingEmptySubsequences: false)[1].isEmpty)
    }

    /// Every signed field, changed one at a time, must break the signature.
    static let requestTampers: [(String, @Sendable (inout CanonicalMessage) throws -> Void)] = [
        ("kind", { $0.kind = .response }),
        ("id", { $0.messageId += "x" }),
        ("method", { $0.method = "GET" }),
        ("service", { $0.service = try ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/tra-cuu-ho-khau") }),
        ("service version", { $0.service = try ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1") }),
        ("client", { $0.client = try ClientId(parsing: "VN/GOV/000.00.00.H26") }),
        ("path", { $0.path = "/v1/cong-dan/tra-cuu?ma-thu-tuc=1.004228" }),
        ("header value", { $0.headers["x-road-userid"] = "VN001099012346" }),
        ("header removed", { $0.headers["x-lienthong-purpose"] = nil }),
        ("header added", { $0.headers["x-road-represented-party"] = "COM/0101234567" }),
        ("body", { $0.bodyDigest = MessageDigest.sha256(of: Array("{}".utf8)) }),
        ("time, one millisecond later", { $0.time = ($0.time ?? 0) + 1 }),
        ("time removed", { $0.time = nil }),
        ("status", { $0.status = 200 }),
        ("requestDigest", { $0.requestDigest = MessageDigest.sha256(of: [1]) }),
    ]

    @Test("changing any signed field of a request fails verification", arguments: 0..<requestTampers.count)
    func tamperRequest(index: Int) throws {
        let s = try Signer()
        defer { s.t.remove() }
        let m = try Self.sampleRequest()
        let jws = try DetachedJWS.sign(digest: m.digest, key: s.key, chain: s.chain)
        var tampered = m
        try Self.requestTampers[index].1(&tampered)
        #expect(tampered.digest != m.digest, "\(Self.requestTampers[index].0)")
        let error = #expect(throws: SignatureError.self) { try jws.verify(digest: tampered.digest) }
        #expect(error?.code == .badSignature)
    }

    @Test("canonical form version 2: a request carries its signed time; version 1, a missing or out-of-range time, a response with a time and unknown keys are refused")
    func versionTwoDecoding() throws {
        let m = try Self.sampleRequest()
        let good = try JSONSerialization.jsonObject(with: Data(m.canonicalBytes)) as? [String: Any] ?? [:]
        #expect(good["v"] as? Int == 2 && good["time"] as? Int == 1_767_225_600_000)
        func decodes(_ change: (inout [String: Any]) -> Void) -> Bool {
            var object = good
            change(&object)
            guard let data = try? JSONSerialization.data(withJSONObject: object) else { return false }
            return (try? JSONDecoder().decode(CanonicalMessage.self, from: data)) != nil
        }
        #expect(decodes { _ in })
        #expect(!decodes { $0["v"] = 1 }, "a version-1 message")
        #expect(!decodes { $0["v"] = 1; $0["time"] = nil }, "a version-1 message as protocol 1 wrote it")
        #expect(!decodes { $0["time"] = nil }, "a request without time")
        #expect(!decodes { $0["time"] = -1 }, "a negative time")
        #expect(!decodes { $0["time"] = CanonicalMessage.maximumTime + 1 }, "a time after the year 9999")
        #expect(!decodes { $0["time"] = "1767225600000" }, "a time as a string")
        #expect(!decodes { $0["nonce"] = "x" }, "an unknown key")
        let response = CanonicalMessage.response(to: m, status: 200, headers: [], bodyDigest: MessageDigest.sha256(of: []))
        var object = try JSONSerialization.jsonObject(with: Data(response.canonicalBytes)) as? [String: Any] ?? [:]
        #expect(object["time"] == nil && object["v"] as? Int == 2)
        object["time"] = 1
        #expect((try? JSONDecoder().decode(CanonicalMessage.self, from: try JSONSerialization.data(withJSONObject: object))) == nil,
                "a response carries no time")
        #expect(CanonicalMessage.milliseconds(Date(timeIntervalSince1970: 1_767_225_600.0129)) == 1_767_225_600_012)
        #expect(CanonicalMessage.milliseconds(Date(timeIntervalSince1970: 1e15)) == CanonicalMessage.maximumTime)
        #expect(CanonicalMessage.milliseconds(Date(timeIntervalSince1970: -5)) == 0)
    }

    @Test("a response is bound to its request: status, body, headers and request digest are all signed")
    func tamperResponse() throws {
        let s = try Signer()
        defer { s.t.remove() }
        let request = try Self.sampleRequest()
        let response = CanonicalMessage.response(
            to: request, status: 200, headers: [("Content-Type", "application/json")],
            bodyDigest: MessageDigest.sha256(of: Array(#"{"ho-ten":"Nguyễn Văn A"}"#.utf8)))
        #expect(response.requestDigest == request.digest)
        let jws = try DetachedJWS.sign(digest: response.digest, key: s.key, chain: s.chain)
        try jws.verify(digest: response.digest)
        var other = try Self.sampleRequest()
        other.messageId = "another"
        let variants: [CanonicalMessage] = [
            CanonicalMessage.response(to: other, status: 200, headers: [("Content-Type", "application/json")], bodyDigest: response.bodyDigest),
            CanonicalMessage.response(to: request, status: 404, headers: [("Content-Type", "application/json")], bodyDigest: response.bodyDigest),
            CanonicalMessage.response(to: request, status: 200, headers: [("Content-Type", "text/plain")], bodyDigest: response.bodyDigest),
            CanonicalMessage.response(to: request, status: 200, headers: [("Content-Type", "application/json"), ("Location", "/x")], bodyDigest: response.bodyDigest),
            CanonicalMessage.response(to: request, status: 200, headers: [("Content-Type", "application/json")], bodyDigest: MessageDigest.sha256(of: [])),
        ]
        for variant in variants {
            #expect(throws: SignatureError.self) { try jws.verify(digest: variant.digest) }
        }
    }

    @Test("flipping any bit of the signature, or any character of the header, fails")
    func tamperJWSBytes() throws {
        let s = try Signer()
        defer { s.t.remove() }
        let m = try Self.sampleRequest()
        let jws = try DetachedJWS.sign(digest: m.digest, key: s.key, chain: s.chain)
        for i in 0..<jws.signature.count {
            var bytes = jws.signature
            bytes[i] ^= 0x01
            let forged = DetachedJWS(encodedHeader: jws.encodedHeader, signature: bytes, algorithm: jws.algorithm, certificateChain: jws.certificateChain)
            #expect(throws: SignatureError.self) { try forged.verify(digest: m.digest) }
        }
        var header = Array(jws.encodedHeader)
        for i in stride(from: 0, to: header.count, by: max(1, header.count / 40)) {
            let original = header[i]
            header[i] = original == "A" ? "B" : "A"
            let text = String(header) + ".." + Base64URL.encode(jws.signature)
            #expect(throws: SignatureError.self) { try DetachedJWS(compact: text).verify(digest: m.digest) }
            header[i] = original
        }
    }

    @Test("the parsed-header cache saves parsing only: every message's signature is still checked",
          arguments: [KeyAlgorithm.p256, .rsa2048])
    func headerCacheKeepsVerifying(algorithm: KeyAlgorithm) throws {
        let s = try Signer(algorithm)
        defer { s.t.remove() }
        let m = try Self.sampleRequest()
        let jws = try DetachedJWS.sign(digest: m.digest, key: s.key, chain: s.chain)
        // The first parse fills the cache; the later ones are served from it.
        for _ in 0..<3 {
            let parsed = try DetachedJWS(compact: jws.compact)
            #expect(parsed.certificateChain == s.chain)
            #expect(JWSHeaderCache.shared.entry(for: jws.encodedHeader) != nil)
            try parsed.verify(digest: m.digest)
            // Same (cached) header, another message's digest, or another signature: refused each time.
            #expect(throws: SignatureError.self) { try parsed.verify(digest: MessageDigest.sha256(of: Array("other".utf8))) }
            var bytes = jws.signature
            bytes[bytes.count / 2] ^= 0x80
            let forged = try DetachedJWS(compact: jws.encodedHeader + ".." + Base64URL.encode(bytes))
            #expect(throws: SignatureError.self) { try forged.verify(digest: m.digest) }
        }
        // The cache is keyed by bytes: a header with a canonically equivalent but different
        // character (the Kelvin sign for `K`) is not the cached one, and is not base64url.
        if let k = jws.encodedHeader.firstIndex(of: "K") {
            var lookalike = jws.encodedHeader
            lookalike.replaceSubrange(k...k, with: "\u{212A}")
            #expect(lookalike == jws.encodedHeader, "Swift's String equality treats them as equal")
            #expect(JWSHeaderCache.shared.entry(for: lookalike) == nil)
            #expect(throws: SignatureError.self) { try DetachedJWS(compact: lookalike + ".." + Base64URL.encode(jws.signature)) }
        }
        // A header that does not parse is never cached, and is refused every time.
        let bad = Base64URL.encode(Array(#"{"alg":"ES256","typ":"lienthong-msg+jws","x5c":["AAAA"]}"#.utf8))
        for _ in 0..<2 {
            #expect(throws: SignatureError.self) { try DetachedJWS(compact: bad + "..AAAA") }
            #expect(JWSHeaderCache.shared.entry(for: bad) == nil)
        }
    }

    @Test("malformed and hostile JWS inputs get typed errors", arguments: [
        "", "..", "a.b.c", "abc..", "..abc", "e30..AAAA",
        Base64URL.encode(Array(#"{"alg":"none","x5c":["AA"]}"#.utf8)) + "..AAAA",
        Base64URL.encode(Array(#"{"alg":"HS256"}"#.utf8)) + "..AAAA",
        Base64URL.encode(Array(#"{"alg":"ES256"}"#.utf8)) + "..AAAA",
        Base64URL.encode(Array(#"{"alg":"ES256","x5c":["not base64!"]}"#.utf8)) + "..AAAA",
        Base64URL.encode(Array(#"{"alg":"ES256","x5c":["AAAA"]}"#.utf8)) + "..AAAA",
        Base64URL.encode(Array(#"{"alg":"ES256","x5c":["AAAA"],"crit":["b64"]}"#.utf8)) + "..AAAA",
    ])
    func malformed(text: String) {
        #expect(throws: SignatureError.self) { try DetachedJWS(compact: text) }
    }

    @Test("an oversized JWS is refused before any decoding")
    func oversized() {
        let error = #expect(throws: SignatureError.self) {
            try DetachedJWS(compact: String(repeating: "A", count: 70_000) + "..AAAA")
        }
        #expect(error?.code == .malformed)
    }

    @Test("a key signs only with its own certificate")
    func keyMustMatchLeaf() throws {
        let a = try Signer()
        let b = try Signer()
        defer { a.t.remove(); b.t.remove() }
        let error = #expect(throws: SignatureError.self) {
            try DetachedJWS.sign(digest: try Self.sampleRequest().digest, key: a.key, chain: b.chain)
        }
        #expect(error?.code == .missingCertificate)
    }

    // MARK: - Test vector

    struct TestVector: Decodable {
        var privateKeyPem: String
        var certificatePem: String
        var caCertificatePem: String
        var message: CanonicalMessage
        var body: String
        var canonical: String
        var digestHex: String
        var digestBase64url: String
        var jws: String
    }

    static let vectorURL = repositoryRoot.appendingPathComponent("docs/test-vectors/message-signature-v2.json")

    @Test("the published test vector verifies with our code")
    func testVectorOurs() async throws {
        let vector = try JSONDecoder().decode(TestVector.self, from: Data(contentsOf: Self.vectorURL))
        #expect(vector.message.canonicalJSON.canonicalString == vector.canonical)
        #expect(vector.message.digest.hex == vector.digestHex)
        #expect(vector.message.digest.base64URL == vector.digestBase64url)
        #expect(vector.message.bodyDigest == MessageDigest.sha256(of: Array(vector.body.utf8)))
        let jws = try DetachedJWS(compact: vector.jws)
        try jws.verify(digest: vector.message.digest)
        let ca = try Certificate(pemEncoded: vector.caCertificatePem)
        #expect(jws.certificateChain == [try Certificate(pemEncoded: vector.certificatePem)])
        let key = try MessageSigningKey(pemEncoded: vector.privateKeyPem)
        #expect(key.certificatePublicKey == jws.signerCertificate.publicKey)
        let validator = CertificateValidator(trustAnchors: [ca], revocation: nil)
        let valid = try await validator.validate(chain: jws.certificateChain, role: .member)
        #expect(valid.holderId == vector.message.client.member.canonical)
        var tampered = vector.message
        tampered.path += "x"
        #expect(throws: SignatureError.self) { try jws.verify(digest: tampered.digest) }
    }

    @Test("the published test vector verifies with an independent implementation (Python cryptography)",
          .enabled(if: which("python3") != nil))
    func testVectorIndependent() async throws {
        let python = try #require(which("python3"))
        let result = try await runProcess(python, [repositoryRoot.appendingPathComponent("scripts/verify_test_vector.py").path, Self.vectorURL.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("OK:"))
    }

    @Test("a signature made now also verifies independently with Python")
    func freshSignatureIndependent() async throws {
        let python = try #require(which("python3"))
        let s = try Signer()
        defer { s.t.remove() }
        let body = #"{"so-dinh-danh":"001099012345"}"#
        let m = try Self.sampleRequest()
        let jws = try DetachedJWS.sign(digest: m.digest, key: s.key, chain: s.chain)
        let vector: [String: Any] = [
            "privateKeyPem": try PEMFiles.readText(s.t.directory.appendingPathComponent("member/VN_GOV_000.00.00.H26.key")),
            "certificatePem": try s.chain[0].serializeAsPEM().pemString,
            "caCertificatePem": try s.t.pki.rootCertificate.serializeAsPEM().pemString,
            "message": try JSONSerialization.jsonObject(with: Data(m.canonicalBytes)),
            "body": body,
            "canonical": m.canonicalJSON.canonicalString,
            "digestHex": m.digest.hex,
            "digestBase64url": m.digest.base64URL,
            "jws": jws.compact,
        ]
        let file = s.t.directory.appendingPathComponent("vector.json")
        try JSONSerialization.data(withJSONObject: vector).write(to: file)
        let result = try await runProcess(python, [repositoryRoot.appendingPathComponent("scripts/verify_test_vector.py").path, file.path])
        #expect(result.status == 0, "\(result.output)")
    }
}
