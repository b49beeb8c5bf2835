import Foundation

/// A certification authority made with the `openssl` command line, the way a government CA would
/// issue certificates: no LienThong `OU` anywhere, the member code in another subject attribute.
/// Tests use it to prove that LienThong does not depend on its own development PKI's conventions.
public struct OpenSSLCA: Sendable {
    /// The directory that holds the CA's files.
    public let directory: URL
    /// `ca.pem`, the self-signed root.
    public var certificatePath: String { directory.appendingPathComponent("ca.pem").path }
    private let openssl: String

    /// An issued leaf: its certificate and key files.
    public struct Leaf: Sendable {
        /// The certificate, PEM.
        public let certificatePath: String
        /// The private key, PEM (PKCS #8), mode 0600.
        public let keyPath: String
    }

    /// What a leaf is for; decides its key usage and extended key usage.
    public enum Kind: Sendable {
        /// A signing certificate: digitalSignature + nonRepudiation, no extended key usage.
        case signing
        /// A person's TLS client certificate: digitalSignature, clientAuth.
        case tlsClient
        /// A server's TLS certificate: digitalSignature + keyEncipherment, serverAuth + clientAuth.
        case tlsServer
    }

    /// Creates a root CA with subject `subject` (openssl `/K=V/...` form) in a new temporary directory.
    public init(subject: String = "/C=VN/O=Ban Co yeu Chinh phu/CN=Gov Test Root CA") async throws {
        guard let openssl = Subprocess.executable("openssl") else { throw OpenSSLError("openssl is not on PATH") }
        self.openssl = openssl
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-openssl-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try await run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                       "-keyout", directory.appendingPathComponent("ca.key").path, "-out", certificatePath,
                       "-days", "30", "-subj", subject,
                       "-addext", "basicConstraints=critical,CA:TRUE",
                       "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                       "-addext", "subjectKeyIdentifier=hash"])
    }

    /// Issues a leaf named `name` (file prefix) with `subject` for `kind`.
    public func issue(_ name: String, subject: String, kind: Kind) async throws -> Leaf {
        let key = directory.appendingPathComponent("\(name).key").path
        let csr = directory.appendingPathComponent("\(name).csr").path
        let cert = directory.appendingPathComponent("\(name).pem").path
        let ext = directory.appendingPathComponent("\(name).ext")
        var lines = ["basicConstraints=critical,CA:FALSE", "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid"]
        switch kind {
        case .signing: lines.append("keyUsage=critical,digitalSignature,nonRepudiation")
        case .tlsClient: lines += ["keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth"]
        case .tlsServer:
            lines += ["keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=serverAuth,clientAuth",
                      "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        }
        try (lines.joined(separator: "\n") + "\n").write(to: ext, atomically: true, encoding: .utf8)
        try await run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                       "-keyout", key, "-out", csr, "-subj", subject])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
        try await run(["x509", "-req", "-in", csr, "-CA", certificatePath,
                       "-CAkey", directory.appendingPathComponent("ca.key").path, "-set_serial", "0x\(Self.serialHex())",
                       "-days", "10", "-out", cert, "-extfile", ext.path])
        return Leaf(certificatePath: cert, keyPath: key)
    }

    /// Removes the CA's directory.
    public func remove() { try? FileManager.default.removeItem(at: directory) }

    private func run(_ arguments: [String]) async throws {
        let result = try await Subprocess.run(openssl, arguments)
        guard result.status == 0 else { throw OpenSSLError("openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(result.output)") }
    }

    private static func serialHex() -> String {
        (0..<16).map { _ in String(format: "%02x", Int.random(in: 0...255)) }.joined().replacingOccurrences(of: "^0", with: "1", options: .regularExpression)
    }
}

/// An `openssl` command failed.
public struct OpenSSLError: Error, CustomStringConvertible {
    /// What failed, with openssl's output.
    public let description: String
    init(_ description: String) { self.description = description }
}
