import Foundation
import LienThongCore
import LienThongRegistry
import LienThongServer
import LienThongTestSupport
import Testing

// MARK: - Support shared by the Metaservice, ServerMetrics and HealthReport tests

/// JSON helpers of the metaservice tests.
enum MetaJSON {
    /// Parses JSON bytes into a dictionary.
    static func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }
}

// MARK: - Fixtures

/// A hand-made global configuration exercising every listing rule.
enum MetaFixtures {
    static let now = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z

    static func member(_ code: String) throws -> MemberId { try MemberId(instance: "VN", memberClass: "GOV", memberCode: code) }
    static func subsystem(_ code: String, _ sub: String) throws -> SubsystemId { try SubsystemId(member: member(code), subsystemCode: sub) }
    static func service(_ sub: String, _ name: String, _ version: String? = nil) throws -> ServiceId {
        try ServiceId(subsystem: subsystem("000.00.00.G22", sub), serviceCode: name, serviceVersion: version)
    }

    static var danCu: SubsystemId { get throws { try subsystem("000.00.00.G22", "DANCU") } }
    static var lgsp: SubsystemId { get throws { try subsystem("000.00.00.H29", "LGSP") } }
    static var hoTich: SubsystemId { get throws { try subsystem("000.00.00.H29", "HOTICH") } }
    static var thue: SubsystemId { get throws { try subsystem("000.00.00.G12", "THUE") } }
    static var traCuuV1: ServiceId { get throws { try service("DANCU", "tra-cuu-cong-dan", "v1") } }
    static var traCuuV2: ServiceId { get throws { try service("DANCU", "tra-cuu-cong-dan", "v2") } }
    static var xacThuc: ServiceId { get throws { try service("DANCU", "xac-thuc") } }
    static var tamNgung: ServiceId { get throws { try service("DANCU", "tam-ngung") } }
    static var fakeMeta: ServiceId { get throws { try service("DANCU", "listMethods") } }

    static func configuration(expiresIn: TimeInterval = 540) throws -> GlobalConfiguration {
        let dataset = try DatasetId(owner: member("000.00.00.G22"), datasetCode: "dan-cu")
        func agreement(_ id: String, _ services: [ServiceId], _ consumer: SubsystemId, from: TimeInterval = -86_400,
                       until: TimeInterval = 30 * 86_400) -> GlobalConfiguration.AgreementEntry {
            .init(id: id, dataset: dataset, services: services, consumer: consumer, purposes: [],
                  validFrom: now.addingTimeInterval(from), validUntil: now.addingTimeInterval(until))
        }
        let maSoThue = try ServiceId(subsystem: thue, serviceCode: "ma-so-thue")
        return GlobalConfiguration(
            instance: "VN", serial: 42, generatedAt: now.addingTimeInterval(-60), expiresAt: now.addingTimeInterval(expiresIn),
            members: [
                .init(id: try member("000.00.00.G22"), name: "Bộ Công an", kind: .ministry, disabled: false),
                .init(id: try member("000.00.00.H29"), name: "UBND thành phố Hà Nội", kind: .province, disabled: false),
                .init(id: try member("000.00.00.G12"), name: "Bộ Tài chính", kind: .ministry, disabled: true),
            ],
            subsystems: [
                .init(id: try danCu), .init(id: try subsystem("000.00.00.G22", "CCCD")), .init(id: try lgsp),
                .init(id: try hoTich), .init(id: try thue),
            ],
            services: [
                .init(id: try xacThuc, enabled: true, endpoints: [ServiceEndpoint(method: "*", path: "/*")]),
                .init(id: try traCuuV1, enabled: true, endpoints: [
                    ServiceEndpoint(method: "GET", path: "/v1/cong-dan/{so-dinh-danh}"),
                    ServiceEndpoint(method: "POST", path: "/v1/tra-cuu"),
                ]),
                .init(id: try traCuuV2, enabled: true, endpoints: [ServiceEndpoint(method: "GET", path: "/v2/cong-dan/{so-dinh-danh}/ho-khau/{ma}")]),
                .init(id: try tamNgung, enabled: false, endpoints: [ServiceEndpoint(method: "GET", path: "/x")]),
                .init(id: try fakeMeta, enabled: true, endpoints: [ServiceEndpoint(method: "GET", path: "/")]),
                .init(id: maSoThue, enabled: true, endpoints: [ServiceEndpoint(method: "GET", path: "/v1/{mst}")]),
            ],
            datasets: [.init(id: dataset, classification: .confidential, personalData: true,
                             services: [try tamNgung, try traCuuV1, try traCuuV2, try xacThuc])],
            agreements: [
                agreement("AG-1", [try traCuuV1, try tamNgung], try lgsp),
                agreement("AG-2", [try xacThuc], try lgsp, from: 3600),
                agreement("AG-3", [try xacThuc], try hoTich),
                agreement("AG-4", [try traCuuV2], try lgsp, until: -1),
                agreement("AG-5", [try traCuuV1], try thue),
            ])
    }

