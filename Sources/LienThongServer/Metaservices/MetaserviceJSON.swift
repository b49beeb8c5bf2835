import Foundation
import LienThongCore
import LienThongRegistry

/// The JSON bodies of `listClients`, `listMethods` and `allowedMethods` in both dialects
/// (``MetaserviceFormat``). Keys are sorted and slashes unescaped, so that one input always gives
/// the same bytes. Schemas: `schemas/metaservices/`.
enum MetaserviceJSON {
    // MARK: X-Road dialect (PR-MREST Annex B; listClients as in X-Road's JSON answer)

    struct XRoadClientList: Encodable {
        var member: [XRoadClient]
    }

    struct XRoadClient: Encodable {
        var id: XRoadClientIdentifier
        var name: String
    }

    struct XRoadClientIdentifier: Encodable {
        var objectType: String
        var xroadInstance: String
        var memberClass: String
        var memberCode: String
        var subsystemCode: String?

        enum CodingKeys: String, CodingKey {
            case objectType = "object_type"
            case xroadInstance = "xroad_instance"
            case memberClass = "member_class"
            case memberCode = "member_code"
            case subsystemCode = "subsystem_code"
        }
    }

    struct XRoadServiceList: Encodable {
        var service: [XRoadService]
    }

    struct XRoadService: Encodable {
        var objectType = "SERVICE"
        var serviceType: String
        var xroadInstance: String
        var memberClass: String
        var memberCode: String
        var subsystemCode: String
        var serviceCode: String
        var serviceVersion: String?
        var endpointList: [Endpoint]

        enum CodingKeys: String, CodingKey {
            case objectType = "object_type"
            case serviceType = "service_type"
            case xroadInstance = "xroad_instance"
            case memberClass = "member_class"
            case memberCode = "member_code"
            case subsystemCode = "subsystem_code"
            case serviceCode = "service_code"
            case serviceVersion = "service_version"
            case endpointList = "endpoint_list"
        }
    }

    struct Endpoint: Encodable {
        var method: String
        var path: String
    }

    // MARK: GovStack dialect (GovStack_IM_Directory_Services_API.yaml)

    struct GovStackClientList: Encodable {
        var member: [GovStackClient]
    }

    struct GovStackClient: Encodable {
        var id: GovStackClientIdentifier
        var name: String
    }

    struct GovStackClientIdentifier: Encodable {
        var objectType: String
        var instanceId: String
        var memberClass: String
        var memberCode: String
        var applicationCode: String?
    }

    struct GovStackServiceList: Encodable {
        var member: [GovStackService]
    }

    struct GovStackService: Encodable {
        var objectType = "SERVICE"
        var serviceType: String
        var instanceId: String
        var memberClass: String
        var memberCode: String
        var applicationCode: String
        var serviceCode: String
        var serviceVersion: String?
        var endpointList: GovStackEndpointList
    }

    struct GovStackEndpointList: Encodable {
        var member: [Endpoint]
    }

    // MARK: Building bodies

    static func clients(_ clients: [MetaserviceClient], format: MetaserviceFormat) -> [UInt8] {
        switch format {
        case .xroad:
            return encode(XRoadClientList(member: clients.map { client in
                let member = client.id.member
                return XRoadClient(
                    id: XRoadClientIdentifier(
                        objectType: client.id.subsystem == nil ? "MEMBER" : "SUBSYSTEM",
                        xroadInstance: member.instance, memberClass: member.memberClass, memberCode: member.memberCode,
                        subsystemCode: client.id.subsystem?.subsystemCode),
                    name: client.name)
            }))
        case .govstack:
            return encode(GovStackClientList(member: clients.map { client in
                let member = client.id.member
                return GovStackClient(
                    id: GovStackClientIdentifier(
                        objectType: client.id.subsystem == nil ? "MEMBER" : "APPLICATION",
                        instanceId: member.instance, memberClass: member.memberClass, memberCode: member.memberCode,
                        applicationCode: client.id.subsystem?.subsystemCode),
                    name: client.name)
            }))
        }
    }

    static func methods(_ methods: [MetaserviceMethod], format: MetaserviceFormat) -> [UInt8] {
        switch format {
        case .xroad:
            return encode(XRoadServiceList(service: methods.map { method in
                let subsystem = method.service.subsystem
                return XRoadService(
                    serviceType: method.serviceType.rawValue, xroadInstance: subsystem.member.instance,
                    memberClass: subsystem.member.memberClass, memberCode: subsystem.member.memberCode,
                    subsystemCode: subsystem.subsystemCode, serviceCode: method.service.serviceCode,
                    serviceVersion: method.service.serviceVersion,
                    endpointList: method.endpoints.map { Endpoint(method: $0.method, path: $0.path) })
            }))
        case .govstack:
            return encode(GovStackServiceList(member: methods.map { method in
                let subsystem = method.service.subsystem
                return GovStackService(
                    serviceType: method.serviceType.rawValue, instanceId: subsystem.member.instance,
                    memberClass: subsystem.member.memberClass, memberCode: subsystem.member.memberCode,
                    applicationCode: subsystem.subsystemCode, serviceCode: method.service.serviceCode,
                    serviceVersion: method.service.serviceVersion,
                    endpointList: GovStackEndpointList(member: method.endpoints.map { Endpoint(method: $0.method, path: $0.path) }))
            }))
        }
    }

    /// Encodes `value` with sorted keys and unescaped slashes.
    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings, arrays and optionals of them cannot fail; an empty object is a safe fallback.
        return (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }
}
