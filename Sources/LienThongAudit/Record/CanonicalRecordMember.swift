/// The members of an audit record in canonical order (RFC 8785 sorts the ASCII names bytewise), with
/// what each holds: the table ``CanonicalRecordValidator`` walks. It lists the same names as
/// ``AuditRecord/fieldNames``, in the same order (a test checks both).
enum CanonicalRecordMember: Int, CaseIterable {
    case agreement, client, dataset, durationMs, endedAt, errorMessage, errorType, messageId
    case method, outcome, path, peer, purpose, requestBody, requestBytes, requestDigest
    case requestId, requestOcsp, requestSignature, responseBody, responseBytes, responseDigest
    case responseOcsp, responseSignature, sequence, server, service, side, startedAt, status, userId, v

    /// What a member's value is.
    enum Kind {
        /// Any string.
        case text
        /// `consumer` or `provider`.
        case side
        /// `success`, `refused` or `failed`.
        case outcome
        /// `YYYY-MM-DDTHH:MM:SS.sssZ`.
        case timestamp
        /// An integer in the range.
        case integer(ClosedRange<Int64>)
        /// An ``EncryptedBody`` object.
        case body
    }

    /// The member's name as it starts the member: `"name":`.
    var key: StaticString {
        switch self {
        case .agreement: "\"agreement\":"
        case .client: "\"client\":"
        case .dataset: "\"dataset\":"
        case .durationMs: "\"duration_ms\":"
        case .endedAt: "\"ended_at\":"
        case .errorMessage: "\"error_message\":"
        case .errorType: "\"error_type\":"
        case .messageId: "\"message_id\":"
        case .method: "\"method\":"
        case .outcome: "\"outcome\":"
        case .path: "\"path\":"
        case .peer: "\"peer\":"
        case .purpose: "\"purpose\":"
        case .requestBody: "\"request_body\":"
        case .requestBytes: "\"request_bytes\":"
        case .requestDigest: "\"request_digest\":"
        case .requestId: "\"request_id\":"
        case .requestOcsp: "\"request_ocsp\":"
        case .requestSignature: "\"request_signature\":"
        case .responseBody: "\"response_body\":"
        case .responseBytes: "\"response_bytes\":"
        case .responseDigest: "\"response_digest\":"
        case .responseOcsp: "\"response_ocsp\":"
        case .responseSignature: "\"response_signature\":"
        case .sequence: "\"sequence\":"
        case .server: "\"server\":"
        case .service: "\"service\":"
        case .side: "\"side\":"
        case .startedAt: "\"started_at\":"
        case .status: "\"status\":"
        case .userId: "\"user_id\":"
        case .v: "\"v\":"
        }
    }

    /// The member's name.
    var name: String {
        let key = key.description
        return String(key.dropFirst().dropLast(2))
    }

    /// What the member holds. `duration_ms` may be any integer a record can hold here; the
    /// validator then checks it against the two times.
    var kind: Kind {
        switch self {
        case .side: .side
        case .outcome: .outcome
        case .startedAt, .endedAt: .timestamp
        case .requestBody, .responseBody: .body
        case .sequence, .requestBytes, .responseBytes: .integer(0...AuditRecord.maximumInteger)
        case .durationMs: .integer(-AuditRecord.maximumInteger...AuditRecord.maximumInteger)
        case .status: .integer(0...999)
        case .v: .integer(AuditRecord.currentVersion...AuditRecord.currentVersion)
        case .agreement, .client, .dataset, .errorMessage, .errorType, .messageId, .method, .path, .peer, .purpose,
             .requestDigest, .requestId, .requestOcsp, .requestSignature, .responseDigest, .responseOcsp, .responseSignature,
             .server, .service, .userId:
            .text
        }
    }

    /// The bit of this member in a set of members.
    var bit: UInt64 { 1 << UInt64(rawValue) }

    /// The members every record has.
    static let required: UInt64 = [Self.durationMs, .endedAt, .method, .outcome, .sequence, .server, .side, .startedAt, .status, .v]
        .reduce(0) { $0 | $1.bit }
}
