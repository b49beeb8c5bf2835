import Crypto
import LienThongCore
import Foundation
import SwiftASN1
import X509
import _CryptoExtras
#if canImport(Glibc)
import Glibc
#endif

/// The key algorithm of a newly issued certificate.
public enum KeyAlgorithm: String, CaseIterable, Sendable, Codable {
    /// ECDSA on NIST P-256; JWS `ES256`. The default for every role.
    case p256
    /// RSA with a 2048-bit modulus, as government CAs still issue; JWS `RS256`.
    case rsa2048

    /// Generates a fresh private key.
    public func generate() throws -> Certificate.PrivateKey {
        switch self {
        case .p256:
            return Certificate.PrivateKey(P256.Signing.PrivateKey())
        case .rsa2048:
            return Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        }
    }
}

/// One certificate issued by a ``DevelopmentPKI``, as recorded in its index.
public struct IssuedCertificateRecord: Codable, Sendable, Hashable {
    /// The serial number, as a decimal integer.
    public var serial: UInt64
    /// The role.
    public var role: CertificateRole
    /// The holder's canonical identifier (the subject `CN`).
    public var holderId: String
    /// Start of validity.
    public var notBefore: Date
    /// End of validity.
    public var notAfter: Date
    /// Certificate file, relative to the PKI directory.
    public var certificatePath: String
    /// Private key file, relative to the PKI directory.
    public var keyPath: String
    /// When the certificate was revoked, if it was.
    public var revokedAt: Date?
    /// The revocation reason, if the certificate was revoked.
    public var revocationReason: String?
}

/// The CA's bookkeeping file, `index.json`.
struct PKIIndex: Codable, Sendable {
    var instance: String
    var ocspURL: String?
    var nextSerial: UInt64
    var certificates: [IssuedCertificateRecord]
}

/// A development PKI on disk: an instance root CA, the registry's configuration-signing
/// certificate, a delegated OCSP responder certificate, and everything issued since.
///
/// Layout of the directory (documented in `docs/pki.md`):
/// ```
/// DIR/index.json                  serials, holders, revocations
/// DIR/ca/root.crt, root.key       instance root CA (EC P-256)
/// DIR/ca/configuration-signing.crt, .key
/// DIR/ca/ocsp.crt, ocsp.key       delegated OCSP signer
/// DIR/<role>/<holder>.crt, .key   issued certificates; `/` in ids becomes `_`
/// ```
/// Private keys are written `0600`, the directory `0700`. This is a development and test
/// tool: production instances plug in the government CA instead.
public struct DevelopmentPKI: Sendable {
    /// The PKI directory.
    public let directory: URL
    /// The instance code, e.g. `VN`.
    public let instance: String
    /// The root CA certificate.
    public let rootCertificate: Certificate
    /// The root CA key.
    let rootKey: Certificate.PrivateKey

    /// The file name of the index.
    static let indexName = "index.json"

    /// Paths of the instance-level files.
    public enum File: String, Sendable, CaseIterable {
        case rootCertificate = "ca/root.crt"
        case rootKey = "ca/root.key"
        case configurationSigningCertificate = "ca/configuration-signing.crt"
        case configurationSigningKey = "ca/configuration-signing.key"
        case ocspCertificate = "ca/ocsp.crt"
        case ocspKey = "ca/ocsp.key"
    }

    /// The URL of one of the instance-level files.
    public func url(_ file: File) -> URL { directory.appendingPathComponent(file.rawValue) }

    /// Creates a new PKI in `directory`: root CA, configuration-signing and OCSP certificates.
    ///
    /// - Parameters:
    ///   - directory: where to create it; must not already hold a PKI.
    ///   - instance: the instance code; it must be a valid identifier part.
    ///   - ocspURL: the responder URL written into every issued certificate's
    ///     Authority Information Access extension, or `nil` for none.
    ///   - validity: the root CA's validity period.
    ///   - now: the clock.
    @discardableResult
    public static func initialise(
        at directory: URL,
        instance: String,
        ocspURL: String?,
        validity: TimeInterval = 10 * 365 * 86_400,
        now: Date = Date()
    ) throws(PKIError) -> DevelopmentPKI {
        do {
            _ = try MemberId(instance: instance, memberClass: "X", memberCode: "X")
        } catch {
            throw PKIError(.invalidHolderId, "instance code \"\(instance)\": \(error)")
        }
        let fm = FileManager.default
        let index = directory.appendingPathComponent(indexName)
        if fm.fileExists(atPath: index.path) {
            throw PKIError(.alreadyInitialised, "\(directory.path) already holds a PKI; refusing to overwrite it")
        }
        do {
            try fm.createDirectory(at: directory.appendingPathComponent("ca"), withIntermediateDirectories: true,
                                   attributes: [.posixPermissions: 0o700])
            try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path)
        } catch {
            throw PKIError(.io, "cannot create \(directory.path): \(error.localizedDescription)")
        }

