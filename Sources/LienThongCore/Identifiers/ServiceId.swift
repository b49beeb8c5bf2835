/// The identifier of a service: `INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]`.
///
/// A service is provided by a subsystem, for example the citizen look-up of the population
/// database: `VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan`, or with a version,
/// `VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1`.
///
/// The version exists only in the textual forms of the identifier (canonical and percent-encoded).
/// The REST URL form `/r1/{instance}/{class}/{member}/{subsystem}/{service}/…` carries no version:
/// whatever follows the service code is the path passed to the service (see
/// ``RESTServicePath``).
public struct ServiceId: XRoadIdentifier {
    /// The subsystem that provides the service.
    public let subsystem: SubsystemId

    /// The service code, for example `tra-cuu-cong-dan`.
    public let serviceCode: String

    /// The optional service version, for example `v1`.
    public let serviceVersion: String?

    /// Creates a service id, validating the service code and version.
    ///
    /// - parameters:
    ///     - subsystem: The subsystem that provides the service.
    ///     - serviceCode: The service code, for example `tra-cuu-cong-dan`.
    ///     - serviceVersion: The service version, for example `v1`, or `nil` for none. An empty
    ///       string is not the same as `nil`: it is rejected.
    /// - throws: An ``IdentifierError`` naming the first invalid part.
    public init(subsystem: SubsystemId, serviceCode: String, serviceVersion: String? = nil) throws(IdentifierError) {
        try self.init(subsystem: subsystem, serviceCode: serviceCode, serviceVersion: serviceVersion, kind: .service)
    }

    /// Creates a service id from its parts, validating each of them.
    ///
    /// - parameters:
    ///     - instance: The X-Road instance, for example `VN`.
    ///     - memberClass: The member class, for example `GOV`.
    ///     - memberCode: The member code, for example `000.00.00.G22`.
    ///     - subsystemCode: The subsystem code, for example `DANCU`.
    ///     - serviceCode: The service code, for example `tra-cuu-cong-dan`.
    ///     - serviceVersion: The service version, for example `v1`, or `nil` for none.
    /// - throws: An ``IdentifierError`` naming the first invalid part.
    public init(
        instance: String,
        memberClass: String,
        memberCode: String,
        subsystemCode: String,
        serviceCode: String,
        serviceVersion: String? = nil
    ) throws(IdentifierError) {
        let subsystem = try SubsystemId(
            instance: instance,
            memberClass: memberClass,
            memberCode: memberCode,
            subsystemCode: subsystemCode,
            kind: .service
        )
        try self.init(subsystem: subsystem, serviceCode: serviceCode, serviceVersion: serviceVersion, kind: .service)
    }

    /// Validating initialiser that reports errors as part of `kind`.
    init(
        subsystem: SubsystemId,
        serviceCode: String,
        serviceVersion: String?,
        kind: IdentifierError.Kind
    ) throws(IdentifierError) {
        try IdentifierParsing.validate(serviceCode, as: .serviceCode, in: kind)
        if let serviceVersion {
            try IdentifierParsing.validate(serviceVersion, as: .serviceVersion, in: kind)
        }
        self.init(uncheckedSubsystem: subsystem, serviceCode: serviceCode, serviceVersion: serviceVersion)
    }

    /// Creates a service id from parts that are already valid.
    init(uncheckedSubsystem subsystem: SubsystemId, serviceCode: String, serviceVersion: String?) {
        self.subsystem = subsystem
        self.serviceCode = serviceCode
        self.serviceVersion = serviceVersion
    }

    /// Builds a service id from five or six raw segments.
    init(
        segments: [Substring],
        percentEncoded: Bool,
        kind: IdentifierError.Kind,
        input: String
    ) throws(IdentifierError) {
        let subsystem = try SubsystemId(segments: segments, percentEncoded: percentEncoded, kind: kind, input: input)
        let serviceCode = try IdentifierParsing.part(
            segments[4], as: .serviceCode, in: kind, percentEncoded: percentEncoded, input: input)
        var serviceVersion: String? = nil
        if segments.count > 5 {
            serviceVersion = try IdentifierParsing.part(
                segments[5], as: .serviceVersion, in: kind, percentEncoded: percentEncoded, input: input)
        }
        self.init(uncheckedSubsystem: subsystem, serviceCode: serviceCode, serviceVersion: serviceVersion)
    }

    /// Parses the canonical form `INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]`.
    ///
    /// - parameters:
    ///     - text: The canonical form, for example `VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1`.
    /// - throws: An ``IdentifierError`` if `text` does not have five or six valid parts.
    public init(parsing text: String) throws(IdentifierError) {
        let segments = try IdentifierParsing.split(text, kind: .service, partCounts: 5...6)
        try self.init(segments: segments, percentEncoded: false, kind: .service, input: text)
    }

    /// Parses the percent-encoded form `INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]`.
    ///
    /// This is the textual identifier form (as used in the `X-Road-Service` header); a sixth segment
    /// is the service version. To parse a REST request URL, where segments after the service code
    /// are the service path, use ``RESTServicePath`` instead.
    ///
    /// - parameters:
    ///     - percentEncoded: The percent-encoded form.
    /// - throws: An ``IdentifierError`` if the text does not have five or six valid parts.
    public init(percentEncoded: String) throws(IdentifierError) {
        let segments = try IdentifierParsing.split(percentEncoded, kind: .service, partCounts: 5...6)
        try self.init(segments: segments, percentEncoded: true, kind: .service, input: percentEncoded)
    }

    /// Decodes a service id from a single string in canonical form.
    ///
    /// - parameters:
    ///     - decoder: The decoder to read from.
    /// - throws: `DecodingError.dataCorrupted` (wrapping an ``IdentifierError``) if the string is invalid.
    public init(from decoder: any Decoder) throws {
        self = try Self.decodeCanonical(from: decoder)
    }

    /// Encodes the service id as a single string in canonical form.
    ///
    /// - parameters:
    ///     - encoder: The encoder to write to.
    public func encode(to encoder: any Encoder) throws {
        try self.encodeCanonical(to: encoder)
    }

    /// The canonical form, for example `VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1`.
    public var canonical: String {
        IdentifierParsing.canonical(self.parts)
    }

    /// The percent-encoded form, including the version if there is one.
    public var percentEncoded: String {
        IdentifierParsing.percentEncoded(self.parts)
    }

    /// The parts in order.
    var parts: [String] {
        var parts = self.subsystem.parts
        parts.append(self.serviceCode)
        if let serviceVersion = self.serviceVersion {
            parts.append(serviceVersion)
        }
        return parts
    }
}
