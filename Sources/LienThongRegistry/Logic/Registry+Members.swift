import Foundation
import LienThongCore

// Members, subsystems and security servers.
extension Registry {
    // MARK: Members

    /// Registers a member (audit action `member.create`).
    ///
    /// - parameters:
    ///     - input: The member; its instance must be ``instance``, its name not blank; the names
    ///       are free text (``RegistryRules/freeText(_:_:limit:)``: no control character, at most
    ///       1,000 characters), checked before anything else.
    ///     - actor: The caller's certificate subject, recorded in the audit trail.
    /// - throws: `.duplicate` if the id is taken, `.invalid` for bad input, `.storage`.
    public func createMember(_ input: NewMember, actor: RegistryActor) async throws(RegistryError) -> Member {
        try await perform(actor: actor) { now throws(RegistryError) in
            try Self.requireAdministrator(actor, "register a member")
            try RegistryRules.freeText(input.name, "name", limit: RegistryRules.maxNameLength)
            try RegistryRules.freeText(input.nameEn, "name_en", limit: RegistryRules.maxNameLength)
            try RegistryRules.sameInstance(input.id, instance, "member")
            guard state.members[input.id.canonical] == nil else {
                throw .duplicate("member \(input.id.canonical) already exists")
            }
            let member = Member(id: input.id, name: try RegistryRules.nonBlank(input.name, "name"),
                                nameEn: RegistryRules.optionalText(input.nameEn), kind: input.kind,
                                disabled: false, createdAt: now)
            return .commit(EntityUpserts(members: [member]), action: "member.create",
                           entity: "member \(member.id.canonical)", before: nil, after: try Self.text(member),
                           returning: member)
        }
    }

    /// Disables a member (audit action `member.disable`): it keeps its history but may no longer
    /// get new subsystems, servers, services, datasets or agreements. Disabling a disabled
    /// member changes nothing and records nothing.
    ///
    /// - throws: `.notFound` for an unknown member, `.storage`.
    public func disableMember(_ id: MemberId, actor: RegistryActor) async throws(RegistryError) -> Member {
        try await perform(actor: actor) { _ throws(RegistryError) in
            try Self.requireAdministrator(actor, "disable a member")
            let before = try existingMember(id)
            guard !before.disabled else { return .unchanged(before) }
            var after = before
            after.disabled = true
            return .commit(EntityUpserts(members: [after]), action: "member.disable",
                           entity: "member \(id.canonical)", before: try Self.text(before), after: try Self.text(after),
                           returning: after)
        }
    }

    /// Every member, disabled ones included, ordered by id.
    public func members() -> [Member] {
        RegistryState.ordered(state.members)
    }

    /// One member.
    ///
    /// - throws: `.notFound`.
    public func member(_ id: MemberId) throws(RegistryError) -> Member {
        try existingMember(id)
    }

    // MARK: Subsystems

    /// Registers a subsystem of an existing, enabled member (audit action `subsystem.create`).
    ///
    /// - throws: `.notFound` for an unknown member, `.conflict` for a disabled one, `.duplicate`,
    ///   `.invalid`, `.storage`.
    public func createSubsystem(_ input: NewSubsystem, actor: RegistryActor) async throws(RegistryError) -> Subsystem {
        try await perform(actor: actor) { now throws(RegistryError) in
            try Self.requireAdministrator(actor, "add a subsystem directly")
            return try planSubsystem(input, now)
        }
    }

    /// The plan of ``createSubsystem``, also applied by an approved management request.
    func planSubsystem(_ input: NewSubsystem, _ now: Date) throws(RegistryError) -> MutationPlan<Subsystem> {
            try RegistryRules.freeText(input.name, "name", limit: RegistryRules.maxNameLength)
            try RegistryRules.sameInstance(input.id.member, instance, "subsystem")
            _ = try enabledMember(input.id.member, "the owner of subsystem \(input.id.canonical)")
            guard state.subsystems[input.id.canonical] == nil else {
                throw .duplicate("subsystem \(input.id.canonical) already exists")
            }
            let subsystem = Subsystem(id: input.id, name: RegistryRules.optionalText(input.name), createdAt: now)
            return .commit(EntityUpserts(subsystems: [subsystem]), action: "subsystem.create",
                           entity: "subsystem \(subsystem.id.canonical)", before: nil, after: try Self.text(subsystem),
                           returning: subsystem)
    }

