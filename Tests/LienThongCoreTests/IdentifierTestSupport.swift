import LienThongCore
import Testing

/// Runs `body` and returns the `IdentifierError` it throws, or `nil` if it succeeds.
///
/// Any other error is recorded as a test issue. (Closures only infer typed throws with the
/// `FullTypedThrows` feature, so `body` is untyped here; the typed signatures are checked
/// statically by the explicitly annotated closures of `IdentifierSlot`.)
func identifierError<T>(
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> T
) -> IdentifierError? {
    do {
        _ = try body()
        return nil
    } catch let error as IdentifierError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Test-side facts about identifiers, written independently of the implementation.
enum IdentifierFixtures {
    /// The characters allowed by section 4.8 of the X-Road REST protocol, spelled out.
    static let allowedCharacters: [Character] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'()+,-.=?")

    /// The allowed characters as a set of scalar values.
    static let allowedScalarValues: Set<UInt32> = Set(allowedCharacters.map { $0.unicodeScalars.first?.value ?? 0 })

    /// Whether a scalar is allowed in an identifier part, per the specification.
    static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        allowedScalarValues.contains(scalar.value)
    }

    /// Percent-encodes every byte that is not RFC 3986 unreserved (`A-Za-z0-9-._~`), so also
    /// `'()+,=?` — more than the implementation does; decoders must accept it.
    static func encodeEverything(_ part: String) -> String {
        var result = ""
        for byte in part.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return result
    }

    /// Inserts `scalar` into `part` before the scalar at `offset`.
    static func inserting(_ scalar: Unicode.Scalar, into part: String, at offset: Int) -> String {
        var scalars = Array(part.unicodeScalars)
        scalars.insert(scalar, at: offset)
        var result = String.UnicodeScalarView()
        result.append(contentsOf: scalars)
        return String(result)
    }
}

/// One part of one kind of identifier, with ways to build and parse identifiers of that kind.
struct IdentifierSlot: Sendable, CustomTestStringConvertible {
    /// A short label such as `service(v)`.
    let label: String
    /// The kind reported in errors.
    let kind: IdentifierError.Kind
    /// The number of parts in the text form.
    let partCount: Int
    /// The index of a fixed part (the `datasets` marker), if any.
    let fixedPart: (index: Int, value: String)?
    /// The names of the free parts, by index in the text form.
    let names: [Int: IdentifierError.Part]
    /// Builds the identifier with the validating memberwise initialiser from all text parts.
    let memberwise: @Sendable ([String]) throws(IdentifierError) -> Void
    /// Parses the canonical form.
    let parseCanonical: @Sendable (String) throws(IdentifierError) -> Void
    /// Parses the percent-encoded form.
    let parsePercentEncoded: @Sendable (String) throws(IdentifierError) -> Void

    var testDescription: String { label }

    /// The indices of the parts that can be changed freely.
    var freeIndices: [Int] {
        names.keys.sorted()
    }

    /// Fills in the fixed part and drops surplus random parts.
    func parts(from random: [String]) -> [String] {
        var parts = Array(random.prefix(partCount))
        if let fixedPart {
            parts[fixedPart.index] = fixedPart.value
        }
        return parts
    }

    static let member = IdentifierSlot(
        label: "member", kind: .member, partCount: 3, fixedPart: nil,
        names: [0: .instance, 1: .memberClass, 2: .memberCode],
        memberwise: { (p: [String]) throws(IdentifierError) in
            _ = try MemberId(instance: p[0], memberClass: p[1], memberCode: p[2])
        },
        parseCanonical: { (s: String) throws(IdentifierError) in _ = try MemberId(parsing: s) },
        parsePercentEncoded: { (s: String) throws(IdentifierError) in _ = try MemberId(percentEncoded: s) }
    )

    static let subsystem = IdentifierSlot(
        label: "subsystem", kind: .subsystem, partCount: 4, fixedPart: nil,
        names: [0: .instance, 1: .memberClass, 2: .memberCode, 3: .subsystemCode],
        memberwise: { (p: [String]) throws(IdentifierError) in
            _ = try SubsystemId(instance: p[0], memberClass: p[1], memberCode: p[2], subsystemCode: p[3])
        },
        parseCanonical: { (s: String) throws(IdentifierError) in _ = try SubsystemId(parsing: s) },
        parsePercentEncoded: { (s: String) throws(IdentifierError) in _ = try SubsystemId(percentEncoded: s) }
    )

