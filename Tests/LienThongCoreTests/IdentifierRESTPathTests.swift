import LienThongCore
import Testing

@Suite("REST service path")
struct IdentifierRESTPathTests {
    // MARK: Valid targets

    /// The example of section 4.1 of the X-Road Message Protocol for REST.
    @Test func specificationExample() throws {
        let path = try RESTServicePath(parsing: "/r1/INSTANCE/CLASS2/MEMBER2/SUBSYSTEM2/BARSERVICE/v1/bar/zyggy?quu=1")
        #expect(path.protocolVersion == .r1)
        #expect(path.serviceId == (try ServiceId(parsing: "INSTANCE/CLASS2/MEMBER2/SUBSYSTEM2/BARSERVICE")))
        #expect(path.serviceId.serviceVersion == nil)
        #expect(path.remainingPath == "/v1/bar/zyggy")
        #expect(path.query == "quu=1")
        #expect(path.requestTarget == "/r1/INSTANCE/CLASS2/MEMBER2/SUBSYSTEM2/BARSERVICE/v1/bar/zyggy?quu=1")
        #expect(path.description == path.requestTarget)
    }

    /// The examples of section 6, with a Vietnamese service id.
    @Test(arguments: [
        ("/v2/pets/1124", nil as String?),
        ("/v2/pets/5657082955040009", nil),
        ("/v2/pets", nil),
        ("/v2/pets/1124/images", nil),
        ("/cong-dan", "so-dinh-danh=001099012345&ho-ten=Nguy%E1%BB%85n%20V%C4%83n%20A"),
    ])
    func vietnameseService(remainingPath: String, query: String?) throws {
        let target =
            "/r1/VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan\(remainingPath)" + (query.map { "?" + $0 } ?? "")
        let path = try RESTServicePath(parsing: target)
        #expect(path.serviceId.canonical == "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan")
        #expect(path.serviceId.subsystem.member.memberCode == "000.00.00.G22")
        #expect(path.remainingPath == remainingPath)
        #expect(path.query == query)
        #expect(path.requestTarget == target)
    }

    @Test func metaservices() throws {
        let list = try RESTServicePath(parsing: "/r1/INSTANCE/CLASS2/MEMBER2/SUBSYSTEM2/listMethods")
        #expect(list.serviceId.serviceCode == "listMethods")
        #expect(list.serviceId.subsystem.canonical == "INSTANCE/CLASS2/MEMBER2/SUBSYSTEM2")
        #expect(list.remainingPath == "")
        #expect(list.query == nil)

        let allowed = try RESTServicePath(parsing: "/r1/VN/GOV/000.00.00.G22/DANCU/allowedMethods")
        #expect(allowed.serviceId.serviceCode == "allowedMethods")

        let openAPI = try RESTServicePath(
            parsing: "/r1/INSTANCE/CLASS2/MEMBER2/SUBSYSTEM2/getOpenAPI?serviceCode=listFirms")
        #expect(openAPI.serviceId.serviceCode == "getOpenAPI")
        #expect(openAPI.remainingPath == "")
        #expect(openAPI.query == "serviceCode=listFirms")
    }

    @Test func remainingPathAndQueryShapes() throws {
        let base = "/r1/VN/GOV/M/S/svc"
        let cases: [(String, String, String?)] = [
            ("", "", nil),
            ("/", "/", nil),
            ("?", "", ""),
            ("/?", "/", ""),
            ("/a//b/", "/a//b/", nil),
            ("/a%20b/%C3%A9?x", "/a%20b/%C3%A9", "x"),
            ("/...", "/...", nil),
            ("/.hidden/a..b/..x/x..", "/.hidden/a..b/..x/x..", nil),
            ("/a;b=c/d", "/a;b=c/d", nil),
            ("/a?b=/../c&d=%2F%5C\\", "/a", "b=/../c&d=%2F%5C\\"),
            ("?a=1&a=2&b=%zz", "", "a=1&a=2&b=%zz"),
            ("/x?y?z", "/x", "y?z"),
        ]
        for (suffix, remainingPath, query) in cases {
            let path = try RESTServicePath(parsing: base + suffix)
            #expect(path.remainingPath == remainingPath, "\(suffix)")
            #expect(path.query == query, "\(suffix)")
            #expect(path.serviceId.serviceCode == "svc")
            #expect(path.requestTarget == base + suffix)
        }
    }

