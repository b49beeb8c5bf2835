import Foundation
import LienThongCore
import LienThongServer
import Testing

/// The pure front end of the consumer side: error catalogue, request parsing, forwarded headers,
/// canonical request and `X-Road-Request-Hash`.
@Suite("Client protocol")
struct ClientProtocolTests {
    static let target = "/r1/VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1/cong-dan/001099012345?fields=ho-ten"
    static let client = "VN/GOV/000.00.00.H29/HOTICH"

    func parse(
        method: String = "GET",
        target: String = ClientProtocolTests.target,
        _ headers: [(name: String, value: String)] = [(name: "X-Road-Client", value: ClientProtocolTests.client)]
    ) throws(XRoadFault) -> ParsedClientRequest {
        try ParsedClientRequest(method: method, rawTarget: target, headers: headers, generateMessageId: { "generated-id" })
    }

    func fault(
        method: String = "GET",
        target: String = ClientProtocolTests.target,
        _ headers: [(name: String, value: String)] = [(name: "X-Road-Client", value: ClientProtocolTests.client)]
    ) -> XRoadFault? {
        do {
            _ = try self.parse(method: method, target: target, headers)
            return nil
        } catch {
            return error
        }
    }

    func withClient(_ extra: [(name: String, value: String)]) -> [(name: String, value: String)] {
        [(name: "X-Road-Client", value: Self.client)] + extra
    }

    // MARK: Error catalogue

    @Test func catalogueRoundTripsBothNameForms() throws {
        #expect(Set(XRoadErrorType.catalogue).count == XRoadErrorType.catalogue.count)
        for type in XRoadErrorType.catalogue {
            #expect(XRoadErrorType(parsing: type.name) == type)
            #expect(XRoadErrorType(parsing: type.lowerCaseName) == type)
            #expect(type.lowerCaseName == type.lowerCaseName.lowercased())
            #expect(type.httpStatus == (type.category == .client ? 400 : 500))
        }
    }

    @Test func namesMatchXRoad() {
        #expect(XRoadErrorType.providerAccessDenied.name == "Server.ServerProxy.AccessDenied")
        #expect(XRoadErrorType.providerAccessDenied.lowerCaseName == "server.serverproxy.access_denied")
        #expect(XRoadErrorType.consumerOutdatedGlobalConf.lowerCaseName == "server.clientproxy.outdated_global_conf")
        #expect(XRoadErrorType.consumerSslAuthenticationFailed.lowerCaseName == "server.clientproxy.ssl_authentication_failed")
        #expect(XRoadErrorType.badRequest.name == "Client.BadRequest")
        #expect(XRoadErrorType(parsing: " Server.ClientProxy.NetworkError ") == .consumerNetworkError)
    }

    @Test(arguments: [
        "", "BadRequest", "Client", "Client.NoSuchCode", "Server.Proxy.AccessDenied",
        "client.BadRequest", "Client.bad_request", "server.serverproxy.AccessDenied",
    ])
    func unknownErrorTypesDoNotParse(text: String) {
        #expect(XRoadErrorType(parsing: text) == nil)
    }

