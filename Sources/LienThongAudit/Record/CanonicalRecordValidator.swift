/// The members of a record that ``CanonicalRecordValidator`` hands back: the scalars, read while
/// checking, with no allocation.
public struct CanonicalRecordSummary: Sendable, Hashable {
    /// `sequence`: the record's position in its log.
    public let sequence: UInt64
    /// `side`.
    public let side: ExchangeSide
    /// `outcome`.
    public let outcome: ExchangeOutcome
    /// `status`.
    public let status: Int
    /// `started_at`.
    public let startedAt: AuditTimestamp
    /// `ended_at`.
    public let endedAt: AuditTimestamp

    /// Creates a summary from its parts.
    public init(sequence: UInt64, side: ExchangeSide, outcome: ExchangeOutcome, status: Int,
                startedAt: AuditTimestamp, endedAt: AuditTimestamp) {
        self.sequence = sequence
        self.side = side
        self.outcome = outcome
        self.status = status
        self.startedAt = startedAt
        self.endedAt = endedAt
    }

    /// The summary of `record`.
    public init(_ record: AuditRecord) {
        self.init(sequence: record.sequence, side: record.side, outcome: record.outcome, status: record.status,
                  startedAt: record.startedAt, endedAt: record.endedAt)
    }
}

/// Why ``CanonicalRecordValidator`` refused some bytes: where it stopped and what it found.
///
/// It says only that the bytes are not a valid canonical record; for the diagnosis
/// ``AuditRecord/init(canonicalBytes:)`` gives (the member, the kind of fault), use
/// ``AuditRecord/validateCanonicalBytes(_:)``.
public struct CanonicalRecordRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// What the validator found at ``offset``.
    public enum Reason: String, Sendable, Hashable {
        /// Not canonical JSON here: whitespace, wrong punctuation, a non-canonical escape or
        /// number, invalid UTF-8, or the bytes end.
        case syntax
        /// A member name that is unknown, out of canonical order or repeated.
        case member
        /// A value of the wrong type, format or range, or a `duration_ms` that disagrees with the times.
        case value
        /// A required member is absent (the offset is the end).
        case missingMember
        /// Bytes after the record's closing brace.
        case trailingBytes
    }

    /// The byte offset where validation stopped.
    public let offset: Int
    /// What was wrong there.
    public let reason: Reason

    /// Creates a rejection.
    public init(offset: Int, reason: Reason) {
        self.offset = offset
        self.reason = reason
    }

    /// `reason at byte offset`.
    public var description: String { "\(reason.rawValue) at byte \(offset)" }
}

/// Checks in one pass, without building a record or any JSON tree, that bytes are exactly the
/// canonical serialisation of a valid ``AuditRecord``: it accepts precisely what
/// ``AuditRecord/init(canonicalBytes:)`` accepts.
///
/// The canonical form is a single shape, so it is matched directly: `{`, the members present in
/// the order of ``AuditRecord/fieldNames`` (each at most once, the required ones all there), each
/// `"name":value` in the spelling ``CanonicalJSON`` writes (``CanonicalJSONCursor``), `,` between,
/// `}`, nothing after. Values are checked as ``AuditRecord/init(json:)`` checks them: enums,
/// timestamps, integer ranges, `v`, `duration_ms` against the times, and encrypted bodies
/// (`alg`, canonical base64url, a 12-byte nonce and a 16-byte tag).
public enum CanonicalRecordValidator {
    /// Validates `bytes`; see the type's description.
    ///
    /// - Throws: ``CanonicalRecordRejection`` at the first byte that cannot be part of a valid
    ///   canonical record.
    public static func validate(_ bytes: [UInt8]) throws(CanonicalRecordRejection) -> CanonicalRecordSummary {
        try bytes.withUnsafeBufferPointer { (buffer) throws(CanonicalRecordRejection) in try validate(buffer) }
    }

    /// Validates the bytes in `buffer`, as the array form does.
    public static func validate(_ buffer: UnsafeBufferPointer<UInt8>) throws(CanonicalRecordRejection) -> CanonicalRecordSummary {
        var cursor = CanonicalJSONCursor(buffer)
        var fields = Fields()
        var seen: UInt64 = 0
        var next = 0
        try cursor.expect(UInt8(ascii: "{"))
        repeat {
            let member = try memberName(&cursor, from: next)
            try value(of: member, &cursor, into: &fields)
            seen |= member.bit
            next = member.rawValue + 1
        } while try cursor.memberSeparator()
        guard cursor.isAtEnd else { throw cursor.rejection(.trailingBytes) }
        guard seen & CanonicalRecordMember.required == CanonicalRecordMember.required else {
            throw cursor.rejection(.missingMember)
        }
        guard let summary = fields.summary() else { throw cursor.rejection(.value) }
        return summary
    }

