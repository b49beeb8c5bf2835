import Foundation
import LienThongCore

/// The auditor's side of the registry: who looked at what, and the history of an agreement.
extension Registry {
    /// Records a read by an auditor in the admin audit trail (action `auditor.query`): `entity`
    /// names what was read (the request's path and query), `detail` is stored as the entry's
    /// `after` text. Nothing else changes. Auditor queries are answered only once this succeeds:
    /// who looked at what is itself evidence.
    ///
    /// - throws: `.invalid` for a blank actor, `.storage` if the trail cannot be written.
    public func recordAuditorQuery(actor: RegistryActor, entity: String, detail: String? = nil) async throws(RegistryError) {
        try await perform(actor: actor) { _ throws(RegistryError) in
            .commit(EntityUpserts(), action: "auditor.query", entity: String(entity.prefix(2000)), before: nil, after: detail,
                    returning: ())
        }
    }

    /// The agreement, the access request it came from (if any), and every admin audit entry that
    /// created or changed either of them, oldest first.
    ///
    /// - throws: `.notFound`, `.storage`.
    public func agreementHistory(_ id: String) async throws(RegistryError) -> AgreementHistory {
        let agreement = try existingAgreement(id)
        let request = agreement.accessRequestId.flatMap { state.accessRequests[$0] }
        var entities: Set<String> = ["agreement \(id)"]
        if let request { entities.insert("access_request \(request.id)") }
        var history: [AdminAuditEntry] = []
        var from: Int64 = 1
        let pageSize = 1000
        while true {
            let page = try await auditTrail(fromSequence: from, limit: pageSize)
            history += page.filter { entities.contains($0.entity) && $0.action != "auditor.query" }
            guard page.count == pageSize, let last = page.last else { break }
            from = last.sequence + 1
        }
        return AgreementHistory(agreement: agreement, accessRequest: request, history: history)
    }
}

/// An agreement with where it came from and everything that happened to it.
public struct AgreementHistory: Codable, Sendable, Hashable {
    /// The agreement as it is now.
    public var agreement: Agreement
    /// The access request it was approved from, if any.
    public var accessRequest: AccessRequest?
    /// The admin audit entries of the agreement and its access request, oldest first.
    public var history: [AdminAuditEntry]
}
