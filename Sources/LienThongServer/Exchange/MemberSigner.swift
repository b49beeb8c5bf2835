import Foundation
import LienThongCore
import LienThongTrust
import X509

/// The owner member's signing key, with its certificate chain and the OCSP status it staples.
///
/// The status is the member certificate's own, validated through the same path as any peer's
/// certificate; a revoked or unknown status makes signing fail (fail closed: a server does not
/// send messages its peers must refuse).
public actor MemberSigner {
    /// The member whose key this is.
    public let member: MemberId
    /// The signing certificate chain, leaf first (without the root).
    public let chain: [Certificate]
    private let signer: DetachedJWS.Signer
    private var staple: VerifiedOCSPStatus?

    /// Loads the key and chain and checks that the certificate belongs to `member`.
    public init(member: MemberId, certificateFile: URL, keyFile: URL) throws(SecurityServerConfigurationError) {
        let chain: [Certificate]
        let key: MessageSigningKey
        do {
            chain = try PEMFiles.readCertificates(certificateFile)
            key = try MessageSigningKey(pemEncoded: try PEMFiles.readText(keyFile))
        } catch {
            throw .init("cannot load the member signing key or certificate: \(error)")
        }
        guard let leaf = chain.first else { throw .init("\(certificateFile.path) holds no certificate") }
        // A development-PKI certificate names its role and member in OU and CN: check them now. A
        // certificate of a CA with another profile (no OU) is checked against that profile, which comes
        // with the global configuration, on its first validation (`stapledOCSP`), before anything is signed.
        if let holder = CertificateRole.holder(of: leaf) {
            guard holder.role == .member, holder.holderId == member.canonical else {
                throw .init("\(certificateFile.path) is not a member signing certificate of \(member)")
            }
        }
        guard leaf.publicKey == key.certificatePublicKey, let signer = try? DetachedJWS.Signer(key: key, chain: chain) else {
            throw .init("the signing key does not match the certificate in \(certificateFile.path)")
        }
        self.member = member
        self.chain = chain
        self.signer = signer
    }

    /// The DER OCSP response to staple, revalidating the own certificate when the cached status
    /// is past the checker's refresh point.
    /// - Throws: ``CertificateValidationError`` when the certificate is expired, revoked or its status unknown.
    public func stapledOCSP(validator: CertificateValidator, at now: Date) async throws(CertificateValidationError) -> [UInt8] {
        var refreshAfter: TimeInterval = 0
        if let revocation = validator.revocation { refreshAfter = await revocation.policy.refreshAfter }
        if let staple, now.timeIntervalSince(staple.thisUpdate) < refreshAfter, staple.nextUpdate.map({ now < $0 }) ?? true {
            return staple.responseDER
        }
        let validated = try await validator.validate(chain: chain, role: .member, at: now)
        guard validated.holderId == member.canonical else {
            throw CertificateValidationError(.wrongRole, "the own signing certificate belongs to \(validated.holderId) under its CA's profile, not to \(member)")
        }
        guard let status = validated.revocation else {
            throw CertificateValidationError(.revocationStatusUnknown, "no OCSP status for the own member certificate")
        }
        staple = status
        return status.responseDER
    }

    /// The current staple's status, for `/healthz`.
    public func currentStaple() -> VerifiedOCSPStatus? { staple }

    /// Signs the digest of `message` (off the actor: signing needs no state and must not queue).
    public nonisolated func sign(_ message: CanonicalMessage) throws(SignatureError) -> DetachedJWS {
        try signer.sign(digest: message.digest)
    }

    /// Signs `digest` (audit checkpoints and archive manifests).
    public nonisolated func sign(digest: MessageDigest) throws(SignatureError) -> DetachedJWS {
        try signer.sign(digest: digest)
    }
}
