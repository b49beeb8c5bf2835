import LienThongCore

/// Reads the members of one JSON object strictly: unknown members, missing required members and
/// wrong types are typed errors naming the member by its dotted path.
struct JSONObjectReader {
    private let members: [String: CanonicalJSON]
    private let prefix: String

    /// Checks that `json` is an object whose members are all in `allowed`; `field` is the object's
    /// own dotted path (empty for the root).
    init(_ json: CanonicalJSON, field: String, allowed: Set<String>) throws(AuditRecordError) {
        guard case .object(let members) = json else { throw .wrongType(field: field.isEmpty ? "$" : field) }
        self.members = members
        self.prefix = field
        for key in members.keys.sorted() where !allowed.contains(key) { throw .unknownField(path(key)) }
    }

    /// The dotted path of member `name`.
    func path(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }

    /// A member that may be absent.
    func value(_ name: String) -> CanonicalJSON? { members[name] }

    /// A required string member.
    func string(_ name: String) throws(AuditRecordError) -> String {
        guard let value = try optionalString(name) else { throw .missingField(path(name)) }
        return value
    }

    /// An optional string member.
    func optionalString(_ name: String) throws(AuditRecordError) -> String? {
        switch members[name] {
        case nil: return nil
        case .string(let value): return value
        default: throw .wrongType(field: path(name))
        }
    }

    /// A required integer member.
    func integer(_ name: String) throws(AuditRecordError) -> Int64 {
        guard let value = try optionalInteger(name) else { throw .missingField(path(name)) }
        return value
    }

    /// An optional integer member.
    func optionalInteger(_ name: String) throws(AuditRecordError) -> Int64? {
        switch members[name] {
        case nil: return nil
        case .integer(let value): return value
        default: throw .wrongType(field: path(name))
        }
    }
}

/// Carries a ``CanonicalJSON`` value through `Codable`, so that `Codable` conformances reuse the
/// strict JSON mappings (integers, strings, objects and arrays; anything else fails to decode).
struct JSONValueBox: Codable {
    /// The value.
    let value: CanonicalJSON

    /// Wraps `value`.
    init(_ value: CanonicalJSON) { self.value = value }

    /// Decodes an integer, string, object or array.
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "null is not used in audit records")
        } else if let integer = try? container.decode(Int64.self) {
            value = .integer(integer)
        } else if let string = try? container.decode(String.self) {
            value = .string(string)
        } else if let object = try? container.decode([String: JSONValueBox].self) {
            value = .object(object.mapValues(\.value))
        } else if let array = try? container.decode([JSONValueBox].self) {
            value = .array(array.map(\.value))
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "only integers, strings, objects and arrays are used in audit records")
        }
    }

    /// Encodes the value.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch value {
        case .integer(let integer): try container.encode(integer)
        case .string(let string): try container.encode(string)
        case .object(let object): try container.encode(object.mapValues(JSONValueBox.init))
        case .array(let array): try container.encode(array.map(JSONValueBox.init))
        }
    }
}
