/// Why an audit record, its personal-data protection or an encrypted body could not be built,
/// parsed or opened.
public enum AuditRecordError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bytes are not JSON (or not the subset records use: nesting deeper than a record's,
    /// invalid UTF-8, a lone surrogate); `offset` is where parsing stopped.
    case malformedJSON(offset: Int)
    /// An object names the same member twice.
    case duplicateField(String)
    /// The JSON is a valid record but not its canonical serialisation (whitespace, member order,
    /// escaping, `-0`…): a leaf must be the exact bytes ``AuditRecord/canonicalBytes()`` gives.
    case notCanonical
    /// A member that the record format does not define (dotted path for nested members).
    case unknownField(String)
    /// A required member is absent.
    case missingField(String)
    /// A member has the wrong JSON type (string, integer, object), or is `null`, a boolean or a
    /// non-integer number, none of which records use.
    case wrongType(field: String)
    /// `v` is not a version this code reads.
    case unsupportedVersion(Int64)
    /// A member has the right type but an invalid value (unknown enum value, malformed
    /// timestamp or base64url, wrong nonce or tag length, `duration_ms` inconsistent with the times).
    case invalidValue(field: String)
    /// An integer is outside its range (negative size, status beyond 999, or beyond 2^53 − 1,
    /// the largest integer every JSON reader keeps exactly).
    case valueOutOfRange(field: String)
    /// The personal-data HMAC key is shorter than 32 bytes.
    case hmacKeyTooShort(byteCount: Int)
    /// A per-service identifier pattern does not compile.
    case invalidPattern(service: String, pattern: String)
    /// The body-encryption key is not 256 bits.
    case invalidBodyKey(bitCount: Int)
    /// An encrypted body names an algorithm other than `A256GCM`.
    case unsupportedAlgorithm(String)
    /// AES-GCM sealing failed.
    case sealFailed
    /// An encrypted body does not open: wrong key, associated data of another record or body, or
    /// tampered nonce, ciphertext or tag (deliberately indistinguishable).
    case openFailed

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .malformedJSON(let offset): "malformed JSON at byte \(offset)"
        case .duplicateField(let field): "duplicate member \"\(field)\""
        case .notCanonical: "not the canonical serialisation of the record"
        case .unknownField(let field): "unknown member \"\(field)\""
        case .missingField(let field): "missing member \"\(field)\""
        case .wrongType(let field): "member \"\(field)\" has the wrong type"
        case .unsupportedVersion(let version): "unsupported record version \(version)"
        case .invalidValue(let field): "member \"\(field)\" has an invalid value"
        case .valueOutOfRange(let field): "member \"\(field)\" is out of range"
        case .hmacKeyTooShort(let count): "the personal-data HMAC key has \(count) bytes; at least 32 are required"
        case .invalidPattern(let service, let pattern): "identifier pattern \"\(pattern)\" for \(service) does not compile"
        case .invalidBodyKey(let bits): "the body-encryption key has \(bits) bits; AES-256-GCM needs 256"
        case .unsupportedAlgorithm(let alg): "unsupported body encryption algorithm \"\(alg)\""
        case .sealFailed: "body encryption failed"
        case .openFailed: "the encrypted body does not open with this key and record"
        }
    }
}
