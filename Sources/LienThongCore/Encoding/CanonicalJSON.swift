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
            // ASCII keys (nearly all of LienThong's) sort by bytes; the check is made once per object.
            let ascii = members.keys.allSatisfy { $0.utf8.allSatisfy { $0 < 0x80 } }
            let sorted = ascii ? members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                               : members.sorted { Self.keyPrecedes($0.key, $1.key) }
            for (i, member) in sorted.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.appendString(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                member.value.append(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            // Copy runs of bytes that need no escape in one go.
            var runStart = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                runStart = index + 1
                out.append(92)  // backslash
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                default:
                    out.append(UInt8(ascii: "u"))
                    out.append(UInt8(ascii: "0"))
                    out.append(UInt8(ascii: "0"))
                    out.append(hex[Int(byte >> 4)])
                    out.append(hex[Int(byte & 0x0F)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
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
