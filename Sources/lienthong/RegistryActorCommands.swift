import ArgumentParser
import Foundation
import LienThongCore
import LienThongRegistry
import LienThongTrust

/// `lienthong registry init`: registers the first instance administrator, on the registry's host.
struct RegistryInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Register the first instance administrator (run on the registry's host, before the first start).",
        discussion: "Every API of the registry answers only certificates it has registered. This records the first "
            + "administrator's certificate (by its SHA-256) as the admin trail's first entry; further administrators, "
            + "member operators, viewers and auditors are registered through the API by an administrator.")
    @Option(help: "Data directory of the registry (registry.sqlite).") var data: String
    @Option(help: "Instance code.") var instance: String = "VN"
    @Option(help: "The administrator's certificate (PEM).") var adminCert: String
    @Option(help: "The administrator's name, for the trail.") var name: String

    func run() async throws {
        let pem = try PEMFiles.readText(URL(fileURLWithPath: adminCert))
        do {
            let registration = try await RegistryServer.initialise(dataDirectory: data, instance: instance, adminCertificatePEM: pem, name: name)
            print("registered instance administrator \(registration.subject) (certificate SHA-256 \(registration.certificateSHA256))")
        } catch let error as RegistryError {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// `lienthong registry me`: the caller's own registration.
struct RegistryWhoAmICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "me", abstract: "Show the registration of the certificate given with --cert.")
    @OptionGroup var connection: RegistryConnection
    func run() async throws { try await connection.call { try await $0.get("/api/v1/me", as: ActorRegistration.self) } }
}

/// `lienthong registry registration ...`: who holds which role (instance administrators).
struct RegistrationCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registration", abstract: "Certificates registered for a role (instance administrators manage them).",
        subcommands: [Create.self, List.self, Revoke.self])
    struct Create: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option(help: "The holder's certificate (PEM file).") var certificate: String
        @Option(help: "instance-admin | member-operator | viewer | auditor.") var role: String
        @Option(help: "The member a member operator or viewer acts for.") var member: String?
        @Option(help: "The holder's name.") var name: String
        func run() async throws {
            guard let role = ActorRole(rawValue: role) else {
                throw ValidationError("--role must be one of \(ActorRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let input = NewRegistration(certificate: try PEMFiles.readText(URL(fileURLWithPath: certificate)), role: role,
                                        member: try member.map { try identifier(MemberId.self, $0, "--member") }, name: name)
            try await connection.call { try await $0.post("/api/v1/registrations", input, as: ActorRegistration.self) }
        }
    }
    struct List: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        func run() async throws { try await connection.call { try await $0.get("/api/v1/registrations", as: [ActorRegistration].self) } }
    }
    struct Revoke: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option(help: "The certificate's SHA-256 (64 hex digits).") var sha256: String
        func run() async throws {
            try await connection.call { try await $0.post("/api/v1/registrations/\(sha256.lowercased()):revoke", as: ActorRegistration.self) }
        }
    }
}

/// `lienthong registry request ...`: member operators' management requests.
struct ManagementRequestCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "management-request", abstract: "Management requests: a member operator asks, an instance administrator decides.",
        subcommands: [AddSubsystem.self, RegisterServer.self, RegisterService.self, DeclareDataset.self, SetService.self,
                      List.self, Approve.self, Decline.self])
    struct AddSubsystem: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-subsystem")
        @OptionGroup var connection: RegistryConnection
        @Option(help: "Subsystem id INSTANCE/CLASS/CODE/SUBSYSTEM.") var id: String
        @Option var name: String?
        func run() async throws {
            let change = ManagementRequestChange.addSubsystem(NewSubsystem(id: try identifier(SubsystemId.self, id, "--id"), name: name))
            try await connection.call { try await $0.post("/api/v1/management-requests", change, as: ManagementRequest.self) }
        }
    }
    struct RegisterServer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "register-server")
        @OptionGroup var connection: RegistryConnection
        @Option(help: "Server id INSTANCE/CLASS/CODE/SERVER.") var id: String
        @Option(help: "Inter-server address HOST:PORT.") var address: String
        @Option(help: "The server's TLS certificate (PEM file).") var tlsCert: String
        func run() async throws {
            let input = NewSecurityServer(id: try identifier(SecurityServerId.self, id, "--id"), address: address,
                                          tlsCertificate: try PEMFiles.readText(URL(fileURLWithPath: tlsCert)))
            try await connection.call { try await $0.post("/api/v1/management-requests", ManagementRequestChange.registerServer(input), as: ManagementRequest.self) }
        }
    }
    struct RegisterService: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "register-service")
        @OptionGroup var connection: RegistryConnection
        @Option(help: "Service id.") var id: String
        @Option var name: String?
        @Option(help: "An endpoint, \"METHOD /path/{param}\" (repeat).") var endpoint: [String] = []
        @Flag(help: "Change a registered service instead of registering a new one.") var change = false
        func run() async throws {
            let input = NewService(id: try identifier(ServiceId.self, id, "--id"), name: name, endpoints: try parseEndpoints(endpoint))
            let body: ManagementRequestChange = change ? .changeService(input) : .registerService(input)
            try await connection.call { try await $0.post("/api/v1/management-requests", body, as: ManagementRequest.self) }
        }
    }
    struct DeclareDataset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "declare-dataset")
        @OptionGroup var connection: RegistryConnection
        @Option(help: "Dataset id INSTANCE/CLASS/CODE/datasets/NAME.") var id: String
        @Option var nameVi: String
        @Option var nameEn: String
        @Option(help: "public | internal | confidential | secret.") var classification: String
        @Flag(help: "The dataset holds personal data.") var personalData = false
        @Option var legalBasis: String
        @Option(help: "A service exposing it (repeat).") var service: [String] = []
        func run() async throws {
            guard let level = DataClassification(rawValue: classification) else { throw ValidationError("--classification: public, internal, confidential or secret") }
            let input = NewDataset(id: try identifier(DatasetId.self, id, "--id"), nameVi: nameVi, nameEn: nameEn, classification: level,
                                   personalData: personalData, legalBasis: legalBasis,
                                   services: try service.map { try identifier(ServiceId.self, $0, "--service") })
            try await connection.call { try await $0.post("/api/v1/management-requests", ManagementRequestChange.declareDataset(input), as: ManagementRequest.self) }
        }
    }
    struct SetService: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-service")
        @OptionGroup var connection: RegistryConnection
        @Option(help: "Service id.") var id: String
        @Option(help: "enable | disable.") var state: String
        func run() async throws {
            let service = try identifier(ServiceId.self, id, "--id")
            guard state == "enable" || state == "disable" else { throw ValidationError("--state must be enable or disable") }
            let change: ManagementRequestChange = state == "enable" ? .enableService(service) : .disableService(service)
            try await connection.call { try await $0.post("/api/v1/management-requests", change, as: ManagementRequest.self) }
        }
    }
    struct List: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        func run() async throws { try await connection.call { try await $0.get("/api/v1/management-requests", as: [ManagementRequest].self) } }
    }
    struct Approve: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option(help: "Request id MR-…") var id: String
        @Option(help: "An optional note.") var note: String?
        func run() async throws {
            try await connection.call { try await $0.post("/api/v1/management-requests/\(id):approve", ManagementDecisionInput(reason: note), as: ManagementRequest.self) }
        }
    }
    struct Decline: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option(help: "Request id MR-…") var id: String
        @Option(help: "The written reason.") var reason: String
        func run() async throws {
            try await connection.call { try await $0.post("/api/v1/management-requests/\(id):decline", ManagementDecisionInput(reason: reason), as: ManagementRequest.self) }
        }
    }
}
