/// The identifier of a security server: `INSTANCE/CLASS/CODE/SERVERCODE`.
///
/// A security server is identified by its owner member and a server code, for example
/// `VN/GOV/000.00.00.G22/ss1`. This is the form of the `X-Road-Security-Server` header.
///
/// The server code may not be `datasets` (in any letter case): that fourth part marks a
/// ``DatasetId``.
public struct SecurityServerId: XRoadIdentifier {
    /// The member that owns the security server.
    public let owner: MemberId

    /// The security server code, for example `ss1`.
    public let serverCode: String

    /// Creates a security server id, validating the server code.
    ///
    /// - parameters:
    ///     - owner: The member that owns the security server.
    ///     - serverCode: The security server code, for example `ss1`.
    /// - throws: An ``IdentifierError`` if the server code is invalid or reserved.
    public init(owner: MemberId, serverCode: String) throws(IdentifierError) {
        try IdentifierParsing.validateCode(serverCode, as: .serverCode, in: .securityServer)
        self.init(uncheckedOwner: owner, serverCode: serverCode)
    }

    /// Creates a security server id from its four parts, validating each of them.
    ///
    /// - parameters:
    ///     - instance: The X-Road instance, for example `VN`.
    ///     - memberClass: The member class of the owner, for example `GOV`.
    ///     - memberCode: The member code of the owner, for example `000.00.00.G22`.
    ///     - serverCode: The security server code, for example `ss1`.
    /// - throws: An ``IdentifierError`` naming the first invalid part.
    public init(instance: String, memberClass: String, memberCode: String, serverCode: String) throws(IdentifierError) {
        let owner = try MemberId(
            instance: instance, memberClass: memberClass, memberCode: memberCode, kind: .securityServer)
        try self.init(owner: owner, serverCode: serverCode)
    }

    /// Creates a security server id from parts that are already valid.
    init(uncheckedOwner owner: MemberId, serverCode: String) {
        self.owner = owner
        self.serverCode = serverCode
    }

    /// Builds a security server id from four raw segments.
    init(segments: [Substring], percentEncoded: Bool, input: String) throws(IdentifierError) {
        let owner = try MemberId(segments: segments, percentEncoded: percentEncoded, kind: .securityServer, input: input)
        let code = try IdentifierParsing.code(
            segments[3], as: .serverCode, in: .securityServer, percentEncoded: percentEncoded, input: input)
        self.init(uncheckedOwner: owner, serverCode: code)
    }

    /// Parses the canonical form `INSTANCE/CLASS/CODE/SERVERCODE`.
    ///
    /// - parameters:
    ///     - text: The canonical form, for example `VN/GOV/000.00.00.G22/ss1`.
    /// - throws: An ``IdentifierError`` if `text` does not have exactly four valid parts.
    public init(parsing text: String) throws(IdentifierError) {
        let segments = try IdentifierParsing.split(text, kind: .securityServer, partCounts: 4...4)
        try self.init(segments: segments, percentEncoded: false, input: text)
    }

    /// Parses the percent-encoded form, as found in the `X-Road-Security-Server` header.
    ///
    /// - parameters:
    ///     - percentEncoded: The percent-encoded form.
    /// - throws: An ``IdentifierError`` if the text does not have exactly four valid parts.
    public init(percentEncoded: String) throws(IdentifierError) {
        let segments = try IdentifierParsing.split(percentEncoded, kind: .securityServer, partCounts: 4...4)
        try self.init(segments: segments, percentEncoded: true, input: percentEncoded)
    }

    /// Decodes a security server id from a single string in canonical form.
    ///
    /// - parameters:
    ///     - decoder: The decoder to read from.
    /// - throws: `DecodingError.dataCorrupted` (wrapping an ``IdentifierError``) if the string is invalid.
    public init(from decoder: any Decoder) throws {
        self = try Self.decodeCanonical(from: decoder)
    }

    /// Encodes the security server id as a single string in canonical form.
    ///
    /// - parameters:
    ///     - encoder: The encoder to write to.
    public func encode(to encoder: any Encoder) throws {
        try self.encodeCanonical(to: encoder)
    }

    /// The canonical form, for example `VN/GOV/000.00.00.G22/ss1`.
    public var canonical: String {
        IdentifierParsing.canonical(self.parts)
    }

    /// The percent-encoded form.
    public var percentEncoded: String {
        IdentifierParsing.percentEncoded(self.parts)
    }

    /// The parts in order.
    var parts: [String] {
        self.owner.parts + [self.serverCode]
    }
}
