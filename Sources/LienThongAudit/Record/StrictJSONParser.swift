import LienThongCore

/// Parses JSON into ``CanonicalJSON`` for ``AuditRecord/init(canonicalBytes:)``: objects, arrays,
/// strings and integers only; `null`, booleans and non-integer numbers are a
/// ``AuditRecordError/wrongType(field:)`` naming the member (dotted path); duplicate members, invalid
/// UTF-8, lone surrogates, nesting deeper than ``maximumDepth`` and trailing bytes are rejected.
///
/// It accepts any valid JSON of that subset (whitespace, any member order, any escaping): the caller
/// re-serialises and compares bytes to insist on the canonical form.
struct StrictJSONParser {
    /// Objects and arrays nested deeper than this are refused (a record has two levels).
    static let maximumDepth = 4

    private let bytes: [UInt8]
    private var index = 0
    private var path: [String] = []

    /// Parses `bytes` as one JSON value.
    static func parse(_ bytes: [UInt8]) throws(AuditRecordError) -> CanonicalJSON {
        var parser = StrictJSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw .malformedJSON(offset: parser.index) }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private var field: String { path.joined(separator: ".") }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws(AuditRecordError) {
        guard current == byte else { throw .malformedJSON(offset: index) }
        index += 1
    }

    private mutating func parseValue(depth: Int) throws(AuditRecordError) -> CanonicalJSON {
        guard let byte = current else { throw .malformedJSON(offset: index) }
        switch byte {
        case UInt8(ascii: "{"):
            guard depth < Self.maximumDepth else { throw .malformedJSON(offset: index) }
            return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["):
            guard depth < Self.maximumDepth else { throw .malformedJSON(offset: index) }
            return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber()
        case UInt8(ascii: "t"):
            try literal("true")
            throw .wrongType(field: field)
        case UInt8(ascii: "f"):
            try literal("false")
            throw .wrongType(field: field)
        case UInt8(ascii: "n"):
            try literal("null")
            throw .wrongType(field: field)
        default:
            throw .malformedJSON(offset: index)
        }
    }

    private mutating func literal(_ word: StaticString) throws(AuditRecordError) {
        let expected = word.withUTF8Buffer { Array($0) }
        guard bytes.count - index >= expected.count, Array(bytes[index..<index + expected.count]) == expected else {
            throw .malformedJSON(offset: index)
        }
        index += expected.count
    }

    private mutating func parseObject(depth: Int) throws(AuditRecordError) -> CanonicalJSON {
        try expect(UInt8(ascii: "{"))
        var members: [String: CanonicalJSON] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw .malformedJSON(offset: index) }
            let key = try parseString()
            path.append(key)
            guard members[key] == nil else { throw .duplicateField(field) }
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            members[key] = try parseValue(depth: depth)
            path.removeLast()
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(members)
            default: throw .malformedJSON(offset: index)
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(AuditRecordError) -> CanonicalJSON {
        try expect(UInt8(ascii: "["))
        var items: [CanonicalJSON] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            path.append(String(items.count))
            items.append(try parseValue(depth: depth))
            path.removeLast()
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(items)
            default: throw .malformedJSON(offset: index)
            }
        }
    }

    private mutating func parseNumber() throws(AuditRecordError) -> CanonicalJSON {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw .malformedJSON(offset: index) }
        index += 1
        if first != UInt8(ascii: "0") {
            while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
        }
        let integerEnd = index
        var isInteger = true
        if current == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            try digits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            try digits()
        }
        guard isInteger else { throw .wrongType(field: field) }
        guard let value = Int64(String(decoding: bytes[start..<integerEnd], as: UTF8.self)) else {
            throw .valueOutOfRange(field: field)
        }
        return .integer(value)
    }

    private mutating func digits() throws(AuditRecordError) {
        guard let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { throw .malformedJSON(offset: index) }
        while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
    }

    private mutating func parseString() throws(AuditRecordError) -> String {
        try expect(UInt8(ascii: "\""))
        var out: [UInt8] = []
        while true {
            guard let byte = current else { throw .malformedJSON(offset: index) }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                // Unescaped bytes were copied as they came: insist that they were UTF-8.
                guard let text = AuditUTF8.string(out) else { throw .malformedJSON(offset: index - 1) }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                try parseEscape(into: &out)
            case 0x00..<0x20:
                throw .malformedJSON(offset: index)
            default:
                out.append(byte)
                index += 1
            }
        }
    }

    private mutating func parseEscape(into out: inout [UInt8]) throws(AuditRecordError) {
        guard let byte = current else { throw .malformedJSON(offset: index) }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "/"): out.append(0x2F)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4()
            if (0xD800..<0xDC00).contains(scalar) {
                try expect(UInt8(ascii: "\\"))
                try expect(UInt8(ascii: "u"))
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw .malformedJSON(offset: index) }
                scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00)
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw .malformedJSON(offset: index) }
            out.append(contentsOf: String(Character(unicode)).utf8)
        default:
            throw .malformedJSON(offset: index - 1)
        }
    }

    private mutating func hex4() throws(AuditRecordError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current else { throw .malformedJSON(offset: index) }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw .malformedJSON(offset: index)
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}

/// UTF-8 validation without Foundation.
enum AuditUTF8 {
    /// The string `bytes` encode, or `nil` if they are not valid UTF-8 (decoding would have
    /// substituted U+FFFD, so the re-encoding differs).
    static func string(_ bytes: some Collection<UInt8>) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        return text.utf8.elementsEqual(bytes) ? text : nil
    }
}
