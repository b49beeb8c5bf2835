import Foundation
import LienThongCore

// Management requests (docs/registry.md, "Management requests"): a member operator asks for a
// change to its own member; an instance administrator approves or declines it. Approval applies
// the change with exactly the rules of the direct operation, in the same transaction and under
// one audit entry, so a request is approved and applied, or neither.
extension Registry {
    /// Submits a management request (audit action `management_request.submit`, status
    /// `pending`). The change must be for the caller's own member; instance administrators act
    /// directly instead, but may also submit (another administrator then decides).
    ///
    /// The change is checked against the current state with the rules of its direct operation, and
    /// checked again when it is approved (the state may have changed in between).
    ///
    /// - throws: `.forbidden` (another member's object; a viewer or auditor), `.notFound`
    ///   (member), `.conflict` (disabled member), `.storage`.
    public func submitManagementRequest(_ change: ManagementRequestChange, actor: RegistryActor) async throws(RegistryError) -> ManagementRequest {
        try await perform(actor: actor) { now throws(RegistryError) in
            try Self.authorize(actor, toActFor: change.member, "ask for a change to \(change.entity)")
            try RegistryRules.sameInstance(change.member, instance, "management request")
            _ = try enabledMember(change.member, "the member of the request")
            // The change must pass its rules against today's state already (a typed refusal that
            // stores nothing); they are applied again when it is approved.
            _ = try plan(change, now)
            let request = ManagementRequest(
                id: RegistryState.identifier(RegistryState.managementRequestPrefix, state.lastManagementRequestNumber + 1),
                member: change.member, change: change, submittedBy: actor.subject,
                submittedByCertificate: actor.certificateSHA256, submittedAt: now)
            return .commit(EntityUpserts(managementRequests: [request]), action: "management_request.submit",
                           entity: "management_request \(request.id)", before: nil, after: try Self.text(request),
                           returning: request)
        }
    }

    /// Approves a pending request (audit action `management_request.approve`): the change is
    /// planned with the rules of its direct operation, and stored with the approved request in
    /// one transaction. The entry's `after` is `{"management_request": …, "result": …}`.
    ///
    /// Only an instance administrator approves, and never a request submitted with the same
    /// certificate (nobody approves their own server's registration).
    ///
    /// - throws: `.forbidden`, `.notFound`, `.conflict` (decided already, or submitted by the
    ///   caller), the change's own errors (`.duplicate`, `.invalid`, ...; the request stays
    ///   pending), `.storage`.
    public func approveManagementRequest(_ id: String, note: String?, actor: RegistryActor) async throws(RegistryError) -> ManagementRequest {
        try await perform(actor: actor) { now throws(RegistryError) in
            try Self.requireAdministrator(actor, "approve management requests")
            try RegistryRules.freeText(note, "reason", limit: RegistryRules.maxReasonLength)
            var request = try pendingManagementRequest(id, actor: actor)
            let (upserts, result) = try plan(request.change, now)
            let before = try Self.text(request)
            request.status = .approved
            request.decidedBy = actor.subject
            request.decidedAt = now
            request.reason = RegistryRules.optionalText(note)
            var all = upserts
            all.managementRequests = [request]
            var after: [String: any Encodable & Sendable] = ["management_request": request]
            if let result { after["result"] = result }
            return .commit(all, action: "management_request.approve", entity: "management_request \(id)",
                           before: before, after: try Self.text(after), returning: request)
        }
    }

