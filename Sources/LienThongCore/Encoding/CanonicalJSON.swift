/// A JSON value restricted to what LienThong's signed structures need, with one canonical
/// serialisation.
///
/// The serialisation is the JSON Canonicalization Scheme (RFC 8785) for this subset:
/// object members sorted by key (keys are compared by their UTF-16 code units), no
/// insignificant whitespace, strings escaped minimally (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`,
/// `\t`, other controls as `\u00xx` in lower-case hex, everything else as literal UTF-8),
/// and integers only, written in decimal. `json.dumps(v, sort_keys=True,
/// separators=(",", ":"), ensure_ascii=False)` in Python produces the same bytes for it.
public indirect enum CanonicalJSON: Sendable, Hashable {
    /// A string.
    case string(String)
    /// An integer. (Floating-point numbers are deliberately not representable.)
    case integer(Int64)
    /// An object; member order is irrelevant, serialisation sorts it.
    case object([String: CanonicalJSON])
    /// An array, in order.
    case array([CanonicalJSON])

    /// The canonical UTF-8 bytes.
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        append(to: &out)
        return out
    }

    /// The canonical text.
    public var canonicalString: String { String(decoding: canonicalBytes, as: UTF8.self) }

    private func append(to out: inout [UInt8]) {
        switch self {
        case .string(let s):
            Self.appendString(s, to: &out)
        case .integer(let n):
            out.append(contentsOf: String(n).utf8)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.append(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let keys = members.keys.sorted(by: Self.keyPrecedes)
            for (i, key) in keys.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.appendString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                // `key` comes from `members.keys`.
                members[key, default: .string("")].append(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): out.append(contentsOf: [92, 92])
            case 0x08: out.append(contentsOf: [92, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [92, UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0x00..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension CanonicalJSON {
    /// RFC 8785 key order: by UTF-16 code units. For ASCII keys (nearly all of LienThong's) that is
    /// plain byte order, compared without transcoding; other keys take the UTF-16 path.
    static func keyPrecedes(_ a: String, _ b: String) -> Bool {
        let (x, y) = (a.utf8, b.utf8)
        if x.allSatisfy({ $0 < 0x80 }) && y.allSatisfy({ $0 < 0x80 }) {
            return x.lexicographicallyPrecedes(y)
        }
        return a.utf16.lexicographicallyPrecedes(b.utf16)
    }
}
