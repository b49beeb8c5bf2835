import Crypto
import LienThongCore

/// A path (or free-text field) with every personal identifier replaced by its keyed hash.
public struct ProtectedPath: Sendable, Hashable, CustomStringConvertible {
    /// The protected text: the input with each identifier replaced by `{pid:<token>}`.
    public let text: String
    /// The tokens (base64url HMAC-SHA-256) in order of appearance, one per replaced identifier.
    public let tokens: [String]

    /// Creates a protected path from its parts.
    public init(text: String, tokens: [String]) {
        self.text = text
        self.tokens = tokens
    }

    /// The placeholder that stands for an identifier whose token is `token`: `{pid:<token>}`.
    public static func placeholder(for token: String) -> String { "{pid:\(token)}" }

    /// The protected text.
    public var description: String { text }
}

/// Replaces personal identifiers in service paths, queries and free-text fields by keyed hashes, so
/// that the audit log reveals no identifier yet an auditor holding the key can find one person's
/// records (docs/audit-record.md).
///
/// **What counts as an identifier.** Always: a run of exactly 12 ASCII digits not adjacent to another
/// ASCII digit (the Vietnamese citizen identity number, *số định danh cá nhân*). Also, for calls to a
/// service listed in `servicePatterns` (keyed by the service's canonical id, exact match), every
/// match of that service's patterns. Patterns use the run-time syntax of Swift's `Regex` (the
/// PCRE / ICU style: classes, quantifiers, alternation, groups, `^`/`$` anchors); note that `\d`
/// matches any Unicode decimal digit, `[0-9]` only ASCII ones. Empty matches are ignored.
///
/// **How text is scanned.** The text is cut into components at `/`, `?`, `&` and `=`, so a match
/// never spans a path segment or query parameter and `^…$` anchors a whole segment, name or value.
/// Each component is scanned twice: as written and, if it contains `%`, percent-decoded (every `%`
/// followed by two hex digits becomes that byte, anything else is kept; `+` is not decoded; the
/// patterns see the decoded text only if it is valid UTF-8, the digit rule sees the bytes either
/// way). Every match of either scan is replaced; overlapping matches merge into one. The text left
/// between placeholders is then scanned again, until nothing matches: cutting a raw match out of a
/// longer percent-encoded digit run can leave a decoded run of exactly 12 digits, which is replaced
/// too. Placeholders themselves are never rescanned.
///
/// **The token.** The identifier is the matched text, percent-decoded if it was encoded and the
/// decoding is valid UTF-8, else as written; its token is `base64url(HMAC-SHA-256(key, UTF-8 bytes))`
/// (43 characters) and the text gets `{pid:<token>}` in its place. Everything outside the matches
/// is kept byte for byte.
public struct PersonalDataProtector: Sendable {
    /// The shortest HMAC key accepted, in bytes.
    public static let minimumKeyBytes = 32

    /// Patterns added for particular services, by canonical service id.
    public let servicePatterns: [String: [String]]

    private let key: SymmetricKey

    /// Creates a protector keyed with `key` (at least 32 bytes, e.g. 32 random bytes kept with the
    /// server's secrets) and optional per-service patterns.
    ///
    /// - Throws: ``AuditRecordError/hmacKeyTooShort(byteCount:)``,
    ///   ``AuditRecordError/invalidPattern(service:pattern:)``.
    public init(key: [UInt8], servicePatterns: [String: [String]] = [:]) throws(AuditRecordError) {
        guard key.count >= Self.minimumKeyBytes else { throw .hmacKeyTooShort(byteCount: key.count) }
        for (service, patterns) in servicePatterns.sorted(by: { $0.key < $1.key }) {
            for pattern in patterns {
                do {
                    _ = try Regex(pattern)
                } catch {
                    throw .invalidPattern(service: service, pattern: pattern)
                }
            }
        }
        self.key = SymmetricKey(data: key)
        self.servicePatterns = servicePatterns
    }

    /// The token of `identifier`, `base64url(HMAC-SHA-256(key, UTF-8 of identifier))`: what an auditor
    /// computes to find one person's records (search for ``ProtectedPath/placeholder(for:)``).
    public func token(for identifier: String) -> String {
        token(forBytes: Array(identifier.utf8))
    }

    /// Replaces every identifier in `path` (service path and query, percent-encoded as sent) by its
    /// placeholder; `service` (canonical id) selects extra patterns.
    public func protect(path: String, service: String?) -> ProtectedPath {
        // Compiled per call: `Regex` is not `Sendable`, and a few patterns compile in microseconds.
        let regexes = (service.flatMap { servicePatterns[$0] } ?? []).compactMap { try? Regex($0) }
        // Replacing one match can expose another (a raw match cut out of a longer decoded digit run
        // leaves a decoded run of 12), so the text left between placeholders is scanned again until
        // nothing matches. Placeholders are opaque and never rescanned; every pass shrinks the
        // unprotected text, so this ends.
        var pieces: [Piece] = [.unscanned(Array(path.utf8))]
        while pieces.contains(where: \.isUnscanned) {
            var next: [Piece] = []
            for piece in pieces {
                guard case .unscanned(let bytes) = piece else {
                    next.append(piece)
                    continue
                }
                let ranges = Self.merge(Self.matches(in: bytes, regexes: regexes))
                guard !ranges.isEmpty else {
                    next.append(.clean(bytes))
                    continue
                }
                var cursor = 0
                for range in ranges {
                    if cursor < range.lowerBound { next.append(.unscanned(Array(bytes[cursor..<range.lowerBound]))) }
                    next.append(.token(token(forBytes: Self.identifier(bytes[range]))))
                    cursor = range.upperBound
                }
                if cursor < bytes.count { next.append(.unscanned(Array(bytes[cursor...]))) }
            }
            pieces = next
        }
        var output: [UInt8] = []
        output.reserveCapacity(path.utf8.count)
        var tokens: [String] = []
        for piece in pieces {
            switch piece {
            case .clean(let bytes), .unscanned(let bytes):
                output += bytes
            case .token(let token):
                tokens.append(token)
                output += ProtectedPath.placeholder(for: token).utf8
            }
        }
        return ProtectedPath(text: String(decoding: output, as: UTF8.self), tokens: tokens)
    }