    @Test func encodedIdentifierSegments() throws {
        let path = try RESTServicePath(parsing: "/r1/VN/GOV/000.00.00.G22/DANCU/a%3Fb%27(),=+/x%3Fy?q")
        #expect(path.serviceId.serviceCode == "a?b'(),=+")
        #expect(path.remainingPath == "/x%3Fy")
        #expect(path.query == "q")
        #expect(path.requestTarget == "/r1/VN/GOV/000.00.00.G22/DANCU/a%3Fb'(),=+/x%3Fy?q")
    }

    // MARK: Protocol version

    @Test(arguments: ["r2", "R1", "r", "r10", "", "%72%31", "v1"])
    func unsupportedProtocolVersion(version: String) throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: "/\(version)/VN/GOV/M/S/svc") })
        #expect(error.code == .unsupportedProtocolVersion)
        #expect(error.kind == .restPath)
        #expect(error.part == .protocolVersion)
        #expect(error.value == version)
    }

    @Test func unsupportedProtocolVersionMessage() throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: "/r2/VN/GOV/M/S/svc") })
        #expect(error.description == "unsupported protocol version \"r2\" in REST request path, only \"r1\" is supported")
        #expect(RESTProtocolVersion(rawValue: "r1") == .r1)
        #expect(RESTProtocolVersion(rawValue: "r2") == nil)
    }

    // MARK: Structure

    @Test(arguments: [("/r1", 0), ("/r1/", 1), ("/r1/VN/GOV/M/S", 4), ("/r1/VN/GOV/M/S?x=/a/b/c", 4), ("/r1/VN", 1)])
    func tooFewSegments(target: String, found: Int) throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: target) })
        #expect(error.code == .wrongPartCount)
        #expect(error.kind == .restPath)
        #expect(error.count == found)
    }

    @Test func tooFewSegmentsMessage() throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/GOV") })
        #expect(error.description == "REST request path \"/r1/VN/GOV\" has 2 identifier segments, expected 5 after the protocol version")
    }

    @Test(arguments: [
        ("/r1//GOV/M/S/svc", IdentifierError.Part.instance),
        ("/r1/VN//GOV/M/S/svc", .memberClass),
        ("/r1/VN/GOV//S/svc", .memberCode),
        ("/r1/VN/GOV/M//svc", .subsystemCode),
        ("/r1/VN/GOV/M/S/", .serviceCode),
        ("/r1/VN/GOV/M/S//x", .serviceCode),
    ])
    func emptyIdentifierSegments(target: String, part: IdentifierError.Part) throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: target) })
        #expect(error.code == .emptyPart)
        #expect(error.part == part)
        #expect(error.kind == .service)
    }

    @Test(arguments: ["http://ss.example.vn/r1/VN/GOV/M/S/svc", "*", "", "r1/VN/GOV/M/S/svc", "?/r1/VN/GOV/M/S/svc"])
    func malformedTargets(target: String) throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: target) })
        #expect(error.code == .malformedRequestTarget)
        #expect(error.part == .requestTarget)
    }

    @Test func invalidIdentifierSegments() throws {
        let slash = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/GOV/M/S/tra%2Fcuu/x") })
        #expect(slash.code == .invalidCharacter)
        #expect(slash.part == .serviceCode)
        #expect(slash.character == "/")
        #expect(slash.position == 4)
        #expect(slash.kind == .service)
        #expect(slash.description == "invalid character \"/\" at position 4 in service code \"tra/cuu\" of service id")

        let backslash = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/GOV/M/a%5Cb/svc") })
        #expect(backslash.code == .invalidCharacter)
        #expect(backslash.part == .subsystemCode)
        #expect(backslash.character == "\\")

        let raw = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/GOV/M\\x/S/svc") })
        #expect(raw.code == .invalidCharacter)
        #expect(raw.part == .memberCode)

        let utf8 = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/B%E1%BB%99/M/S/svc") })
        #expect(utf8.code == .invalidCharacter)
        #expect(utf8.part == .memberClass)
        #expect(utf8.character == "\u{1ED9}")

        let percent = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/GOV/M/S/svc%G1/x") })
        #expect(percent.code == .invalidPercentEncoding)
        #expect(percent.part == .serviceCode)
        #expect(percent.position == 4)

        let badUTF8 = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/GOV/%C3%28/S/svc") })
        #expect(badUTF8.code == .invalidUTF8)
        #expect(badUTF8.part == .memberCode)

        let reserved = try #require(
            identifierError { try RESTServicePath(parsing: "/r1/VN/GOV/000.00.00.G22/datasets/dan-cu") })
        #expect(reserved.code == .reservedCode)
        #expect(reserved.part == .subsystemCode)

        let long = String(repeating: "a", count: 256)
        let tooLong = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/GOV/M/S/\(long)") })
        #expect(tooLong.code == .partTooLong)
        #expect(tooLong.part == .serviceCode)
    }

    // MARK: Length limit

    @Test func targetLengthLimit() throws {
        let prefix = "/r1/VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/"
        let exactly2000 = prefix + String(repeating: "a", count: 2000 - prefix.utf8.count)
        #expect(exactly2000.utf8.count == 2000)
        #expect(try RESTServicePath(parsing: exactly2000).remainingPath.utf8.count == 2000 - prefix.utf8.count + 1)

        let error = try #require(identifierError { try RESTServicePath(parsing: exactly2000 + "?") })
        #expect(error.code == .targetTooLong)
        #expect(error.kind == .restPath)
        #expect(error.part == .requestTarget)
        #expect(error.count == 2001)
        #expect(error.limit == 2000)
        #expect(error.description == "request target of REST request path is too long: 2001 bytes, the maximum is 2000")

        // The query counts too.
        let longQuery = "/r1/VN/GOV/M/S/svc?" + String(repeating: "q", count: 2000)
        #expect(identifierError { try RESTServicePath(parsing: longQuery) }?.code == .targetTooLong)

        // A configured limit.
        let short = "/r1/VN/GOV/M/S/svc/abc"
        #expect(try RESTServicePath(parsing: short, maximumTargetLength: short.utf8.count).remainingPath == "/abc")
        let limited = try #require(
            identifierError { try RESTServicePath(parsing: short, maximumTargetLength: short.utf8.count - 1) })
        #expect(limited.code == .targetTooLong)
        #expect(limited.limit == short.utf8.count - 1)

        // The length check comes first, before any other parsing.
        let garbage = String(repeating: "\u{0}", count: 3000)
        #expect(identifierError { try RESTServicePath(parsing: garbage) }?.code == .targetTooLong)
        #expect(RESTServicePath.defaultMaximumTargetLength == 2000)
    }

    // MARK: Traversal and separators

    @Test(arguments: [
        ("/..", 2), ("/.", 2), ("/../x", 2), ("/a/..", 4), ("/a/./b", 4), ("/a/../../etc/passwd", 4),
        ("/%2e%2E/x", 2), ("/%2E", 2), ("/.%2e/", 2), ("/a/%2e", 4), ("/..;jsessionid=1/x", 2), ("/.;/x", 2),
        ("/%2e%2e%3Bx/y", 2), ("/a/..?q=1", 4),
    ])
    func pathTraversal(suffix: String, position: Int) throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/GOV/M/S/svc" + suffix) })
        #expect(error.code == .pathTraversal)
        #expect(error.kind == .restPath)
        #expect(error.part == .servicePath)
        #expect(error.position == position)
    }

    @Test func pathTraversalMessage() throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/GOV/M/S/svc/a/%2e%2E/b") })
        #expect(error.value == "/a/%2e%2E/b")
        #expect(error.description == "path traversal (dot segment) at position 4 in service path \"/a/%2e%2E/b\" of REST request path")
    }

    @Test(arguments: [
        "/r1/VN/GOV/../S/svc", "/r1/VN/GOV/M/./svc", "/r1/VN/GOV/M/S/..", "/r1/%2E%2E/GOV/M/S/svc", "/r1/VN/%2e/M/S/svc",
    ])
    func dotSegmentsAsIdentifierSegments(target: String) throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: target) })
        #expect(error.code == .pathTraversal)
        #expect(error.kind == .restPath)
        #expect(error.part != .servicePath)
    }

    @Test(arguments: [
        ("/a%2Fb", 3, "/" as Unicode.Scalar), ("/a%2fb", 3, "/"), ("/%2F", 2, "/"), ("/a%5Cb", 3, "\\"), ("/a%5cb", 3, "\\"),
        ("/a\\b", 3, "\\"), ("\\", 1, "\\"), ("/..%2F..%2Fetc", 4, "/"), ("/%5C..%5C", 2, "\\"),
    ])
    func encodedSeparators(suffix: String, position: Int, character: Unicode.Scalar) throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/GOV/M/S/svc" + suffix) })
        if suffix == "\\" {
            // Without a "/" the backslash belongs to the service code.
            #expect(error.code == .invalidCharacter)
            #expect(error.part == .serviceCode)
            return
        }
        #expect(error.code == .encodedSeparator)
        #expect(error.part == .servicePath)
        #expect(error.character == character)
        #expect(error.position == position)
    }

    @Test func encodedSeparatorMessage() throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/GOV/M/S/svc/a%2Fb") })
        #expect(error.description == "forbidden separator \"/\" at position 3 in service path \"/a%2Fb\" of REST request path")
    }

    @Test(arguments: [("/a%G1", 3), ("/a%4", 3), ("/a%", 3), ("/%/b", 2), ("/ok/%zz", 5)])
    func invalidPercentInRemainingPath(suffix: String, position: Int) throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/GOV/M/S/svc" + suffix) })
        #expect(error.code == .invalidPercentEncoding)
        #expect(error.part == .servicePath)
        #expect(error.position == position)
    }

    // MARK: Characters

    @Test(arguments: [
        ("/r1/VN/GOV/M/S/svc/a b", 21, " " as Unicode.Scalar), ("/r1/VN/GOV/M/S/svc#frag", 19, "#"),
        ("/r1/VN/GOV/M/S/svc/\u{0}", 20, "\u{0}"), ("/r1/VN/GOV/M/S/svc?a=\r\nX-Evil: 1", 22, "\r"),
        ("/r1/VN/GOV/M/S/svc/\u{7F}", 20, "\u{7F}"), ("/r1/VN/GOV/M/S/svc/ộ", 20, "\u{1ED9}"),
        ("/r1/VN/GOV/M/S/svc?q=\t", 22, "\t"), ("/r1/VN/GOV/M/S/svc?q=é", 22, "é"),
    ])
    func invalidTargetCharacters(target: String, position: Int, character: Unicode.Scalar) throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: target) })
        #expect(error.code == .invalidCharacter)
        #expect(error.part == .requestTarget)
        #expect(error.kind == .restPath)
        #expect(error.character == character)
        #expect(error.position == position)
    }

    @Test(arguments: ["\"", "<", ">", "[", "]", "^", "`", "{", "|", "}"])
    func invalidRemainingPathCharacters(character: String) throws {
        let error = try #require(identifierError { try RESTServicePath(parsing: "/r1/VN/GOV/M/S/svc/a\(character)") })
        #expect(error.code == .invalidCharacter)
        #expect(error.part == .servicePath)
        #expect(error.position == 3)
        // In the query they are passed through untouched.
        let inQuery = try RESTServicePath(parsing: "/r1/VN/GOV/M/S/svc/a?x=\(character)")
        #expect(inQuery.query == "x=\(character)")
    }
}