    static func responder(documents: [ServiceId: String] = [:], expiresIn: TimeInterval = 540) throws -> MetaserviceResponder {
        MetaserviceResponder(index: GlobalConfigurationIndex(try configuration(expiresIn: expiresIn)), openAPIDocuments: documents)
    }

    static let jsonDocument = #"{"openapi":"3.0.1","info":{"title":"Xác thực","version":"1"},"paths":{}}"#
    static let yamlDocument = "openapi: 3.0.1\ninfo:\n  title: Tra cứu\n  version: '2'\npaths: {}\n"
}

// MARK: - Tests

@Suite("Metaservices")
struct MetaserviceTests {
    let client = ClientId.subsystem(try! MetaFixtures.lgsp)

    func fault(_ body: () throws(XRoadFault) -> MetaserviceResponse) -> XRoadFault? {
        do {
            _ = try body()
            return nil
        } catch {
            return error
        }
    }

    func codes(_ methods: [MetaserviceMethod]) -> [String] {
        methods.map(\.service.canonical)
    }

    // MARK: Names

    @Test func serviceCodesAndRootPath() {
        #expect(Metaservice(serviceCode: "listMethods") == .listMethods)
        #expect(Metaservice(serviceCode: "allowedMethods") == .allowedMethods)
        #expect(Metaservice(serviceCode: "getOpenAPI") == .getOpenAPI)
        #expect(Metaservice(serviceCode: "listClients") == nil, "listClients lives at /listClients, not under /r1")
        #expect(Metaservice(serviceCode: "ListMethods") == nil)
        #expect(Metaservice(serviceCode: "tra-cuu") == nil)
        #expect(Metaservice(rootPath: "/listClients") == .listClients)
        #expect(Metaservice(rootPath: "/listClients/") == .listClients)
        #expect(Metaservice(rootPath: "/listclients") == nil)
        #expect(Metaservice.allCases.filter(\.isProviderScoped) == [.listMethods, .allowedMethods, .getOpenAPI])
    }

    @Test func queryParsing() throws {
        let query = try MetaserviceQuery(parsing: "serviceCode=a%2Bb+c&flag&x=1&x=2&y=k%3Dv=w")
        #expect(query["serviceCode"] == "a+b+c", "+ stays a plus sign")
        #expect(query["flag"] == "")
        #expect(query["x"] == "2", "last one wins")
        #expect(query["y"] == "k=v=w")
        #expect(try MetaserviceQuery(parsing: nil).parameters.isEmpty)
        #expect(throws: XRoadFault.self) { try MetaserviceQuery(parsing: "a=%FF") }
    }

    @Test func formatSelection() throws {
        #expect(try MetaserviceFormat.select(query: MetaserviceQuery()) == .xroad)
        #expect(try MetaserviceFormat.select(query: MetaserviceQuery(), usedGovStackClientHeader: true) == .govstack)
        #expect(try MetaserviceFormat.select(query: MetaserviceQuery(["format": "GovStack"])) == .govstack)
        #expect(try MetaserviceFormat.select(query: MetaserviceQuery(["format": "xroad"]), usedGovStackClientHeader: true) == .xroad)
        do {
            _ = try MetaserviceFormat.select(query: MetaserviceQuery(["format": "xml"]))
            Issue.record("format=xml accepted")
        } catch {
            #expect(error.type == .badRequest)
        }
    }

    // MARK: listClients

