/// The major version of the X-Road Message Protocol for REST, the first segment of a REST path.
///
/// Only ``r1`` exists. A request for any other version is rejected with
/// ``IdentifierError/Code/unsupportedProtocolVersion``.
public struct RESTProtocolVersion: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The path segment, for example `r1`.
    public let rawValue: String

    /// Version 1 of the protocol, `r1`.
    public static let r1 = RESTProtocolVersion(uncheckedRawValue: "r1")

    /// All versions this implementation accepts.
    public static let supported: [RESTProtocolVersion] = [.r1]

    /// Creates a protocol version from its path segment, if it is supported.
    ///
    /// - parameters:
    ///     - rawValue: The path segment, for example `r1`.
    /// - returns: `nil` if the version is not supported.
    public init?(rawValue: String) {
        guard let version = RESTProtocolVersion.supported.first(where: { $0.rawValue == rawValue }) else {
            return nil
        }
        self = version
    }

    private init(uncheckedRawValue: String) {
        self.rawValue = uncheckedRawValue
    }

    /// The path segment, for example `r1`.
    public var description: String {
        self.rawValue
    }
}

/// A parsed X-Road REST request target:
/// `/r1/{instance}/{class}/{member}/{subsystem}/{service}[/rest-of-path][?query]`.
///
/// ``init(parsing:maximumTargetLength:)`` takes the raw request target exactly as received on the
/// request line (the path and optional query, still percent-encoded) and splits it into the
/// ``protocolVersion``, the ``serviceId``, the ``remainingPath`` and the ``query``:
///
/// ```swift
/// let path = try RESTServicePath(parsing: "/r1/INSTANCE/CLASS2/MEMBER2/SUBSYSTEM2/BARSERVICE/v1/bar/zyggy?quu=1")
/// path.serviceId.canonical  // "INSTANCE/CLASS2/MEMBER2/SUBSYSTEM2/BARSERVICE"
/// path.remainingPath        // "/v1/bar/zyggy"
/// path.query                // "quu=1"
/// ```
///
/// The URL form carries **no service version**: the five segments after the protocol version are the
/// service id, and everything after them is the path passed to the provider's service (in the
/// example above, `v1` belongs to the path). ``serviceId`` therefore always has a `nil`
/// ``ServiceId/serviceVersion``.
///
/// Metaservices need no special handling: `/r1/VN/GOV/000.00.00.G22/DANCU/listMethods` is a service
/// id with the service code `listMethods`.
///
/// The parser is strict, to protect the security server against path traversal, request smuggling
/// and server-side request forgery. It rejects:
///
/// - targets longer than `maximumTargetLength` bytes (``IdentifierError/Code/targetTooLong``);
/// - targets that do not start with `/` (``IdentifierError/Code/malformedRequestTarget``);
/// - control characters, spaces, `#` and non-ASCII bytes anywhere in the target
///   (``IdentifierError/Code/invalidCharacter``);
/// - a protocol version other than `r1` (``IdentifierError/Code/unsupportedProtocolVersion``);
/// - fewer than five identifier segments (``IdentifierError/Code/wrongPartCount``), and identifier
///   segments that are empty, invalid after percent-decoding (an encoded slash `%2F` is rejected as
///   an invalid character), or dot segments (``IdentifierError/Code/pathTraversal``);
/// - in the remaining path: any segment that is `.` or `..` after percent-decoding, also when followed
///   by `;parameters` (``IdentifierError/Code/pathTraversal``); `%2F`, a raw `\` or `%5C`
///   (``IdentifierError/Code/encodedSeparator``); malformed `%` escapes
///   (``IdentifierError/Code/invalidPercentEncoding``); and the characters `"<>[]^`{|}`, which may not
///   appear in a URI path (``IdentifierError/Code/invalidCharacter``).
///
/// The query is kept as received; apart from the character checks above it is not validated.
///
/// Errors about the target as a whole, the protocol version, dot segments and the remaining path have
/// the kind ``IdentifierError/Kind/restPath``; errors about the content of an identifier segment
/// (empty, invalid character, too long, bad escape, reserved code) have the kind
/// ``IdentifierError/Kind/service`` and name the part, exactly as ``ServiceId/init(percentEncoded:)``
/// would.
public struct RESTServicePath: Hashable, Sendable, CustomStringConvertible {
    /// The default maximum length of a request target: 2000 bytes.
    public static let defaultMaximumTargetLength: Int = 2000

