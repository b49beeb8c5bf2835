import Foundation
import LienThongCore

// Sharing agreements and access requests.
extension Registry {
    // MARK: Agreements

    /// Creates a sharing agreement (audit action `agreement.create`), with the next id
    /// `AG-000001`, `AG-000002`, ... and status `active`.
    ///
    /// Rules: the dataset exists; `services` is not empty and each service exists, belongs to the
    /// dataset's owner and exposes the dataset; the consumer subsystem exists and its member is
    /// enabled (so is the owner); purposes are codes; the legal basis is not blank and is free
    /// text (no control character, at most 1,000 characters, checked first); `valid_until` is
    /// after `valid_from`, `valid_from` not before 2000-01-01 and `valid_until` not already over
    /// at creation; the consumer is not the subsystem that provides one of the services (another
    /// subsystem of the owner member may be); on a dataset holding personal data the purposes
    /// are listed (Decree 13/2023/NĐ-CP); elsewhere an empty list means any purpose.
    ///
    /// - throws: `.notFound`, `.invalid`, `.conflict` (disabled member), `.storage`.
    public func createAgreement(_ input: NewAgreement, actor: RegistryActor) async throws(RegistryError) -> Agreement {
        try await perform(actor: actor) { now throws(RegistryError) in
            try Self.authorize(actor, toActFor: input.dataset.owner, "create an agreement on \(input.dataset.canonical)")
            try RegistryRules.freeText(input.legalBasis, "legal_basis", limit: RegistryRules.maxLegalBasisLength)
            let agreement = try validatedAgreement(
                dataset: input.dataset, services: input.services, consumer: input.consumer, purposes: input.purposes,
                legalBasis: input.legalBasis, validFrom: input.validFrom, validUntil: input.validUntil,
                endpoints: input.endpoints, accessRequestId: nil, now: now)
            return .commit(EntityUpserts(agreements: [agreement]), action: "agreement.create",
                           entity: "agreement \(agreement.id)", before: nil, after: try Self.text(agreement),
                           returning: agreement)
        }
    }

    /// Changes an agreement's status. Allowed: `active` → `suspended` (`agreement.suspend`),
    /// `suspended` → `active` (`agreement.activate`), `active`/`suspended` → `revoked`
    /// (`agreement.revoke`). `expired` and `revoked` are final; anything else is a conflict.
    ///
    /// - throws: `.notFound`, `.conflict`, `.storage`.
    public func setAgreementStatus(_ id: String, status: AgreementStatus, actor: RegistryActor) async throws(RegistryError) -> Agreement {
        try await perform(actor: actor) { _ throws(RegistryError) in
            let before = try existingAgreement(id)
            try Self.authorize(actor, toActFor: before.dataset.owner, "change agreement \(id) on \(before.dataset.canonical)")
            let action: String
            switch (before.status, status) {
            case (.active, .suspended): action = "agreement.suspend"
            case (.suspended, .active): action = "agreement.activate"
            case (.active, .revoked), (.suspended, .revoked): action = "agreement.revoke"
            default:
                throw .conflict("agreement \(id) cannot go from \(before.status.rawValue) to \(status.rawValue)")
            }
            var after = before
            after.status = status
            return .commit(EntityUpserts(agreements: [after]), action: action, entity: "agreement \(id)",
                           before: try Self.text(before), after: try Self.text(after), returning: after)
        }
    }

    /// Every agreement, whatever its status, ordered by id.
    public func agreements() -> [Agreement] {
        RegistryState.ordered(state.agreements)
    }

    /// One agreement.
    ///
    /// - throws: `.notFound`.
    public func agreement(_ id: String) throws(RegistryError) -> Agreement {
        try existingAgreement(id)
    }

    // MARK: Access requests

