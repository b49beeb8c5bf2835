import Foundation
import LienThongCore

/// The hash chain of the admin audit trail (docs/registry.md, "Admin audit trail").
///
/// An entry's `hash` is the lower-case hex SHA-256 of the RFC 8785 canonical JSON (see
/// ``CanonicalJSON``) of the object
///
/// ```
/// {"sequence": <integer>, "at": "<YYYY-MM-DDThh:mm:ssZ>", "actor": "...", "actor_role": "...",
///  "actor_member": "...", "action": "...", "entity": "...", "before": "<text>", "after": "<text>",
///  "previous_hash": "<64 hex>"}
/// ```
///
/// `actor_role` and `actor_member` (the caller's registration, see ``ActorRole``) are left out
/// when absent, so entries written before roles existed keep their hashes.
///
/// where `at` is the entry's time in UTC with whole seconds (``RegistryJSON/timestamp(_:)``),
/// `before` and `after` are the entity's canonical JSON texts (as strings) and are left out
/// when absent (canonical JSON has no `null` here), and `previous_hash` is the previous entry's
/// hash, or 64 zeros for the first entry.
public enum AdminAuditChain {
    /// The `previous_hash` of the first entry: 64 zeros.
    public static let genesisHash = String(repeating: "0", count: 64)

    /// The object whose canonical bytes are hashed (every field of `entry` but `hash`).
    public static func hashInput(of entry: AdminAuditEntry) -> CanonicalJSON {
        var members: [String: CanonicalJSON] = [
            "sequence": .integer(entry.sequence),
            "at": .string(RegistryJSON.timestamp(entry.at)),
            "actor": .string(entry.actor),
            "action": .string(entry.action),
            "entity": .string(entry.entity),
            "previous_hash": .string(entry.previousHash),
        ]
        if let role = entry.actorRole { members["actor_role"] = .string(role.rawValue) }
        if let member = entry.actorMember { members["actor_member"] = .string(member.canonical) }
        if let before = entry.before { members["before"] = .string(before) }
        if let after = entry.after { members["after"] = .string(after) }
        return .object(members)
    }

    /// The hash `entry` should carry: lower-case hex SHA-256 of ``hashInput(of:)``'s canonical
    /// bytes.
    public static func hash(of entry: AdminAuditEntry) -> String {
        MessageDigest.sha256(of: hashInput(of: entry).canonicalBytes).hex
    }

    /// Builds an entry, with its hash, that follows the entry with `previousSequence` and
    /// `previousHash` (0 and ``genesisHash`` for the first).
    ///
    /// `at` is floored to a whole second, the precision the trail records.
    public static func entry(after previousSequence: Int64, previousHash: String, at: Date, actor: String,
                             role: ActorRole? = nil, member: MemberId? = nil,
                             action: String, entity: String, before: String?, after: String?) -> AdminAuditEntry {
        var entry = AdminAuditEntry(
            sequence: previousSequence + 1, at: RegistryJSON.wholeSecond(at), actor: actor, actorRole: role, actorMember: member,
            action: action, entity: entity, before: before, after: after, previousHash: previousHash, hash: "")
        entry.hash = hash(of: entry)
        return entry
    }

    /// Checks a whole trail offline, from sequence 1: consecutive sequences, each hash
    /// recomputed, each `previous_hash` equal to the hash before.
    ///
    /// - returns: The count and head, or the first bad entry.
    public static func verify(entries: [AdminAuditEntry]) -> Result<AuditTrailVerification, AuditTrailError> {
        var verifier = AuditChainVerifier()
        for entry in entries {
            do {
                try verifier.check(entry)
            } catch {
                return .failure(error)
            }
        }
        return .success(verifier.verification)
    }
}

/// Checks audit entries one at a time, so a long trail can be verified page by page.
public struct AuditChainVerifier: Sendable, Hashable {
    /// Entries checked so far.
    public private(set) var count: Int64 = 0
    /// The last good entry's sequence (0 before any).
    public private(set) var headSequence: Int64
    /// The last good entry's hash (``AdminAuditChain/genesisHash`` before any).
    public private(set) var headHash: String

    /// Starts at the beginning of a trail, or after a known good entry.
    ///
    /// - parameters:
    ///     - sequence: The sequence of the last entry already trusted (0 for none).
    ///     - hash: Its hash (``AdminAuditChain/genesisHash`` for none).
    public init(after sequence: Int64 = 0, hash: String = AdminAuditChain.genesisHash) {
        headSequence = sequence
        headHash = hash
    }

    /// Checks the next entry and advances.
    ///
    /// - throws: ``AuditTrailError`` naming the entry's sequence (or the missing one) if the
    ///   sequence does not follow, the hash does not match its content, or `previous_hash` does
    ///   not match the previous entry.
    public mutating func check(_ entry: AdminAuditEntry) throws(AuditTrailError) {
        let expected = headSequence + 1
        guard entry.sequence == expected else {
            throw AuditTrailError(sequence: expected, reason: entry.sequence > expected
                ? "entry \(expected) is missing (found \(entry.sequence))"
                : "entry \(entry.sequence) is out of order (expected \(expected))")
        }
        let recomputed = AdminAuditChain.hash(of: entry)
        guard recomputed == entry.hash else {
            throw AuditTrailError(sequence: entry.sequence,
                                  reason: "hash \(entry.hash) does not match the content (recomputed \(recomputed))")
        }
        guard entry.previousHash == headHash else {
            throw AuditTrailError(sequence: entry.sequence,
                                  reason: "previous_hash \(entry.previousHash) is not the hash of entry \(headSequence) (\(headHash))")
        }
        count += 1
        headSequence = entry.sequence
        headHash = entry.hash
    }

    /// The result so far.
    public var verification: AuditTrailVerification {
        AuditTrailVerification(count: count, headSequence: headSequence, headHash: headHash)
    }
}

/// The result of checking the admin audit trail.
public struct AuditTrailVerification: Codable, Sendable, Hashable {
    /// How many entries were checked.
    public var count: Int64
    /// The last entry's sequence (0 for an empty trail).
    public var headSequence: Int64
    /// The last entry's hash (64 zeros for an empty trail).
    public var headHash: String

    /// Creates the value.
    public init(count: Int64, headSequence: Int64, headHash: String) {
        self.count = count
        self.headSequence = headSequence
        self.headHash = headHash
    }
}

/// A broken admin audit trail: the first bad sequence and why.
public struct AuditTrailError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The first sequence that fails (or is missing).
    public var sequence: Int64
    /// What is wrong with it.
    public var reason: String

    /// Creates the error.
    public init(sequence: Int64, reason: String) {
        self.sequence = sequence
        self.reason = reason
    }

    /// `audit trail broken at sequence N: reason`.
    public var description: String { "audit trail broken at sequence \(sequence): \(reason)" }
}
