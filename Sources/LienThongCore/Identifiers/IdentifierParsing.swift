/// Internal helpers shared by the identifier types: splitting, percent-encoding and validation.
enum IdentifierParsing {
    static let slash = UInt8(ascii: "/")
    static let percent = UInt8(ascii: "%")
    static let backslash = UInt8(ascii: "\\")
    static let dot = UInt8(ascii: ".")
    static let semicolon = UInt8(ascii: ";")

    // MARK: Validation

    /// Validates one identifier part.
    ///
    /// Checks, in this order: not empty, not longer than ``IdentifierSyntax/maximumPartLength``
    /// bytes, only allowed characters, not a dot segment.
    ///
    /// - parameters:
    ///     - value: The (decoded) part.
    ///     - part: The name of the part, for errors.
    ///     - kind: The kind of identifier, for errors.
    ///     - input: The whole input being parsed, shown for ``IdentifierError/Code/emptyPart``.
    static func validate(
        _ value: String,
        as part: IdentifierError.Part,
        in kind: IdentifierError.Kind,
        input: String? = nil
    ) throws(IdentifierError) {
        if value.isEmpty {
            throw IdentifierError(code: .emptyPart, kind: kind, part: part, value: input)
        }
        let length = value.utf8.count
        if length > IdentifierSyntax.maximumPartLength {
            throw IdentifierError(
                code: .partTooLong,
                kind: kind,
                part: part,
                value: value,
                count: length,
                limit: IdentifierSyntax.maximumPartLength
            )
        }
        var position = 0
        for scalar in value.unicodeScalars {
            position += 1
            if !IdentifierSyntax.isAllowed(scalar) {
                throw IdentifierError(
                    code: .invalidCharacter,
                    kind: kind,
                    part: part,
                    value: value,
                    character: scalar,
                    position: position
                )
            }
        }
        if IdentifierParsing.isDotSegment(value.utf8) {
            throw IdentifierError(code: .reservedCode, kind: kind, part: part, value: value)
        }
    }

    /// Validates a subsystem or security server code: like ``validate(_:as:in:input:)`` and not
    /// ``IdentifierSyntax/datasetMarker`` in any letter case.
    static func validateCode(
        _ value: String,
        as part: IdentifierError.Part,
        in kind: IdentifierError.Kind,
        input: String? = nil
    ) throws(IdentifierError) {
        try IdentifierParsing.validate(value, as: part, in: kind, input: input)
        if IdentifierSyntax.isReservedCode(value) {
            throw IdentifierError(code: .reservedCode, kind: kind, part: part, value: value)
        }
    }

    /// Whether the bytes are exactly `.` or `..`.
    static func isDotSegment(_ bytes: some Collection<UInt8>) -> Bool {
        switch bytes.count {
        case 1, 2:
            return bytes.allSatisfy { $0 == IdentifierParsing.dot }
        default:
            return false
        }
    }

    // MARK: Splitting

    /// Splits `text` on `/` (without decoding anything) and checks the number of parts.
    static func split(
        _ text: String,
        kind: IdentifierError.Kind,
        partCounts: ClosedRange<Int>
    ) throws(IdentifierError) -> [Substring] {
        let pieces = text.utf8.split(
            separator: IdentifierParsing.slash,
            maxSplits: partCounts.upperBound,
            omittingEmptySubsequences: false
        )
        guard partCounts.contains(pieces.count) else {
            let found: Int
            if pieces.count > partCounts.upperBound {
                found = text.utf8.count(where: { $0 == IdentifierParsing.slash }) + 1
            } else {
                found = pieces.count
            }
            throw IdentifierError(code: .wrongPartCount, kind: kind, value: text, count: found)
        }
        return pieces.map { Substring($0) }
    }

    /// Turns one raw segment into a validated part, percent-decoding it first if requested.
    static func part(
        _ segment: Substring,
        as part: IdentifierError.Part,
        in kind: IdentifierError.Kind,
        percentEncoded: Bool,
        input: String
    ) throws(IdentifierError) -> String {
        let value = percentEncoded ? try IdentifierParsing.percentDecode(segment, as: part, in: kind) : String(segment)
        try IdentifierParsing.validate(value, as: part, in: kind, input: input)
        return value
    }

