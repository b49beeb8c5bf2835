import Foundation
import LienThongCore

// Services and datasets.
extension Registry {
    // MARK: Services

    /// Registers a service of an existing provider subsystem whose member is enabled (audit
    /// action `service.create`). Endpoint methods are upper-cased; paths must start with `/`. The
    /// name is free text (no control character, at most 1,000 characters), the OpenAPI text holds
    /// no control character but tab and line breaks; both are checked first.
    ///
    /// - throws: `.notFound` for an unknown subsystem, `.conflict` for a disabled member,
    ///   `.duplicate`, `.invalid`, `.storage`.
    public func createService(_ input: NewService, actor: RegistryActor) async throws(RegistryError) -> Service {
        try await perform(actor: actor) { now throws(RegistryError) in
            try Self.requireAdministrator(actor, "register a service directly")
            return try planService(input, now)
        }
    }

    /// The plan of ``createService``, also applied by an approved management request.
    func planService(_ input: NewService, _ now: Date) throws(RegistryError) -> MutationPlan<Service> {
            try RegistryRules.freeText(input.name, "name", limit: RegistryRules.maxNameLength)
            try RegistryRules.documentText(input.openAPI, "open_api")
            try RegistryRules.sameInstance(input.id.subsystem.member, instance, "service")
            _ = try existingSubsystem(input.id.subsystem)
            _ = try enabledMember(input.id.subsystem.member, "the provider of service \(input.id.canonical)")
            guard state.services[input.id.canonical] == nil else {
                throw .duplicate("service \(input.id.canonical) already exists")
            }
            let service = Service(id: input.id, name: RegistryRules.optionalText(input.name),
                                  openAPI: RegistryRules.optionalText(input.openAPI),
                                  endpoints: try RegistryRules.endpoints(input.endpoints ?? []),
                                  enabled: input.enabled ?? true, createdAt: now)
            return .commit(EntityUpserts(services: [service]), action: "service.create",
                           entity: "service \(service.id.canonical)", before: nil, after: try Self.text(service),
                           returning: service)
    }

    /// Enables or disables a service (audit action `service.enable` / `service.disable`).
    /// Setting the flag it already has changes nothing and records nothing.
    ///
    /// - throws: `.notFound`, `.storage`.
    public func setServiceEnabled(_ id: ServiceId, enabled: Bool, actor: RegistryActor) async throws(RegistryError) -> Service {
        try await perform(actor: actor) { now throws(RegistryError) in
            try Self.requireAdministrator(actor, "enable or disable a service directly")
            return try planServiceEnabled(id, enabled: enabled, now)
        }
    }

    /// The plan of ``setServiceEnabled``, also applied by an approved management request.
    func planServiceEnabled(_ id: ServiceId, enabled: Bool, _ _: Date) throws(RegistryError) -> MutationPlan<Service> {
            let before = try existingService(id)
            guard before.enabled != enabled else { return .unchanged(before) }
            var after = before
            after.enabled = enabled
            return .commit(EntityUpserts(services: [after]), action: enabled ? "service.enable" : "service.disable",
                           entity: "service \(id.canonical)", before: try Self.text(before), after: try Self.text(after),
                           returning: after)
    }

    /// The services of one provider subsystem (none for an unknown subsystem), or all of them,
    /// ordered by id.
    public func services(of subsystem: SubsystemId? = nil) -> [Service] {
        let all = RegistryState.ordered(state.services)
        guard let subsystem else { return all }
        return all.filter { $0.id.subsystem == subsystem }
    }

    /// One service.
    ///
    /// - throws: `.notFound`.
    public func service(_ id: ServiceId) throws(RegistryError) -> Service {
        try existingService(id)
    }

    // MARK: Datasets

    /// Registers a dataset (audit action `dataset.create`). The owner member (part of the id)
    /// must exist and be enabled; names and legal basis must not be blank and are free text (no
    /// control character, at most 1,000 characters, checked first); every listed service
    /// must exist and belong to the owner member.
    ///
    /// - throws: `.notFound` for an unknown owner or service, `.conflict` for a disabled owner,
    ///   `.duplicate`, `.invalid`, `.storage`.
    public func createDataset(_ input: NewDataset, actor: RegistryActor) async throws(RegistryError) -> Dataset {
        try await perform(actor: actor) { now throws(RegistryError) in
            try Self.requireAdministrator(actor, "declare a dataset directly")
            return try planDataset(input, now)
        }
    }

    /// The plan of ``createDataset``, also applied by an approved management request.
    func planDataset(_ input: NewDataset, _ now: Date) throws(RegistryError) -> MutationPlan<Dataset> {
            try RegistryRules.freeText(input.nameVi, "name_vi", limit: RegistryRules.maxNameLength)
            try RegistryRules.freeText(input.nameEn, "name_en", limit: RegistryRules.maxNameLength)
            try RegistryRules.freeText(input.legalBasis, "legal_basis", limit: RegistryRules.maxLegalBasisLength)
            try RegistryRules.sameInstance(input.id.owner, instance, "dataset")
            _ = try enabledMember(input.id.owner, "the owner of dataset \(input.id.canonical)")
            guard state.datasets[input.id.canonical] == nil else {
                throw .duplicate("dataset \(input.id.canonical) already exists")
            }
            let nameVi = try RegistryRules.nonBlank(input.nameVi, "name_vi")
            let nameEn = try RegistryRules.nonBlank(input.nameEn, "name_en")
            let legalBasis = try RegistryRules.nonBlank(input.legalBasis, "legal_basis")
            try RegistryRules.distinct(input.services, "services")
            for serviceId in input.services {
                _ = try existingService(serviceId)
                guard serviceId.subsystem.member == input.id.owner else {
                    throw .invalid("service \(serviceId.canonical) belongs to \(serviceId.subsystem.member.canonical), "
                        + "not to the dataset owner \(input.id.owner.canonical)")
                }
            }
            let dataset = Dataset(id: input.id, nameVi: nameVi, nameEn: nameEn, classification: input.classification,
                                  personalData: input.personalData, legalBasis: legalBasis, services: input.services,
                                  createdAt: now)
            return .commit(EntityUpserts(datasets: [dataset]), action: "dataset.create",
                           entity: "dataset \(dataset.id.canonical)", before: nil, after: try Self.text(dataset),
                           returning: dataset)
    }

    /// Every dataset, ordered by id.
    public func datasets() -> [Dataset] {
        RegistryState.ordered(state.datasets)
    }

    /// One dataset.
    ///
    /// - throws: `.notFound`.
    public func dataset(_ id: DatasetId) throws(RegistryError) -> Dataset {
        try existingDataset(id)
    }

    func existingService(_ id: ServiceId) throws(RegistryError) -> Service {
        guard let service = state.services[id.canonical] else { throw .notFound("service \(id.canonical) does not exist") }
        return service
    }

    func existingDataset(_ id: DatasetId) throws(RegistryError) -> Dataset {
        guard let dataset = state.datasets[id.canonical] else { throw .notFound("dataset \(id.canonical) does not exist") }
        return dataset
    }
}