    /// Files a consumer's access request (audit action `access_request.file`), with the next id
    /// `AR-000001`, ...
    ///
    /// Rules: the consumer subsystem exists and its member is enabled; the dataset exists; listed
    /// services exist, belong to the dataset's owner and expose the dataset; purposes are codes,
    /// and listed if the dataset holds personal data; the consumer provides none of the services;
    /// justification and legal basis are not blank and are free text (no control character; at
    /// most 10,000 and 1,000 characters; checked first); `requested_until` is in the future.
    ///
    /// - throws: `.notFound`, `.invalid`, `.conflict` (disabled member), `.storage`.
    public func fileAccessRequest(_ input: NewAccessRequest, actor: RegistryActor) async throws(RegistryError) -> AccessRequest {
        try await perform(actor: actor) { now throws(RegistryError) in
            try Self.authorize(actor, toActFor: input.consumer.member, "file an access request for \(input.consumer.canonical)")
            try RegistryRules.freeText(input.justification, "justification", limit: RegistryRules.maxReasonLength)
            try RegistryRules.freeText(input.legalBasis, "legal_basis", limit: RegistryRules.maxLegalBasisLength)
            _ = try existingSubsystem(input.consumer)
            _ = try enabledMember(input.consumer.member, "the consumer")
            let dataset = try existingDataset(input.dataset)
            let services = input.services ?? []
            try checkServices(services, expose: dataset)
            let endpoints = try checkedEndpoints(input.endpoints, of: services.isEmpty ? dataset.services : services)
            let purposes = try RegistryRules.purposes(input.purposes)
            try RegistryRules.notOwnProvider(input.consumer, of: services.isEmpty ? dataset.services : services)
            try RegistryRules.purposesNamed(purposes, for: dataset)
            let justification = try RegistryRules.nonBlank(input.justification, "justification")
            let legalBasis = try RegistryRules.nonBlank(input.legalBasis, "legal_basis")
            let requestedUntil = input.requestedUntil.map(RegistryJSON.wholeSecond)
            if let requestedUntil, requestedUntil <= now {
                throw .invalid("requested_until \(RegistryJSON.timestamp(requestedUntil)) is not in the future")
            }
            let request = AccessRequest(
                id: RegistryState.identifier(RegistryState.accessRequestPrefix, state.lastAccessRequestNumber + 1),
                consumer: input.consumer, dataset: input.dataset, services: services, purposes: purposes,
                justification: justification, legalBasis: legalBasis, requestedUntil: requestedUntil, requestedAt: now,
                endpoints: endpoints)
            return .commit(EntityUpserts(accessRequests: [request]), action: "access_request.file",
                           entity: "access_request \(request.id)", before: nil, after: try Self.text(request),
                           returning: request)
        }
    }

