/// The identifier of a service client: a member (`INSTANCE/CLASS/CODE`) or a subsystem
/// (`INSTANCE/CLASS/CODE/SUBSYSTEM`).
///
/// This is the value of the mandatory `X-Road-Client` request header, for example
/// `VN/GOV/000.00.00.G22/DANCU`. Use ``init(headerValue:)`` to parse the header.
public enum ClientId: XRoadIdentifier {
    /// A member acting as the client.
    case member(MemberId)

    /// A subsystem acting as the client.
    case subsystem(SubsystemId)

    /// The member of the client: the member itself, or the owner of the subsystem.
    public var member: MemberId {
        switch self {
        case .member(let member):
            return member
        case .subsystem(let subsystem):
            return subsystem.member
        }
    }

    /// The subsystem of the client, or `nil` if the client is a member.
    public var subsystem: SubsystemId? {
        switch self {
        case .member:
            return nil
        case .subsystem(let subsystem):
            return subsystem
        }
    }

    /// Creates a client id from its parts, validating each of them.
    ///
    /// - parameters:
    ///     - instance: The X-Road instance, for example `VN`.
    ///     - memberClass: The member class, for example `GOV`.
    ///     - memberCode: The member code, for example `000.00.00.G22`.
    ///     - subsystemCode: The subsystem code, or `nil` for a member client.
    /// - throws: An ``IdentifierError`` naming the first invalid part.
    public init(
        instance: String,
        memberClass: String,
        memberCode: String,
        subsystemCode: String? = nil
    ) throws(IdentifierError) {
        let member = try MemberId(instance: instance, memberClass: memberClass, memberCode: memberCode, kind: .client)
        if let subsystemCode {
            self = .subsystem(try SubsystemId(member: member, subsystemCode: subsystemCode, kind: .client))
        } else {
            self = .member(member)
        }
    }

    /// Builds a client id from three or four raw segments.
    init(segments: [Substring], percentEncoded: Bool, input: String) throws(IdentifierError) {
        if segments.count == 4 {
            self = .subsystem(
                try SubsystemId(segments: segments, percentEncoded: percentEncoded, kind: .client, input: input))
        } else {
            self = .member(try MemberId(segments: segments, percentEncoded: percentEncoded, kind: .client, input: input))
        }
    }

    /// Parses the canonical form, with three parts (a member) or four parts (a subsystem).
    ///
    /// - parameters:
    ///     - text: The canonical form, for example `VN/GOV/000.00.00.G22/DANCU`.
    /// - throws: An ``IdentifierError`` if `text` does not have three or four valid parts.
    public init(parsing text: String) throws(IdentifierError) {
        let segments = try IdentifierParsing.split(text, kind: .client, partCounts: 3...4)
        try self.init(segments: segments, percentEncoded: false, input: text)
    }

    /// Parses the percent-encoded form, with three parts (a member) or four parts (a subsystem).
    ///
    /// - parameters:
    ///     - percentEncoded: The percent-encoded form.
    /// - throws: An ``IdentifierError`` if the text does not have three or four valid parts.
    public init(percentEncoded: String) throws(IdentifierError) {
        let segments = try IdentifierParsing.split(percentEncoded, kind: .client, partCounts: 3...4)
        try self.init(segments: segments, percentEncoded: true, input: percentEncoded)
    }

    /// Parses the value of an `X-Road-Client` header.
    ///
    /// The value is the percent-encoded form; optional whitespace (spaces and horizontal tabs)
    /// around it is ignored, as for any HTTP field value. If a request carries several
    /// `X-Road-Client` headers, pass the last one.
    ///
    /// - parameters:
    ///     - headerValue: The header value, for example `VN/GOV/000.00.00.G22/DANCU`.
    /// - throws: An ``IdentifierError`` if the value is not a valid member or subsystem id.
    public init(headerValue: String) throws(IdentifierError) {
        let isWhitespace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        var trimmed = Substring(headerValue)
        while let first = trimmed.first, isWhitespace(first) {
            trimmed.removeFirst()
        }
        while let last = trimmed.last, isWhitespace(last) {
            trimmed.removeLast()
        }
        try self.init(percentEncoded: String(trimmed))
    }

    /// Decodes a client id from a single string in canonical form.
    ///
    /// - parameters:
    ///     - decoder: The decoder to read from.
    /// - throws: `DecodingError.dataCorrupted` (wrapping an ``IdentifierError``) if the string is invalid.
    public init(from decoder: any Decoder) throws {
        self = try Self.decodeCanonical(from: decoder)
    }

    /// Encodes the client id as a single string in canonical form.
    ///
    /// - parameters:
    ///     - encoder: The encoder to write to.
    public func encode(to encoder: any Encoder) throws {
        try self.encodeCanonical(to: encoder)
    }

    /// The canonical form: that of the member or of the subsystem.
    public var canonical: String {
        switch self {
        case .member(let member):
            return member.canonical
        case .subsystem(let subsystem):
            return subsystem.canonical
        }
    }

    /// The percent-encoded form, as sent in the `X-Road-Client` header.
    public var percentEncoded: String {
        switch self {
        case .member(let member):
            return member.percentEncoded
        case .subsystem(let subsystem):
            return subsystem.percentEncoded
        }
    }
}
