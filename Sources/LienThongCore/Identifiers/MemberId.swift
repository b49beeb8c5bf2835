/// The identifier of an X-Road member: `INSTANCE/CLASS/CODE`.
///
/// A member is an organisation registered in an X-Road instance, for example the Ministry of
/// Public Security of Viet Nam: `VN/GOV/000.00.00.G22`.
///
/// ```swift
/// let member = try MemberId(parsing: "VN/GOV/000.00.00.G22")
/// member.memberCode  // "000.00.00.G22"
/// ```
///
/// All parts follow ``IdentifierSyntax``.
public struct MemberId: XRoadIdentifier {
    /// The X-Road instance, for example `VN`.
    public let instance: String

    /// The member class, for example `GOV`.
    public let memberClass: String

    /// The member code, for example `000.00.00.G22`.
    public let memberCode: String

    /// Creates a member id from its parts, validating each of them.
    ///
    /// - parameters:
    ///     - instance: The X-Road instance, for example `VN`.
    ///     - memberClass: The member class, for example `GOV`.
    ///     - memberCode: The member code, for example `000.00.00.G22`.
    /// - throws: An ``IdentifierError`` naming the first invalid part.
    public init(instance: String, memberClass: String, memberCode: String) throws(IdentifierError) {
        try self.init(instance: instance, memberClass: memberClass, memberCode: memberCode, kind: .member)
    }

    /// Validating memberwise initialiser that reports errors as part of `kind`.
    init(instance: String, memberClass: String, memberCode: String, kind: IdentifierError.Kind) throws(IdentifierError) {
        try IdentifierParsing.validate(instance, as: .instance, in: kind)
        try IdentifierParsing.validate(memberClass, as: .memberClass, in: kind)
        try IdentifierParsing.validate(memberCode, as: .memberCode, in: kind)
        self.init(uncheckedInstance: instance, memberClass: memberClass, memberCode: memberCode)
    }

    /// Creates a member id from parts that are already valid.
    init(uncheckedInstance instance: String, memberClass: String, memberCode: String) {
        self.instance = instance
        self.memberClass = memberClass
        self.memberCode = memberCode
    }

    /// Builds a member id from the first three raw segments.
    init(
        segments: [Substring],
        percentEncoded: Bool,
        kind: IdentifierError.Kind,
        input: String
    ) throws(IdentifierError) {
        let instance = try IdentifierParsing.part(
            segments[0], as: .instance, in: kind, percentEncoded: percentEncoded, input: input)
        let memberClass = try IdentifierParsing.part(
            segments[1], as: .memberClass, in: kind, percentEncoded: percentEncoded, input: input)
        let memberCode = try IdentifierParsing.part(
            segments[2], as: .memberCode, in: kind, percentEncoded: percentEncoded, input: input)
        self.init(uncheckedInstance: instance, memberClass: memberClass, memberCode: memberCode)
    }

    /// Parses the canonical form `INSTANCE/CLASS/CODE`.
    ///
    /// - parameters:
    ///     - text: The canonical form, for example `VN/GOV/000.00.00.G22`.
    /// - throws: An ``IdentifierError`` if `text` does not have exactly three valid parts.
    public init(parsing text: String) throws(IdentifierError) {
        let segments = try IdentifierParsing.split(text, kind: .member, partCounts: 3...3)
        try self.init(segments: segments, percentEncoded: false, kind: .member, input: text)
    }

    /// Parses the percent-encoded form `INSTANCE/CLASS/CODE`, each part percent-encoded.
    ///
    /// - parameters:
    ///     - percentEncoded: The percent-encoded form.
    /// - throws: An ``IdentifierError`` if the text does not have exactly three valid parts.
    public init(percentEncoded: String) throws(IdentifierError) {
        let segments = try IdentifierParsing.split(percentEncoded, kind: .member, partCounts: 3...3)
        try self.init(segments: segments, percentEncoded: true, kind: .member, input: percentEncoded)
    }

    /// Decodes a member id from a single string in canonical form.
    ///
    /// - parameters:
    ///     - decoder: The decoder to read from.
    /// - throws: `DecodingError.dataCorrupted` (wrapping an ``IdentifierError``) if the string is invalid.
    public init(from decoder: any Decoder) throws {
        self = try Self.decodeCanonical(from: decoder)
    }

    /// Encodes the member id as a single string in canonical form.
    ///
    /// - parameters:
    ///     - encoder: The encoder to write to.
    public func encode(to encoder: any Encoder) throws {
        try self.encodeCanonical(to: encoder)
    }

    /// The canonical form, for example `VN/GOV/000.00.00.G22`.
    public var canonical: String {
        IdentifierParsing.canonical(self.parts)
    }

    /// The percent-encoded form, for example `VN/GOV/000.00.00.G22`.
    public var percentEncoded: String {
        IdentifierParsing.percentEncoded(self.parts)
    }

    /// The parts in order.
    var parts: [String] {
        [self.instance, self.memberClass, self.memberCode]
    }
}
