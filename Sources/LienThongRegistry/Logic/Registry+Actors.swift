import Foundation
import LienThongCore

// Who may act (docs/registry.md, "Roles"): certificate registrations, the bootstrap of the first
// instance administrator, and the rules every mutation applies to its caller.
extension Registry {
    // MARK: Rules

    /// Refuses (403) anyone but an instance administrator or local maintenance.
    static func requireAdministrator(_ actor: RegistryActor, _ what: String) throws(RegistryError) {
        guard actor.isAdministrator else {
            throw .forbidden("only an instance administrator may \(what); a \(actor.role?.rawValue ?? "caller")"
                + (actor.role == .memberOperator ? " submits a management request instead" : ""))
        }
    }

    /// Refuses (403) anyone who may not act for `member`: only its own member operators, instance
    /// administrators and local maintenance may.
    static func authorize(_ actor: RegistryActor, toActFor member: MemberId, _ what: String) throws(RegistryError) {
        guard actor.mayActFor(member) else {
            throw .forbidden("a \(actor.role?.rawValue ?? "caller")\(actor.member.map { " of \($0.canonical)" } ?? "") may not \(what): "
                + "only \(member.canonical)'s own operators or an instance administrator may")
        }
    }

    // MARK: Registrations

    /// The active registration of the certificate whose DER has SHA-256 `hash` (lower-case hex),
    /// or `nil`: a certificate the registry does not know, or a revoked registration.
    public func activeRegistration(certificateSHA256 hash: String) -> ActorRegistration? {
        guard let registration = state.registrations[hash], registration.isActive else { return nil }
        return registration
    }

    /// Every registration, revoked ones included, ordered by certificate hash; for one member when
    /// `member` is given.
    public func registrations(of member: MemberId? = nil) -> [ActorRegistration] {
        let all = RegistryState.ordered(state.registrations)
        guard let member else { return all }
        return all.filter { $0.member == member }
    }

    /// Registers the first instance administrator (audit action `registration.bootstrap`), from
    /// the registry's own host (`lienthong registry init --admin-cert FILE`). Refused once an
    /// active instance administrator exists: later ones are registered through the API by an
    /// administrator.
    ///
    /// - throws: `.conflict` if an instance administrator exists, `.invalid` for a bad certificate
    ///   or name, `.storage`.
    public func bootstrapAdministrator(certificatePEM: String, name: String) async throws(RegistryError) -> ActorRegistration {
        try await perform(actor: "cli:local") { now throws(RegistryError) in
            if let existing = state.registrations.values.first(where: { $0.role == .instanceAdmin && $0.isActive }) {
                throw .conflict("the registry already has an instance administrator (\(existing.subject)); "
                    + "register further ones through the API as that administrator")
            }
            return try planRegistration(NewRegistration(certificate: certificatePEM, role: .instanceAdmin, member: nil, name: name),
                                        action: "registration.bootstrap", now)
        }
    }

    /// Registers a certificate for a role (audit action `registration.create`); instance
    /// administrators only.
    ///
    /// - throws: `.forbidden`, `.invalid` (certificate, name, member given or missing for the
    ///   role), `.notFound` (member), `.duplicate` (the certificate is registered already),
    ///   `.storage`.
    public func register(_ input: NewRegistration, actor: RegistryActor) async throws(RegistryError) -> ActorRegistration {
        try await perform(actor: actor) { now throws(RegistryError) in
            try Self.requireAdministrator(actor, "register certificates")
            return try planRegistration(input, action: "registration.create", now)
        }
    }

    /// Revokes a registration at once (audit action `registration.revoke`); instance
    /// administrators only, and not their own (so the instance is never left without one by
    /// mistake). Revoking a revoked registration changes nothing.
    ///
    /// - throws: `.forbidden`, `.notFound`, `.conflict` (one's own registration), `.storage`.
    public func revokeRegistration(certificateSHA256 hash: String, actor: RegistryActor) async throws(RegistryError) -> ActorRegistration {
        try await perform(actor: actor) { now throws(RegistryError) in
            try Self.requireAdministrator(actor, "revoke registrations")
            guard let before = state.registrations[hash] else { throw .notFound("no registration for certificate \(hash.prefix(64))") }
            guard before.revokedAt == nil else { return .unchanged(before) }
            guard actor.certificateSHA256 != hash else {
                throw .conflict("an administrator may not revoke their own registration; another administrator must")
            }
            var after = before
            after.revokedAt = now
            return .commit(EntityUpserts(registrations: [after]), action: "registration.revoke",
                           entity: "registration \(hash)", before: try Self.text(before), after: try Self.text(after),
                           returning: after)
        }
    }

    func planRegistration(_ input: NewRegistration, action: String, _ now: Date) throws(RegistryError) -> MutationPlan<ActorRegistration> {
        let name = try RegistryRules.nonBlank(input.name, "name")
        try RegistryRules.freeText(name, "name", limit: RegistryRules.maxNameLength)
        let der = try RegistryRules.certificateDER(pem: input.certificate)
        let subject = try RegistryRules.certificateSubject(der: der)
        let hash = MessageDigest.sha256(of: der).hex
        guard state.registrations[hash] == nil else {
            throw .duplicate("certificate \(hash) is registered already; a renewed certificate is a new registration")
        }
        if state.servers.values.contains(where: { $0.tlsCertificateSHA256 == hash }) {
            throw .invalid("certificate \(hash) is a security server's pinned TLS certificate and cannot also act for a person")
        }
        switch (input.role.actsForMember, input.member) {
        case (true, nil):
            throw .invalid("a \(input.role.rawValue) acts for one member: give member")
        case (false, .some):
            throw .invalid("a \(input.role.rawValue) acts for no member: leave member out")
        case (true, .some(let member)):
            try RegistryRules.sameInstance(member, instance, "registration")
            _ = try existingMember(member)
        case (false, nil):
            break
        }
        let registration = ActorRegistration(certificateSHA256: hash, certificate: input.certificate, subject: subject,
                                             role: input.role, member: input.member, name: name, createdAt: now)
        return .commit(EntityUpserts(registrations: [registration]), action: action, entity: "registration \(hash)",
                       before: nil, after: try Self.text(registration), returning: registration)
    }
}

/// Registers a certificate for a role (`POST /api/v1/registrations`).
public struct NewRegistration: Codable, Sendable, Hashable {
    /// The certificate, PEM (the first `CERTIFICATE` block is registered). No private key.
    public var certificate: String
    /// The role.
    public var role: ActorRole
    /// The member a member operator or viewer acts for; absent for the other roles.
    public var member: MemberId?
    /// A human name for the holder.
    public var name: String

    /// Creates the input.
    public init(certificate: String, role: ActorRole, member: MemberId?, name: String) {
        self.certificate = certificate
        self.role = role
        self.member = member
        self.name = name
    }
}
