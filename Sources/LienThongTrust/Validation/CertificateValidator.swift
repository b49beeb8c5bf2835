import Foundation
import LienThongCore
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

/// Why a certificate was not accepted.
public struct CertificateValidationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, in a form code can switch on.
    public enum Code: String, Hashable, Sendable {
        /// No certificate was presented.
        case missingCertificate
        /// The certificate's validity period has ended.
        case expired
        /// The certificate's validity period has not started.
        case notYetValid
        /// No chain leads to an approved CA (wrong CA, broken signature, bad intermediate).
        case untrustedChain
        /// The certificate is not for this role: subject, key usage or extended key usage do not fit.
        case wrongRole
        /// The CA revoked the certificate.
        case revoked
        /// The revocation status is unknown: the responder said so, or no fresh status could be obtained.
        case revocationStatusUnknown
    }

    /// The error's code.
    public var code: Code
    /// A sentence for the operator, naming the certificate.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// A certificate that passed ``CertificateValidator``.
public struct ValidatedCertificate: Sendable, Hashable {
    /// The leaf certificate.
    public var certificate: Certificate
    /// The validated chain, leaf first, ending with the trust anchor.
    public var chain: [Certificate]
    /// The role the certificate was validated for.
    public var role: CertificateRole
    /// The holder's identifier from the subject `CN`.
    public var holderId: String
    /// The OCSP status the decision rests on, when revocation was checked.
    public var revocation: VerifiedOCSPStatus?
}

/// Validates certificates the way every LienThong component must before trusting one:
/// a chain to an approved CA, the validity period, the key usage of the role, and
/// revocation through OCSP with a bounded-freshness cache.
///
/// The policy is closed: a status that is unknown, or that cannot be refreshed within the
/// freshness limit, rejects the certificate.
public struct CertificateValidator: Sendable {
    /// The approved CA certificates.
    public let trustAnchors: [Certificate]
    /// The revocation checker, or `nil` to skip revocation (only for instance-level
    /// certificates that OCSP does not cover, such as the OCSP signer itself).
    public let revocation: RevocationChecker?
    /// The certificate profile of each trust anchor that does not follow the development PKI's
    /// convention; an anchor not listed here uses ``CertificateProfile/development``.
    public let profiles: [Certificate: CertificateProfile]

    /// Creates a validator. A certificate's role and member id are read with the profile of the
    /// anchor its chain ends at (`profiles`, else ``CertificateProfile/development``).
    public init(trustAnchors: [Certificate], revocation: RevocationChecker?, profiles: [Certificate: CertificateProfile] = [:]) {
        self.trustAnchors = trustAnchors
        self.revocation = revocation
        self.profiles = profiles
    }

    /// The profile that certificates chaining to `anchor` are read with.
    public func profile(of anchor: Certificate) -> CertificateProfile {
        profiles[anchor] ?? .development
    }

    /// Validates `chain` (leaf first, then any intermediates) for `role` at `now`.
    ///
    /// - Parameter stapledOCSP: an OCSP response the peer sent along (DER); used instead
    ///   of asking the responder when it verifies and is fresh.
    public func validate(
        chain: [Certificate],
        role: CertificateRole,
        stapledOCSP: [UInt8]? = nil,
        at now: Date = Date()
    ) async throws(CertificateValidationError) -> ValidatedCertificate {
        try await validate(chain: chain, usage: .role(role), stapledOCSP: stapledOCSP, at: now)
    }

    /// Validates `chain` as a person's or system's TLS client certificate at `now`, whatever its
    /// subject says: chain to an approved CA, validity, key usage `digitalSignature` with extended
    /// key usage `clientAuth`, no CA rights, OCSP. The subject grants no role: the caller decides
    /// what the holder may do from its own records (the registry's registrations, keyed by the
    /// certificate's hash). The result's `role` is ``CertificateRole/admin`` only as the usage
    /// profile checked; its `holderId` is the subject.
    public func validateTLSClient(
        chain: [Certificate],
        at now: Date = Date()
    ) async throws(CertificateValidationError) -> ValidatedCertificate {
        try await validate(chain: chain, usage: .tlsClient, stapledOCSP: nil, at: now)
    }

