/// An error thrown when an X-Road identifier, an `X-Road-Client` header value or a REST request
/// target cannot be parsed or fails validation.
///
/// `IdentifierError` is a structured error: the ``code`` says *what* went wrong, the ``kind`` says
/// *which kind of identifier* was being parsed, and ``part`` names the identifier part that is
/// wrong (for example ``Part/memberCode``). The remaining properties carry the details needed to
/// produce a precise, human readable ``description`` such as
///
/// ```
/// invalid character "/" at position 3 in member code "ab/c" of subsystem id
/// ```
///
/// The offending ``value`` is stored in a form that is safe to log: it is truncated to
/// ``maximumDisplayLength`` Unicode scalars and non-printable scalars (control characters,
/// format characters such as bidirectional overrides, unassigned code points, …) are escaped as
/// `\u{…}`. Errors therefore never carry unbounded or terminal-manipulating input into logs.
///
/// Compare errors by ``code`` rather than by ``description``; the wording of the description is not
/// part of the API contract.
public struct IdentifierError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The maximum number of Unicode scalars of an offending value kept in ``value``.
    ///
    /// Longer values are truncated and end with `…`.
    public static let maximumDisplayLength: Int = 64

    /// What went wrong.
    public internal(set) var code: Code

    /// The kind of identifier (or the REST request path) that was being parsed.
    public internal(set) var kind: Kind

    /// The identifier part that is wrong, if the error concerns a single part.
    ///
    /// `nil` for structural errors such as ``Code/wrongPartCount`` or ``Code/targetTooLong``.
    public internal(set) var part: Part?

    /// The offending value in a display-safe form (truncated, non-printable scalars escaped).
    ///
    /// For errors about a single part this is the (percent-decoded) part itself, or the raw
    /// percent-encoded segment for ``Code/invalidPercentEncoding`` and ``Code/invalidUTF8``. For
    /// structural errors (``Code/emptyPart``, ``Code/wrongPartCount``, ``Code/targetTooLong``, …) it
    /// is the whole input, when one is available. For errors in the remaining service path of a REST
    /// request it is that raw path.
    public internal(set) var value: String?

    /// The offending Unicode scalar, for ``Code/invalidCharacter`` and ``Code/encodedSeparator``.
    public internal(set) var character: Unicode.Scalar?

    /// The 1-based position, counted in Unicode scalars, of the problem inside the raw (not yet
    /// display-escaped) ``value``, when it can be pinpointed.
    public internal(set) var position: Int?

    /// A count that explains the error: the number of parts found for ``Code/wrongPartCount``, or the
    /// length in UTF-8 bytes for ``Code/partTooLong`` and ``Code/targetTooLong``.
    public internal(set) var count: Int?

    /// The limit that was exceeded, in UTF-8 bytes, for ``Code/partTooLong`` and
    /// ``Code/targetTooLong``.
    public internal(set) var limit: Int?

    /// Creates an identifier error.
    ///
    /// The given `value` is made display-safe: it is truncated to ``maximumDisplayLength`` Unicode
    /// scalars and non-printable scalars are escaped.
    ///
    /// - parameters:
    ///     - code: What went wrong.
    ///     - kind: The kind of identifier that was being parsed.
    ///     - part: The identifier part that is wrong, if any.
    ///     - value: The offending value, unescaped; it is sanitised for display.
    ///     - character: The offending Unicode scalar, if any.
    ///     - position: The 1-based position of the problem inside `value`, in Unicode scalars.
    ///     - count: The number of parts found, or a length in UTF-8 bytes.
    ///     - limit: The limit that was exceeded, in UTF-8 bytes.
    public init(
        code: Code,
        kind: Kind,
        part: Part? = nil,
        value: String? = nil,
        character: Unicode.Scalar? = nil,
        position: Int? = nil,
        count: Int? = nil,
        limit: Int? = nil
    ) {
        self.code = code
        self.kind = kind
        self.part = part
        self.value = value.map { IdentifierError.displayForm(of: $0) }
        self.character = character
        self.position = position
        self.count = count
        self.limit = limit
    }

    /// A human readable explanation of the error.
    ///
    /// For example `invalid character "/" at position 3 in member code "ab/c" of subsystem id`.
    public var description: String {
        let partName = self.part?.description ?? "identifier"
        let quoted = self.value.map { " \"\($0)\"" } ?? ""
        let position = self.position.map { " at position \($0)" } ?? ""
        let kind = self.kind.description

        switch self.code.base {
        case .emptyPart:
            return "empty \(partName) in \(kind)\(quoted)"
        case .invalidCharacter:
            let character = self.character.map { " " + IdentifierError.displayForm(ofCharacter: $0) } ?? ""
            return "invalid character\(character)\(position) in \(partName)\(quoted) of \(kind)"
        case .partTooLong:
            let count = self.count.map { ": \($0) UTF-8 bytes" } ?? ""
            let limit = self.limit.map { ", the maximum is \($0)" } ?? ""
            return "\(partName)\(quoted) of \(kind) is too long\(count)\(limit)"
        case .wrongPartCount:
            let noun = self.kind == .restPath ? "identifier segment" : "part"
            let found = self.count.map { "has \($0) \(noun)\($0 == 1 ? "" : "s")" } ?? "has the wrong number of \(noun)s"
            return "\(kind)\(quoted) \(found), expected \(self.kind.expectedPartCount)"
        case .invalidPercentEncoding:
            return "invalid percent-encoding\(position) in \(partName)\(quoted) of \(kind)"
        case .invalidUTF8:
            return "percent-decoded \(partName)\(quoted) of \(kind) is not valid UTF-8"
        case .reservedCode:
            return "reserved value\(quoted) cannot be used as \(partName) of \(kind)"
        case .missingDatasetMarker:
            return
                "expected \"\(IdentifierSyntax.datasetMarker)\" as \(partName) of \(kind), found\(quoted.isEmpty ? " nothing" : quoted)"
        case .unsupportedProtocolVersion:
            return "unsupported protocol version\(quoted) in \(kind), only \"\(RESTProtocolVersion.r1)\" is supported"
        case .targetTooLong:
            let count = self.count.map { ": \($0) bytes" } ?? ""
            let limit = self.limit.map { ", the maximum is \($0)" } ?? ""
            return "\(partName) of \(kind) is too long\(count)\(limit)"
        case .malformedRequestTarget:
            return "malformed \(partName)\(quoted) of \(kind): it must start with \"/\""
        case .pathTraversal:
            return "path traversal (dot segment)\(position) in \(partName)\(quoted) of \(kind)"
        case .encodedSeparator:
            let character = self.character.map { " " + IdentifierError.displayForm(ofCharacter: $0) } ?? ""
            return "forbidden separator\(character)\(position) in \(partName)\(quoted) of \(kind)"
        }
    }
}

