import ArgumentParser
import Foundation
import LienThongCore
import LienThongTrust

/// `lienthong message ...`: compute, sign and verify message signatures by hand.
struct MessageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "message",
        abstract: "Canonical message digests and detached JWS signatures (docs/protocol.md).",
        subcommands: [Digest.self, Sign.self, Verify.self]
    )

    struct Digest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a message's canonical form and its SHA-256 digest.")
        @Option(help: "Canonical message JSON file (schemas/canonical-message.schema.json).") var message: String

        func run() async throws {
            let m = try MessageCommand.load(message)
            print(m.canonicalJSON.canonicalString)
            print("digest (base64url): \(m.digest.base64URL)")
            print("digest (hex):       \(m.digest.hex)")
        }
    }

    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign a message digest as a detached JWS.")
        @Option(help: "Canonical message JSON file.") var message: String
        @Option(help: "Signer's private key (PEM).") var key: String
        @Option(help: "Signer's certificate chain (PEM, leaf first).") var cert: String

        func run() async throws {
            let m = try MessageCommand.load(message)
            let signingKey = try MessageSigningKey(pemEncoded: try PEMFiles.readText(URL(fileURLWithPath: key)))
            let chain = try PEMFiles.readCertificates(URL(fileURLWithPath: cert))
            print(try DetachedJWS.sign(digest: m.digest, key: signingKey, chain: chain).compact)
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a detached JWS over a message, and validate the signer's member certificate.")
        @Option(help: "Canonical message JSON file.") var message: String
        @Option(help: "File holding the compact detached JWS.") var jws: String
        @Option(help: "PKI directory whose root CA is the trust anchor; omit to check the signature only.")
        var dir: String?
        @Option(help: "OCSP responder URL; defaults to the certificate's AIA.") var ocspURL: String?

        func run() async throws {
            let m = try MessageCommand.load(message)
            let text = try PEMFiles.readText(URL(fileURLWithPath: jws)).trimmingCharacters(in: .whitespacesAndNewlines)
            let signature = try DetachedJWS(compact: text)
            do {
                try signature.verify(digest: m.digest)
            } catch {
                print("BAD SIGNATURE: \(error)")
                throw ExitCode(1)
            }
            print("signature OK (\(signature.algorithm)) over digest \(m.digest.base64URL)")
            guard let dir else { return }
            let pki = try DevelopmentPKI.open(at: URL(fileURLWithPath: dir))
            let validator = CertificateValidator(
                trustAnchors: [pki.rootCertificate],
                revocation: RevocationChecker(source: HTTPOCSPStatusSource(responderURL: ocspURL)))
            do {
                let signer = try await validator.validate(chain: signature.certificateChain, role: .member)
                guard signer.holderId == m.client.member.canonical || m.kind == .response else {
                    print("REJECTED: signed by member \(signer.holderId), but the client is \(m.client.member)")
                    throw ExitCode(1)
                }
                print("signer OK: member \(signer.holderId)")
            } catch let error as CertificateValidationError {
                print("REJECTED (\(error.code.rawValue)): \(error.message)")
                throw ExitCode(1)
            }
        }
    }

    static func load(_ path: String) throws -> CanonicalMessage {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            return try JSONDecoder().decode(CanonicalMessage.self, from: data)
        } catch {
            throw ValidationError("\(path) is not a valid canonical message: \(error)")
        }
    }
}