    /// What a certificate is validated for.
    enum Usage {
        /// A LienThong role, from the subject's `OU`, with its key usages.
        case role(CertificateRole)
        /// A TLS client of any subject.
        case tlsClient
    }

    func validate(
        chain: [Certificate],
        usage: Usage,
        stapledOCSP: [UInt8]?,
        at now: Date
    ) async throws(CertificateValidationError) -> ValidatedCertificate {
        let role: CertificateRole
        switch usage {
        case .role(let wanted): role = wanted
        case .tlsClient: role = .admin
        }
        guard let leaf = chain.first else {
            throw CertificateValidationError(.missingCertificate, "no certificate was presented")
        }
        let name = Self.describe(leaf)
        if now < leaf.notValidBefore {
            throw CertificateValidationError(.notYetValid, "\(name) is not valid before \(Self.format(leaf.notValidBefore))")
        }
        if now > leaf.notValidAfter {
            throw CertificateValidationError(.expired, "\(name) expired on \(Self.format(leaf.notValidAfter))")
        }

        let validated = try await Self.buildChain(leaf: leaf, intermediates: Array(chain.dropFirst()),
                                                  anchors: trustAnchors, now: now, name: name)
        let holderId: String
        switch usage {
        case .role:
            let profile = validated.last.map { self.profile(of: $0) } ?? .development
            holderId = try Self.checkRole(leaf, role: role, profile: profile, name: name)
        case .tlsClient: holderId = try Self.checkTLSClient(leaf, name: name)
        }

        var status: VerifiedOCSPStatus?
        if let revocation {
            guard validated.count >= 2 else {
                throw CertificateValidationError(.untrustedChain, "\(name) is itself a trust anchor, not a \(role) certificate")
            }
            let issuer = validated[1]
            let verified = try await revocation.status(of: leaf, issuer: issuer, stapled: stapledOCSP, at: now)
            switch verified.status {
            case .good:
                status = verified
            case .revoked(let at, let reason):
                let why = reason.map { " (\($0))" } ?? ""
                throw CertificateValidationError(.revoked, "\(name) was revoked on \(Self.format(at))\(why)")
            case .unknown:
                throw CertificateValidationError(.revocationStatusUnknown, "the OCSP responder does not know \(name)")
            }
        }
        return ValidatedCertificate(certificate: leaf, chain: validated, role: role, holderId: holderId, revocation: status)
    }

