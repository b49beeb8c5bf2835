import Foundation
import LienThongCore
import LienThongTrust

// A dedicated RFC 8785 writer and a strict pull parser for the global configuration.
//
// Foundation's JSONEncoder and JSONDecoder run at about 13 MB/s on Linux, so a national-scale
// document (26 MB) took 2 s to encode and 2 s to decode. These two types do the same work in a
// few tens of milliseconds. The writer emits the keys of every object in sorted order (written
// out by hand below, and checked byte for byte against `JSONEncoder` with `.sortedKeys` by the
// tests); the parser accepts any valid JSON for the document's shape and rejects unknown and
// duplicate keys.

/// Writes the canonical JSON (RFC 8785) of a ``GlobalConfiguration``.
struct GlobalConfigurationJSONWriter {
    private(set) var bytes: [UInt8] = []

    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    init(capacity: Int) {
        bytes.reserveCapacity(capacity)
    }

    // MARK: Primitives

    private mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func byte(_ value: UInt8) {
        bytes.append(value)
    }

    /// `"key":` — keys are plain ASCII and need no escaping.
    private mutating func key(_ name: StaticString) {
        byte(Self.quote)
        raw(name)
        byte(Self.quote)
        byte(UInt8(ascii: ":"))
    }

    private mutating func comma() {
        byte(UInt8(ascii: ","))
    }