    /// Declines a pending request with a written reason (audit action
    /// `management_request.decline`). Only an instance administrator declines; the submitter
    /// may withdraw its own request the same way.
    ///
    /// - throws: `.forbidden`, `.notFound`, `.conflict` (decided already), `.invalid` (no
    ///   reason), `.storage`.
    public func declineManagementRequest(_ id: String, reason: String?, actor: RegistryActor) async throws(RegistryError) -> ManagementRequest {
        try await perform(actor: actor) { now throws(RegistryError) in
            try RegistryRules.freeText(reason, "reason", limit: RegistryRules.maxReasonLength)
            guard let existing = state.managementRequests[id] else { throw .notFound("management request \(id) does not exist") }
            let withdrawing = actor.certificateSHA256 != nil && actor.certificateSHA256 == existing.submittedByCertificate
            if !withdrawing { try Self.requireAdministrator(actor, "decline management requests") }
            guard let written = RegistryRules.optionalText(reason) else {
                throw .invalid("a decline must give a written reason")
            }
            var request = try pendingManagementRequest(id, actor: withdrawing ? "cli:local" : actor)
            let before = try Self.text(request)
            request.status = .declined
            request.decidedBy = actor.subject
            request.decidedAt = now
            request.reason = written
            return .commit(EntityUpserts(managementRequests: [request]), action: "management_request.decline",
                           entity: "management_request \(id)", before: before, after: try Self.text(request), returning: request)
        }
    }

    /// Management requests ordered by id: all of them, or one member's.
    public func managementRequests(of member: MemberId? = nil) -> [ManagementRequest] {
        let all = RegistryState.ordered(state.managementRequests)
        guard let member else { return all }
        return all.filter { $0.member == member }
    }

    /// One management request.
    ///
    /// - throws: `.notFound`.
    public func managementRequest(_ id: String) throws(RegistryError) -> ManagementRequest {
        guard let request = state.managementRequests[id] else { throw .notFound("management request \(id) does not exist") }
        return request
    }

    /// The plan of a service change: name, OpenAPI document and endpoints of a registered service
    /// (audit action `service.change`). The flag `enabled` is not changed here.
    func planServiceChange(_ input: NewService, _ now: Date) throws(RegistryError) -> MutationPlan<Service> {
        try RegistryRules.freeText(input.name, "name", limit: RegistryRules.maxNameLength)
        try RegistryRules.documentText(input.openAPI, "open_api")
        let before = try existingService(input.id)
        var after = before
        after.name = RegistryRules.optionalText(input.name)
        after.openAPI = RegistryRules.optionalText(input.openAPI)
        after.endpoints = try RegistryRules.endpoints(input.endpoints ?? [])
        guard after != before else { return .unchanged(before) }
        return .commit(EntityUpserts(services: [after]), action: "service.change", entity: "service \(input.id.canonical)",
                       before: try Self.text(before), after: try Self.text(after), returning: after)
    }

    private func pendingManagementRequest(_ id: String, actor: RegistryActor) throws(RegistryError) -> ManagementRequest {
        guard let request = state.managementRequests[id] else { throw .notFound("management request \(id) does not exist") }
        guard request.status == .pending else {
            throw .conflict("management request \(id) was already \(request.status.rawValue) by \(request.decidedBy ?? "?")")
        }
        if let mine = actor.certificateSHA256, mine == request.submittedByCertificate {
            throw .conflict("management request \(id) was submitted with this certificate; another administrator must decide it")
        }
        return request
    }

    /// The upserts and the `after` text of `change` planned at `now` with its direct operation's
    /// rules.
    private func plan(_ change: ManagementRequestChange, _ now: Date) throws(RegistryError) -> (EntityUpserts, String?) {
        switch change {
        case .addSubsystem(let input): try Self.parts(planSubsystem(input, now))
        case .registerServer(let input): try Self.parts(planServer(input, now))
        case .registerService(let input): try Self.parts(planService(input, now))
        case .changeService(let input): try Self.parts(planServiceChange(input, now))
        case .disableService(let service): try Self.parts(planServiceEnabled(service, enabled: false, now))
        case .enableService(let service): try Self.parts(planServiceEnabled(service, enabled: true, now))
        case .declareDataset(let input): try Self.parts(planDataset(input, now))
        }
    }

    /// The upserts of a plan and its `after` text, for a composite entry.
    private static func parts<Value>(_ plan: MutationPlan<Value>) throws(RegistryError) -> (EntityUpserts, String?) {
        guard let record = plan.record else {
            throw .conflict("the change asks for nothing that is not so already")
        }
        return (plan.upserts, record.after)
    }
}