    /// The protocol version, always ``RESTProtocolVersion/r1``.
    public let protocolVersion: RESTProtocolVersion

    /// The service being called. Its ``ServiceId/serviceVersion`` is always `nil`.
    public let serviceId: ServiceId

    /// The remaining path after the service id, still percent-encoded exactly as received.
    ///
    /// It is empty or starts with `/`; for `/r1/VN/GOV/M/S/svc/a/b` it is `/a/b`, for
    /// `/r1/VN/GOV/M/S/svc/` it is `/` and for `/r1/VN/GOV/M/S/svc` it is empty.
    public let remainingPath: String

    /// The raw query without the leading `?`, or `nil` if the target has no `?`.
    ///
    /// A target ending in `?` has an empty query, `""`.
    public let query: String?

    /// Parses a raw request target.
    ///
    /// - parameters:
    ///     - requestTarget: The request target as received on the request line, not decoded, for
    ///       example `/r1/VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1/cong-dan?so-dinh-danh=1`.
    ///     - maximumTargetLength: The maximum length of `requestTarget` in bytes, query included.
    /// - throws: An ``IdentifierError`` describing the first problem found.
    public init(
        parsing requestTarget: String,
        maximumTargetLength: Int = RESTServicePath.defaultMaximumTargetLength
    ) throws(IdentifierError) {
        let utf8 = requestTarget.utf8
        let length = utf8.count
        guard length <= maximumTargetLength else {
            throw IdentifierError(
                code: .targetTooLong,
                kind: .restPath,
                part: .requestTarget,
                value: requestTarget,
                count: length,
                limit: maximumTargetLength
            )
        }
        guard utf8.first == IdentifierParsing.slash else {
            throw IdentifierError(
                code: .malformedRequestTarget,
                kind: .restPath,
                part: .requestTarget,
                value: requestTarget
            )
        }
        try RESTServicePath.checkTargetCharacters(requestTarget)

        // Everything is ASCII from here on, so byte offsets are character positions.
        let questionMark = utf8.firstIndex(of: UInt8(ascii: "?"))
        let path = requestTarget[..<(questionMark ?? requestTarget.endIndex)]
        let query = questionMark.map { String(requestTarget[requestTarget.utf8.index(after: $0)...]) }

        let segments = path.utf8.dropFirst().split(
            separator: IdentifierParsing.slash,
            maxSplits: 6,
            omittingEmptySubsequences: false
        ).map { Substring($0) }

        let version = String(segments[0])
        guard let protocolVersion = RESTProtocolVersion(rawValue: version) else {
            throw IdentifierError(
                code: .unsupportedProtocolVersion,
                kind: .restPath,
                part: .protocolVersion,
                value: version
            )
        }
        guard segments.count >= 6 else {
            throw IdentifierError(code: .wrongPartCount, kind: .restPath, value: String(path), count: segments.count - 1)
        }

        let input = String(path)
        let partNames: [IdentifierError.Part] = [.instance, .memberClass, .memberCode, .subsystemCode, .serviceCode]
        var parts: [String] = []
        parts.reserveCapacity(5)
        for (segment, part) in zip(segments[1...5], partNames) {
            let decoded = try IdentifierParsing.percentDecode(segment, as: part, in: .service)
            if IdentifierParsing.isDotSegment(decoded.utf8) {
                throw IdentifierError(code: .pathTraversal, kind: .restPath, part: part, value: String(segment))
            }
            if part == .subsystemCode {
                try IdentifierParsing.validateCode(decoded, as: part, in: .service, input: input)
            } else {
                try IdentifierParsing.validate(decoded, as: part, in: .service, input: input)
            }
            parts.append(decoded)
        }

        let remainingPath = segments.count == 7 ? "/" + segments[6] : ""
        try RESTServicePath.checkRemainingPath(remainingPath)

        let member = MemberId(uncheckedInstance: parts[0], memberClass: parts[1], memberCode: parts[2])
        let subsystem = SubsystemId(uncheckedMember: member, subsystemCode: parts[3])
        self.protocolVersion = protocolVersion
        self.serviceId = ServiceId(uncheckedSubsystem: subsystem, serviceCode: parts[4], serviceVersion: nil)
        self.remainingPath = remainingPath
        self.query = query
    }

