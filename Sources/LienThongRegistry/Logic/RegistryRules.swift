import Foundation
import SwiftASN1
import X509
import LienThongCore
import NIOSSL

/// The input rules shared by the registry's operations. Each throws ``RegistryError`` with code
/// `.invalid` and a message naming the field.
enum RegistryRules {
    /// `text` trimmed of surrounding white space; refuses an empty result.
    static func nonBlank(_ text: String, _ field: String) throws(RegistryError) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw .invalid("\(field) must not be empty") }
        return trimmed
    }

    /// `text` trimmed, or `nil` if absent or blank.
    static func optionalText(_ text: String?) -> String? {
        guard let trimmed = text?.trimmingCharacters(in: .whitespacesAndNewlines), !trimmed.isEmpty else { return nil }
        return trimmed
    }

    /// The longest name (of a member, subsystem, service or dataset), in Unicode code points.
    static let maxNameLength = 1_000
    /// The longest legal basis, in Unicode code points.
    static let maxLegalBasisLength = 1_000
    /// The longest justification of an access request or reason of a decision, in Unicode code points.
    static let maxReasonLength = 10_000

    /// Refuses free text (a name, a legal basis, a justification, a reason) that holds a control
    /// character — Unicode category Cc: U+0000 to U+001F (NUL, tab, line breaks, escape ...),
    /// U+007F DEL and U+0080 to U+009F — or is longer than `limit` Unicode code points (what
    /// JSON Schema's `maxLength` counts). Such text is one line of print: a NUL or an escape
    /// sequence would reach logs, CSV exports and terminals, and an unbounded name every copy
    /// of the global configuration. Absent text passes.
    static func freeText(_ text: String?, _ field: String, limit: Int) throws(RegistryError) {
        guard let text else { return }
        var length = 0
        for scalar in text.unicodeScalars {
            if scalar.properties.generalCategory == .control {
                throw .invalid("\(field) holds the control character U+\(hex(scalar)) at position \(length + 1); "
                    + "free text may hold no control characters (U+0000 to U+001F, U+007F to U+009F)")
            }
            length += 1
            if length > limit {
                throw .invalid("\(field) is longer than \(limit) characters")
            }
        }
    }

    /// Refuses a document (a service's OpenAPI text) holding a control character other than tab,
    /// line feed and carriage return; its length is bounded by the body limit only.
    static func documentText(_ text: String?, _ field: String) throws(RegistryError) {
        guard let text else { return }
        let allowed: Set<Unicode.Scalar> = ["\t", "\n", "\r"]
        if let scalar = text.unicodeScalars.first(where: { $0.properties.generalCategory == .control && !allowed.contains($0) }) {
            throw .invalid("\(field) holds the control character U+\(hex(scalar)); a document may hold tab, line feed and "
                + "carriage return, no other control character")
        }
    }

    private static func hex(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// Refuses an id of another instance.
    static func sameInstance(_ member: MemberId, _ instance: String, _ what: String) throws(RegistryError) {
        guard member.instance == instance else {
            throw .invalid("\(what) \(member.canonical) belongs to instance \(member.instance), not \(instance)")
        }
    }

    /// The earliest `valid_from` of an agreement: 2000-01-01T00:00:00Z. No data-sharing agreement
    /// of a Vietnamese agency predates it (electronic data sharing between agencies rests on laws
    /// from 2005 on); an earlier date is a typing error such as the year 0041.
    static let earliestValidFrom = Date(timeIntervalSince1970: 946_684_800)

    /// Refuses an agreement whose consumer is the very subsystem that provides one of its
    /// services: a subsystem reads its own data without an agreement with itself, and such a
    /// record would only inflate the compliance view. Another subsystem of the same member is a
    /// consumer like any other (X-Road's access rights are per subsystem).
    static func notOwnProvider(_ consumer: SubsystemId, of services: [ServiceId]) throws(RegistryError) {
        if let own = services.first(where: { $0.subsystem == consumer }) {
            throw .invalid("the consumer \(consumer.canonical) is its own provider: it provides \(own.canonical); "
                + "a subsystem needs no agreement with itself (another subsystem of the member may consume)")
        }
    }

    /// Refuses an empty purpose list on a dataset that holds personal data: personal data is
    /// processed only for stated purposes (Decree 13/2023/NĐ-CP on personal data protection,
    /// Art. 3). On other datasets an empty list means any purpose.
    static func purposesNamed(_ purposes: [String], for dataset: Dataset) throws(RegistryError) {
        guard dataset.personalData, purposes.isEmpty else { return }
        throw .invalid("dataset \(dataset.id.canonical) holds personal data: its agreements and access requests must list their "
            + "purposes (Decree 13/2023/NĐ-CP, Art. 3); an empty list, meaning any purpose, is allowed only on other datasets")
    }

    /// Purpose codes must match `^[A-Za-z0-9.\-_]{1,64}$` and be distinct.
    static func purposes(_ codes: [String]) throws(RegistryError) -> [String] {
        var seen: Set<String> = []
        for code in codes {
            guard isPurposeCode(code) else {
                throw .invalid("purpose \"\(code.prefix(80))\" is not a code: 1 to 64 characters among A-Z a-z 0-9 . - _")
            }
            guard seen.insert(code).inserted else { throw .invalid("purpose \(code) is listed twice") }
        }
        return codes
    }

    /// Whether `code` matches `^[A-Za-z0-9.\-_]{1,64}$`.
    static func isPurposeCode(_ code: String) -> Bool {
        let bytes = Array(code.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
                true
            default:
                false
            }
        }
    }

    /// Refuses a list naming the same service twice.
    static func distinct(_ services: [ServiceId], _ field: String) throws(RegistryError) {
        var seen: Set<ServiceId> = []
        for service in services where !seen.insert(service).inserted {
            throw .invalid("\(field) lists \(service.canonical) twice")
        }
    }

    /// The most nodes one security server may declare.
    static let maximumNodes = 16

    /// A server's declared nodes: ``SecurityServer/defaultNodes`` if absent; otherwise 1 to
    /// ``maximumNodes`` distinct names, each as a server's `audit.node` may be (1 to 64 letters,
    /// digits, `-`, `_` or `.`).
    static func nodes(_ nodes: [String]?) throws(RegistryError) -> [String] {
        guard let nodes else { return SecurityServer.defaultNodes }
        guard (1...maximumNodes).contains(nodes.count) else {
            throw .invalid("nodes must list 1 to \(maximumNodes) node names, not \(nodes.count)")
        }
        var seen: Set<String> = []
        for node in nodes {
            guard !node.isEmpty, node.count <= 64,
                  node.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) }) else {
                throw .invalid("node \"\(node.prefix(80))\" must be 1 to 64 letters, digits, '-', '_' or '.'")
            }
            guard seen.insert(node).inserted else { throw .invalid("nodes lists \"\(node)\" twice") }
        }
        return nodes
    }

    /// A `host:port` address: a DNS name or IPv4 address, or a bracketed IPv6 literal, then a
    /// port from 1 to 65535.
    static func address(_ text: String) throws(RegistryError) -> String {
        let invalid = RegistryError.invalid("address \"\(text.prefix(80))\" is not host:port with a port from 1 to 65535")
        guard let colon = text.lastIndex(of: ":") else { throw invalid }
        let host = text[..<colon]
        let port = text[text.index(after: colon)...]
        guard !port.isEmpty, port.count <= 5, port.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
              let number = Int(port), (1...65_535).contains(number) else { throw invalid }
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { throw invalid }
            let literal = host.dropFirst().dropLast()
            guard literal.contains(":"),
                  literal.utf8.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
            else { throw invalid }
            return text
        }
        guard !host.isEmpty, host.utf8.count <= 253 else { throw invalid }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            let bytes = Array(label.utf8)
            guard (1...63).contains(bytes.count),
                  bytes.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") }),
                  bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-")
            else { throw invalid }
        }
        return text
    }

    /// The DER bytes of the first certificate in `pem` (the server's own; a chain may follow),
    /// each certificate checked to parse as X.509.
    ///
    /// The PEM must hold at least one `CERTIFICATE` block and no private key; text outside the
    /// blocks is ignored.
    static func certificateDER(pem: String) throws(RegistryError) -> [UInt8] {
        guard !pem.contains("PRIVATE KEY-----") else {
            throw .invalid("tls_certificate holds a private key; register the certificate only")
        }
        let begin = "-----BEGIN CERTIFICATE-----"
        let end = "-----END CERTIFICATE-----"
        var certificates: [[UInt8]] = []
        var rest = pem[...]
        while let start = rest.range(of: begin) {
            guard let stop = rest.range(of: end, range: start.upperBound..<rest.endIndex) else {
                throw .invalid("tls_certificate: a PEM CERTIFICATE block is not closed")
            }
            let body = rest[start.upperBound..<stop.lowerBound].filter { !$0.isWhitespace }
            guard let data = Data(base64Encoded: String(body)), !data.isEmpty else {
                throw .invalid("tls_certificate: PEM block \(certificates.count + 1) is not base64")
            }
            let der = [UInt8](data)
            do {
                let certificate = try NIOSSLCertificate(bytes: der, format: .der)
                guard try certificate.toDERBytes() == der else {
                    throw RegistryError.invalid("tls_certificate: PEM block \(certificates.count + 1) has trailing data")
                }
            } catch let error as RegistryError {
                throw error
            } catch {
                throw .invalid("tls_certificate: PEM block \(certificates.count + 1) is not an X.509 certificate (\(error))")
            }
            certificates.append(der)
            rest = rest[stop.upperBound...]
        }
        guard let first = certificates.first else {
            throw .invalid("tls_certificate must hold a PEM CERTIFICATE block")
        }
        return first
    }

    /// Upper-cases methods and checks them (an HTTP token or `*`); paths must start with `/`.
    static func endpoints(_ endpoints: [ServiceEndpoint]) throws(RegistryError) -> [ServiceEndpoint] {
        var result: [ServiceEndpoint] = []
        var seen: Set<ServiceEndpoint> = []
        for endpoint in endpoints {
            let method = endpoint.method.uppercased()
            guard method == "*" || (!method.isEmpty && method.utf8.allSatisfy(isTokenCharacter)) else {
                throw .invalid("endpoint method \"\(endpoint.method.prefix(40))\" is not an HTTP method or *")
            }
            guard endpoint.path.hasPrefix("/") else {
                throw .invalid("endpoint path \"\(endpoint.path.prefix(80))\" must start with /")
            }
            guard !endpoint.path.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == " " }) else {
                throw .invalid("endpoint path \"\(endpoint.path.prefix(80))\" contains white space or control characters")
            }
            let normalised = ServiceEndpoint(method: method, path: endpoint.path)
            guard seen.insert(normalised).inserted else {
                throw .invalid("endpoint \(method) \(endpoint.path) is listed twice")
            }
            result.append(normalised)
        }
        return result
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
    }

    /// RFC 9110 `tchar`.
    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
    }
}

extension RegistryRules {
    /// The subject of the certificate `der`, as the trail and the registration list show it.
    static func certificateSubject(der: [UInt8]) throws(RegistryError) -> String {
        do {
            return try X509.Certificate(derEncoded: der).subject.description
        } catch {
            throw .invalid("certificate: not a readable X.509 certificate (\(error))")
        }
    }
}
