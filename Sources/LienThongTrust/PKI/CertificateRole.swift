import Foundation
import LienThongCore
import SwiftASN1
import X509

/// The role a certificate plays in a LienThong instance.
///
/// Every role has a fixed key usage and extended key usage profile, and a fixed way of
/// carrying the holder's identifier in the certificate subject. The mapping is documented
/// in `docs/pki.md`; ``CertificateValidator`` enforces it on every use.
public enum CertificateRole: String, CaseIterable, Sendable, Hashable, Codable, CustomStringConvertible {
    /// The instance root certification authority.
    case rootCA = "root-ca"
    /// The registry's key that signs the global configuration and countersigns checkpoints.
    case configurationSigning = "configuration-signing"
    /// The delegated OCSP responder of the instance CA.
    case ocspSigning = "ocsp-signing"
    /// A security server's TLS identity, used for the mutual-TLS channel only.
    case server
    /// A member's signing identity: signs requests, responses and log checkpoints.
    case member
    /// A state auditor: read-only access to the auditor APIs.
    case auditor
    /// A registry administrator: write access to the management API.
    case admin

    /// The roles that `lienthong pki issue --kind` can issue.
    public static let issuable: [CertificateRole] = [.server, .member, .auditor, .admin]

    /// The role's name as it appears in the subject's `OU` attribute and on the command line.
    public var description: String { self.rawValue }

    /// The key usage bits a certificate of this role carries (and must carry).
    public var keyUsage: KeyUsage {
        switch self {
        case .rootCA:
            return KeyUsage(keyCertSign: true, cRLSign: true)
        case .configurationSigning, .member:
            return KeyUsage(digitalSignature: true, nonRepudiation: true)
        case .ocspSigning, .server, .auditor, .admin:
            return KeyUsage(digitalSignature: true)
        }
    }

    /// The extended key usages a certificate of this role carries, or `nil` when it carries none.
    ///
    /// Signing roles (member, configuration signing) deliberately carry no extended key usage,
    /// so that a signing key can never authenticate a TLS channel.
    public var extendedKeyUsage: [ExtendedKeyUsage.Usage]? {
        switch self {
        case .rootCA, .configurationSigning, .member:
            return nil
        case .ocspSigning:
            return [.ocspSigning]
        case .server:
            return [.serverAuth, .clientAuth]
        case .auditor, .admin:
            return [.clientAuth]
        }
    }

    /// Whether the role is a certification authority.
    public var isCertificateAuthority: Bool { self == .rootCA }

    /// Checks that `holderId` is a well-formed identifier for this role and returns its canonical form.
    ///
    /// - server: a security server id, `INSTANCE/CLASS/CODE/SERVERCODE`;
    /// - member: a member id, `INSTANCE/CLASS/CODE`;
    /// - auditor and admin: a member id followed by a person code, `INSTANCE/CLASS/CODE/PERSON`
    ///   (the same shape as a subsystem id);
    /// - the instance roles take the instance code.
    public func canonicalHolderId(_ holderId: String, instance: String) throws(PKIError) -> String {
        do {
            switch self {
            case .server:
                return try SecurityServerId(parsing: holderId).canonical
            case .member:
                return try MemberId(parsing: holderId).canonical
            case .auditor, .admin:
                return try SubsystemId(parsing: holderId).canonical
            case .rootCA, .configurationSigning, .ocspSigning:
                guard holderId == instance else {
                    throw PKIError(.invalidHolderId, "the \(self) certificate belongs to instance \(instance), not \(holderId)")
                }
                return holderId
            }
        } catch let error as IdentifierError {
            throw PKIError(.invalidHolderId, "\(self) id \"\(holderId)\": \(error)")
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError(.invalidHolderId, "\(self) id \"\(holderId)\": \(error)")
        }
    }

    /// The subject distinguished name for a holder of this role.
    ///
    /// `CN` carries the holder's canonical identifier, `OU` the role and `O` the instance:
    /// `CN=VN/GOV/000.00.00.G22, OU=member, O=LienThong VN`.
    public func subject(holderId: String, instance: String) throws -> DistinguishedName {
        let commonName: String
        switch self {
        case .rootCA: commonName = "LienThong \(instance) Root CA (development)"
        case .configurationSigning: commonName = "LienThong \(instance) configuration signing"
        case .ocspSigning: commonName = "LienThong \(instance) OCSP responder"
        case .server, .member, .auditor, .admin: commonName = holderId
        }
        return try DistinguishedName {
            OrganizationName("LienThong \(instance)")
            OrganizationalUnitName(self.rawValue)
            CommonName(commonName)
        }
    }

    /// Reads the role and holder id back out of a certificate subject, or `nil` if the subject
    /// does not follow the LienThong mapping.
    public static func holder(of certificate: Certificate) -> (role: CertificateRole, holderId: String)? {
        var role: CertificateRole?
        var commonName: String?
        for rdn in certificate.subject {
            for attribute in rdn {
                if attribute.type == .RDNAttributeType.organizationalUnitName {
                    role = CertificateRole(rawValue: String(describing: attribute.value))
                } else if attribute.type == .RDNAttributeType.commonName {
                    commonName = String(describing: attribute.value)
                }
            }
        }
        guard let role, let commonName else { return nil }
        return (role, commonName)
    }
}