    @Test func faultBodyAndHeaders() throws {
        let detail = UUID()
        let fault = XRoadFault(.consumerAccessDenied, "No agreement.", detail: detail)
        #expect(fault.httpStatus == 500)
        #expect(fault.body == XRoadErrorBody(
            type: "Server.ClientProxy.AccessDenied", message: "No agreement.", detail: detail.uuidString.lowercased()))
        #expect(fault.headers.map(\.name) == ["X-Road-Error", "Content-Type"])
        #expect(fault.headers.first?.value == "Server.ClientProxy.AccessDenied")
        let decoded = try JSONDecoder().decode(XRoadErrorBody.self, from: fault.jsonBody())
        #expect(decoded == fault.body)
    }

    // MARK: Target

    @Test func validRequest() throws {
        let request = try self.parse()
        #expect(request.service == (try ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan")))
        #expect(request.client == (try ClientId(parsing: Self.client)))
        #expect(request.servicePath == "/v1/cong-dan/001099012345?fields=ho-ten")
        #expect(request.messageId == "generated-id")
        #expect(request.messageIdWasGenerated)
        #expect(request.purpose == nil && request.userId == nil && request.securityServer == nil)
        #expect(!request.conflictingClientHeaders)
    }

    @Test func unknownProtocolVersionIsRejected() {
        let fault = self.fault(target: "/r2/VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan")
        #expect(fault?.type == .invalidProtocolVersion)
        #expect(fault?.httpStatus == 400)
    }

    @Test(arguments: [
        "/r1/VN/GOV/000.00.00.G22/DANCU", "/r1/VN/GOV/000.00.00.G22/DANCU/svc/../../etc", "r1/VN/GOV/M/S/svc",
        "/r1/VN/GOV/M/S/svc/a%2Fb", "/r1/VN/G%2FOV/M/S/svc",
    ])
    func malformedTargetIsBadRequest(target: String) {
        #expect(self.fault(target: target)?.type == .badRequest)
    }

    @Test func overlongTargetIsTooLarge() {
        let target = Self.target + "&x=" + String(repeating: "a", count: 2100)
        #expect(self.fault(target: target)?.type == .requestTooLarge)
    }

    @Test func percentEncodedIdentifiers() throws {
        let request = try self.parse(
            target: "/r1/VN/GOV/000.00.00.G22/DANCU/tra%28cuu%29/x",
            [(name: "x-road-client", value: "VN/GOV/000.00.00.H29/HO%3FTICH")]
        )
        #expect(request.service.serviceCode == "tra(cuu)")
        #expect(request.client.subsystem?.subsystemCode == "HO?TICH")
        #expect(request.servicePath == "/x")
    }

    @Test func invalidMethod() {
        #expect(self.fault(method: "GE T")?.type == .invalidHttpMethod)
        #expect(self.fault(method: "")?.type == .invalidHttpMethod)
    }

    // MARK: X-Road-Client

    @Test func missingClient() {
        let fault = self.fault([(name: "Accept", value: "application/json")])
        #expect(fault?.type == .missingClientHeader)
        #expect(fault?.type.name == "Client.MissingHeader")
        #expect(fault?.httpStatus == 400)
    }

    @Test(arguments: ["", "VN/GOV", "VN/GOV/M/S/X", "VN//M", "VN/GOV/M%2FX/S", "VN/GOV/M/S\u{e9}"])
    func invalidClient(value: String) {
        #expect(self.fault([(name: "X-Road-Client", value: value)])?.type == .invalidClientIdentifier)
    }

    @Test func repeatedClientLastWins() throws {
        let request = try self.parse([
            (name: "X-Road-Client", value: "VN/GOV/000.00.00.A01/FIRST"),
            (name: "x-road-client", value: Self.client),
        ])
        #expect(request.client == (try ClientId(parsing: Self.client)))
        #expect(request.conflictingClientHeaders)

        let same = try self.parse([(name: "X-Road-Client", value: Self.client), (name: "X-ROAD-CLIENT", value: Self.client)])
        #expect(!same.conflictingClientHeaders)
    }

    @Test func invalidLastClientIsRejectedEvenIfAnEarlierOneIsValid() {
        let fault = self.fault([(name: "X-Road-Client", value: Self.client), (name: "X-Road-Client", value: "bad")])
        #expect(fault?.type == .invalidClientIdentifier)
    }

    @Test func memberClient() throws {
        let request = try self.parse([(name: "X-Road-Client", value: "  VN/GOV/000.00.00.H29\t")])
        #expect(request.client == .member(try MemberId(parsing: "VN/GOV/000.00.00.H29")))
    }

    // MARK: Header syntax

    @Test(arguments: ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\u{0}b", "a\u{7F}", "a\u{1B}b"])
    func controlCharactersInValuesAreRejected(value: String) {
        #expect(self.fault(self.withClient([(name: "X-Custom", value: value)]))?.type == .badRequest)
        #expect(self.fault([(name: "X-Road-Client", value: Self.client + value)])?.type == .badRequest)
    }

    @Test(arguments: ["X-Evil\r\n", "Bad Name", "", "X:Y", "Na\u{0}me"])
    func invalidHeaderNamesAreRejected(name: String) {
        #expect(self.fault(self.withClient([(name: name, value: "v")]))?.type == .badRequest)
    }

    @Test func tabIsAllowedInValues() throws {
        _ = try self.parse(self.withClient([(name: "X-Custom", value: "a\tb")]))
    }

    // MARK: Optional X-Road headers

    @Test func messageId() throws {
        let request = try self.parse(self.withClient([(name: "x-road-id", value: " fa2e18a5-c2cb-4d09-b994-f57727f7c3fb ")]))
        #expect(request.messageId == "fa2e18a5-c2cb-4d09-b994-f57727f7c3fb")
        #expect(!request.messageIdWasGenerated)

        let max = String(repeating: "a", count: 128)
        #expect(try self.parse(self.withClient([(name: "X-Road-Id", value: max)])).messageId == max)
    }

    @Test(arguments: [String(repeating: "a", count: 129), "", "has space", "vi\u{1EC7}t"])
    func invalidMessageId(value: String) {
        #expect(self.fault(self.withClient([(name: "X-Road-Id", value: value)]))?.type == .badRequest)
    }

    @Test func defaultGeneratorMakesUUIDs() throws {
        let request = try ParsedClientRequest(
            method: "GET", rawTarget: Self.target, headers: [(name: "X-Road-Client", value: Self.client)])
        #expect(UUID(uuidString: request.messageId) != nil)
        #expect(request.messageId == request.messageId.lowercased())
    }

    @Test(arguments: ["dieu-tra.dan_so", "A", String(repeating: "p", count: 64)])
    func validPurpose(code: String) throws {
        #expect(try self.parse(self.withClient([(name: "X-LienThong-Purpose", value: code)])).purpose == code)
    }

    @Test(arguments: ["", "has space", "a/b", "m\u{1EE5}c", String(repeating: "p", count: 65), "a,b"])
    func invalidPurpose(code: String) {
        #expect(self.fault(self.withClient([(name: "X-LienThong-Purpose", value: code)]))?.type == .badRequest)
    }

    @Test func securityServer() throws {
        let request = try self.parse(self.withClient([(name: "X-Road-Security-Server", value: "VN/GOV/000.00.00.G22/ss%281%29")]))
        #expect(request.securityServer == (try SecurityServerId(parsing: "VN/GOV/000.00.00.G22/ss(1)")))
    }

    @Test(arguments: ["VN/GOV/000.00.00.G22", "VN/GOV/000.00.00.G22/ss1/x", "VN/GOV//ss1", "VN/GOV/M/ss%2F1", "VN/GOV/M/ss%G1"])
    func invalidSecurityServer(value: String) {
        #expect(self.fault(self.withClient([(name: "X-Road-Security-Server", value: value)]))?.type == .invalidSecurityServer)
    }

    @Test func userIssueAndRepresentedParty() throws {
        let request = try self.parse(self.withClient([
            (name: "X-Road-UserId", value: "VN001099012345"),
            (name: "X-Road-Issue", value: "HS-2026/123"),
            (name: "X-Road-Represented-Party", value: "GOV/000.00.00.H29"),
        ]))
        #expect(request.userId == "VN001099012345")
        #expect(request.issue == "HS-2026/123")
        #expect(request.representedParty == RepresentedParty(headerValue: "GOV/000.00.00.H29"))
        #expect(request.representedParty?.partyClass == "GOV")
        #expect(request.representedParty?.partyCode == "000.00.00.H29")
        #expect(RepresentedParty(headerValue: "CODE")?.partyClass == nil)
    }

    @Test(arguments: ["a/b/c", "/b", "a/", "%ZZ"])
    func invalidRepresentedParty(value: String) {
        #expect(self.fault(self.withClient([(name: "X-Road-Represented-Party", value: value)]))?.type == .badRequest)
    }

    @Test func overlongFreeText() {
        let long = String(repeating: "x", count: 1025)
        #expect(self.fault(self.withClient([(name: "X-Road-UserId", value: long)]))?.type == .badRequest)
        #expect(self.fault(self.withClient([(name: "X-Road-Issue", value: long)]))?.type == .badRequest)
    }

    // MARK: Forwarded headers

    @Test func forwardedHeaderFiltering() throws {
        let headers: [(name: String, value: String)] = [
            (name: "Host", value: "ss.example"), (name: "X-Road-Client", value: Self.client),
            (name: "Connection", value: "keep-alive, X-Private-Hop"), (name: "X-Private-Hop", value: "1"),
            (name: "Content-Type", value: "application/json; charset=utf-8"), (name: "Authorization", value: "Bearer t"),
            (name: "Cache-Control", value: "no-cache"), (name: "Pragma", value: "no-cache"),
            (name: "X-Powered-By", value: "PHP/5.2.17"), (name: "X-Road-Custom-Extension", value: "kept"),
            (name: "User-Agent", value: "curl"), (name: "Transfer-Encoding", value: "chunked"),
            (name: "Content-Length", value: "5"), (name: "Keep-Alive", value: "timeout=5"), (name: "TE", value: "trailers"),
            (name: "Trailer", value: "X"), (name: "Upgrade", value: "h2c"), (name: "Proxy-Authorization", value: "x"),
            (name: "Expect", value: "100-continue"), (name: "X-Road-Id", value: "abc"), (name: "X-Road-UserId", value: "VN1"),
            (name: "X-Road-Request-Hash", value: "forged"), (name: "X-Road-Service", value: "forged"),
            (name: "X-Road-Security-Server", value: "VN/GOV/M/ss1"), (name: "X-LienThong-Purpose", value: "p"),
        ]
        let forwarded = XRoadHeader.forwardedHeaders(headers)
        #expect(forwarded.map(\.name) == [
            "Content-Type", "Authorization", "Cache-Control", "Pragma", "X-Powered-By", "X-Road-Custom-Extension", "Accept",
        ])
        #expect(forwarded.last?.value == "application/json")

        let withAccept = XRoadHeader.forwardedHeaders([(name: "accept", value: "application/xml")])
        #expect(withAccept.count == 1 && withAccept.first?.value == "application/xml")
    }

    @Test func effectiveXRoadHeaders() throws {
        let request = try self.parse([
            (name: "X-Road-Client", value: Self.client), (name: "X-LienThong-Purpose", value: "old"),
            (name: "X-LienThong-Purpose", value: "new"),
        ])
        #expect(request.xRoadHeaders.map(\.name) == ["X-Road-Client", "X-Road-Id", "X-LienThong-Purpose"])
        #expect(request.xRoadHeaders.last?.value == "new")
        #expect(request.forwardedHeaders.map(\.name) == ["Accept"])
    }

    // MARK: Canonical request

    @Test func canonicalRequestUsesEffectiveValues() throws {
        let request = try self.parse(method: "post", [
            (name: "X-Road-Client", value: Self.client), (name: "Content-Type", value: "application/json"),
            (name: "X-LienThong-Purpose", value: "old"), (name: "x-lienthong-purpose", value: "dieu-tra"),
            (name: "X-Road-UserId", value: " VN001099012345 "), (name: "X-Custom", value: "unsigned"),
            (name: "X-Road-Id", value: "msg-1"),
        ])
        let digest = MessageDigest.sha256(of: Array("{}".utf8))
        let canonical = request.canonicalRequest(bodyDigest: digest, time: 1_767_225_600_000)
        #expect(canonical.kind == .request)
        #expect(canonical.time == 1_767_225_600_000)
        #expect(canonical.method == "POST")
        #expect(canonical.messageId == "msg-1")
        #expect(canonical.path == "/v1/cong-dan/001099012345?fields=ho-ten")
        #expect(canonical.service == request.service)
        #expect(canonical.client == request.client)
        #expect(canonical.bodyDigest == digest)
        #expect(canonical.headers == [
            "content-type": "application/json", "x-lienthong-purpose": "dieu-tra", "x-road-userid": "VN001099012345",
        ])
    }

    @Test func canonicalPathOfBareService() throws {
        let request = try self.parse(target: "/r1/VN/GOV/000.00.00.G22/DANCU/listMethods")
        #expect(request.canonicalRequest(bodyDigest: MessageDigest.sha256(of: [UInt8]()), time: 1_767_225_600_000).path == "")
    }

    // MARK: X-Road-Request-Hash

    func canonical(_ extra: [(name: String, value: String)] = []) throws -> CanonicalMessage {
        try self.parse(self.withClient([(name: "X-Road-Id", value: "msg-1")] + extra))
            .canonicalRequest(bodyDigest: MessageDigest.sha256(of: [UInt8]()), time: 1_767_225_600_000)
    }

    @Test func headerPartSerialisation() throws {
        let canonical = try self.canonical([(name: "X-Road-Issue", value: "HS-1"), (name: "Content-Type", value: "text/plain")])
        let text = String(decoding: XRoadRequestHash.headerPart(of: canonical), as: UTF8.self)
        #expect(text == """
            GET /r1/VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1/cong-dan/001099012345?fields=ho-ten\r
            x-road-client: VN/GOV/000.00.00.H29/HOTICH\r
            x-road-id: msg-1\r
            content-type: text/plain\r
            x-road-issue: HS-1\r

            """)
    }

    @Test func requestHashIsDeterministicAndSensitive() throws {
        let canonical = try self.canonical()
        let body = Array("{\"a\":1}".utf8)
        let first = XRoadRequestHash.compute(for: canonical, body: body)
        let second = XRoadRequestHash.compute(for: canonical, body: body)
        #expect(first == second)
        #expect(first.count == 88 && first.hasSuffix("=="))
        #expect(XRoadRequestHash.matches(first, expected: second))

        let empty = XRoadRequestHash.compute(for: canonical, body: [UInt8]())
        #expect(empty != first)

        var changed = canonical
        changed.headers["x-road-userid"] = "VN1"
        var changedAgain = canonical
        changedAgain.headers["x-road-userid"] = "VN2"
        #expect(XRoadRequestHash.compute(for: changed, body: body) != XRoadRequestHash.compute(for: changedAgain, body: body))
        #expect(XRoadRequestHash.compute(for: changed, body: body) != first)

        var otherId = canonical
        otherId.messageId = "msg-2"
        #expect(XRoadRequestHash.compute(for: otherId, body: body) != first)

        var otherBody = body
        otherBody[0] ^= 1
        #expect(XRoadRequestHash.compute(for: canonical, body: otherBody) != first)
        #expect(!XRoadRequestHash.matches(empty, expected: first))
    }

    @Test func requestHashFormulaVectors() throws {
        // Independent of the header part: empty body → base64(SHA-512(header)); SHA-512("abc") is FIPS 180-2's vector.
        let abc = Array("abc".utf8)
        let noBody = XRoadRequestHasher().finalize(headerPart: abc)
        let expected = "3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="
        #expect(noBody == expected)

        var streamed = XRoadRequestHasher()
        streamed.update(Array("hello ".utf8))
        streamed.update(Array("world".utf8))
        var whole = XRoadRequestHasher()
        whole.update(Array("hello world".utf8))
        #expect(streamed.bodyByteCount == 11)
        #expect(streamed.finalize(headerPart: abc) == whole.finalize(headerPart: abc))
        #expect(streamed.finalize(headerPart: abc) != noBody)
        // base64(SHA-512(SHA-512("abc") ‖ SHA-512("hello world"))), computed with Python's hashlib.
        #expect(streamed.finalize(headerPart: abc)
            == "etnvdrJUheuhTRlJPxkbEm0W8vSV7gRlZKBRURKX5DFeVQuCtjuUg0FXjGT2YlMEHzYq0XAyQF2OTbxPEo6afA==")
    }
}
