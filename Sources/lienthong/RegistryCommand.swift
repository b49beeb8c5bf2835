import ArgumentParser
import Foundation
import LienThongCore
import LienThongRegistry
import LienThongTrust

/// `lienthong registry ...`: run the registry, and every management operation through its API.
struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "The central registry: serve it, and manage members, services, datasets and agreements through its API.",
        discussion: "Management commands call the HTTPS API with an admin certificate (--cert/--key) and print the JSON answer.",
        subcommands: [
            Serve.self, RegistryInitCommand.self, RegistryWhoAmICommand.self, RegistrationCommands.self, ManagementRequestCommands.self,
            MemberCommands.self, SubsystemCommands.self, ServerCommands.self, ServiceCommands.self,
            DatasetCommands.self, AgreementCommands.self, AccessRequestCommands.self, AuditTrailCommands.self,
            RegistryBenchCommand.self, ComplianceBenchCommand.self,
        ]
    )

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the registry (HTTPS, mutual TLS).")
        @Option(help: "JSON configuration file (RegistryServerConfiguration, snake_case keys; see docs/registry-api.md). Flags are then not used.")
        var config: String?
        @Option(help: "Instance code.") var instance: String = "VN"
        @Option(help: "Address to listen on, HOST:PORT.") var listen: String = "127.0.0.1:4443"
        @Option(help: "Data directory (registry.sqlite, configuration serial).") var data: String?
        @Option(help: "Development PKI directory (root CA, configuration-signing key).") var pki: String?
        @Option(help: "The registry's TLS certificate (a server certificate, PEM).") var tlsCert: String?
        @Option(help: "The registry's TLS key (PEM).") var tlsKey: String?
        @Option(help: "OCSP responder URL (default: from certificates).") var ocspURL: String?
        @Option(help: "Validity of each published global configuration, seconds.") var configValidity: Int = 600
        @Option(help: "Evidence-relay certificate (an auditor certificate, PEM) for GET /api/v1/auditor/evidence/...") var evidenceCert: String?
        @Option(help: "Evidence-relay key (PEM).") var evidenceKey: String?

        func run() async throws {
            let configuration: RegistryServerConfiguration
            if let config {
                do {
                    configuration = try RegistryJSON.makeDecoder().decode(
                        RegistryServerConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: config)))
                } catch {
                    throw ValidationError("\(config) is not a registry configuration: \(error)")
                }
            } else {
                guard let data, let pki, let tlsCert, let tlsKey else {
                    throw ValidationError("give --config FILE, or --data, --pki, --tls-cert and --tls-key")
                }
                guard let (host, port) = PKICommand.parseHostPort(listen) else {
                    throw ValidationError("--listen must be HOST:PORT, not \"\(listen)\"")
                }
                configuration = RegistryServerConfiguration(
                    instance: instance, host: host, port: port, dataDirectory: data, pkiDirectory: pki,
                    tlsCertificateFile: tlsCert, tlsKeyFile: tlsKey, ocspURL: ocspURL, configurationValiditySeconds: configValidity,
                    evidenceCertificateFile: evidenceCert, evidenceKeyFile: evidenceKey)
            }
            guard configuration.configurationValiditySeconds >= 10 else {
                throw ValidationError("the configuration validity must be at least 10 seconds")
            }
            try await RegistryServer(configuration: configuration).run { bound in
                print("LienThong registry for \(configuration.instance) listening on https://\(configuration.host):\(bound)/ (global configuration at /globalconf)")
            }
        }
    }
}

/// Options shared by every command that calls the registry API.
struct RegistryConnection: ParsableArguments {
    @Option(help: "Registry base URL.") var registry: String = "https://127.0.0.1:4443"
    @Option(help: "Client certificate (PEM), registered at the registry for a role (see `lienthong registry registration`).") var cert: String
    @Option(help: "Client key (PEM).") var key: String
    @Option(help: "CA certificate to trust (PEM), e.g. PKI/ca/root.crt.") var ca: String