    @Test func listClientsListsEnabledMembersAndTheirSubsystemsSorted() throws {
        let responder = try MetaFixtures.responder()
        #expect(responder.clients().map(\.id.canonical) == [
            "VN/GOV/000.00.00.G22", "VN/GOV/000.00.00.G22/CCCD", "VN/GOV/000.00.00.G22/DANCU",
            "VN/GOV/000.00.00.H29", "VN/GOV/000.00.00.H29/HOTICH", "VN/GOV/000.00.00.H29/LGSP",
        ])
        let lgsp = ClientId.subsystem(try MetaFixtures.lgsp)
        #expect(responder.clients().first { $0.id == lgsp }?.name == "UBND thành phố Hà Nội")
        #expect(responder.clients(instance: "VN").count == 6)
        #expect(responder.clients(instance: "EE").isEmpty)

        let response = try responder.respond(to: .listClients, provider: nil, client: client, rawQuery: nil, at: MetaFixtures.now)
        #expect(response.contentType == "application/json; charset=utf-8")
        let members = try #require(try MetaJSON.object(response.body)["member"] as? [[String: Any]])
        #expect(members.count == 6)
        let first = try #require(members.first)
        #expect(first["name"] as? String == "Bộ Công an")
        let id = try #require(first["id"] as? [String: String])
        #expect(id == ["object_type": "MEMBER", "xroad_instance": "VN", "member_class": "GOV", "member_code": "000.00.00.G22"])
        let sub = try #require(members[2]["id"] as? [String: String])
        #expect(sub == ["object_type": "SUBSYSTEM", "xroad_instance": "VN", "member_class": "GOV", "member_code": "000.00.00.G22",
                        "subsystem_code": "DANCU"])
        #expect(response.text.contains(#""name":"Bộ Công an""#), "UTF-8, not escaped")

        let other = try responder.respond(to: .listClients, provider: nil, client: client, rawQuery: "xRoadInstance=EE", at: MetaFixtures.now)
        #expect(other.text == #"{"member":[]}"#)
        let govstackOther = try responder.respond(to: .listClients, provider: nil, client: client, rawQuery: "instanceId=EE&format=govstack",
                                                  at: MetaFixtures.now)
        #expect(govstackOther.text == #"{"member":[]}"#)
    }

    @Test func listClientsGovStackDialect() throws {
        let responder = try MetaFixtures.responder()
        let response = try responder.respond(to: .listClients, provider: nil, client: client, rawQuery: nil,
                                             usedGovStackClientHeader: true, at: MetaFixtures.now)
        let members = try #require(try MetaJSON.object(response.body)["member"] as? [[String: Any]])
        let sub = try #require(members[2]["id"] as? [String: String])
        #expect(sub == ["objectType": "APPLICATION", "instanceId": "VN", "memberClass": "GOV", "memberCode": "000.00.00.G22",
                        "applicationCode": "DANCU"])
    }

    // MARK: listMethods, allowedMethods

    @Test func listMethodsListsEveryServiceOfTheProviderButMetaservices() throws {
        let responder = try MetaFixtures.responder(documents: [try MetaFixtures.xacThuc: MetaFixtures.jsonDocument])
        let methods = try responder.methods(provider: try MetaFixtures.danCu)
        #expect(codes(methods) == [
            "VN/GOV/000.00.00.G22/DANCU/tam-ngung", "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1",
            "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v2", "VN/GOV/000.00.00.G22/DANCU/xac-thuc",
        ])
        #expect(methods.map(\.serviceType) == [.rest, .rest, .rest, .openAPI])
        #expect(try responder.methods(provider: try MetaFixtures.subsystem("000.00.00.G22", "CCCD")).isEmpty)

        let response = try responder.respond(to: .listMethods, provider: try MetaFixtures.danCu, client: client, rawQuery: nil,
                                             at: MetaFixtures.now)
        let services = try #require(try MetaJSON.object(response.body)["service"] as? [[String: Any]])
        #expect(services.count == 4)
        let traCuu = services[1]
        #expect(traCuu["object_type"] as? String == "SERVICE")
        #expect(traCuu["service_type"] as? String == "REST")
        #expect(traCuu["xroad_instance"] as? String == "VN")
        #expect(traCuu["member_class"] as? String == "GOV")
        #expect(traCuu["member_code"] as? String == "000.00.00.G22")
        #expect(traCuu["subsystem_code"] as? String == "DANCU")
        #expect(traCuu["service_code"] as? String == "tra-cuu-cong-dan")
        #expect(traCuu["service_version"] as? String == "v1")
        let endpoints = try #require(traCuu["endpoint_list"] as? [[String: String]])
        #expect(endpoints == [["method": "GET", "path": "/v1/cong-dan/{so-dinh-danh}"], ["method": "POST", "path": "/v1/tra-cuu"]])
        #expect(services[3]["service_version"] == nil)
        #expect(services[3]["service_type"] as? String == "OPENAPI")
        #expect(!response.text.contains("listMethods"))
    }

    @Test func allowedMethodsFollowsAgreementsInForceAndEnabledServices() throws {
        let responder = try MetaFixtures.responder()
        let danCu = try MetaFixtures.danCu
        // AG-1 covers tra-cuu v1 and the disabled tam-ngung; AG-2 starts in an hour; AG-4 has ended.
        #expect(codes(try responder.allowedMethods(provider: danCu, client: client, at: MetaFixtures.now))
                == ["VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1"])
        #expect(codes(try responder.allowedMethods(provider: danCu, client: client, at: MetaFixtures.now.addingTimeInterval(3600)))
                == ["VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1", "VN/GOV/000.00.00.G22/DANCU/xac-thuc"])
        #expect(codes(try responder.allowedMethods(provider: danCu, client: .subsystem(try MetaFixtures.hoTich), at: MetaFixtures.now))
                == ["VN/GOV/000.00.00.G22/DANCU/xac-thuc"])
        #expect(try responder.allowedMethods(provider: danCu, client: .member(try MetaFixtures.member("000.00.00.H29")),
                                             at: MetaFixtures.now).isEmpty, "a member client is party to no agreement")
        #expect(try responder.allowedMethods(provider: danCu, client: .subsystem(try MetaFixtures.thue), at: MetaFixtures.now).isEmpty,
                "the consumer's member is disabled")
        #expect(try responder.allowedMethods(provider: danCu, client: client, at: MetaFixtures.now.addingTimeInterval(31 * 86_400)).isEmpty)

        let response = try responder.respond(to: .allowedMethods, provider: danCu, client: client, rawQuery: "format=govstack",
                                             at: MetaFixtures.now)
        let services = try #require(try MetaJSON.object(response.body)["member"] as? [[String: Any]])
        #expect(services.count == 1)
        #expect(services[0]["applicationCode"] as? String == "DANCU")
        #expect(services[0]["serviceCode"] as? String == "tra-cuu-cong-dan")
        let endpointList = try #require(services[0]["endpointList"] as? [String: Any])
        #expect((endpointList["member"] as? [[String: String]])?.count == 2)
    }

    @Test func responsesAreDeterministic() throws {
        let a = try MetaFixtures.responder()
        var shuffled = try MetaFixtures.configuration()
        shuffled.members.reverse()
        shuffled.subsystems.reverse()
        shuffled.services.reverse()
        let b = MetaserviceResponder(index: GlobalConfigurationIndex(shuffled))
        for metaservice in [Metaservice.listClients, .listMethods, .allowedMethods] {
            let x = try a.respond(to: metaservice, provider: try MetaFixtures.danCu, client: client, rawQuery: nil, at: MetaFixtures.now)
            let y = try b.respond(to: metaservice, provider: try MetaFixtures.danCu, client: client, rawQuery: nil, at: MetaFixtures.now)
            #expect(x == y, "\(metaservice)")
        }
    }

    // MARK: getOpenAPI

    @Test func getOpenAPIServesTheProvidersDocumentOrGeneratesOne() throws {
        let responder = try MetaFixtures.responder(documents: [
            try MetaFixtures.xacThuc: MetaFixtures.jsonDocument, try MetaFixtures.traCuuV2: MetaFixtures.yamlDocument,
        ])
        let danCu = try MetaFixtures.danCu
        let json = try responder.respond(to: .getOpenAPI, provider: danCu, client: client, rawQuery: "serviceCode=xac-thuc", at: MetaFixtures.now)
        #expect(json.contentType == "application/json; charset=utf-8")
        #expect(json.text == MetaFixtures.jsonDocument)

        let yaml = try responder.respond(to: .getOpenAPI, provider: danCu, client: client,
                                         rawQuery: "serviceCode=tra-cuu-cong-dan&serviceVersion=v2", at: MetaFixtures.now)
        #expect(yaml.contentType == "text/yaml; charset=utf-8")
        #expect(yaml.text == MetaFixtures.yamlDocument)

        let generated = try responder.respond(to: .getOpenAPI, provider: danCu, client: client,
                                              rawQuery: "serviceCode=tra-cuu-cong-dan&serviceVersion=v1", at: MetaFixtures.now)
        #expect(generated.contentType == "application/json; charset=utf-8")
        let document = try MetaJSON.object(generated.body)
        #expect(document["openapi"] as? String == "3.0.3")
        let info = try #require(document["info"] as? [String: String])
        #expect(info["title"] == "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1")
        #expect(info["version"] == "v1")
        let servers = try #require(document["servers"] as? [[String: String]])
        #expect(servers.first?["url"] == "/r1/VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        #expect(Set(paths.keys) == ["/v1/cong-dan/{so-dinh-danh}", "/v1/tra-cuu"])
        #expect(Set(try #require(paths["/v1/cong-dan/{so-dinh-danh}"]).keys) == ["get"])
        #expect(Set(try #require(paths["/v1/tra-cuu"]).keys) == ["post"])
        let get = try #require(paths["/v1/cong-dan/{so-dinh-danh}"]?["get"] as? [String: Any])
        let parameters = try #require(get["parameters"] as? [[String: Any]])
        #expect(parameters.count == 1)
        #expect(parameters.first?["name"] as? String == "so-dinh-danh")
        #expect(parameters.first?["in"] as? String == "path")
        #expect(parameters.first?["required"] as? Bool == true)
    }

    @Test func generatedDocumentExpandsTheAnyMethod() throws {
        let responder = try MetaFixtures.responder()
        let response = try responder.openAPI(provider: try MetaFixtures.danCu, serviceCode: "xac-thuc")
        let paths = try #require(try MetaJSON.object(response.body)["paths"] as? [String: [String: Any]])
        #expect(Set(try #require(paths["/*"]).keys) == ["get", "put", "post", "delete", "patch"])
        let info = try #require(try MetaJSON.object(response.body)["info"] as? [String: String])
        #expect(info["version"] == "unversioned")
    }

    @Test func getOpenAPIRefusals() throws {
        let responder = try MetaFixtures.responder()
        let danCu = try MetaFixtures.danCu
        func refusal(_ provider: SubsystemId?, _ query: String?) -> XRoadErrorType? {
            fault { () throws(XRoadFault) in
                try responder.respond(to: .getOpenAPI, provider: provider, client: client, rawQuery: query, at: MetaFixtures.now)
            }?.type
        }
        #expect(refusal(danCu, nil) == .badRequest)
        #expect(refusal(danCu, "serviceCode=") == .badRequest)
        #expect(refusal(danCu, "servicecode=xac-thuc") == .badRequest, "the parameter name is case-sensitive")
        #expect(refusal(danCu, "serviceCode=khong-co") == .providerUnknownService)
        #expect(refusal(danCu, "serviceCode=listMethods") == .providerUnknownService, "metaservices are not services")
        #expect(refusal(danCu, "serviceCode=xac-thuc&serviceVersion=v9") == .providerUnknownService)
        #expect(refusal(danCu, "serviceCode=tra-cuu-cong-dan") == .badRequest, "two versions, none chosen")
        #expect(refusal(try MetaFixtures.subsystem("000.00.00.G22", "KHONGCO"), "serviceCode=xac-thuc") == .providerUnknownService)
        #expect(refusal(nil, "serviceCode=xac-thuc") == .badRequest)
        #expect(refusal(danCu, "serviceCode=xac-thuc") == nil)
        #expect(refusal(danCu, "serviceCode=xac-thuc&format=yaml") == .badRequest)
        #expect(refusal(danCu, "serviceCode=tra-cuu-cong-dan") != nil)
        let status = fault { () throws(XRoadFault) in
            try responder.respond(to: .getOpenAPI, provider: danCu, client: client, rawQuery: nil, at: MetaFixtures.now)
        }?.httpStatus
        #expect(status == 400)
    }

    @Test func unknownProviderAndExpiredConfiguration() throws {
        let unknown = try MetaFixtures.subsystem("000.00.00.G22", "KHONGCO")
        let responder = try MetaFixtures.responder()
        for metaservice in [Metaservice.listMethods, .allowedMethods] {
            #expect(fault { () throws(XRoadFault) in
                try responder.respond(to: metaservice, provider: unknown, client: client, rawQuery: nil, at: MetaFixtures.now)
            }?.type == .providerUnknownService)
            #expect(fault { () throws(XRoadFault) in
                try responder.respond(to: metaservice, provider: nil, client: client, rawQuery: nil, at: MetaFixtures.now)
            }?.type == .badRequest)
        }
        let expired = try MetaFixtures.responder(expiresIn: 0)
        #expect(fault { () throws(XRoadFault) in
            try expired.respond(to: .listClients, provider: nil, client: client, rawQuery: nil, at: MetaFixtures.now)
        }?.type == .consumerOutdatedGlobalConf)
        let danCu = try MetaFixtures.danCu
        for metaservice in [Metaservice.listMethods, .allowedMethods, .getOpenAPI] {
            #expect(fault { () throws(XRoadFault) in
                try expired.respond(to: metaservice, provider: danCu, client: client, rawQuery: "serviceCode=xac-thuc",
                                    at: MetaFixtures.now)
            }?.type == .providerOutdatedGlobalConf)
        }
    }

    // MARK: Schemas

    @Test("every response validates against its schema in schemas/metaservices; broken ones do not",
          .enabled(if: JSONSchemaCheck.python != nil))
    func schemas() async throws {
        let responder = try MetaFixtures.responder(documents: [try MetaFixtures.xacThuc: MetaFixtures.jsonDocument])
        let danCu = try MetaFixtures.danCu
        func body(_ metaservice: Metaservice, _ query: String? = nil, client: ClientId? = nil) throws -> [UInt8] {
            try responder.respond(to: metaservice, provider: danCu, client: client ?? self.client, rawQuery: query, at: MetaFixtures.now).body
        }
        let empty = try MetaFixtures.responder().respond(to: .listMethods, provider: try MetaFixtures.subsystem("000.00.00.G22", "CCCD"),
                                                         client: client, rawQuery: nil, at: MetaFixtures.now).body
        let good: [(schema: String, document: [UInt8])] = [
            ("schemas/metaservices/list-clients.schema.json", try body(.listClients)),
            ("schemas/metaservices/list-clients-govstack.schema.json", try body(.listClients, "format=govstack")),
            ("schemas/metaservices/service-list.schema.json", try body(.listMethods)),
            ("schemas/metaservices/service-list.schema.json", try body(.allowedMethods)),
            ("schemas/metaservices/service-list.schema.json", try body(.allowedMethods, client: .subsystem(try MetaFixtures.hoTich))),
            ("schemas/metaservices/service-list.schema.json", empty),
            ("schemas/metaservices/service-list-govstack.schema.json", try body(.listMethods, "format=govstack")),
            ("schemas/metaservices/service-list-govstack.schema.json", try body(.allowedMethods, "format=govstack")),
            ("schemas/metaservices/generated-openapi.schema.json", try body(.getOpenAPI, "serviceCode=tra-cuu-cong-dan&serviceVersion=v1")),
            ("schemas/metaservices/generated-openapi.schema.json", try body(.getOpenAPI, "serviceCode=tra-cuu-cong-dan&serviceVersion=v2")),
            ("schemas/metaservices/generated-openapi.schema.json", try responder.openAPI(provider: danCu, serviceCode: "tam-ngung").body),
            ("schemas/metaservices/generated-openapi.schema.json",
             try MetaFixtures.responder().openAPI(provider: danCu, serviceCode: "xac-thuc").body),
        ]
        let (status, output) = try await JSONSchemaCheck.validate(good)
        #expect(status == 0, "\(output)")

        func mutate(_ bytes: [UInt8], _ from: String, _ to: String) -> [UInt8] {
            Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: from, with: to).utf8)
        }
        let listMethods = try body(.listMethods)
        let clients = try body(.listClients)
        let broken: [(schema: String, document: [UInt8])] = [
            ("schemas/metaservices/service-list.schema.json", mutate(listMethods, #""object_type":"SERVICE""#, #""object_type":"MEMBER""#)),
            ("schemas/metaservices/service-list.schema.json", mutate(listMethods, #""service_code":"tam-ngung""#, #""service_code":"listMethods""#)),
            ("schemas/metaservices/service-list.schema.json", mutate(listMethods, #""endpoint_list""#, #""endpointList""#)),
            ("schemas/metaservices/list-clients.schema.json", mutate(clients, #""object_type":"MEMBER","#, #""object_type":"SUBSYSTEM","#)),
            ("schemas/metaservices/list-clients-govstack.schema.json", clients),
            ("schemas/metaservices/generated-openapi.schema.json", mutate(try body(.getOpenAPI, "serviceCode=tam-ngung"), "3.0.3", "2.0")),
        ]
        for (i, pair) in broken.enumerated() {
            let (status, output) = try await JSONSchemaCheck.validate([pair])
            #expect(status == 1, "broken document \(i) was accepted: \(output)")
        }
    }
}