    /// A stretch of the text being protected.
    private enum Piece {
        /// Text not scanned since it was last cut.
        case unscanned([UInt8])
        /// Text scanned without a match.
        case clean([UInt8])
        /// A replaced identifier.
        case token(String)

        var isUnscanned: Bool {
            if case .unscanned = self { true } else { false }
        }
    }

    // MARK: Scanning

    private func token(forBytes bytes: [UInt8]) -> String {
        Base64URL.encode(HMAC<SHA256>.authenticationCode(for: bytes, using: key))
    }

    private static func isDelimiter(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "&") || byte == UInt8(ascii: "=")
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    /// Every match in `bytes`, component by component, as ranges of `bytes`.
    private static func matches(in bytes: [UInt8], regexes: [Regex<AnyRegexOutput>]) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var start = 0
        for position in 0...bytes.count where position == bytes.count || isDelimiter(bytes[position]) {
            if start < position { found += matches(inComponent: bytes[start..<position], regexes: regexes) }
            start = position + 1
        }
        return found
    }

    /// Every match in one component, as ranges of the whole text's bytes.
    private static func matches(inComponent component: ArraySlice<UInt8>, regexes: [Regex<AnyRegexOutput>]) -> [Range<Int>] {
        var found = citizenIdRanges(in: component)
        // Pieces are cut at ASCII bytes or whole matches, so a component is valid UTF-8.
        found += regexRanges(in: String(decoding: component, as: UTF8.self), regexes: regexes, offset: component.startIndex)
        guard component.contains(UInt8(ascii: "%")) else { return found }
        let decoded = PercentDecoded(component)
        let decodedRanges = citizenIdRanges(in: decoded.bytes[...])
            + (AuditUTF8.string(decoded.bytes).map { regexRanges(in: $0, regexes: regexes, offset: 0) } ?? [])
        found += decodedRanges.map(decoded.origin(of:))
        return found
    }

    /// Runs of exactly 12 ASCII digits bounded by non-digits (or the ends), as ranges of the slice's indices.
    static func citizenIdRanges(in bytes: ArraySlice<UInt8>) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var position = bytes.startIndex
        while position < bytes.endIndex {
            guard isDigit(bytes[position]) else {
                position += 1
                continue
            }
            let runStart = position
            while position < bytes.endIndex, isDigit(bytes[position]) { position += 1 }
            if position - runStart == 12 { ranges.append(runStart..<position) }
        }
        return ranges
    }

    private static func regexRanges(in text: String, regexes: [Regex<AnyRegexOutput>], offset: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        for regex in regexes {
            for match in text.matches(of: regex) where !match.range.isEmpty {
                let lower = text.utf8.distance(from: text.startIndex, to: match.range.lowerBound)
                let upper = text.utf8.distance(from: text.startIndex, to: match.range.upperBound)
                ranges.append(offset + lower..<offset + upper)
            }
        }
        return ranges
    }

    /// Sorted, overlapping ranges merged (adjacent ones stay apart: two identifiers, two tokens).
    private static func merge(_ ranges: [Range<Int>]) -> [Range<Int>] {
        var merged: [Range<Int>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound < last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return merged
    }

    /// The identifier's bytes: percent-decoded if that gives valid UTF-8, else as written.
    private static func identifier(_ written: ArraySlice<UInt8>) -> [UInt8] {
        guard written.contains(UInt8(ascii: "%")) else { return Array(written) }
        let decoded = PercentDecoded(written).bytes
        return AuditUTF8.string(decoded) == nil ? Array(written) : decoded
    }
}

/// Lenient percent-decoding that remembers where each decoded byte came from.
struct PercentDecoded {
    /// The decoded bytes.
    private(set) var bytes: [UInt8] = []
    /// For each decoded byte, the range of the source indices it came from (3 for `%XX`, else 1).
    private(set) var origins: [Range<Int>] = []

    /// Decodes `source`: `%` and two hex digits give that byte; every other byte is kept.
    init(_ source: ArraySlice<UInt8>) {
        var position = source.startIndex
        while position < source.endIndex {
            if source[position] == UInt8(ascii: "%"), position + 2 < source.endIndex,
               let high = Self.hexValue(source[position + 1]), let low = Self.hexValue(source[position + 2]) {
                bytes.append(high << 4 | low)
                origins.append(position..<position + 3)
                position += 3
            } else {
                bytes.append(source[position])
                origins.append(position..<position + 1)
                position += 1
            }
        }
    }

    /// The source range a non-empty range of decoded bytes came from.
    func origin(of range: Range<Int>) -> Range<Int> {
        origins[range.lowerBound].lowerBound..<origins[range.upperBound - 1].upperBound
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