    /// Runs `body` with a connected client and prints its JSON answer; API errors exit with status 1.
    func call<T: Encodable & Sendable>(_ body: (RegistryAPIClient) async throws -> T) async throws {
        let client = try RegistryAPIClient(baseURL: registry, certificateFile: cert, keyFile: key, caFile: ca)
        let result: Result<T, any Error>
        do { result = .success(try await body(client)) } catch { result = .failure(error) }
        try? await client.shutdown()
        switch result {
        case .success(let value):
            let encoder = RegistryJSONCoder.encoder()
            encoder.outputFormatting.insert(.prettyPrinted)
            print(String(decoding: try encoder.encode(value), as: UTF8.self))
        case .failure(let error):
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Parses `--endpoint "GET /v1/x"` values.
func parseEndpoints(_ values: [String]) throws -> [ServiceEndpoint] {
    try values.map { value in
        let parts = value.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw ValidationError("--endpoint must be \"METHOD /path\", not \"\(value)\"") }
        return ServiceEndpoint(method: parts[0], path: parts[1])
    }
}

/// Parses an ISO 8601 date or a plain `YYYY-MM-DD` (midnight UTC).
func parseDate(_ text: String, _ name: String) throws -> Date {
    if let date = ISO8601DateFormatter().date(from: text) { return date }
    let day = ISO8601DateFormatter()
    day.formatOptions = [.withFullDate]
    if let date = day.date(from: text) { return date }
    throw ValidationError("\(name) must be an ISO 8601 date such as 2026-12-31 or 2026-12-31T00:00:00Z, not \"\(text)\"")
}

/// Parses an identifier option with the identifier's own error message.
func identifier<T: XRoadIdentifier>(_ type: T.Type, _ text: String, _ name: String) throws -> T {
    do { return try T(parsing: text) } catch { throw ValidationError("\(name): \(error)") }
}

struct MemberCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "member", abstract: "Members (agencies).",
                                                    subcommands: [Create.self, List.self, Show.self, Disable.self])
    struct Create: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option(help: "Member id INSTANCE/CLASS/CODE.") var id: String
        @Option(help: "Official name (Vietnamese).") var name: String
        @Option(help: "English name.") var nameEn: String?
        @Option(help: "ministry | province | central | other.") var kind: String
        func run() async throws {
            guard let kind = MemberKind(rawValue: kind) else { throw ValidationError("--kind must be ministry, province, central or other") }
            let input = NewMember(id: try identifier(MemberId.self, id, "--id"), name: name, nameEn: nameEn, kind: kind)
            try await connection.call { try await $0.post("/api/v1/members", input, as: Member.self) }
        }
    }
    struct List: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        func run() async throws { try await connection.call { try await $0.get("/api/v1/members", as: [Member].self) } }
    }
    struct Show: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option var id: String
        func run() async throws {
            let member = try identifier(MemberId.self, id, "--id")
            try await connection.call { try await $0.get("/api/v1/members/\(member.percentEncoded)", as: Member.self) }
        }
    }
    struct Disable: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option var id: String
        func run() async throws {
            let member = try identifier(MemberId.self, id, "--id")
            try await connection.call { try await $0.post("/api/v1/members/\(member.percentEncoded):disable", as: Member.self) }
        }
    }
}

struct SubsystemCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "subsystem", abstract: "Subsystems of members.",
                                                    subcommands: [Create.self, List.self])
    struct Create: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option(help: "Subsystem id INSTANCE/CLASS/CODE/SUBSYSTEM.") var id: String
        @Option var name: String?
        func run() async throws {
            let input = NewSubsystem(id: try identifier(SubsystemId.self, id, "--id"), name: name)
            try await connection.call { try await $0.post("/api/v1/subsystems", input, as: Subsystem.self) }
        }
    }
    struct List: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option(help: "Only this member's.") var member: String?
        func run() async throws {
            let query = try member.map { "?member=\(try identifier(MemberId.self, $0, "--member").percentEncoded)" } ?? ""
            try await connection.call { try await $0.get("/api/v1/subsystems\(query)", as: [Subsystem].self) }
        }
    }
}

struct ServerCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "server", abstract: "Security servers of members.",
                                                    subcommands: [Register.self, List.self])
    struct Register: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option(help: "Server id INSTANCE/CLASS/CODE/SERVER.") var id: String
        @Option(help: "Inter-server address HOST:PORT.") var address: String
        @Option(help: "The server's TLS certificate (PEM file).") var tlsCert: String
        @Option(name: .customLong("node"),
                help: "A node that runs the server (its audit.node); repeat for several. The registry accepts checkpoints only for declared nodes. Default: default.")
        var nodes: [String] = []
        func run() async throws {
            let pem = try PEMFiles.readText(URL(fileURLWithPath: tlsCert))
            let input = NewSecurityServer(id: try identifier(SecurityServerId.self, id, "--id"), address: address, tlsCertificate: pem,
                                          nodes: nodes.isEmpty ? nil : nodes)
            try await connection.call { try await $0.post("/api/v1/servers", input, as: SecurityServer.self) }
        }
    }
    struct List: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        func run() async throws { try await connection.call { try await $0.get("/api/v1/servers", as: [SecurityServer].self) } }
    }
}