    /// Decides a pending access request.
    ///
    /// - Approval (`access_request.approve`) creates an `active` agreement for the request's
    ///   consumer, dataset, services (all services exposing the dataset if the request named
    ///   none) and purposes, valid from `valid_from` (default now) until `valid_until` (default
    ///   the request's `requested_until`, else now plus one year), on `legal_basis` (default the
    ///   request's); the agreement passes the same rules as ``createAgreement(_:actor:)`` and is
    ///   linked both ways. The audit entry's `after` is `{"access_request": …, "agreement": …}`.
    /// - Refusal (`access_request.refuse`) must carry a non-blank reason and legal basis
    ///   (Decree 194/2025 Art. 16) and no validity dates.
    /// - Either way the reason and legal basis are free text (no control character; at most
    ///   10,000 and 1,000 characters), checked before the request is looked up.
    ///
    /// - throws: `.notFound`, `.conflict` if already decided, `.invalid`, `.storage`.
    public func decide(_ id: String, _ input: AccessDecisionInput, actor: RegistryActor) async throws(RegistryError) -> AccessRequest {
        try await perform(actor: actor) { now throws(RegistryError) in
            try RegistryRules.freeText(input.reason, "reason", limit: RegistryRules.maxReasonLength)
            try RegistryRules.freeText(input.legalBasis, "legal_basis", limit: RegistryRules.maxLegalBasisLength)
            let before = try existingAccessRequest(id)
            try Self.authorize(actor, toActFor: before.dataset.owner, "decide access request \(id) to \(before.dataset.canonical)")
            // An instance administrator decides on the owner's behalf, and the trail says so.
            let onBehalfOf: MemberId? = actor.role == .instanceAdmin ? before.dataset.owner : nil
            if let decision = before.decision {
                throw .conflict("access request \(id) was already \(decision.outcome.rawValue) by \(decision.decidedBy) "
                    + "at \(RegistryJSON.timestamp(decision.decidedAt))")
            }
            var after = before
            switch input.outcome {
            case .refused:
                guard let reason = RegistryRules.optionalText(input.reason) else {
                    throw .invalid("a refusal must give a written reason (Decree 194/2025 Art. 16)")
                }
                guard let legalBasis = RegistryRules.optionalText(input.legalBasis) else {
                    throw .invalid("a refusal must give its legal basis (Decree 194/2025 Art. 16)")
                }
                guard input.validFrom == nil, input.validUntil == nil, input.endpoints == nil else {
                    throw .invalid("valid_from, valid_until and endpoints apply to approvals only")
                }
                after.decision = AccessDecision(outcome: .refused, reason: reason, legalBasis: legalBasis,
                                                decidedBy: actor.subject, decidedAt: now, agreementId: nil)
                var plan = MutationPlan.commit(EntityUpserts(accessRequests: [after]), action: "access_request.refuse",
                               entity: "access_request \(id)", before: try Self.text(before), after: try Self.text(after),
                               returning: after)
                plan.record?.onBehalfOf = onBehalfOf
                return plan
            case .approved:
                let dataset = try existingDataset(before.dataset)
                let services = before.services.isEmpty ? dataset.services : before.services
                let validFrom = input.validFrom ?? now
                let validUntil = input.validUntil ?? before.requestedUntil ?? Self.oneYear(after: now)
                let legalBasis = RegistryRules.optionalText(input.legalBasis) ?? before.legalBasis
                let agreement = try validatedAgreement(
                    dataset: before.dataset, services: services, consumer: before.consumer, purposes: before.purposes,
                    legalBasis: legalBasis, validFrom: validFrom, validUntil: validUntil,
                    endpoints: input.endpoints ?? before.endpoints, accessRequestId: id, now: now)
                after.decision = AccessDecision(outcome: .approved, reason: RegistryRules.optionalText(input.reason),
                                                legalBasis: legalBasis, decidedBy: actor.subject, decidedAt: now,
                                                agreementId: agreement.id)
                let afterText = try Self.text(["access_request": after, "agreement": agreement])
                var plan = MutationPlan.commit(EntityUpserts(agreements: [agreement], accessRequests: [after]),
                               action: "access_request.approve", entity: "access_request \(id)",
                               before: try Self.text(before), after: afterText, returning: after)
                plan.record?.onBehalfOf = onBehalfOf
                return plan
            }
        }
    }

    /// Every access request, decided or not, ordered by id.
    public func accessRequests() -> [AccessRequest] {
        RegistryState.ordered(state.accessRequests)
    }

    /// One access request.
    ///
    /// - throws: `.notFound`.
    public func accessRequest(_ id: String) throws(RegistryError) -> AccessRequest {
        try existingAccessRequest(id)
    }

    /// The requests without a decision, with their age at `now` (default: the registry's
    /// clock), oldest first.
    public func pendingAccessRequests(at now: Date? = nil) -> [PendingAccessRequest] {
        let time = now ?? clock()
        return RegistryState.ordered(state.accessRequests)
            .filter { $0.decision == nil }
            .map { PendingAccessRequest(request: $0, ageSeconds: max(0, Int64(time.timeIntervalSince($0.requestedAt).rounded(.down)))) }
            .sorted { ($0.request.requestedAt, $0.request.id) < ($1.request.requestedAt, $1.request.id) }
    }

    // MARK: Rules