    static let service = IdentifierSlot(
        label: "service", kind: .service, partCount: 5, fixedPart: nil,
        names: [0: .instance, 1: .memberClass, 2: .memberCode, 3: .subsystemCode, 4: .serviceCode],
        memberwise: { (p: [String]) throws(IdentifierError) in
            _ = try ServiceId(
                instance: p[0], memberClass: p[1], memberCode: p[2], subsystemCode: p[3], serviceCode: p[4])
        },
        parseCanonical: { (s: String) throws(IdentifierError) in _ = try ServiceId(parsing: s) },
        parsePercentEncoded: { (s: String) throws(IdentifierError) in _ = try ServiceId(percentEncoded: s) }
    )

    static let versionedService = IdentifierSlot(
        label: "service(v)", kind: .service, partCount: 6, fixedPart: nil,
        names: [0: .instance, 1: .memberClass, 2: .memberCode, 3: .subsystemCode, 4: .serviceCode, 5: .serviceVersion],
        memberwise: { (p: [String]) throws(IdentifierError) in
            _ = try ServiceId(
                instance: p[0], memberClass: p[1], memberCode: p[2], subsystemCode: p[3], serviceCode: p[4],
                serviceVersion: p[5])
        },
        parseCanonical: { (s: String) throws(IdentifierError) in _ = try ServiceId(parsing: s) },
        parsePercentEncoded: { (s: String) throws(IdentifierError) in _ = try ServiceId(percentEncoded: s) }
    )

    static let securityServer = IdentifierSlot(
        label: "securityServer", kind: .securityServer, partCount: 4, fixedPart: nil,
        names: [0: .instance, 1: .memberClass, 2: .memberCode, 3: .serverCode],
        memberwise: { (p: [String]) throws(IdentifierError) in
            _ = try SecurityServerId(instance: p[0], memberClass: p[1], memberCode: p[2], serverCode: p[3])
        },
        parseCanonical: { (s: String) throws(IdentifierError) in _ = try SecurityServerId(parsing: s) },
        parsePercentEncoded: { (s: String) throws(IdentifierError) in _ = try SecurityServerId(percentEncoded: s) }
    )

    static let dataset = IdentifierSlot(
        label: "dataset", kind: .dataset, partCount: 5, fixedPart: (3, "datasets"),
        names: [0: .instance, 1: .memberClass, 2: .memberCode, 4: .datasetCode],
        memberwise: { (p: [String]) throws(IdentifierError) in
            _ = try DatasetId(instance: p[0], memberClass: p[1], memberCode: p[2], datasetCode: p[4])
        },
        parseCanonical: { (s: String) throws(IdentifierError) in _ = try DatasetId(parsing: s) },
        parsePercentEncoded: { (s: String) throws(IdentifierError) in _ = try DatasetId(percentEncoded: s) }
    )

    static let memberClient = IdentifierSlot(
        label: "client(member)", kind: .client, partCount: 3, fixedPart: nil,
        names: [0: .instance, 1: .memberClass, 2: .memberCode],
        memberwise: { (p: [String]) throws(IdentifierError) in
            _ = try ClientId(instance: p[0], memberClass: p[1], memberCode: p[2])
        },
        parseCanonical: { (s: String) throws(IdentifierError) in _ = try ClientId(parsing: s) },
        parsePercentEncoded: { (s: String) throws(IdentifierError) in _ = try ClientId(headerValue: s) }
    )

    static let subsystemClient = IdentifierSlot(
        label: "client(subsystem)", kind: .client, partCount: 4, fixedPart: nil,
        names: [0: .instance, 1: .memberClass, 2: .memberCode, 3: .subsystemCode],
        memberwise: { (p: [String]) throws(IdentifierError) in
            _ = try ClientId(instance: p[0], memberClass: p[1], memberCode: p[2], subsystemCode: p[3])
        },
        parseCanonical: { (s: String) throws(IdentifierError) in _ = try ClientId(parsing: s) },
        parsePercentEncoded: { (s: String) throws(IdentifierError) in _ = try ClientId(headerValue: s) }
    )

    static let all: [IdentifierSlot] = [
        .member, .subsystem, .service, .versionedService, .securityServer, .dataset, .memberClient, .subsystemClient,
    ]
}