    private static func buildChain(
        leaf: Certificate, intermediates: [Certificate], anchors: [Certificate], now: Date, name: String
    ) async throws(CertificateValidationError) -> [Certificate] {
        var verifier = Verifier(rootCertificates: CertificateStore(anchors)) {
            RFC5280Policy(fixedExpiryValidationTime: now)
        }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates))
        switch result {
        case .validCertificate(let chain):
            return Array(chain)
        case .couldNotValidate(let failures):
            let reason = failures.first.map { ": \($0.policyFailureReason)" } ?? ""
            throw CertificateValidationError(
                .untrustedChain, "\(name), issued by \(leaf.issuer), does not chain to an approved CA\(reason)")
        }
    }

    /// Checks subject, key usage and extended key usage against the role; returns the holder id.
    static func checkRole(_ leaf: Certificate, role: CertificateRole, name: String) throws(CertificateValidationError) -> String {
        try checkRole(leaf, role: role, profile: .development, name: name)
    }

    /// Checks the certificate against `role` as its CA's `profile` defines it; returns the holder id
    /// (for a member, its canonical member id read through the profile).
    static func checkRole(_ leaf: Certificate, role: CertificateRole, profile: CertificateProfile,
                          name: String) throws(CertificateValidationError) -> String {
        var holderId: String
        switch profile.roles {
        case .ou:
            guard let holder = CertificateRole.holder(of: leaf) else {
                throw CertificateValidationError(.wrongRole, "\(name) has no LienThong role in its subject")
            }
            guard holder.role == role else {
                throw CertificateValidationError(.wrongRole, "\(name) is a \(holder.role) certificate, not a \(role) certificate")
            }
            holderId = holder.holderId
        case .keyUsage:
            // A CA recognised by key usage alone issues member signing and server TLS certificates only:
            // never an instance certificate (configuration signing, OCSP) nor a person's role.
            guard role == .member || role == .server else {
                throw CertificateValidationError(.wrongRole, "\(name) comes from a CA whose profile recognises member and server certificates only, not a \(role) certificate")
            }
            holderId = leaf.subject.description
        }
        if role == .member, profile != .development {
            do { holderId = try profile.memberId.memberId(in: leaf.subject).canonical } catch {
                throw CertificateValidationError(error.code, "\(name): \(error.message)")
            }
        }
        if let constraints = try? leaf.extensions.basicConstraints, case .isCertificateAuthority = constraints, role != .rootCA {
            throw CertificateValidationError(.wrongRole, "\(name) is a CA certificate, not a \(role) certificate")
        }
        let extensions = leaf.extensions
        guard let keyUsage = try? extensions.keyUsage else {
            throw CertificateValidationError(.wrongRole, "\(name) has no key usage extension")
        }
        let wanted = role.keyUsage
        let missing = [
            (wanted.digitalSignature && !keyUsage.digitalSignature, "digitalSignature"),
            (wanted.nonRepudiation && !keyUsage.nonRepudiation, "nonRepudiation"),
            (wanted.keyCertSign && !keyUsage.keyCertSign, "keyCertSign"),
        ].filter(\.0).map(\.1)
        if !missing.isEmpty {
            throw CertificateValidationError(.wrongRole, "\(name) lacks key usage \(missing.joined(separator: ", ")) required for a \(role) certificate")
        }
        if keyUsage.keyCertSign && role != .rootCA {
            throw CertificateValidationError(.wrongRole, "\(name) may sign certificates, which a \(role) certificate must not")
        }
        let eku: ExtendedKeyUsage?
        do { eku = try extensions.extendedKeyUsage } catch {
            throw CertificateValidationError(.wrongRole, "\(name) has an unreadable extended key usage extension")
        }
        if let required = role.extendedKeyUsage {
            guard let eku else {
                throw CertificateValidationError(.wrongRole, "\(name) has no extended key usage; a \(role) certificate needs \(required)")
            }
            for usage in required where !eku.contains(usage) {
                throw CertificateValidationError(.wrongRole, "\(name) lacks extended key usage \(usage) required for a \(role) certificate")
            }
        } else if let eku, !Array(eku).isEmpty {
            throw CertificateValidationError(.wrongRole, "\(name) carries extended key usage \(eku), which a \(role) certificate must not")
        }
        return holderId
    }

    /// Checks the key usages of a TLS client certificate; returns its subject.
    static func checkTLSClient(_ leaf: Certificate, name: String) throws(CertificateValidationError) -> String {
        guard let keyUsage = try? leaf.extensions.keyUsage, keyUsage.digitalSignature else {
            throw CertificateValidationError(.wrongRole, "\(name) lacks key usage digitalSignature, which a TLS client certificate needs")
        }
        if keyUsage.keyCertSign {
            throw CertificateValidationError(.wrongRole, "\(name) may sign certificates, which a TLS client certificate must not")
        }
        if let constraints = try? leaf.extensions.basicConstraints, case .isCertificateAuthority = constraints {
            throw CertificateValidationError(.wrongRole, "\(name) is a CA certificate")
        }
        guard let eku = try? leaf.extensions.extendedKeyUsage, eku.contains(.clientAuth) else {
            throw CertificateValidationError(.wrongRole, "\(name) lacks extended key usage clientAuth")
        }
        return leaf.subject.description
    }

    static func describe(_ certificate: Certificate) -> String {
        let holder = CertificateRole.holder(of: certificate).map { "\($0.role) certificate \($0.holderId)" } ?? "certificate \(certificate.subject)"
        return "\(holder) (serial \(certificate.serialNumber))"
    }

    static func format(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}
