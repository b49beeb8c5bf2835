import Foundation
import LienThongCore
import LienThongRegistry
@testable import LienThongServer
import Testing

/// The endpoint matcher (issue 15, item 5): pure, so every rule is checked here without a network.
@Suite("Endpoint templates")
struct EndpointTemplateTests {
    func matches(_ method: String, _ template: String, _ requestMethod: String, _ path: String) -> Bool {
        EndpointTemplate(ServiceEndpoint(method: method, path: template)).matches(method: requestMethod, path: path)
    }

    @Test func aParameterIsExactlyOneNonEmptySegment() {
        #expect(matches("GET", "/v1/{id}", "GET", "/v1/001099012345"))
        #expect(matches("GET", "/v1/{id}", "GET", "/v1/a%20b"))
        #expect(!matches("GET", "/v1/{id}", "GET", "/v1/"))
        #expect(!matches("GET", "/v1/{id}", "GET", "/v1"))
        #expect(!matches("GET", "/v1/{id}", "GET", "/v1/7/x"))
        #expect(!matches("GET", "/v1/{id}", "GET", "/v1/7/"))
        #expect(!matches("GET", "/v1/{id}", "GET", "/v1//7"))
        #expect(matches("GET", "/v2/cong-dan/{so}/ho-khau/{ma}", "GET", "/v2/cong-dan/1/ho-khau/2"))
        #expect(!matches("GET", "/v2/cong-dan/{so}/ho-khau/{ma}", "GET", "/v2/cong-dan/1/nha/2"))
    }

    @Test func literalsMatchAfterPercentDecoding() {
        #expect(matches("GET", "/v1/cong-dan", "GET", "/v1/%63ong-dan"))
        #expect(matches("GET", "/v1/c%C3%B4ng", "GET", "/v1/c%c3%b4ng"))
        #expect(!matches("GET", "/v1/cong-dan", "GET", "/v1/Cong-dan"))
        #expect(!matches("GET", "/v1/cong-dan", "GET", "/v1/cong-dan;x=1"), "matrix parameters make another segment")
        #expect(!matches("GET", "/v1/cong-dan", "GET", "/v1/%FF"), "not UTF-8: matches no literal")
    }

    @Test func theQueryNeverSelectsAnEndpoint() {
        #expect(matches("GET", "/v1/{id}", "GET", "/v1/7?all=1"))
        #expect(!matches("DELETE", "/internal/export", "GET", "/v1/7?/internal/export"))
        #expect(!matches("GET", "/v1/{id}", "GET", "/v1?id=7"))
    }

    @Test func methodsAreCompared() {
        #expect(matches("GET", "/v1/{id}", "get", "/v1/7"), "methods compare upper-cased")
        #expect(!matches("GET", "/v1/{id}", "DELETE", "/v1/7"))
        #expect(!matches("GET", "/v1/{id}", "HEAD", "/v1/7"))
        #expect(matches("*", "/v1/{id}", "PATCH", "/v1/7"))
    }

    @Test func wildcards() {
        #expect(matches("*", "/*", "DELETE", "/internal/export"))
        #expect(matches("*", "/*", "GET", ""))
        #expect(matches("*", "/*", "GET", "/"))
        #expect(matches("GET", "/v1/*", "GET", "/v1/a/b/c"))
        #expect(matches("GET", "/v1/*", "GET", "/v1"))
        #expect(!matches("GET", "/v1/*", "GET", "/v2/a"))
        #expect(matches("GET", "/v1/*/x", "GET", "/v1/a/x"))
        #expect(!matches("GET", "/v1/*/x", "GET", "/v1//x"))
        #expect(!matches("GET", "/v1/*/x", "GET", "/v1/a/b/x"))
    }

    @Test func theRootAndTheEmptyPath() {
        #expect(matches("GET", "/", "GET", ""))
        #expect(matches("GET", "/", "GET", "/"))
        #expect(!matches("GET", "/", "GET", "/x"))
    }

    @Test func anAgreementNarrowsTheServicesEndpoints() throws {
        let service = try ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/ho-so")
        let getOne = ServiceEndpoint(method: "GET", path: "/v1/{id}")
        let export = ServiceEndpoint(method: "DELETE", path: "/internal/export")
        let entry = GlobalConfiguration.ServiceEntry(id: service, enabled: true, endpoints: [getOne, export])
        var agreement = GlobalConfiguration.AgreementEntry(
            id: "AG-1", dataset: try DatasetId(parsing: "VN/GOV/000.00.00.G22/datasets/ho-so"), services: [service],
            consumer: try SubsystemId(parsing: "VN/GOV/000.00.00.H26/MOTCUA"), purposes: [], validFrom: Date(), validUntil: Date())
        #expect(EndpointAccess.allowed(service: entry, agreement: agreement) == [getOne, export], "no endpoints named: all of the service's")
        agreement.endpoints = [ServiceEndpoint(method: "get", path: "/v1/{id}")]
        #expect(EndpointAccess.allowed(service: entry, agreement: agreement) == [getOne])
        agreement.endpoints = [ServiceEndpoint(method: "POST", path: "/v1/{id}")]
        #expect(EndpointAccess.allowed(service: entry, agreement: agreement).isEmpty, "an endpoint the service does not register covers nothing")
        let bare = GlobalConfiguration.ServiceEntry(id: service, enabled: true, endpoints: [])
        agreement.endpoints = nil
        #expect(!EndpointAccess.permits(EndpointAccess.allowed(service: bare, agreement: agreement), method: "GET", path: "/"),
                "a service with no endpoint registered is closed")
    }

    @Test func peerTextIsBoundedAndOnOneLine() {
        #expect(PeerText.sanitised("a\r\nb\u{2028}c\u{202E}d\u{0}e") == "a  b c d e")
        let long = String(repeating: "é", count: 2000)
        let cut = PeerText.sanitised(long)
        #expect(cut.utf8.count <= PeerText.maximumBytes && cut.hasSuffix("…"))
        #expect(PeerText.sanitised("ngắn") == "ngắn")
    }
}
