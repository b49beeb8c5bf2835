import Foundation
import LienThongCore
import SwiftASN1
import X509

/// How the certificates of one approved CA are read: which subject attribute carries a member id
/// and in which form, and whether a certificate's LienThong role comes from its `OU` or from its
/// key usages alone. Each approved CA of the global configuration carries one (``development`` when
/// it says nothing), so that a government CA that knows nothing of LienThong's conventions can issue
/// member signing certificates. Documented in `docs/pki.md`.
///
/// JSON form (global configuration, registry configuration):
/// `{"member_id": {"attribute": "serialNumber", "form": "code", "instance": "VN", "member_class": "GOV"}, "roles": "key-usage"}`.
public struct CertificateProfile: Codable, Sendable, Hashable, CustomStringConvertible {
    /// Where a member id is read from.
    public var memberId: MemberIdRule
    /// How a certificate's role is recognised.
    public var roles: Roles

    /// Creates a profile.
    public init(memberId: MemberIdRule, roles: Roles) {
        self.memberId = memberId
        self.roles = roles
    }

    /// The development PKI's convention (`lienthong pki`): the role in `OU`, the canonical member id in `CN`.
    public static let development = CertificateProfile(memberId: MemberIdRule(attribute: .commonName, form: .canonical), roles: .ou)

    /// A short description for messages.
    public var description: String {
        let form = memberId.form == .canonical ? "canonical id" : "code of \(memberId.instance ?? "?")/\(memberId.memberClass ?? "?")"
        return "\(memberId.attribute.rawValue) holds the member's \(form), roles from \(roles.rawValue)"
    }

    /// How a certificate's role is recognised.
    public enum Roles: String, Codable, Sendable, Hashable {
        /// The subject's `OU` names the role (`member`, `server`, ...), and the key usages must fit it.
        case ou
        /// No `OU`: a member signing certificate is one with digitalSignature + nonRepudiation, no
        /// extended key usage and no CA rights; a server TLS certificate one with serverAuth + clientAuth.
        /// Such a CA's certificates can hold no other role (never configuration signing, OCSP or CA).
        case keyUsage = "key-usage"
    }

    /// A subject attribute, by name (`CN`, `serialNumber`, `organizationIdentifier`, `O`) or dotted OID.
    public struct SubjectAttribute: RawRepresentable, Codable, Sendable, Hashable {
        /// The name or dotted OID as written in the configuration.
        public let rawValue: String
        /// The attribute's OID, dotted.
        public let oid: String

        static let names: [String: String] = [
            "CN": "2.5.4.3", "serialNumber": "2.5.4.5", "organizationIdentifier": "2.5.4.97", "O": "2.5.4.10",
        ]

        /// Parses a name or dotted OID; `nil` for anything else.
        public init?(rawValue: String) {
            if let oid = Self.names[rawValue] {
                self.rawValue = rawValue
                self.oid = oid
                return
            }
            let arcs = rawValue.split(separator: ".", omittingEmptySubsequences: false)
            guard rawValue.utf8.count <= 64, arcs.count >= 2,
                  arcs.allSatisfy({ !$0.isEmpty && $0.count <= 9 && $0.allSatisfy { $0.isASCII && $0.isNumber } }) else { return nil }
            self.rawValue = rawValue
            self.oid = rawValue
        }

        /// `CN`.
        public static let commonName = SubjectAttribute(rawValue: "CN")!
        /// `serialNumber` (2.5.4.5), where many national CAs put an identity number.
        public static let serialNumber = SubjectAttribute(rawValue: "serialNumber")!
        /// `organizationIdentifier` (2.5.4.97).
        public static let organizationIdentifier = SubjectAttribute(rawValue: "organizationIdentifier")!
        /// `O`.
        public static let organizationName = SubjectAttribute(rawValue: "O")!

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let value = SubjectAttribute(rawValue: text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                    debugDescription: "\"\(text.prefix(64))\" is not CN, serialNumber, organizationIdentifier, O or a dotted OID"))
            }
            self = value
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }
    }

    /// Where and in which form a member id is carried.
    public struct MemberIdRule: Codable, Sendable, Hashable {
        /// The form of the attribute's value.
        public enum Form: String, Codable, Sendable, Hashable {
            /// The whole member id, `INSTANCE/CLASS/CODE`.
            case canonical
            /// The member code only; the id is `instance/member_class/<value>`.
            case code
        }

        /// The subject attribute that carries the id; it must occur exactly once.
        public var attribute: SubjectAttribute
        /// The value's form.
        public var form: Form
        /// The instance code, for ``Form/code``.
        public var instance: String?
        /// The member class, for ``Form/code``.
        public var memberClass: String?

        /// Creates a rule.
        public init(attribute: SubjectAttribute, form: Form, instance: String? = nil, memberClass: String? = nil) {
            self.attribute = attribute
            self.form = form
            self.instance = instance
            self.memberClass = memberClass
        }

        enum CodingKeys: String, CodingKey {
            case attribute, form, instance
            case memberClass = "member_class"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            attribute = try c.decode(SubjectAttribute.self, forKey: .attribute)
            form = try c.decode(Form.self, forKey: .form)
            instance = try c.decodeIfPresent(String.self, forKey: .instance)
            memberClass = try c.decodeIfPresent(String.self, forKey: .memberClass)
            if let problem = validationProblem {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem))
            }
        }

        /// Why the rule cannot work, or `nil`.
        public var validationProblem: String? {
            switch form {
            case .canonical:
                return instance == nil && memberClass == nil ? nil : "instance and member_class belong to the \"code\" form only"
            case .code:
                guard let instance, let memberClass else { return "the \"code\" form needs instance and member_class" }
                do { _ = try MemberId(parsing: "\(instance)/\(memberClass)/X") } catch {
                    return "instance \"\(instance.prefix(32))\" and member_class \"\(memberClass.prefix(32))\" do not form a member id: \(error)"
                }
                return nil
            }
        }

        /// The member id this rule reads from `subject`.
        public func memberId(in subject: DistinguishedName) throws(CertificateValidationError) -> MemberId {
            var values: [String] = []
            for rdn in subject {
                for attribute in rdn where String(describing: attribute.type) == self.attribute.oid {
                    values.append(String(describing: attribute.value))
                }
            }
            guard values.count == 1, let value = values.first else {
                throw CertificateValidationError(.wrongRole, values.isEmpty
                    ? "its subject has no \(attribute.rawValue), which carries the member id under its CA's profile"
                    : "its subject has \(values.count) \(attribute.rawValue) attributes; the member id must be unambiguous")
            }
            let text: String
            switch form {
            case .canonical: text = value
            case .code: text = "\(instance ?? "")/\(memberClass ?? "")/\(value)"
            }
            do { return try MemberId(parsing: text) } catch {
                throw CertificateValidationError(.wrongRole, "its \(attribute.rawValue) \"\(value.prefix(100))\" is not a member \(form == .code ? "code" : "id"): \(error)")
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case memberId = "member_id"
        case roles
    }
}