    /// The string's UTF-8 with JCS escaping: `"` `\` and C0 controls; everything else literal.
    private mutating func escaped(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for i in 0..<utf8.count {
                let b = utf8[i]
                if b >= 0x20 && b != Self.quote && b != Self.backslash { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                byte(Self.backslash)
                switch b {
                case Self.quote: byte(Self.quote)
                case Self.backslash: byte(Self.backslash)
                case 0x08: byte(UInt8(ascii: "b"))
                case 0x0C: byte(UInt8(ascii: "f"))
                case 0x0A: byte(UInt8(ascii: "n"))
                case 0x0D: byte(UInt8(ascii: "r"))
                case 0x09: byte(UInt8(ascii: "t"))
                default:
                    raw("u00")
                    byte(Self.hexDigits[Int(b >> 4)])
                    byte(Self.hexDigits[Int(b & 0x0F)])
                }
                start = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
    }

    private mutating func string(_ value: String) {
        byte(Self.quote)
        escaped(value)
        byte(Self.quote)
    }

    private mutating func integer(_ value: Int64) {
        if value == 0 {
            byte(UInt8(ascii: "0"))
            return
        }
        var digits: [UInt8] = []
        var magnitude = value.magnitude
        while magnitude > 0 {
            digits.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        }
        if value < 0 { byte(UInt8(ascii: "-")) }
        bytes.append(contentsOf: digits.reversed())
    }

    private mutating func bool(_ value: Bool) {
        if value { raw("true") } else { raw("false") }
    }

    private mutating func date(_ value: Date) {
        string(GlobalConfigurationTime.format(value))
    }

    private mutating func array<Element>(_ elements: [Element], _ write: (inout Self, Element) -> Void) {
        byte(UInt8(ascii: "["))
        for (i, element) in elements.enumerated() {
            if i > 0 { comma() }
            write(&self, element)
        }
        byte(UInt8(ascii: "]"))
    }

    // MARK: Identifiers: their canonical form, parts joined by `/`

    private mutating func memberParts(_ id: MemberId) {
        escaped(id.instance)
        byte(UInt8(ascii: "/"))
        escaped(id.memberClass)
        byte(UInt8(ascii: "/"))
        escaped(id.memberCode)
    }

    private mutating func subsystemParts(_ id: SubsystemId) {
        memberParts(id.member)
        byte(UInt8(ascii: "/"))
        escaped(id.subsystemCode)
    }

    private mutating func id(_ id: MemberId) {
        byte(Self.quote)
        memberParts(id)
        byte(Self.quote)
    }

    private mutating func id(_ id: SubsystemId) {
        byte(Self.quote)
        subsystemParts(id)
        byte(Self.quote)
    }

    private mutating func id(_ id: ServiceId) {
        byte(Self.quote)
        subsystemParts(id.subsystem)
        byte(UInt8(ascii: "/"))
        escaped(id.serviceCode)
        if let version = id.serviceVersion {
            byte(UInt8(ascii: "/"))
            escaped(version)
        }
        byte(Self.quote)
    }

    private mutating func id(_ id: SecurityServerId) {
        byte(Self.quote)
        memberParts(id.owner)
        byte(UInt8(ascii: "/"))
        escaped(id.serverCode)
        byte(Self.quote)
    }

    private mutating func id(_ id: DatasetId) {
        byte(Self.quote)
        memberParts(id.owner)
        byte(UInt8(ascii: "/"))
        escaped(IdentifierSyntax.datasetMarker)
        byte(UInt8(ascii: "/"))
        escaped(id.datasetCode)
        byte(Self.quote)
    }

    // MARK: The document, keys in sorted order

    mutating func write(_ d: GlobalConfiguration) {
        byte(UInt8(ascii: "{"))
        key("agreements"); array(d.agreements) { $0.write($1) }; comma()
        key("approved_cas"); array(d.approvedCAs) { $0.write($1) }; comma()
        if !d.dataPlaneActors.isEmpty {
            key("data_plane_actors"); write(d.dataPlaneActors); comma()
        }
        key("datasets"); array(d.datasets) { $0.write($1) }; comma()
        key("expires_at"); date(d.expiresAt); comma()
        key("format_version"); integer(Int64(d.formatVersion)); comma()
        key("generated_at"); date(d.generatedAt); comma()
        key("instance"); string(d.instance); comma()
        key("members"); array(d.members) { $0.write($1) }; comma()
        key("policy"); write(d.policy); comma()
        key("serial"); integer(d.serial); comma()
        key("servers"); array(d.servers) { $0.write($1) }; comma()
        key("services"); array(d.services) { $0.write($1) }; comma()
        key("subsystems"); array(d.subsystems) { $0.write($1) }
        byte(UInt8(ascii: "}"))
    }

    private mutating func write(_ a: GlobalConfiguration.AgreementEntry) {
        byte(UInt8(ascii: "{"))
        key("consumer"); id(a.consumer); comma()
        key("dataset"); id(a.dataset); comma()
        if let endpoints = a.endpoints {
            key("endpoints"); array(endpoints) { $0.write($1) }; comma()
        }
        key("id"); string(a.id); comma()
        key("purposes"); array(a.purposes) { $0.string($1) }; comma()
        key("services"); array(a.services) { $0.id($1) }; comma()
        key("valid_from"); date(a.validFrom); comma()
        key("valid_until"); date(a.validUntil)
        byte(UInt8(ascii: "}"))
    }

    private mutating func write(_ actors: GlobalConfiguration.DataPlaneActors) {
        byte(UInt8(ascii: "{"))
        key("auditor_certificates_sha256"); array(actors.auditorCertificatesSHA256) { $0.string($1) }; comma()
        key("member_operators"); array(actors.memberOperators) { $0.write($1) }
        byte(UInt8(ascii: "}"))
    }

    private mutating func write(_ operators: GlobalConfiguration.MemberOperators) {
        byte(UInt8(ascii: "{"))
        key("certificates_sha256"); array(operators.certificatesSHA256) { $0.string($1) }; comma()
        key("member"); id(operators.member)
        byte(UInt8(ascii: "}"))
    }

    private mutating func write(_ endpoint: ServiceEndpoint) {
        byte(UInt8(ascii: "{"))
        key("method"); string(endpoint.method); comma()
        key("path"); string(endpoint.path)
        byte(UInt8(ascii: "}"))
    }

    private mutating func write(_ ca: GlobalConfiguration.ApprovedCA) {
        byte(UInt8(ascii: "{"))
        key("certificate"); string(ca.certificate)
        if let url = ca.ocspURL {
            comma()
            key("ocsp_url"); string(url)
        }
        if let profile = ca.profile {
            comma()
            key("profile"); write(profile)
        }
        byte(UInt8(ascii: "}"))
    }

    private mutating func write(_ profile: CertificateProfile) {
        let rule = profile.memberId
        byte(UInt8(ascii: "{"))
        key("member_id"); byte(UInt8(ascii: "{"))
        key("attribute"); string(rule.attribute.rawValue); comma()
        key("form"); string(rule.form.rawValue)
        if let instance = rule.instance { comma(); key("instance"); string(instance) }
        if let memberClass = rule.memberClass { comma(); key("member_class"); string(memberClass) }
        byte(UInt8(ascii: "}")); comma()
        key("roles"); string(profile.roles.rawValue)
        byte(UInt8(ascii: "}"))
    }

    private mutating func write(_ d: GlobalConfiguration.DatasetEntry) {
        byte(UInt8(ascii: "{"))
        key("classification"); string(d.classification.rawValue); comma()
        key("id"); id(d.id); comma()
        key("personal_data"); bool(d.personalData); comma()
        key("services"); array(d.services) { $0.id($1) }
        byte(UInt8(ascii: "}"))
    }

    private mutating func write(_ m: GlobalConfiguration.MemberEntry) {
        byte(UInt8(ascii: "{"))
        key("disabled"); bool(m.disabled); comma()
        key("id"); id(m.id); comma()
        key("kind"); string(m.kind.rawValue); comma()
        key("name"); string(m.name)
        byte(UInt8(ascii: "}"))
    }

    private mutating func write(_ p: GlobalConfiguration.Policy) {
        byte(UInt8(ascii: "{"))
        key("checkpoint_interval_seconds"); integer(Int64(p.checkpointIntervalSeconds)); comma()
        key("configuration_validity_seconds"); integer(Int64(p.configurationValiditySeconds)); comma()
        key("ocsp_freshness_seconds"); integer(Int64(p.ocspFreshnessSeconds))
        byte(UInt8(ascii: "}"))
    }

    private mutating func write(_ s: GlobalConfiguration.ServerEntry) {
        byte(UInt8(ascii: "{"))
        key("address"); string(s.address); comma()
        key("id"); id(s.id); comma()
        key("tls_certificate_sha256"); string(s.tlsCertificateSHA256)
        byte(UInt8(ascii: "}"))
    }

    private mutating func write(_ s: GlobalConfiguration.ServiceEntry) {
        byte(UInt8(ascii: "{"))
        key("enabled"); bool(s.enabled); comma()
        key("endpoints"); array(s.endpoints) { $0.write($1) }; comma()
        key("id"); id(s.id)
        byte(UInt8(ascii: "}"))
    }

    private mutating func write(_ s: GlobalConfiguration.SubsystemEntry) {
        byte(UInt8(ascii: "{"))
        key("id"); id(s.id)
        byte(UInt8(ascii: "}"))
    }
}

/// A strict JSON pull parser over UTF-8 bytes (RFC 8259), decoding a ``GlobalConfiguration``.
///
/// It accepts insignificant whitespace and any valid string escapes; it rejects unknown keys,
/// duplicate keys, missing keys, `null`, non-integer numbers, invalid UTF-8, and trailing data.
struct GlobalConfigurationJSONReader {
    /// Why the input was rejected, with the byte offset.
    struct Failure: Error, CustomStringConvertible {
        var message: String
        var offset: Int
        var description: String { "\(message) (at byte \(offset))" }
    }

    private let input: UnsafeBufferPointer<UInt8>
    private var position = 0

    private init(_ input: UnsafeBufferPointer<UInt8>) {
        self.input = input
    }

    /// Decodes a document.
    static func decode(_ bytes: some Collection<UInt8>) throws(GlobalConfigurationError) -> GlobalConfiguration {
        let array = Array(bytes)
        let result: Result<GlobalConfiguration, Failure> = array.withUnsafeBufferPointer { buffer in
            var reader = GlobalConfigurationJSONReader(buffer)
            do {
                let document = try reader.document()
                reader.skipWhitespace()
                guard reader.position == buffer.count else { throw reader.failure("data after the document") }
                return .success(document)
            } catch let failure as Failure {
                return .failure(failure)
            } catch {
                return .failure(Failure(message: "\(error)", offset: reader.position))
            }
        }
        switch result {
        case .success(let document):
            guard document.formatVersion == GlobalConfiguration.currentFormatVersion else {
                throw unsupported(document.formatVersion)
            }
            return document
        case .failure(let failure):
            // A later format may change any field: report the version, not the first mismatch.
            if let version = probeFormatVersion(array), version != GlobalConfiguration.currentFormatVersion {
                throw unsupported(version)
            }
            throw GlobalConfigurationError(.malformed, "the global configuration is not a valid document: \(failure)")
        }
    }

    private static func unsupported(_ version: Int) -> GlobalConfigurationError {
        GlobalConfigurationError(
            .unsupportedVersion,
            "global configuration format_version \(version) is not supported (this code reads \(GlobalConfiguration.currentFormatVersion))")
    }

    /// The top-level `format_version`, if the input is an object that has an integer one.
    private static func probeFormatVersion(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = GlobalConfigurationJSONReader(buffer)
            var version: Int?
            try? reader.object { reader, key in
                if key == "format_version" {
                    version = Int(try reader.integer())
                } else {
                    try reader.skipValue()
                }
            }
            return version
        }
    }

    // MARK: Lexing

    private func failure(_ message: String) -> Failure {
        Failure(message: message, offset: position)
    }

    mutating func skipWhitespace() {
        while position < input.count {
            switch input[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        if position < input.count && input[position] == byte {
            position += 1
            return true
        }
        return false
    }

    private mutating func expect(_ byte: UInt8) throws(Failure) {
        guard consume(byte) else { throw failure("expected '\(Character(Unicode.Scalar(byte)))'") }
    }

    private mutating func literal(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard position + count <= input.count else { return false }
        let matches = text.withUTF8Buffer { expected in
            (0..<count).allSatisfy { input[position + $0] == expected[$0] }
        }
        if matches { position += count }
        return matches
    }

    mutating func string() throws(Failure) -> String {
        try expect(UInt8(ascii: "\""))
        let start = position
        var escapes = false
        while true {
            guard position < input.count else { throw failure("unterminated string") }
            let b = input[position]
            if b == UInt8(ascii: "\"") { break }
            if b < 0x20 { throw failure("unescaped control character in a string") }
            if b == UInt8(ascii: "\\") {
                escapes = true
                position += 2
            } else {
                position += 1
            }
        }
        let end = position
        position += 1
        if !escapes {
            guard let text = String(validating: UnsafeBufferPointer(rebasing: input[start..<end]), as: UTF8.self) else {
                throw Failure(message: "a string is not valid UTF-8", offset: start)
            }
            return text
        }
        return try unescape(start, end)
    }

    private func unescape(_ start: Int, _ end: Int) throws(Failure) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(end - start)
        var i = start
        func hex4(_ at: Int) throws(Failure) -> UInt32 {
            guard at + 4 <= end else { throw Failure(message: "truncated \\u escape", offset: at) }
            var value: UInt32 = 0
            for j in at..<at + 4 {
                let c = input[j]
                let digit: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw Failure(message: "bad \\u escape", offset: j)
                }
                value = value << 4 | digit
            }
            return value
        }
        while i < end {
            let b = input[i]
            guard b == UInt8(ascii: "\\") else {
                out.append(b)
                i += 1
                continue
            }
            guard i + 1 < end else { throw Failure(message: "truncated escape", offset: i) }
            let e = input[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(i)
                i += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 6 <= end, input[i] == UInt8(ascii: "\\"), input[i + 1] == UInt8(ascii: "u") else {
                        throw Failure(message: "unpaired surrogate", offset: i)
                    }
                    let low = try hex4(i + 2)
                    guard (0xDC00...0xDFFF).contains(low) else { throw Failure(message: "unpaired surrogate", offset: i) }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw Failure(message: "unpaired surrogate", offset: i) }
                out.append(contentsOf: Array(String(Character(unicode)).utf8))
            default:
                throw Failure(message: "bad escape", offset: i - 1)
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else {
            throw Failure(message: "a string is not valid UTF-8", offset: start)
        }
        return text
    }

    mutating func integer() throws(Failure) -> Int64 {
        skipWhitespace()
        let start = position
        let negative = position < input.count && input[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        let digitsStart = position
        var magnitude: UInt64 = 0
        while position < input.count, input[position] >= UInt8(ascii: "0"), input[position] <= UInt8(ascii: "9") {
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(input[position] - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw Failure(message: "integer out of range", offset: start) }
            magnitude = sum
            position += 1
        }
        let digits = position - digitsStart
        guard digits > 0 else { throw Failure(message: "expected an integer", offset: start) }
        guard digits == 1 || input[digitsStart] != UInt8(ascii: "0") else { throw Failure(message: "leading zero", offset: start) }
        if position < input.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(input[position]) {
            throw Failure(message: "only integers are allowed", offset: start)
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { throw Failure(message: "integer out of range", offset: start) }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { throw Failure(message: "integer out of range", offset: start) }
        return Int64(magnitude)
    }

    mutating func int() throws(Failure) -> Int {
        let value = try integer()
        guard let result = Int(exactly: value) else { throw failure("integer out of range") }
        return result
    }

    mutating func bool() throws(Failure) -> Bool {
        skipWhitespace()
        if literal("true") { return true }
        if literal("false") { return false }
        throw failure("expected true or false")
    }

    mutating func array(_ element: (inout Self) throws -> Void) throws {
        try expect(UInt8(ascii: "["))
        if consume(UInt8(ascii: "]")) { return }
        repeat {
            try element(&self)
        } while consume(UInt8(ascii: ","))
        try expect(UInt8(ascii: "]"))
    }

    mutating func list<Element>(_ element: (inout Self) throws -> Element) throws -> [Element] {
        var result: [Element] = []
        try array { result.append(try element(&$0)) }
        return result
    }

    /// Reads an object, calling `member` with each key; `member` must read the value.
    mutating func object(_ member: (inout Self, String) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        if consume(UInt8(ascii: "}")) { return }
        repeat {
            let key = try string()
            try expect(UInt8(ascii: ":"))
            try member(&self, key)
        } while consume(UInt8(ascii: ","))
        try expect(UInt8(ascii: "}"))
    }

    mutating func skipValue() throws {
        skipWhitespace()
        guard position < input.count else { throw failure("expected a value") }
        switch input[position] {
        case UInt8(ascii: "{"): try object { reader, _ in try reader.skipValue() }
        case UInt8(ascii: "["): try array { try $0.skipValue() }
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try bool()
        case UInt8(ascii: "n"):
            guard literal("null") else { throw failure("expected a value") }
        default: _ = try integer()
        }
    }

    // MARK: Fields

    /// Sets a field once; a second value for the same key is an error.
    private func set<Value>(_ slot: inout Value?, _ value: Value, _ key: String) throws(Failure) {
        guard slot == nil else { throw failure("duplicate key \"\(key)\"") }
        slot = value
    }

    private func required<Value>(_ slot: Value?, _ key: String, in object: String) throws(Failure) -> Value {
        guard let slot else { throw failure("\(object) has no \"\(key)\"") }
        return slot
    }

    private func unknown(_ key: String, in object: String) -> Failure {
        failure("unknown key \"\(key)\" in \(object)")
    }

    private mutating func identifier<Id: XRoadIdentifier>(_ type: Id.Type) throws -> Id {
        let start = position
        let text = try string()
        do {
            return try Id(parsing: text)
        } catch {
            throw Failure(message: "\"\(text)\": \(error)", offset: start)
        }
    }

    private mutating func date() throws -> Date {
        let start = position
        let text = try string()
        guard let date = GlobalConfigurationTime.parse(text) else {
            throw Failure(message: "\"\(text)\" is not a UTC timestamp YYYY-MM-DDTHH:MM:SSZ", offset: start)
        }
        return date
    }

    private mutating func enumeration<E: RawRepresentable>(_ type: E.Type) throws -> E where E.RawValue == String {
        let start = position
        let text = try string()
        guard let value = E(rawValue: text) else { throw Failure(message: "unknown \(E.self) \"\(text)\"", offset: start) }
        return value
    }

    // MARK: The document

    private mutating func document() throws -> GlobalConfiguration {
        var formatVersion: Int?, instance: String?, serial: Int64?, generatedAt: Date?, expiresAt: Date?
        var approvedCAs: [GlobalConfiguration.ApprovedCA]?, members: [GlobalConfiguration.MemberEntry]?
        var subsystems: [GlobalConfiguration.SubsystemEntry]?, servers: [GlobalConfiguration.ServerEntry]?
        var services: [GlobalConfiguration.ServiceEntry]?, datasets: [GlobalConfiguration.DatasetEntry]?
        var agreements: [GlobalConfiguration.AgreementEntry]?, policy: GlobalConfiguration.Policy?
        var dataPlaneActors: GlobalConfiguration.DataPlaneActors?
        try object { r, key in
            switch key {
            case "format_version": try r.set(&formatVersion, try r.int(), key)
            case "instance": try r.set(&instance, try r.string(), key)
            case "serial": try r.set(&serial, try r.integer(), key)
            case "generated_at": try r.set(&generatedAt, try r.date(), key)
            case "expires_at": try r.set(&expiresAt, try r.date(), key)
            case "approved_cas": try r.set(&approvedCAs, try r.list { try $0.approvedCA() }, key)
            case "members": try r.set(&members, try r.list { try $0.member() }, key)
            case "subsystems": try r.set(&subsystems, try r.list { try $0.subsystem() }, key)
            case "servers": try r.set(&servers, try r.list { try $0.server() }, key)
            case "services": try r.set(&services, try r.list { try $0.service() }, key)
            case "datasets": try r.set(&datasets, try r.list { try $0.dataset() }, key)
            case "agreements": try r.set(&agreements, try r.list { try $0.agreement() }, key)
            case "policy": try r.set(&policy, try r.policy(), key)
            case "data_plane_actors": try r.set(&dataPlaneActors, try r.dataPlaneActors(), key)
            default: throw r.unknown(key, in: "the document")
            }
        }
        let name = "the document"
        return GlobalConfiguration(
            formatVersion: try required(formatVersion, "format_version", in: name),
            instance: try required(instance, "instance", in: name),
            serial: try required(serial, "serial", in: name),
            generatedAt: try required(generatedAt, "generated_at", in: name),
            expiresAt: try required(expiresAt, "expires_at", in: name),
            approvedCAs: try required(approvedCAs, "approved_cas", in: name),
            members: try required(members, "members", in: name),
            subsystems: try required(subsystems, "subsystems", in: name),
            servers: try required(servers, "servers", in: name),
            services: try required(services, "services", in: name),
            datasets: try required(datasets, "datasets", in: name),
            agreements: try required(agreements, "agreements", in: name),
            policy: try required(policy, "policy", in: name),
            dataPlaneActors: dataPlaneActors ?? GlobalConfiguration.DataPlaneActors())
    }

    /// `data_plane_actors`: both keys required, hashes 64 lower-case hex digits.
    private mutating func dataPlaneActors() throws -> GlobalConfiguration.DataPlaneActors {
        let name = "data_plane_actors"
        var auditors: [String]?, operators: [GlobalConfiguration.MemberOperators]?
        try object { r, key in
            switch key {
            case "auditor_certificates_sha256": try r.set(&auditors, try r.list { try $0.certificateHash() }, key)
            case "member_operators": try r.set(&operators, try r.list { try $0.memberOperators() }, key)
            default: throw r.unknown(key, in: name)
            }
        }
        return GlobalConfiguration.DataPlaneActors(
            auditorCertificatesSHA256: try required(auditors, "auditor_certificates_sha256", in: name),
            memberOperators: try required(operators, "member_operators", in: name))
    }

    private mutating func memberOperators() throws -> GlobalConfiguration.MemberOperators {
        let name = "a member's operators"
        var member: MemberId?, hashes: [String]?
        try object { r, key in
            switch key {
            case "member": try r.set(&member, try r.identifier(MemberId.self), key)
            case "certificates_sha256": try r.set(&hashes, try r.list { try $0.certificateHash() }, key)
            default: throw r.unknown(key, in: name)
            }
        }
        return GlobalConfiguration.MemberOperators(member: try required(member, "member", in: name),
                                                   certificatesSHA256: try required(hashes, "certificates_sha256", in: name))
    }

    /// A certificate hash: exactly 64 lower-case hex digits.
    private mutating func certificateHash() throws -> String {
        let text = try string()
        guard text.utf8.count == 64, text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw failure("a certificate hash must be 64 lower-case hex digits")
        }
        return text
    }

    private mutating func approvedCA() throws -> GlobalConfiguration.ApprovedCA {
        var certificate: String?, ocspURL: String?, profile: CertificateProfile?
        try object { r, key in
            switch key {
            case "certificate": try r.set(&certificate, try r.string(), key)
            case "ocsp_url": try r.set(&ocspURL, try r.string(), key)
            case "profile": try r.set(&profile, try r.certificateProfile(), key)
            default: throw r.unknown(key, in: "an approved CA")
            }
        }
        return GlobalConfiguration.ApprovedCA(certificate: try required(certificate, "certificate", in: "an approved CA"), ocspURL: ocspURL,
                                              profile: profile)
    }

    private mutating func certificateProfile() throws -> CertificateProfile {
        var rule: CertificateProfile.MemberIdRule?, roles: CertificateProfile.Roles?
        try object { r, key in
            switch key {
            case "member_id": try r.set(&rule, try r.memberIdRule(), key)
            case "roles": try r.set(&roles, try r.enumeration(CertificateProfile.Roles.self), key)
            default: throw r.unknown(key, in: "a certificate profile")
            }
        }
        return CertificateProfile(memberId: try required(rule, "member_id", in: "a certificate profile"),
                                  roles: try required(roles, "roles", in: "a certificate profile"))
    }

    private mutating func memberIdRule() throws -> CertificateProfile.MemberIdRule {
        let start = position
        var attribute: CertificateProfile.SubjectAttribute?, form: CertificateProfile.MemberIdRule.Form?
        var instance: String?, memberClass: String?
        try object { r, key in
            switch key {
            case "attribute": try r.set(&attribute, try r.enumeration(CertificateProfile.SubjectAttribute.self), key)
            case "form": try r.set(&form, try r.enumeration(CertificateProfile.MemberIdRule.Form.self), key)
            case "instance": try r.set(&instance, try r.string(), key)
            case "member_class": try r.set(&memberClass, try r.string(), key)
            default: throw r.unknown(key, in: "a certificate profile's member_id")
            }
        }
        let rule = CertificateProfile.MemberIdRule(attribute: try required(attribute, "attribute", in: "a member_id rule"),
                                                   form: try required(form, "form", in: "a member_id rule"),
                                                   instance: instance, memberClass: memberClass)
        if let problem = rule.validationProblem { throw Failure(message: problem, offset: start) }
        return rule
    }

    private mutating func member() throws -> GlobalConfiguration.MemberEntry {
        var id: MemberId?, name: String?, kind: MemberKind?, disabled: Bool?
        try object { r, key in
            switch key {
            case "id": try r.set(&id, try r.identifier(MemberId.self), key)
            case "name": try r.set(&name, try r.string(), key)
            case "kind": try r.set(&kind, try r.enumeration(MemberKind.self), key)
            case "disabled": try r.set(&disabled, try r.bool(), key)
            default: throw r.unknown(key, in: "a member")
            }
        }
        return GlobalConfiguration.MemberEntry(
            id: try required(id, "id", in: "a member"), name: try required(name, "name", in: "a member"),
            kind: try required(kind, "kind", in: "a member"), disabled: try required(disabled, "disabled", in: "a member"))
    }

    private mutating func subsystem() throws -> GlobalConfiguration.SubsystemEntry {
        var id: SubsystemId?
        try object { r, key in
            guard key == "id" else { throw r.unknown(key, in: "a subsystem") }
            try r.set(&id, try r.identifier(SubsystemId.self), key)
        }
        return GlobalConfiguration.SubsystemEntry(id: try required(id, "id", in: "a subsystem"))
    }

    private mutating func server() throws -> GlobalConfiguration.ServerEntry {
        var id: SecurityServerId?, address: String?, pin: String?
        try object { r, key in
            switch key {
            case "id": try r.set(&id, try r.identifier(SecurityServerId.self), key)
            case "address": try r.set(&address, try r.string(), key)
            case "tls_certificate_sha256": try r.set(&pin, try r.string(), key)
            default: throw r.unknown(key, in: "a server")
            }
        }
        return GlobalConfiguration.ServerEntry(
            id: try required(id, "id", in: "a server"), address: try required(address, "address", in: "a server"),
            tlsCertificateSHA256: try required(pin, "tls_certificate_sha256", in: "a server"))
    }

    private mutating func service() throws -> GlobalConfiguration.ServiceEntry {
        var id: ServiceId?, enabled: Bool?, endpoints: [ServiceEndpoint]?
        try object { r, key in
            switch key {
            case "id": try r.set(&id, try r.identifier(ServiceId.self), key)
            case "enabled": try r.set(&enabled, try r.bool(), key)
            case "endpoints": try r.set(&endpoints, try r.list { try $0.endpoint() }, key)
            default: throw r.unknown(key, in: "a service")
            }
        }
        return GlobalConfiguration.ServiceEntry(
            id: try required(id, "id", in: "a service"), enabled: try required(enabled, "enabled", in: "a service"),
            endpoints: try required(endpoints, "endpoints", in: "a service"))
    }

    private mutating func endpoint() throws -> ServiceEndpoint {
        var method: String?, path: String?
        try object { r, key in
            switch key {
            case "method": try r.set(&method, try r.string(), key)
            case "path": try r.set(&path, try r.string(), key)
            default: throw r.unknown(key, in: "an endpoint")
            }
        }
        return ServiceEndpoint(method: try required(method, "method", in: "an endpoint"), path: try required(path, "path", in: "an endpoint"))
    }

    private mutating func dataset() throws -> GlobalConfiguration.DatasetEntry {
        var id: DatasetId?, classification: DataClassification?, personalData: Bool?, services: [ServiceId]?
        try object { r, key in
            switch key {
            case "id": try r.set(&id, try r.identifier(DatasetId.self), key)
            case "classification": try r.set(&classification, try r.enumeration(DataClassification.self), key)
            case "personal_data": try r.set(&personalData, try r.bool(), key)
            case "services": try r.set(&services, try r.list { try $0.identifier(ServiceId.self) }, key)
            default: throw r.unknown(key, in: "a dataset")
            }
        }
        return GlobalConfiguration.DatasetEntry(
            id: try required(id, "id", in: "a dataset"), classification: try required(classification, "classification", in: "a dataset"),
            personalData: try required(personalData, "personal_data", in: "a dataset"),
            services: try required(services, "services", in: "a dataset"))
    }

    private mutating func agreement() throws -> GlobalConfiguration.AgreementEntry {
        var id: String?, dataset: DatasetId?, services: [ServiceId]?, consumer: SubsystemId?
        var purposes: [String]?, validFrom: Date?, validUntil: Date?, endpoints: [ServiceEndpoint]?
        try object { r, key in
            switch key {
            case "id": try r.set(&id, try r.string(), key)
            case "dataset": try r.set(&dataset, try r.identifier(DatasetId.self), key)
            case "services": try r.set(&services, try r.list { try $0.identifier(ServiceId.self) }, key)
            case "consumer": try r.set(&consumer, try r.identifier(SubsystemId.self), key)
            case "purposes": try r.set(&purposes, try r.list { try $0.string() }, key)
            case "valid_from": try r.set(&validFrom, try r.date(), key)
            case "valid_until": try r.set(&validUntil, try r.date(), key)
            case "endpoints": try r.set(&endpoints, try r.list { try $0.endpoint() }, key)
            default: throw r.unknown(key, in: "an agreement")
            }
        }
        let name = "an agreement"
        return GlobalConfiguration.AgreementEntry(
            id: try required(id, "id", in: name), dataset: try required(dataset, "dataset", in: name),
            services: try required(services, "services", in: name), consumer: try required(consumer, "consumer", in: name),
            purposes: try required(purposes, "purposes", in: name), validFrom: try required(validFrom, "valid_from", in: name),
            validUntil: try required(validUntil, "valid_until", in: name), endpoints: endpoints)
    }

    private mutating func policy() throws -> GlobalConfiguration.Policy {
        var ocsp: Int?, validity: Int?, checkpoint: Int?
        try object { r, key in
            switch key {
            case "ocsp_freshness_seconds": try r.set(&ocsp, try r.int(), key)
            case "configuration_validity_seconds": try r.set(&validity, try r.int(), key)
            case "checkpoint_interval_seconds": try r.set(&checkpoint, try r.int(), key)
            default: throw r.unknown(key, in: "the policy")
            }
        }
        return GlobalConfiguration.Policy(
            ocspFreshnessSeconds: try required(ocsp, "ocsp_freshness_seconds", in: "the policy"),
            configurationValiditySeconds: try required(validity, "configuration_validity_seconds", in: "the policy"),
            checkpointIntervalSeconds: try required(checkpoint, "checkpoint_interval_seconds", in: "the policy"))
    }
}