struct ServiceCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "service", abstract: "Services of provider subsystems.",
                                                    subcommands: [Create.self, List.self, Show.self, Enable.self, Disable.self])
    struct Create: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option(help: "Service id INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION].") var id: String
        @Option var name: String?
        @Option(help: "OpenAPI 3 document file.") var openapi: String?
        @Option(help: "Endpoint \"METHOD /path\"; repeatable.") var endpoint: [String] = []
        @Flag(help: "Register it disabled.") var disabled = false
        func run() async throws {
            let document = try openapi.map { try PEMFiles.readText(URL(fileURLWithPath: $0)) }
            let input = NewService(id: try identifier(ServiceId.self, id, "--id"), name: name, openAPI: document,
                                   endpoints: try parseEndpoints(endpoint), enabled: !disabled)
            try await connection.call { try await $0.post("/api/v1/services", input, as: Service.self) }
        }
    }
    struct List: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        func run() async throws { try await connection.call { try await $0.get("/api/v1/services", as: [Service].self) } }
    }
    struct Show: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option var id: String
        func run() async throws {
            let service = try identifier(ServiceId.self, id, "--id")
            try await connection.call { try await $0.get("/api/v1/services/\(service.percentEncoded)", as: Service.self) }
        }
    }
    struct Enable: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option var id: String
        func run() async throws {
            let service = try identifier(ServiceId.self, id, "--id")
            try await connection.call { try await $0.post("/api/v1/services/\(service.percentEncoded):enable", as: Service.self) }
        }
    }
    struct Disable: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option var id: String
        func run() async throws {
            let service = try identifier(ServiceId.self, id, "--id")
            try await connection.call { try await $0.post("/api/v1/services/\(service.percentEncoded):disable", as: Service.self) }
        }
    }
}

struct DatasetCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dataset", abstract: "Datasets and their owners.",
                                                    subcommands: [Create.self, List.self])
    struct Create: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option(help: "Dataset id INSTANCE/CLASS/CODE/datasets/DATASET; the member is the owner.") var id: String
        @Option(help: "Name in Vietnamese.") var nameVi: String
        @Option(help: "Name in English.") var nameEn: String
        @Option(help: "public | internal | confidential | secret.") var classification: String
        @Flag(help: "It holds personal data.") var personalData = false
        @Option(help: "Legal basis, e.g. \"Nghị định 47/2020/NĐ-CP\".") var legalBasis: String
        @Option(help: "A service exposing it; repeatable.") var service: [String] = []
        func run() async throws {
            guard let classification = DataClassification(rawValue: classification) else {
                throw ValidationError("--classification must be public, internal, confidential or secret")
            }
            let input = NewDataset(id: try identifier(DatasetId.self, id, "--id"), nameVi: nameVi, nameEn: nameEn,
                                   classification: classification, personalData: personalData, legalBasis: legalBasis,
                                   services: try service.map { try identifier(ServiceId.self, $0, "--service") })
            try await connection.call { try await $0.post("/api/v1/datasets", input, as: Dataset.self) }
        }
    }
    struct List: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        func run() async throws { try await connection.call { try await $0.get("/api/v1/datasets", as: [Dataset].self) } }
    }
}

struct AgreementCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agreement", abstract: "Sharing agreements.",
                                                    subcommands: [Create.self, List.self, Show.self, Suspend.self, Activate.self, Revoke.self])
    struct Create: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option(help: "The provider's dataset.") var dataset: String
        @Option(help: "A provider service covered; repeatable.") var service: [String] = []
        @Option(help: "The consumer subsystem.") var consumer: String
        @Option(help: "An allowed purpose code; repeatable (none: any purpose).") var purpose: [String] = []
        @Option(help: "Legal basis.") var legalBasis: String
        @Option(help: "Start, ISO 8601 (default now).") var validFrom: String?
        @Option(help: "End, ISO 8601.") var validUntil: String
        @Option(help: "Endpoint \"METHOD /path\" of a service the agreement narrows to; repeatable (none: all of them).") var endpoint: [String] = []
        func run() async throws {
            let input = NewAgreement(
                dataset: try identifier(DatasetId.self, dataset, "--dataset"),
                services: try service.map { try identifier(ServiceId.self, $0, "--service") },
                consumer: try identifier(SubsystemId.self, consumer, "--consumer"),
                purposes: purpose, legalBasis: legalBasis,
                validFrom: try validFrom.map { try parseDate($0, "--valid-from") } ?? Date(),
                validUntil: try parseDate(validUntil, "--valid-until"),
                endpoints: endpoint.isEmpty ? nil : try parseEndpoints(endpoint))
            try await connection.call { try await $0.post("/api/v1/agreements", input, as: Agreement.self) }
        }
    }
    struct List: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        func run() async throws { try await connection.call { try await $0.get("/api/v1/agreements", as: [Agreement].self) } }
    }
    struct Show: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option var id: String
        func run() async throws { try await connection.call { try await $0.get("/api/v1/agreements/\(id)", as: Agreement.self) } }
    }
    struct Suspend: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option var id: String
        func run() async throws { try await connection.call { try await $0.post("/api/v1/agreements/\(id):suspend", as: Agreement.self) } }
    }
    struct Activate: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option var id: String
        func run() async throws { try await connection.call { try await $0.post("/api/v1/agreements/\(id):activate", as: Agreement.self) } }
    }
    struct Revoke: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option var id: String
        func run() async throws { try await connection.call { try await $0.post("/api/v1/agreements/\(id):revoke", as: Agreement.self) } }
    }
}