        let rootKey: Certificate.PrivateKey
        let root: Certificate
        do {
            rootKey = try KeyAlgorithm.p256.generate()
            let name = try CertificateRole.rootCA.subject(holderId: instance, instance: instance)
            root = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(UInt64(1)),
                publicKey: rootKey.publicKey,
                notValidBefore: now.addingTimeInterval(-300),
                notValidAfter: now.addingTimeInterval(validity),
                issuer: name,
                subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(CertificateRole.rootCA.keyUsage)
                    SubjectKeyIdentifier(hash: rootKey.publicKey)
                },
                issuerPrivateKey: rootKey
            )
        } catch {
            throw PKIError(.io, "cannot create the root CA: \(error)")
        }
        let pki = DevelopmentPKI(directory: directory, instance: instance, rootCertificate: root, rootKey: rootKey)
        try PEMFiles.writePrivateKey(rootKey, to: pki.url(.rootKey))
        try PEMFiles.writeCertificate(root, to: pki.url(.rootCertificate))

        var state = PKIIndex(instance: instance, ocspURL: ocspURL, nextSerial: 2, certificates: [])
        let validFor = min(validity, 2 * 365 * 86_400)
        for (role, certFile, keyFile) in [
            (CertificateRole.configurationSigning, File.configurationSigningCertificate, File.configurationSigningKey),
            (CertificateRole.ocspSigning, File.ocspCertificate, File.ocspKey),
        ] {
            let record = try pki.makeCertificate(
                state: &state, role: role, holderId: instance, keyAlgorithm: .p256,
                notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(validFor),
                subjectAlternativeNames: [],
                certificateFile: certFile.rawValue, keyFile: keyFile.rawValue
            )
            state.certificates.append(record)
        }
        try pki.save(state)
        return pki
    }

    /// Opens an existing PKI.
    public static func open(at directory: URL) throws(PKIError) -> DevelopmentPKI {
        let indexURL = directory.appendingPathComponent(indexName)
        guard FileManager.default.fileExists(atPath: indexURL.path) else {
            throw PKIError(.notInitialised, "\(directory.path) holds no PKI; run `lienthong pki init --dir \(directory.path)` first")
        }
        let state = try loadIndex(directory)
        return DevelopmentPKI(
            directory: directory, instance: state.instance,
            rootCertificate: try PEMFiles.readCertificate(directory.appendingPathComponent(File.rootCertificate.rawValue)),
            rootKey: try PEMFiles.readPrivateKey(directory.appendingPathComponent(File.rootKey.rawValue)))
    }

    init(directory: URL, instance: String, rootCertificate: Certificate, rootKey: Certificate.PrivateKey) {
        self.directory = directory
        self.instance = instance
        self.rootCertificate = rootCertificate
        self.rootKey = rootKey
    }

    /// The instance's OCSP responder URL written into issued certificates, if any.
    public func ocspURL() throws(PKIError) -> String? { try Self.loadIndex(directory).ocspURL }

    /// Every certificate issued by this CA, in serial order.
    public func records() throws(PKIError) -> [IssuedCertificateRecord] {
        try Self.loadIndex(directory).certificates
    }

    /// The OCSP signer certificate and key.
    public func ocspSigner() throws(PKIError) -> (certificate: Certificate, key: Certificate.PrivateKey) {
        (try PEMFiles.readCertificate(url(.ocspCertificate)), try PEMFiles.readPrivateKey(url(.ocspKey)))
    }

    /// The registry's configuration-signing certificate and key.
    public func configurationSigner() throws(PKIError) -> (certificate: Certificate, key: Certificate.PrivateKey) {
        (try PEMFiles.readCertificate(url(.configurationSigningCertificate)),
         try PEMFiles.readPrivateKey(url(.configurationSigningKey)))
    }

    /// Issues a certificate for `holderId` in `role`.
    ///
    /// - Parameters:
    ///   - role: one of ``CertificateRole/issuable``.
    ///   - holderId: the holder's identifier; its shape depends on the role (see ``CertificateRole/canonicalHolderId(_:instance:)``).
    ///   - keyAlgorithm: the key to generate.
    ///   - validity: how long the certificate is valid, from `notBefore`.
    ///   - notBefore: start of validity; defaults to five minutes ago (clock skew).
    ///   - dnsNames, ipAddresses: subject alternative names; for servers, `localhost` and
    ///     `127.0.0.1` are always included.
    ///   - replace: issue even if this holder already has a certificate in this role (the old
    ///     one stays valid until revoked).
    @discardableResult
    public func issue(
        role: CertificateRole,
        holderId: String,
        keyAlgorithm: KeyAlgorithm = .p256,
        validity: TimeInterval = 365 * 86_400,
        notBefore: Date? = nil,
        dnsNames: [String] = [],
        ipAddresses: [String] = [],
        replace: Bool = false,
        now: Date = Date()
    ) throws(PKIError) -> IssuedCertificateRecord {
        guard CertificateRole.issuable.contains(role) else {
            throw PKIError(.invalidArgument, "role \(role) is created by `pki init`, not issued")
        }
        guard validity > 0 else {
            throw PKIError(.invalidArgument, "validity must be positive")
        }
        let canonical = try role.canonicalHolderId(holderId, instance: instance)
        let lock = try IndexLock(directory)
        defer { lock.release() }
        var state = try Self.loadIndex(directory)
        if !replace, state.certificates.contains(where: { $0.role == role && $0.holderId == canonical && $0.revokedAt == nil }) {
            throw PKIError(.alreadyIssued, "\(role) \(canonical) already has a certificate; pass --replace to issue another")
        }
        var sans: [GeneralName] = []
        if role == .server {
            for dns in Set(["localhost"] + dnsNames).sorted() { sans.append(.dnsName(dns)) }
            for ip in Set(["127.0.0.1"] + ipAddresses).sorted() {
                guard let bytes = Self.ipv4Bytes(ip) else {
                    throw PKIError(.invalidArgument, "\"\(ip)\" is not an IPv4 address")
                }
                sans.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
            }
        }
        let slug = canonical.replacingOccurrences(of: "/", with: "_")
        let start = notBefore ?? now.addingTimeInterval(-300)
        let record = try makeCertificate(
            state: &state, role: role, holderId: canonical, keyAlgorithm: keyAlgorithm,
            notBefore: start, notAfter: start.addingTimeInterval(validity),
            subjectAlternativeNames: sans,
            certificateFile: "\(role.rawValue)/\(slug).crt", keyFile: "\(role.rawValue)/\(slug).key",
            unique: replace
        )
        state.certificates.append(record)
        try save(state)
        return record
    }

    /// Revokes the certificate with `serial`. The OCSP responder answers `revoked` from then on.
    @discardableResult
    public func revoke(serial: UInt64, reason: String = "unspecified", now: Date = Date()) throws(PKIError) -> IssuedCertificateRecord {
        let lock = try IndexLock(directory)
        defer { lock.release() }
        var state = try Self.loadIndex(directory)
        guard let i = state.certificates.firstIndex(where: { $0.serial == serial }) else {
            throw PKIError(.unknownSerial, "no certificate with serial \(serial) was issued by this CA")
        }
        if state.certificates[i].revokedAt != nil {
            throw PKIError(.alreadyRevoked, "certificate \(serial) is already revoked")
        }
        state.certificates[i].revokedAt = now
        state.certificates[i].revocationReason = reason
        try save(state)
        return state.certificates[i]
    }

    /// The record of the certificate with `serial`, or `nil` if this CA never issued it.
    public func record(serial: Certificate.SerialNumber) throws(PKIError) -> IssuedCertificateRecord? {
        let bytes = Array(serial.bytes.drop(while: { $0 == 0 }))
        guard bytes.count <= 8 else { return nil }
        let value = bytes.reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
        return try records().first { $0.serial == value }
    }

    // MARK: - Internals

    private func makeCertificate(
        state: inout PKIIndex,
        role: CertificateRole,
        holderId: String,
        keyAlgorithm: KeyAlgorithm,
        notBefore: Date,
        notAfter: Date,
        subjectAlternativeNames: [GeneralName],
        certificateFile: String,
        keyFile: String,
        unique: Bool = false
    ) throws(PKIError) -> IssuedCertificateRecord {
        let serial = state.nextSerial
        state.nextSerial += 1
        var certificateFile = certificateFile
        var keyFile = keyFile
        if unique {
            certificateFile = certificateFile.replacingOccurrences(of: ".crt", with: ".\(serial).crt")
            keyFile = keyFile.replacingOccurrences(of: ".key", with: ".\(serial).key")
        }
        let certificate: Certificate
        let key: Certificate.PrivateKey
        do {
            key = try keyAlgorithm.generate()
            let ocspURL = state.ocspURL
            let issuerKeyId = SubjectKeyIdentifier(hash: rootCertificate.publicKey).keyIdentifier
            let sanList = subjectAlternativeNames
            certificate = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(serial),
                publicKey: key.publicKey,
                notValidBefore: notBefore,
                notValidAfter: notAfter,
                issuer: rootCertificate.subject,
                subject: try role.subject(holderId: holderId, instance: instance),
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(role.keyUsage)
                    if let usages = role.extendedKeyUsage {
                        try ExtendedKeyUsage(usages)
                    }
                    SubjectKeyIdentifier(hash: key.publicKey)
                    AuthorityKeyIdentifier(keyIdentifier: issuerKeyId)
                    if !sanList.isEmpty {
                        SubjectAlternativeNames(sanList)
                    }
                    if let ocspURL, role != .ocspSigning {
                        AuthorityInformationAccess([
                            .init(method: .ocspServer, location: .uniformResourceIdentifier(ocspURL))
                        ])
                    }
                },
                issuerPrivateKey: rootKey
            )
        } catch {
            throw PKIError(.io, "cannot create the \(role) certificate for \(holderId): \(error)")
        }
        let fm = FileManager.default
        let certURL = directory.appendingPathComponent(certificateFile)
        do {
            try fm.createDirectory(at: certURL.deletingLastPathComponent(), withIntermediateDirectories: true,
                                   attributes: [.posixPermissions: 0o700])
        } catch {
            throw PKIError(.io, "cannot create \(certURL.deletingLastPathComponent().path): \(error.localizedDescription)")
        }
        try PEMFiles.writePrivateKey(key, to: directory.appendingPathComponent(keyFile))
        try PEMFiles.writeCertificate(certificate, to: certURL)
        return IssuedCertificateRecord(
            serial: serial, role: role, holderId: holderId, notBefore: notBefore, notAfter: notAfter,
            certificatePath: certificateFile, keyPath: keyFile, revokedAt: nil, revocationReason: nil
        )
    }

    private static func loadIndex(_ directory: URL) throws(PKIError) -> PKIIndex {
        let url = directory.appendingPathComponent(indexName)
        let text = try PEMFiles.readText(url)
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(PKIIndex.self, from: Data(text.utf8))
        } catch {
            throw PKIError(.corrupt, "\(url.path) is not a LienThong PKI index: \(error)")
        }
    }

    private func save(_ state: PKIIndex) throws(PKIError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data: Data
        do { data = try encoder.encode(state) } catch {
            throw PKIError(.io, "cannot encode the PKI index: \(error)")
        }
        try PEMFiles.write(String(decoding: data, as: UTF8.self) + "\n",
                           to: directory.appendingPathComponent(Self.indexName), mode: 0o644)
    }

    private static func ipv4Bytes(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        return bytes
    }
}

/// An exclusive `flock` on `DIR/.lock`, so that two `lienthong pki` processes never hand out
/// the same serial or lose each other's index updates.
private struct IndexLock {
    let fd: Int32

    init(_ directory: URL) throws(PKIError) {
        let path = directory.appendingPathComponent(".lock").path
        fd = Foundation.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PKIError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX) == 0 else {
            close(fd)
            throw PKIError(.io, "cannot lock \(path): \(String(cString: strerror(errno)))")
        }
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