    /// The scalars read so far.
    private struct Fields {
        var sequence: Int64 = 0
        var side = ExchangeSide.consumer
        var outcome = ExchangeOutcome.failed
        var status: Int64 = 0
        var startedAt: Int64 = 0
        var endedAt: Int64 = 0
        var duration: Int64 = 0

        /// The summary, once all required members were read; `nil` if `duration_ms` is not
        /// `ended_at − started_at`.
        func summary() -> CanonicalRecordSummary? {
            guard duration == endedAt - startedAt,
                  let started = AuditTimestamp(millisecondsSince1970: startedAt),
                  let ended = AuditTimestamp(millisecondsSince1970: endedAt)
            else { return nil }
            return CanonicalRecordSummary(sequence: UInt64(sequence), side: side, outcome: outcome, status: Int(status),
                                          startedAt: started, endedAt: ended)
        }
    }

    /// Reads `"name":` for the first member at or after `first` (in canonical order) whose name
    /// is there; anything else is an unknown, repeated or misplaced member.
    @inline(__always)
    private static func memberName(_ cursor: inout CanonicalJSONCursor, from first: Int) throws(CanonicalRecordRejection) -> CanonicalRecordMember {
        var raw = first
        while let member = CanonicalRecordMember(rawValue: raw) {
            if cursor.consume(member.key) { return member }
            raw += 1
        }
        throw cursor.rejection(.member)
    }

    /// Reads the value of `member`.
    @inline(__always)
    private static func value(of member: CanonicalRecordMember, _ cursor: inout CanonicalJSONCursor,
                              into fields: inout Fields) throws(CanonicalRecordRejection) {
        switch member.kind {
        case .text:
            _ = try cursor.string()
        case .side:
            let start = cursor.index
            if cursor.consume("\"consumer\"") {
                fields.side = .consumer
            } else if cursor.consume("\"provider\"") {
                fields.side = .provider
            } else {
                _ = try cursor.string()
                throw CanonicalRecordRejection(offset: start, reason: .value)
            }
        case .outcome:
            let start = cursor.index
            if cursor.consume("\"success\"") {
                fields.outcome = .success
            } else if cursor.consume("\"refused\"") {
                fields.outcome = .refused
            } else if cursor.consume("\"failed\"") {
                fields.outcome = .failed
            } else {
                _ = try cursor.string()
                throw CanonicalRecordRejection(offset: start, reason: .value)
            }
        case .timestamp:
            let start = cursor.index
            let contents = try cursor.string()
            guard let milliseconds = AuditTimestamp.milliseconds(rfc3339: cursor.slice(contents)) else {
                throw CanonicalRecordRejection(offset: start, reason: .value)
            }
            if member == .startedAt { fields.startedAt = milliseconds } else { fields.endedAt = milliseconds }
        case .integer(let range):
            let start = cursor.index
            let number = try cursor.integer()
            guard range.contains(number) else { throw CanonicalRecordRejection(offset: start, reason: .value) }
            switch member {
            case .sequence: fields.sequence = number
            case .status: fields.status = number
            case .durationMs: fields.duration = number
            default: break
            }
        case .body:
            try body(&cursor)
        }
    }

    /// Reads an ``EncryptedBody`` object: `{"alg":"A256GCM","ciphertext":…,"nonce":…,"tag":…}`.
    private static func body(_ cursor: inout CanonicalJSONCursor) throws(CanonicalRecordRejection) {
        try cursor.expect("{\"alg\":\"A256GCM\",\"ciphertext\":", else: .value)
        _ = try cursor.base64URLString()
        try cursor.expect(",\"nonce\":", else: .member)
        let nonceStart = cursor.index
        guard try cursor.base64URLString() == 12 else { throw CanonicalRecordRejection(offset: nonceStart, reason: .value) }
        try cursor.expect(",\"tag\":", else: .member)
        let tagStart = cursor.index
        guard try cursor.base64URLString() == 16 else { throw CanonicalRecordRejection(offset: tagStart, reason: .value) }
        try cursor.expect(UInt8(ascii: "}"))
    }
}

extension AuditRecord {
    /// Checks `bytes` exactly as ``init(canonicalBytes:)`` does (the same bytes pass, the same
    /// error for those that do not) but, for bytes that pass, in one pass with
    /// ``CanonicalRecordValidator`` instead of parsing, building and re-encoding the record.
    ///
    /// - Throws: the ``AuditRecordError`` ``init(canonicalBytes:)`` throws for `bytes`: only bytes
    ///   the validator refuses are parsed the slow way, to name the fault.
    public static func validateCanonicalBytes(_ bytes: [UInt8]) throws(AuditRecordError) -> CanonicalRecordSummary {
        do {
            return try CanonicalRecordValidator.validate(bytes)
        } catch {
            // The strict parser is the reference: it names the fault and, should the two ever
            // disagree, its verdict stands.
            return CanonicalRecordSummary(try AuditRecord(canonicalBytes: bytes))
        }
    }
}