    /// Builds a new agreement with the next id after checking every rule.
    func validatedAgreement(dataset datasetId: DatasetId, services: [ServiceId], consumer: SubsystemId,
                            purposes: [String], legalBasis: String, validFrom: Date, validUntil: Date,
                            endpoints: [ServiceEndpoint]? = nil, accessRequestId: String?, now: Date) throws(RegistryError) -> Agreement {
        let dataset = try existingDataset(datasetId)
        _ = try enabledMember(dataset.owner, "the owner of dataset \(datasetId.canonical)")
        guard !services.isEmpty else {
            throw .invalid("an agreement must name at least one service of the dataset owner \(dataset.owner.canonical)")
        }
        try checkServices(services, expose: dataset)
        let endpoints = try checkedEndpoints(endpoints, of: services)
        _ = try existingSubsystem(consumer)
        _ = try enabledMember(consumer.member, "the consumer")
        let purposes = try RegistryRules.purposes(purposes)
        let legalBasis = try RegistryRules.nonBlank(legalBasis, "legal_basis")
        let from = RegistryJSON.wholeSecond(validFrom)
        let until = RegistryJSON.wholeSecond(validUntil)
        guard until > from else {
            throw .invalid("valid_until \(RegistryJSON.timestamp(until)) must be after valid_from \(RegistryJSON.timestamp(from))")
        }
        guard from >= RegistryRules.earliestValidFrom else {
            throw .invalid("valid_from \(RegistryJSON.timestamp(from)) is before \(RegistryJSON.timestamp(RegistryRules.earliestValidFrom)), "
                + "the earliest start the registry accepts")
        }
        guard until > now else {
            throw .invalid("valid_until \(RegistryJSON.timestamp(until)) is already over (the registry's clock reads "
                + "\(RegistryJSON.timestamp(RegistryJSON.wholeSecond(now)))): an agreement must be in force for some time after it is made")
        }
        try RegistryRules.notOwnProvider(consumer, of: services)
        try RegistryRules.purposesNamed(purposes, for: dataset)
        return Agreement(
            id: RegistryState.identifier(RegistryState.agreementPrefix, state.lastAgreementNumber + 1),
            dataset: datasetId, services: services, consumer: consumer, purposes: purposes, legalBasis: legalBasis,
            validFrom: from, validUntil: until, status: .active, accessRequestId: accessRequestId, createdAt: now,
            endpoints: endpoints)
    }

    /// An agreement (or access request) may only narrow: each endpoint it names must be one of
    /// the registered endpoints of one of its services (methods compared upper-cased, paths
    /// exactly). `nil` stays `nil` (all endpoints); an empty list, or one naming no endpoint of
    /// the services, is refused.
    func checkedEndpoints(_ endpoints: [ServiceEndpoint]?, of services: [ServiceId]) throws(RegistryError) -> [ServiceEndpoint]? {
        guard let endpoints else { return nil }
        guard !endpoints.isEmpty else {
            throw .invalid("endpoints, when given, must name at least one endpoint; leave it out to cover all of the services' endpoints")
        }
        let normalised = try RegistryRules.endpoints(endpoints)
        let registered = Set(services.flatMap { state.services[$0.canonical]?.endpoints ?? [] }.map { ServiceEndpoint(method: $0.method.uppercased(), path: $0.path) })
        for endpoint in normalised where !registered.contains(endpoint) {
            throw .invalid("endpoint \(endpoint.method) \(endpoint.path.prefix(200)) is not a registered endpoint of "
                + services.map(\.canonical).joined(separator: ", "))
        }
        return normalised
    }

    /// Each service must exist, be provided by the dataset's owner and expose the dataset.
    func checkServices(_ services: [ServiceId], expose dataset: Dataset) throws(RegistryError) {
        try RegistryRules.distinct(services, "services")
        for serviceId in services {
            _ = try existingService(serviceId)
            let provider = serviceId.subsystem.member
            guard provider == dataset.owner else {
                throw .invalid("the provider \(provider.canonical) of service \(serviceId.canonical) is not the dataset owner "
                    + "\(dataset.owner.canonical) of \(dataset.id.canonical)")
            }
            guard dataset.services.contains(serviceId) else {
                throw .invalid("service \(serviceId.canonical) does not expose dataset \(dataset.id.canonical)")
            }
        }
    }

    func existingAgreement(_ id: String) throws(RegistryError) -> Agreement {
        guard let agreement = state.agreements[id] else { throw .notFound("agreement \(id) does not exist") }
        return agreement
    }

    func existingAccessRequest(_ id: String) throws(RegistryError) -> AccessRequest {
        guard let request = state.accessRequests[id] else { throw .notFound("access request \(id) does not exist") }
        return request
    }

    /// The same date one calendar year later (UTC).
    static func oneYear(after date: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        return calendar.date(byAdding: .year, value: 1, to: date) ?? date.addingTimeInterval(365 * 86_400)
    }
}
