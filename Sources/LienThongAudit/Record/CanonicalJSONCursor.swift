/// A forward-only reader over bytes that must already be canonical JSON, the form
/// ``CanonicalJSON/canonicalBytes`` writes (RFC 8785 for LienThong's subset): it accepts a token
/// only in that exact spelling, so nothing is decoded and nothing needs re-encoding to compare.
///
/// - Strings: no raw control bytes; escapes only `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t` and, for
///   the other controls, `\u00xx` in lower-case hex; everything else literal, valid UTF-8
///   (Unicode Table 3-7: no overlongs, surrogates or scalars beyond U+10FFFF).
/// - Integers: `0` or `-`? then a non-zero digit and digits (no `-0`, no leading zeros, no
///   fraction or exponent).
///
/// The cursor works on borrowed memory: use it only inside the `withUnsafeBufferPointer` call
/// that lent it.
struct CanonicalJSONCursor {
    private let bytes: UnsafeBufferPointer<UInt8>
    /// The offset of the next byte to read.
    private(set) var index = 0

    /// A cursor at the start of `bytes`.
    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// Whether every byte has been read.
    var isAtEnd: Bool { index == bytes.count }

    /// The bytes in `range` (offsets into the whole input).
    func slice(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: bytes[range]) }

    /// A rejection at the current offset.
    func rejection(_ reason: CanonicalRecordRejection.Reason) -> CanonicalRecordRejection {
        CanonicalRecordRejection(offset: index, reason: reason)
    }

    // MARK: Punctuation and literals

    /// Consumes `byte` or throws ``CanonicalRecordRejection/Reason/syntax``.
    @inline(__always)
    mutating func expect(_ byte: UInt8) throws(CanonicalRecordRejection) {
        guard index < bytes.count, bytes[index] == byte else { throw rejection(.syntax) }
        index += 1
    }

    /// Consumes `literal` if the input continues with exactly those bytes; otherwise reads nothing.
    @inline(__always)
    mutating func consume(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count, let base = bytes.baseAddress else { return false }
        let start = literal.utf8Start
        var offset = 0
        while count - offset >= 8 {
            let input = UnsafeRawPointer(base + index + offset).loadUnaligned(as: UInt64.self)
            guard input == UnsafeRawPointer(start + offset).loadUnaligned(as: UInt64.self) else { return false }
            offset += 8
        }
        while offset < count {
            guard base[index + offset] == start[offset] else { return false }
            offset += 1
        }
        index += count
        return true
    }

    /// Consumes `literal` or throws `reason`.
    @inline(__always)
    mutating func expect(_ literal: StaticString, else reason: CanonicalRecordRejection.Reason) throws(CanonicalRecordRejection) {
        guard consume(literal) else { throw rejection(reason) }
    }

    /// After an object member: `,` (another member follows, `true`) or `}` (the object ends, `false`).
    @inline(__always)
    mutating func memberSeparator() throws(CanonicalRecordRejection) -> Bool {
        guard index < bytes.count else { throw rejection(.syntax) }
        switch bytes[index] {
        case UInt8(ascii: ","):
            index += 1
            return true
        case UInt8(ascii: "}"):
            index += 1
            return false
        default:
            throw rejection(.syntax)
        }
    }

    // MARK: Strings

    /// Reads a canonically written string and returns the offsets of its raw contents (between
    /// the quotes, escapes as written).
    mutating func string() throws(CanonicalRecordRejection) -> Range<Int> {
        try expect(UInt8(ascii: "\""))
        let start = index
        let count = bytes.count
        while index < count {
            // Eight plain bytes at a time: printable ASCII other than `"` and `\` needs no look.
            if count - index >= 8, let base = bytes.baseAddress {
                let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
                if Self.isPlain(word) {
                    index += 8
                    continue
                }
            }
            let byte = bytes[index]
            if byte >= 0x20 && byte < 0x80 {
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return start..<(index - 1)
                }
                if byte == UInt8(ascii: "\\") {
                    try escape()
                } else {
                    index += 1
                }
            } else if byte >= 0x80 {
                try scalar(lead: byte)
            } else {
                // A raw control byte: JSON forbids it.
                throw rejection(.syntax)
            }
        }
        throw rejection(.syntax)
    }

    /// Whether all eight bytes of `word` are printable ASCII (0x20 ... 0x7F) other than `"` and `\`,
    /// tested together (SWAR: a byte's high bit in each mask marks it; a borrow only ever spreads
    /// upwards from a byte that is itself marked, so "any marked" is exact).
    @inline(__always)
    private static func isPlain(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quotes = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
        let backslashes = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
        let controls = (word &- ones &* 0x20) & ~word
        let isQuote = (quotes &- ones) & ~quotes
        let isBackslash = (backslashes &- ones) & ~backslashes
        return (word | controls | isQuote | isBackslash) & highs == 0
    }

    /// Reads one escape sequence (at the backslash) in its canonical spelling.
    private mutating func escape() throws(CanonicalRecordRejection) {
        guard bytes.count - index >= 2 else { throw rejection(.syntax) }
        switch bytes[index + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "b"), UInt8(ascii: "f"),
             UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 2
        case UInt8(ascii: "u"):
            // Only controls without a short form are written `\u00xx`, lower-case hex.
            guard bytes.count - index >= 6, bytes[index + 2] == UInt8(ascii: "0"), bytes[index + 3] == UInt8(ascii: "0"),
                  let high = Self.hexDigit(bytes[index + 4]), high <= 1, let low = Self.hexDigit(bytes[index + 5])
            else { throw rejection(.syntax) }
            switch high << 4 | low {
            case 0x08, 0x09, 0x0A, 0x0C, 0x0D: throw rejection(.syntax)
            default: index += 6
            }
        default:
            throw rejection(.syntax)
        }
    }

    /// A lower-case hexadecimal digit's value.
    @inline(__always)
    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    /// Reads one multi-byte UTF-8 scalar starting with `lead` (Unicode Table 3-7).
    private mutating func scalar(lead: UInt8) throws(CanonicalRecordRejection) {
        let length: Int
        let second: ClosedRange<UInt8>
        switch lead {
        case 0xC2...0xDF: (length, second) = (2, 0x80...0xBF)
        case 0xE0: (length, second) = (3, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (length, second) = (3, 0x80...0xBF)
        case 0xED: (length, second) = (3, 0x80...0x9F)
        case 0xF0: (length, second) = (4, 0x90...0xBF)
        case 0xF1...0xF3: (length, second) = (4, 0x80...0xBF)
        case 0xF4: (length, second) = (4, 0x80...0x8F)
        default: throw rejection(.syntax)
        }
        guard bytes.count - index >= length, second.contains(bytes[index + 1]) else { throw rejection(.syntax) }
        var offset = 2
        while offset < length {
            guard bytes[index + offset] & 0xC0 == 0x80 else { throw rejection(.syntax) }
            offset += 1
        }
        index += length
    }

    // MARK: Integers

    /// The largest magnitude ``integer()`` reads: every integer a valid record holds is at most
    /// 2^53 − 1, which has 16 digits.
    static let maximumDigits = 16

    /// Reads a canonically written integer of at most ``maximumDigits`` digits; a longer one is a
    /// ``CanonicalRecordRejection/Reason/value`` (no member of a record allows it).
    mutating func integer() throws(CanonicalRecordRejection) -> Int64 {
        let count = bytes.count
        var negative = false
        if index < count, bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard index < count else { throw rejection(.syntax) }
        let first = bytes[index]
        if first == UInt8(ascii: "0") {
            // `-0` is `0` written non-canonically.
            guard !negative else { throw rejection(.syntax) }
            index += 1
            return 0
        }
        guard first > UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { throw rejection(.syntax) }
        let start = index
        var magnitude: Int64 = 0
        while index < count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            guard index - start < Self.maximumDigits else { throw rejection(.value) }
            magnitude = magnitude * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
            index += 1
        }
        return negative ? -magnitude : magnitude
    }

    // MARK: Base64url

    /// Reads a string of unpadded base64url in its only encoding (``Base64URL``: alphabet
    /// characters, a possible length, zero unused bits) and returns the number of bytes it encodes.
    mutating func base64URLString() throws(CanonicalRecordRejection) -> Int {
        try expect(UInt8(ascii: "\""))
        let start = index
        var last: UInt8 = 0
        while index < bytes.count, let value = Self.base64URLValue(bytes[index]) {
            last = value
            index += 1
        }
        let length = index - start
        try expect(UInt8(ascii: "\""))
        switch length % 4 {
        case 1: throw rejection(.value)
        case 2: guard last & 0x0F == 0 else { throw rejection(.value) }
        case 3: guard last & 0x03 == 0 else { throw rejection(.value) }
        default: break
        }
        return length * 3 / 4
    }

    /// The 6-bit value of a base64url character.
    private static func base64URLValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "-"): 62
        case UInt8(ascii: "_"): 63
        default: nil
        }
    }
}
