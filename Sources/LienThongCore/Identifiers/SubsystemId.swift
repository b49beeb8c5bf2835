/// The identifier of a subsystem of an X-Road member: `INSTANCE/CLASS/CODE/SUBSYSTEM`.
///
/// Subsystems are the information systems of a member that consume or provide services, for
/// example the population database of the Ministry of Public Security:
/// `VN/GOV/000.00.00.G22/DANCU`.
///
/// The subsystem code may not be `datasets` (in any letter case): that fourth part marks a
/// ``DatasetId``.
public struct SubsystemId: XRoadIdentifier {
    /// The member that owns the subsystem.
    public let member: MemberId

    /// The subsystem code, for example `DANCU`.
    public let subsystemCode: String

    /// Creates a subsystem id, validating the subsystem code.
    ///
    /// - parameters:
    ///     - member: The member that owns the subsystem.
    ///     - subsystemCode: The subsystem code, for example `DANCU`.
    /// - throws: An ``IdentifierError`` if the subsystem code is invalid or reserved.
    public init(member: MemberId, subsystemCode: String) throws(IdentifierError) {
        try self.init(member: member, subsystemCode: subsystemCode, kind: .subsystem)
    }

    /// Creates a subsystem id from its four parts, validating each of them.
    ///
    /// - parameters:
    ///     - instance: The X-Road instance, for example `VN`.
    ///     - memberClass: The member class, for example `GOV`.
    ///     - memberCode: The member code, for example `000.00.00.G22`.
    ///     - subsystemCode: The subsystem code, for example `DANCU`.
    /// - throws: An ``IdentifierError`` naming the first invalid part.
    public init(
        instance: String,
        memberClass: String,
        memberCode: String,
        subsystemCode: String
    ) throws(IdentifierError) {
        try self.init(
            instance: instance,
            memberClass: memberClass,
            memberCode: memberCode,
            subsystemCode: subsystemCode,
            kind: .subsystem
        )
    }

    /// Validating initialiser that reports errors as part of `kind`.
    init(
        instance: String,
        memberClass: String,
        memberCode: String,
        subsystemCode: String,
        kind: IdentifierError.Kind
    ) throws(IdentifierError) {
        let member = try MemberId(instance: instance, memberClass: memberClass, memberCode: memberCode, kind: kind)
        try self.init(member: member, subsystemCode: subsystemCode, kind: kind)
    }

    /// Validating initialiser that reports errors as part of `kind`.
    init(member: MemberId, subsystemCode: String, kind: IdentifierError.Kind) throws(IdentifierError) {
        try IdentifierParsing.validateCode(subsystemCode, as: .subsystemCode, in: kind)
        self.init(uncheckedMember: member, subsystemCode: subsystemCode)
    }

    /// Creates a subsystem id from parts that are already valid.
    init(uncheckedMember member: MemberId, subsystemCode: String) {
        self.member = member
        self.subsystemCode = subsystemCode
    }

    /// Builds a subsystem id from the first four raw segments.
    init(
        segments: [Substring],
        percentEncoded: Bool,
        kind: IdentifierError.Kind,
        input: String
    ) throws(IdentifierError) {
        let member = try MemberId(segments: segments, percentEncoded: percentEncoded, kind: kind, input: input)
        let code = try IdentifierParsing.code(
            segments[3], as: .subsystemCode, in: kind, percentEncoded: percentEncoded, input: input)
        self.init(uncheckedMember: member, subsystemCode: code)
    }

    /// Parses the canonical form `INSTANCE/CLASS/CODE/SUBSYSTEM`.
    ///
    /// - parameters:
    ///     - text: The canonical form, for example `VN/GOV/000.00.00.G22/DANCU`.
    /// - throws: An ``IdentifierError`` if `text` does not have exactly four valid parts.
    public init(parsing text: String) throws(IdentifierError) {
        let segments = try IdentifierParsing.split(text, kind: .subsystem, partCounts: 4...4)
        try self.init(segments: segments, percentEncoded: false, kind: .subsystem, input: text)
    }

    /// Parses the percent-encoded form `INSTANCE/CLASS/CODE/SUBSYSTEM`, each part percent-encoded.
    ///
    /// - parameters:
    ///     - percentEncoded: The percent-encoded form.
    /// - throws: An ``IdentifierError`` if the text does not have exactly four valid parts.
    public init(percentEncoded: String) throws(IdentifierError) {
        let segments = try IdentifierParsing.split(percentEncoded, kind: .subsystem, partCounts: 4...4)
        try self.init(segments: segments, percentEncoded: true, kind: .subsystem, input: percentEncoded)
    }

    /// Decodes a subsystem id from a single string in canonical form.
    ///
    /// - parameters:
    ///     - decoder: The decoder to read from.
    /// - throws: `DecodingError.dataCorrupted` (wrapping an ``IdentifierError``) if the string is invalid.
    public init(from decoder: any Decoder) throws {
        self = try Self.decodeCanonical(from: decoder)
    }

    /// Encodes the subsystem id as a single string in canonical form.
    ///
    /// - parameters:
    ///     - encoder: The encoder to write to.
    public func encode(to encoder: any Encoder) throws {
        try self.encodeCanonical(to: encoder)
    }

    /// The canonical form, for example `VN/GOV/000.00.00.G22/DANCU`.
    public var canonical: String {
        IdentifierParsing.canonical(self.parts)
    }

    /// The percent-encoded form, for example `VN/GOV/000.00.00.G22/DANCU`.
    public var percentEncoded: String {
        IdentifierParsing.percentEncoded(self.parts)
    }

    /// The parts in order.
    var parts: [String] {
        self.member.parts + [self.subsystemCode]
    }
}
