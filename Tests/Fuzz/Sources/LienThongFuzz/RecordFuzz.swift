import LienThongAudit

/// Canonical audit records: the single-pass validator that `audit verify` uses must accept exactly
/// the bytes the strict parser accepts, with the same fields, and give the strict parser's error
/// for the rest.
enum RecordFuzz {
    static func run(_ input: [UInt8]) {
        let reference = Result { () throws(AuditRecordError) in try AuditRecord(canonicalBytes: input) }
        let fast = Result { () throws(CanonicalRecordRejection) in try CanonicalRecordValidator.validate(input) }
        let entry = Result { () throws(AuditRecordError) in try AuditRecord.validateCanonicalBytes(input) }
        switch (reference, fast) {
        case (.success(let record), .success(let summary)):
            guard CanonicalRecordSummary(record) == summary, (try? entry.get()) == summary else {
                violated("validator and strict parser read different fields", input)
            }
            guard record.canonicalBytes() == input else { violated("an accepted record is not canonical", input) }
        case (.failure(let error), .failure):
            guard case .failure(let entryError) = entry, entryError == error else {
                violated("validateCanonicalBytes gave another error than the strict parser", input)
            }
        case (.success, .failure):
            violated("the validator refused a record the strict parser accepts", input)
        case (.failure, .success):
            violated("the validator accepted bytes the strict parser refuses", input)
        }
    }
}