// MARK: - Code

extension IdentifierError {
    /// The reason an identifier was rejected.
    ///
    /// `Code` is an extensible set of values rather than an `enum`, so that new codes can be added
    /// without breaking source compatibility. Compare against the static members, for example
    /// `error.code == .invalidCharacter`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case emptyPart
            case invalidCharacter
            case partTooLong
            case wrongPartCount
            case invalidPercentEncoding
            case invalidUTF8
            case reservedCode
            case missingDatasetMarker
            case unsupportedProtocolVersion
            case targetTooLong
            case malformedRequestTarget
            case pathTraversal
            case encodedSeparator
        }

        let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// A part is empty, for example the member class in `VN//000.00.00.G22`.
        public static let emptyPart = Code(.emptyPart)

        /// A part contains a character outside `A-Z a-z 0-9 ' ( ) + , - . = ?`, or a request target
        /// contains a character that may not appear in it.
        public static let invalidCharacter = Code(.invalidCharacter)

        /// A part is longer than ``IdentifierSyntax/maximumPartLength`` UTF-8 bytes.
        public static let partTooLong = Code(.partTooLong)

        /// The identifier has too few or too many `/`-separated parts for its kind.
        public static let wrongPartCount = Code(.wrongPartCount)

        /// A `%` is not followed by two hexadecimal digits (`%G1`, `%4`, a trailing `%`).
        public static let invalidPercentEncoding = Code(.invalidPercentEncoding)

        /// A percent-encoded part decodes to bytes that are not valid UTF-8.
        public static let invalidUTF8 = Code(.invalidUTF8)

        /// A part uses a reserved value: `datasets` (in any letter case) as a subsystem or security
        /// server code, or a dot segment (`.` or `..`) as any part.
        public static let reservedCode = Code(.reservedCode)

        /// The fourth part of a dataset id is not the literal `datasets`.
        public static let missingDatasetMarker = Code(.missingDatasetMarker)

        /// The protocol version of a REST request path is not `r1`.
        public static let unsupportedProtocolVersion = Code(.unsupportedProtocolVersion)

        /// A REST request target is longer than the configured limit.
        public static let targetTooLong = Code(.targetTooLong)

        /// A REST request target does not start with `/` (for example an absolute URI or `*`).
        public static let malformedRequestTarget = Code(.malformedRequestTarget)

        /// A segment of a REST request path is a dot segment (`.` or `..`) after percent-decoding.
        public static let pathTraversal = Code(.pathTraversal)

        /// The remaining path of a REST request contains an encoded slash (`%2F`) or a backslash
        /// (raw `\` or `%5C`).
        public static let encodedSeparator = Code(.encodedSeparator)

        /// The name of the code, for example `invalidCharacter`.
        public var description: String {
            self.base.rawValue
        }
    }
}

// MARK: - Kind