    /// The request target rebuilt from its components:
    /// `/r1/` + the percent-encoded service id + ``remainingPath`` + `?` ``query``.
    ///
    /// For a target whose identifier segments were encoded the way LienThong encodes them (only
    /// `?` and non-allowed bytes escaped, upper-case hex), this is the parsed target.
    public var requestTarget: String {
        var target = "/" + self.protocolVersion.rawValue + "/" + self.serviceId.percentEncoded + self.remainingPath
        if let query = self.query {
            target += "?" + query
        }
        return target
    }

    /// The request target, see ``requestTarget``.
    public var description: String {
        self.requestTarget
    }

    /// Rejects control characters, space, DEL, `#` and non-ASCII anywhere in the target.
    private static func checkTargetCharacters(_ target: String) throws(IdentifierError) {
        var position = 0
        for scalar in target.unicodeScalars {
            position += 1
            let value = scalar.value
            if value <= 0x20 || value >= 0x7F || scalar == "#" {
                throw IdentifierError(
                    code: .invalidCharacter,
                    kind: .restPath,
                    part: .requestTarget,
                    value: target,
                    character: scalar,
                    position: position
                )
            }
        }
    }

    /// Checks the remaining path for malformed escapes, forbidden characters, encoded separators and
    /// dot segments. The path is ASCII.
    private static func checkRemainingPath(_ path: String) throws(IdentifierError) {
        let bytes = Array(path.utf8)
        var decodedSegment: [UInt8] = []
        var segmentStart = 0
        var index = 0

        func fail(_ code: IdentifierError.Code, at offset: Int, character: Unicode.Scalar? = nil) -> IdentifierError {
            IdentifierError(
                code: code,
                kind: .restPath,
                part: .servicePath,
                value: path,
                character: character,
                position: offset + 1
            )
        }

        func endSegment() throws(IdentifierError) {
            let beforeParameters = decodedSegment.prefix(while: { $0 != IdentifierParsing.semicolon })
            if IdentifierParsing.isDotSegment(beforeParameters) {
                throw fail(.pathTraversal, at: segmentStart)
            }
            decodedSegment.removeAll(keepingCapacity: true)
        }

        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case IdentifierParsing.slash:
                try endSegment()
                segmentStart = index + 1
                index += 1
            case IdentifierParsing.backslash:
                throw fail(.encodedSeparator, at: index, character: "\\")
            case IdentifierParsing.percent:
                guard let decoded = IdentifierParsing.decodeEscape(in: bytes, at: index) else {
                    throw fail(.invalidPercentEncoding, at: index)
                }
                if decoded == IdentifierParsing.slash || decoded == IdentifierParsing.backslash {
                    throw fail(.encodedSeparator, at: index, character: Unicode.Scalar(decoded))
                }
                decodedSegment.append(decoded)
                index += 3
            case UInt8(ascii: "\""), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "["),
                UInt8(ascii: "]"), UInt8(ascii: "^"), UInt8(ascii: "`"), UInt8(ascii: "{"),
                UInt8(ascii: "|"), UInt8(ascii: "}"):
                throw fail(.invalidCharacter, at: index, character: Unicode.Scalar(byte))
            default:
                decodedSegment.append(byte)
                index += 1
            }
        }
        try endSegment()
    }
}