struct AccessRequestCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "request", abstract: "Access requests and decisions (Decree 194/2025 Art. 16).",
                                                    subcommands: [File.self, List.self, Pending.self, Approve.self, Refuse.self])
    struct File: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option(help: "The requesting consumer subsystem.") var consumer: String
        @Option(help: "The dataset asked for.") var dataset: String
        @Option(help: "A service; repeatable (none: every service exposing the dataset).") var service: [String] = []
        @Option(help: "A purpose code; repeatable.") var purpose: [String] = []
        @Option(help: "Why the data is needed.") var justification: String
        @Option(help: "Legal basis invoked.") var legalBasis: String
        @Option(help: "Requested end of access, ISO 8601.") var until: String?
        @Option(help: "Endpoint \"METHOD /path\" asked for; repeatable (none: all of the services').") var endpoint: [String] = []
        func run() async throws {
            let input = NewAccessRequest(
                consumer: try identifier(SubsystemId.self, consumer, "--consumer"),
                dataset: try identifier(DatasetId.self, dataset, "--dataset"),
                services: try service.map { try identifier(ServiceId.self, $0, "--service") },
                purposes: purpose, justification: justification, legalBasis: legalBasis,
                requestedUntil: try until.map { try parseDate($0, "--until") },
                endpoints: endpoint.isEmpty ? nil : try parseEndpoints(endpoint))
            try await connection.call { try await $0.post("/api/v1/access-requests", input, as: AccessRequest.self) }
        }
    }
    struct List: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        func run() async throws { try await connection.call { try await $0.get("/api/v1/access-requests", as: [AccessRequest].self) } }
    }
    struct Pending: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Requests still waiting for a decision, with their age.")
        @OptionGroup var connection: RegistryConnection
        func run() async throws {
            try await connection.call { try await $0.get("/api/v1/access-requests/pending", as: [PendingAccessRequest].self) }
        }
    }
    struct Approve: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option var id: String
        @Option(help: "Agreement start, ISO 8601 (default now).") var validFrom: String?
        @Option(help: "Agreement end, ISO 8601 (default: as requested, else one year).") var validUntil: String?
        func run() async throws {
            let input = AccessDecisionInput(outcome: .approved, reason: nil, legalBasis: nil,
                                            validFrom: try validFrom.map { try parseDate($0, "--valid-from") },
                                            validUntil: try validUntil.map { try parseDate($0, "--valid-until") })
            try await connection.call { try await $0.post("/api/v1/access-requests/\(id):decide", input, as: AccessRequest.self) }
        }
    }
    struct Refuse: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option var id: String
        @Option(help: "The written reason (required).") var reason: String = ""
        @Option(help: "The legal basis of the refusal (required).") var legalBasis: String = ""
        func run() async throws {
            let input = AccessDecisionInput(outcome: .refused, reason: reason, legalBasis: legalBasis, validFrom: nil, validUntil: nil)
            try await connection.call { try await $0.post("/api/v1/access-requests/\(id):decide", input, as: AccessRequest.self) }
        }
    }
}

struct AuditTrailCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit-trail", abstract: "The hash-chained admin audit trail.",
                                                    subcommands: [List.self, Verify.self])
    struct List: AsyncParsableCommand {
        @OptionGroup var connection: RegistryConnection
        @Option var from: Int = 1
        @Option var limit: Int = 100
        func run() async throws {
            try await connection.call { try await $0.get("/api/v1/audit-trail?from=\(from)&limit=\(limit)", as: [AdminAuditEntry].self) }
        }
    }
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download the whole trail and re-check every hash and link here, without trusting the registry.")
        @OptionGroup var connection: RegistryConnection
        func run() async throws {
            try await connection.call { client -> AuditTrailVerification in
                var entries: [AdminAuditEntry] = []
                while true {
                    let page: [AdminAuditEntry] = try await client.get("/api/v1/audit-trail?from=\(entries.count + 1)&limit=1000")
                    entries += page
                    if page.count < 1000 { break }
                }
                switch Registry.verify(entries: entries) {
                case .success(let verification):
                    return verification
                case .failure(let error):
                    throw RegistryClientError(status: nil, type: "Client.AuditTrailBroken", message: "\(error)", detail: nil)
                }
            }
        }
    }
}