extension IdentifierError {
    /// The kind of identifier that was being parsed when an ``IdentifierError`` occurred.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case member = "member id"
            case subsystem = "subsystem id"
            case service = "service id"
            case securityServer = "security server id"
            case dataset = "dataset id"
            case client = "client id"
            case restPath = "REST request path"
        }

        let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// A ``MemberId``.
        public static let member = Kind(.member)
        /// A ``SubsystemId``.
        public static let subsystem = Kind(.subsystem)
        /// A ``ServiceId``.
        public static let service = Kind(.service)
        /// A ``SecurityServerId``.
        public static let securityServer = Kind(.securityServer)
        /// A ``DatasetId``.
        public static let dataset = Kind(.dataset)
        /// A ``ClientId`` (the `X-Road-Client` header).
        public static let client = Kind(.client)
        /// A REST request target parsed by ``RESTServicePath``.
        public static let restPath = Kind(.restPath)

        /// The name of the kind as used in messages, for example `subsystem id`.
        public var description: String {
            self.base.rawValue
        }

        /// The number of parts this kind expects, as used in messages.
        var expectedPartCount: String {
            switch self.base {
            case .member: return "3"
            case .subsystem: return "4"
            case .service: return "5 or 6"
            case .securityServer: return "4"
            case .dataset: return "5"
            case .client: return "3 or 4"
            case .restPath: return "5 after the protocol version"
            }
        }
    }
}

// MARK: - Part

extension IdentifierError {
    /// The name of an identifier part (or of a piece of a REST request target).
    public struct Part: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case instance = "instance"
            case memberClass = "member class"
            case memberCode = "member code"
            case subsystemCode = "subsystem code"
            case serviceCode = "service code"
            case serviceVersion = "service version"
            case serverCode = "security server code"
            case datasetMarker = "4th part"
            case datasetCode = "dataset code"
            case protocolVersion = "protocol version"
            case requestTarget = "request target"
            case servicePath = "service path"
        }

        let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The X-Road instance, for example `VN`.
        public static let instance = Part(.instance)
        /// The member class, for example `GOV`.
        public static let memberClass = Part(.memberClass)
        /// The member code, for example `000.00.00.G22`.
        public static let memberCode = Part(.memberCode)
        /// The subsystem code, for example `DANCU`.
        public static let subsystemCode = Part(.subsystemCode)
        /// The service code, for example `tra-cuu-cong-dan`.
        public static let serviceCode = Part(.serviceCode)
        /// The optional service version, for example `v1`.
        public static let serviceVersion = Part(.serviceVersion)
        /// The security server code, for example `ss1`.
        public static let serverCode = Part(.serverCode)
        /// The literal `datasets` marker, the 4th part of a dataset id.
        public static let datasetMarker = Part(.datasetMarker)
        /// The dataset code, for example `dan-cu`.
        public static let datasetCode = Part(.datasetCode)
        /// The protocol version segment of a REST request path, for example `r1`.
        public static let protocolVersion = Part(.protocolVersion)
        /// A whole REST request target.
        public static let requestTarget = Part(.requestTarget)
        /// The remaining service path of a REST request, after the service id.
        public static let servicePath = Part(.servicePath)

        /// The name of the part as used in messages, for example `member code`.
        public var description: String {
            self.base.rawValue
        }
    }
}

// MARK: - Display helpers

extension IdentifierError {
    /// Returns `value` truncated to ``maximumDisplayLength`` Unicode scalars with non-printable
    /// scalars, `"` and `\` escaped.
    static func displayForm(of value: some StringProtocol) -> String {
        var result = ""
        var emitted = 0
        for scalar in value.unicodeScalars {
            if emitted == IdentifierError.maximumDisplayLength {
                result.append("…")
                break
            }
            emitted += 1
            switch scalar {
            case "\"":
                result.append("\\\"")
            case "\\":
                result.append("\\\\")
            default:
                if IdentifierError.isPrintable(scalar) {
                    result.unicodeScalars.append(scalar)
                } else {
                    result.append(IdentifierError.escaped(scalar))
                }
            }
        }
        return result
    }

    /// Returns a quoted, display-safe form of a single scalar, followed by its code point when it is
    /// not printable ASCII, for example `"/"` or `"ộ" (U+1ED9)`.
    static func displayForm(ofCharacter scalar: Unicode.Scalar) -> String {
        let isPrintableASCII = scalar.isASCII && IdentifierError.isPrintable(scalar)
        let shown: String
        switch scalar {
        case "\"":
            shown = "\\\""
        case "\\":
            shown = "\\\\"
        default:
            let standalonePrintable =
                IdentifierError.isPrintable(scalar)
                && !scalar.properties.isGraphemeExtend
                && scalar != " "
            shown = standalonePrintable ? String(scalar) : IdentifierError.escaped(scalar)
        }
        if isPrintableASCII && scalar != " " {
            return "\"\(shown)\""
        }
        return "\"\(shown)\" (\(IdentifierError.codePoint(scalar)))"
    }

    /// Whether a scalar can be shown as-is in a log line.
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " {
            return true
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
            .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }

    /// `\u{…}` escape of a scalar, in the style of Swift string literals.
    static func escaped(_ scalar: Unicode.Scalar) -> String {
        "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
    }

    /// `U+XXXX` notation of a scalar.
    static func codePoint(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
