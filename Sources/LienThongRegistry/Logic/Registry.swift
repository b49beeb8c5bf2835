import Foundation
import LienThongCore

/// The registry's state and rules: members, subsystems, security servers, services, datasets,
/// sharing agreements and access requests, with a hash-chained admin audit trail.
///
/// The whole state is held in memory (loaded from the store at start-up). Every mutation:
/// 1. waits for the previous mutation to finish (mutations never interleave);
/// 2. validates its input against memory;
/// 3. builds the new entities and one chained ``AdminAuditEntry``;
/// 4. commits them, with the next revision, to the store in one transaction;
/// 5. only then updates memory and ``revision``.
///
/// A refused mutation (any ``RegistryError``) changes nothing, not even the audit trail; a store
/// failure is reported as `.storage` and leaves memory as it was.
///
/// All dates the registry records are floored to whole seconds (the precision of their JSON form).
public actor Registry {
    /// The X-Road instance the registry serves, e.g. `VN`. Every registered id must belong to it.
    public nonisolated let instance: String
    /// Increases by one with every committed change.
    public private(set) var revision: Int64

    let store: any RegistryStore
    let clock: @Sendable () -> Date
    var state: RegistryState
    private var headSequence: Int64
    private var headHash: String
    private var mutations = Turnstile()

    /// Loads the registry from `store`.
    ///
    /// - parameters:
    ///     - store: Where the state and the audit trail live.
    ///     - instance: The instance code, e.g. `VN`.
    ///     - clock: The time source (tests pass a fixed clock).
    /// - throws: ``RegistryError`` (`.invalid`) for a malformed instance code, or whatever the
    ///   store throws while loading.
    public init(store: any RegistryStore, instance: String, clock: @escaping @Sendable () -> Date = { Date() }) async throws {
        do {
            _ = try MemberId(instance: instance, memberClass: "X", memberCode: "X")
        } catch {
            throw RegistryError.invalid("instance code \"\(instance)\": \(error)")
        }
        let loaded = try await store.load()
        self.instance = instance
        self.store = store
        self.clock = clock
        self.revision = loaded.snapshot.revision
        self.state = RegistryState(snapshot: loaded.snapshot)
        self.headSequence = loaded.auditHead?.sequence ?? 0
        self.headHash = loaded.auditHead?.hash ?? AdminAuditChain.genesisHash
    }

    /// Everything the registry holds (but the audit trail) at the current revision, each kind
    /// ordered by id.
    public func snapshot() -> RegistrySnapshot {
        state.snapshot(revision: revision)
    }

    // MARK: - Audit trail

    /// Up to `limit` audit entries from `fromSequence` on (sequences start at 1).
    ///
    /// - throws: ``RegistryError`` (`.storage`) if the store fails.
    public func auditTrail(fromSequence: Int64 = 1, limit: Int = 1000) async throws(RegistryError) -> [AdminAuditEntry] {
        do {
            return try await store.auditTrail(fromSequence: fromSequence, limit: limit)
        } catch {
            throw RegistryError(.storage, "cannot read the audit trail: \(error)")
        }
    }

    /// Walks the whole audit trail in the store, recomputing every hash and checking the chain
    /// and the sequence numbers, and that the trail ends at the entry this registry last wrote.
    ///
    /// - returns: The number of entries and the head.
    /// - throws: ``AuditTrailError`` naming the first bad (or missing) sequence, or
    ///   ``RegistryError`` (`.storage`) if the store cannot be read.
    public func verifyAuditTrail() async throws -> AuditTrailVerification {
        var verifier = AuditChainVerifier()
        let pageSize = 1000
        while true {
            let page = try await auditTrail(fromSequence: verifier.headSequence + 1, limit: pageSize)
            for entry in page { try verifier.check(entry) }
            if page.count < pageSize { break }
        }
        let (expectedSequence, expectedHash) = (headSequence, headHash)
        if verifier.headSequence < expectedSequence {
            throw AuditTrailError(sequence: verifier.headSequence + 1,
                                  reason: "entry \(verifier.headSequence + 1) is missing; the registry wrote up to \(expectedSequence)")
        }
        if verifier.headSequence == expectedSequence, verifier.headHash != expectedHash {
            throw AuditTrailError(sequence: expectedSequence,
                                  reason: "the head hash \(verifier.headHash) is not the one the registry wrote (\(expectedHash))")
        }
        return verifier.verification
    }

    /// Checks a complete trail (from sequence 1) offline; see ``AdminAuditChain/verify(entries:)``.
    public static func verify(entries: [AdminAuditEntry]) -> Result<AuditTrailVerification, AuditTrailError> {
        AdminAuditChain.verify(entries: entries)
    }

    // MARK: - Mutations

    /// Runs one mutation: waits for exclusive access, plans it against memory at time `now`,
    /// commits the plan with a chained audit entry, then applies it to memory.
    func perform<Value: Sendable>(
        actor caller: RegistryActor,
        _ plan: (_ now: Date) throws(RegistryError) -> MutationPlan<Value>
    ) async throws(RegistryError) -> Value {
        try Self.caller(caller.subject)
        await beginMutation()
        defer { endMutation() }
        let now = RegistryJSON.wholeSecond(clock())
        let planned = try plan(now)
        guard let record = planned.record else { return planned.value }
        let entry = AdminAuditChain.entry(
            after: headSequence, previousHash: headHash, at: now, actor: caller.subject, role: caller.role,
            member: record.onBehalfOf ?? caller.member, action: record.action,
            entity: record.entity, before: record.before, after: record.after)
        let change = planned.upserts.change(revision: revision + 1, auditEntry: entry)
        do {
            try await store.commit(change)
        } catch {
            throw RegistryError(.storage, "the change (\(record.action) \(record.entity)) was not stored: \(error)")
        }
        state.apply(planned.upserts)
        revision = change.revision
        headSequence = entry.sequence
        headHash = entry.hash
        return planned.value
    }

    private func beginMutation() async {
        if !mutations.enter() { await withCheckedContinuation { mutations.wait($0) } }
    }

    private func endMutation() {
        mutations.leave()
    }

    /// The canonical JSON text of an entity, for the audit trail.
    static func text<T: Encodable>(_ value: T) throws(RegistryError) -> String {
        do {
            return try RegistryJSON.canonicalText(value)
        } catch {
            throw RegistryError(.storage, "cannot encode \(T.self) for the audit trail: \(error)")
        }
    }

    /// The canonical JSON text of an object of entities, e.g. `{"access_request": …, "agreement": …}`.
    static func text(_ parts: [String: any Encodable & Sendable]) throws(RegistryError) -> String {
        try text(parts.mapValues(AnyEncodable.init))
    }

    /// The caller's identity must not be blank.
    static func caller(_ actor: String) throws(RegistryError) {
        guard !actor.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw .invalid("the caller (actor) must be named for the audit trail")
        }
    }
}

/// A type-erased encodable value.
private struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable & Sendable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
