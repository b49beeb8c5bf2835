/// A validated X-Road identifier with a canonical text form and a percent-encoded wire form.
///
/// All identifier types of LienThong (``MemberId``, ``SubsystemId``, ``ServiceId``,
/// ``SecurityServerId``, ``DatasetId`` and ``ClientId``) conform to this protocol. A value of a
/// conforming type is always valid: every initialiser validates its input and throws an
/// ``IdentifierError`` otherwise.
///
/// Identifiers have two textual forms:
///
/// - the **canonical** form, the parts joined by `/`, for example `VN/GOV/000.00.00.G22/DANCU`.
///   Because no part may contain `/` or `%`, this form is unambiguous. It is used by
///   `description`, by `LosslessStringConvertible` and by `Codable` (an identifier encodes as a single
///   string);
/// - the **percent-encoded** form used in URL paths and in the `X-Road-Client` header: each part is
///   percent-encoded as UTF-8 on its own and the parts are joined by an unencoded `/`.
public protocol XRoadIdentifier: Hashable, Sendable, Codable, LosslessStringConvertible {
    /// Parses the canonical text form, the parts joined by `/`.
    ///
    /// - parameters:
    ///     - text: The canonical form, for example `VN/GOV/000.00.00.G22`.
    /// - throws: An ``IdentifierError`` if `text` is not a valid identifier of this kind.
    init(parsing text: String) throws(IdentifierError)

    /// Parses the percent-encoded form, as found in URL paths and in the `X-Road-Client` header.
    ///
    /// The text is split on `/` first; every segment is then percent-decoded as UTF-8 and validated.
    /// An encoded slash (`%2F`) therefore ends up inside a part and is rejected as an invalid
    /// character.
    ///
    /// - parameters:
    ///     - percentEncoded: The percent-encoded form, for example `VN/GOV/a%3Fb`.
    /// - throws: An ``IdentifierError`` if the text is not a valid identifier of this kind.
    init(percentEncoded: String) throws(IdentifierError)

    /// The canonical text form: the parts joined by `/`.
    var canonical: String { get }

    /// The percent-encoded form: each part percent-encoded, joined by an unencoded `/`.
    ///
    /// Bytes other than RFC 3986 unreserved characters (`A-Za-z0-9-._~`) and `'()+,=` are encoded;
    /// for a valid identifier this means that only `?` changes, into `%3F`.
    var percentEncoded: String { get }
}

extension XRoadIdentifier {
    /// The canonical text form of the identifier; the same as `canonical`.
    public var description: String {
        self.canonical
    }

    /// Parses the canonical text form, returning `nil` if it is invalid.
    ///
    /// Use `init(parsing:)` to learn why a text was rejected.
    ///
    /// - parameters:
    ///     - description: The canonical form of an identifier.
    public init?(_ description: String) {
        guard let parsed = try? Self(parsing: description) else {
            return nil
        }
        self = parsed
    }

    /// Decodes an identifier from a single string in canonical form.
    static func decodeCanonical(from decoder: any Decoder) throws -> Self {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            return try Self(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: decoder.codingPath,
                    debugDescription: error.description,
                    underlyingError: error
                )
            )
        }
    }

    /// Encodes the identifier as a single string in canonical form.
    func encodeCanonical(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.canonical)
    }
}