    /// Like ``part(_:as:in:percentEncoded:input:)`` for subsystem and security server codes.
    static func code(
        _ segment: Substring,
        as part: IdentifierError.Part,
        in kind: IdentifierError.Kind,
        percentEncoded: Bool,
        input: String
    ) throws(IdentifierError) -> String {
        let value = percentEncoded ? try IdentifierParsing.percentDecode(segment, as: part, in: kind) : String(segment)
        try IdentifierParsing.validateCode(value, as: part, in: kind, input: input)
        return value
    }

    // MARK: Percent-encoding

    /// Whether a byte is left unencoded: RFC 3986 unreserved (`A-Za-z0-9-._~`) or `'()+,=`.
    static func isUnencoded(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
            UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "+"),
            UInt8(ascii: ","), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }

    /// Percent-encodes the UTF-8 bytes of `value`, leaving ``isUnencoded(_:)`` bytes as they are.
    /// Hex digits are upper case.
    static func percentEncode(_ value: String) -> String {
        if value.utf8.allSatisfy(IdentifierParsing.isUnencoded) {
            return value
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(value.utf8.count * 3)
        for byte in value.utf8 {
            if IdentifierParsing.isUnencoded(byte) {
                bytes.append(byte)
            } else {
                bytes.append(IdentifierParsing.percent)
                bytes.append(IdentifierParsing.hexDigit(byte >> 4))
                bytes.append(IdentifierParsing.hexDigit(byte & 0x0F))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Percent-decodes one segment into a string.
    ///
    /// Bytes other than `%` are taken literally. Throws ``IdentifierError/Code/invalidPercentEncoding``
    /// when a `%` is not followed by two hexadecimal digits and ``IdentifierError/Code/invalidUTF8``
    /// when the decoded bytes are not valid UTF-8.
    static func percentDecode(
        _ segment: Substring,
        as part: IdentifierError.Part,
        in kind: IdentifierError.Kind
    ) throws(IdentifierError) -> String {
        let utf8 = segment.utf8
        guard utf8.contains(IdentifierParsing.percent) else {
            return String(segment)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            guard byte == IdentifierParsing.percent else {
                bytes.append(byte)
                index = utf8.index(after: index)
                continue
            }
            guard let decoded = IdentifierParsing.decodeEscape(in: utf8, at: index) else {
                let position = segment.unicodeScalars.distance(from: segment.startIndex, to: index) + 1
                throw IdentifierError(
                    code: .invalidPercentEncoding,
                    kind: kind,
                    part: part,
                    value: String(segment),
                    position: position
                )
            }
            bytes.append(decoded)
            index = utf8.index(index, offsetBy: 3)
        }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw IdentifierError(code: .invalidUTF8, kind: kind, part: part, value: String(segment))
        }
        return string
    }

    /// Decodes the escape `%XY` starting at `index` (which holds `%`), or returns `nil` if it is
    /// malformed or truncated.
    static func decodeEscape<C: Collection<UInt8>>(in bytes: C, at index: C.Index) -> UInt8? {
        let high = bytes.index(after: index)
        guard high != bytes.endIndex, let highValue = IdentifierParsing.hexValue(bytes[high]) else {
            return nil
        }
        let low = bytes.index(after: high)
        guard low != bytes.endIndex, let lowValue = IdentifierParsing.hexValue(bytes[low]) else {
            return nil
        }
        return highValue << 4 | lowValue
    }

    /// The value of an ASCII hexadecimal digit (either case), or `nil`.
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            return byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"):
            return byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"):
            return byte - UInt8(ascii: "a") + 10
        default:
            return nil
        }
    }

    /// The upper-case ASCII hexadecimal digit for a value in `0...15`.
    static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "A") + value - 10
    }

    /// Lower-cases an ASCII letter byte; other bytes are returned unchanged.
    static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 0x20 : byte
    }

    // MARK: Formatting

    /// Joins canonical parts with `/`.
    static func canonical(_ parts: [String]) -> String {
        parts.joined(separator: "/")
    }

    /// Percent-encodes each part and joins them with an unencoded `/`.
    static func percentEncoded(_ parts: [String]) -> String {
        parts.map(IdentifierParsing.percentEncode).joined(separator: "/")
    }
}