    /// The subsystems of one member (none for an unknown member), or all of them, ordered by id.
    public func subsystems(of member: MemberId? = nil) -> [Subsystem] {
        let all = RegistryState.ordered(state.subsystems)
        guard let member else { return all }
        return all.filter { $0.id.member == member }
    }

    /// One subsystem.
    ///
    /// - throws: `.notFound`.
    public func subsystem(_ id: SubsystemId) throws(RegistryError) -> Subsystem {
        try existingSubsystem(id)
    }

    // MARK: Security servers

    /// Registers a security server of an existing, enabled member (audit action
    /// `server.register`). The address must be `host:port`; the PEM must start with an X.509
    /// certificate, whose DER's lower-case hex SHA-256 becomes the pin. The nodes (``RegistryRules/nodes(_:)``)
    /// are those whose checkpoints the registry will accept.
    ///
    /// - throws: `.notFound` for an unknown member, `.conflict` for a disabled one, `.duplicate`,
    ///   `.invalid` (bad address or certificate), `.storage`.
    public func registerServer(_ input: NewSecurityServer, actor: RegistryActor) async throws(RegistryError) -> SecurityServer {
        try await perform(actor: actor) { now throws(RegistryError) in
            try Self.requireAdministrator(actor, "register a security server directly")
            return try planServer(input, now)
        }
    }

    /// The plan of ``registerServer``, also applied by an approved management request.
    func planServer(_ input: NewSecurityServer, _ now: Date) throws(RegistryError) -> MutationPlan<SecurityServer> {
            try RegistryRules.sameInstance(input.id.owner, instance, "security server")
            _ = try enabledMember(input.id.owner, "the owner of security server \(input.id.canonical)")
            guard state.servers[input.id.canonical] == nil else {
                throw .duplicate("security server \(input.id.canonical) already exists")
            }
            let address = try RegistryRules.address(input.address)
            let der = try RegistryRules.certificateDER(pem: input.tlsCertificate)
            let nodes = try RegistryRules.nodes(input.nodes)
            let server = SecurityServer(id: input.id, address: address, tlsCertificate: input.tlsCertificate,
                                        tlsCertificateSHA256: MessageDigest.sha256(of: der).hex, createdAt: now, nodes: nodes)
            return .commit(EntityUpserts(servers: [server]), action: "server.register",
                           entity: "server \(server.id.canonical)", before: nil, after: try Self.text(server),
                           returning: server)
    }

    /// The security servers of one member (none for an unknown member), or all of them,
    /// ordered by id.
    public func servers(of member: MemberId? = nil) -> [SecurityServer] {
        let all = RegistryState.ordered(state.servers)
        guard let member else { return all }
        return all.filter { $0.id.owner == member }
    }

    // MARK: Look-ups shared by the rules

    func existingMember(_ id: MemberId) throws(RegistryError) -> Member {
        guard let member = state.members[id.canonical] else { throw .notFound("member \(id.canonical) does not exist") }
        return member
    }

    /// The member, which must exist and not be disabled.
    func enabledMember(_ id: MemberId, _ role: String) throws(RegistryError) -> Member {
        guard let member = state.members[id.canonical] else {
            throw .notFound("member \(id.canonical) (\(role)) does not exist")
        }
        guard !member.disabled else { throw .conflict("member \(id.canonical) (\(role)) is disabled") }
        return member
    }

    func existingSubsystem(_ id: SubsystemId) throws(RegistryError) -> Subsystem {
        guard let subsystem = state.subsystems[id.canonical] else {
            throw .notFound("subsystem \(id.canonical) does not exist")
        }
        return subsystem
    }
}
