/// The identifier of a dataset: `INSTANCE/CLASS/CODE/datasets/DATASETCODE`.
///
/// Datasets are a LienThong extension beyond X-Road: a member publishes named datasets, for example
/// the population dataset `VN/GOV/000.00.00.G22/datasets/dan-cu`. The literal fourth part
/// `datasets` (``IdentifierSyntax/datasetMarker``) marks the identifier as a dataset id, which is why
/// subsystem and security server codes may not be `datasets`.
public struct DatasetId: XRoadIdentifier {
    /// The member that owns the dataset.
    public let owner: MemberId

    /// The dataset code, for example `dan-cu`.
    public let datasetCode: String

    /// Creates a dataset id, validating the dataset code.
    ///
    /// - parameters:
    ///     - owner: The member that owns the dataset.
    ///     - datasetCode: The dataset code, for example `dan-cu`.
    /// - throws: An ``IdentifierError`` if the dataset code is invalid.
    public init(owner: MemberId, datasetCode: String) throws(IdentifierError) {
        try IdentifierParsing.validate(datasetCode, as: .datasetCode, in: .dataset)
        self.init(uncheckedOwner: owner, datasetCode: datasetCode)
    }

    /// Creates a dataset id from its parts, validating each of them.
    ///
    /// - parameters:
    ///     - instance: The X-Road instance, for example `VN`.
    ///     - memberClass: The member class of the owner, for example `GOV`.
    ///     - memberCode: The member code of the owner, for example `000.00.00.G22`.
    ///     - datasetCode: The dataset code, for example `dan-cu`.
    /// - throws: An ``IdentifierError`` naming the first invalid part.
    public init(instance: String, memberClass: String, memberCode: String, datasetCode: String) throws(IdentifierError) {
        let owner = try MemberId(instance: instance, memberClass: memberClass, memberCode: memberCode, kind: .dataset)
        try self.init(owner: owner, datasetCode: datasetCode)
    }

    /// Creates a dataset id from parts that are already valid.
    init(uncheckedOwner owner: MemberId, datasetCode: String) {
        self.owner = owner
        self.datasetCode = datasetCode
    }

    /// Builds a dataset id from five raw segments.
    init(segments: [Substring], percentEncoded: Bool, input: String) throws(IdentifierError) {
        let owner = try MemberId(segments: segments, percentEncoded: percentEncoded, kind: .dataset, input: input)
        let marker =
            percentEncoded
            ? try IdentifierParsing.percentDecode(segments[3], as: .datasetMarker, in: .dataset)
            : String(segments[3])
        guard marker == IdentifierSyntax.datasetMarker else {
            throw IdentifierError(code: .missingDatasetMarker, kind: .dataset, part: .datasetMarker, value: marker)
        }
        let code = try IdentifierParsing.part(
            segments[4], as: .datasetCode, in: .dataset, percentEncoded: percentEncoded, input: input)
        self.init(uncheckedOwner: owner, datasetCode: code)
    }

    /// Parses the canonical form `INSTANCE/CLASS/CODE/datasets/DATASETCODE`.
    ///
    /// - parameters:
    ///     - text: The canonical form, for example `VN/GOV/000.00.00.G22/datasets/dan-cu`.
    /// - throws: An ``IdentifierError`` if `text` does not have five valid parts with `datasets` as
    ///   the fourth.
    public init(parsing text: String) throws(IdentifierError) {
        let segments = try IdentifierParsing.split(text, kind: .dataset, partCounts: 5...5)
        try self.init(segments: segments, percentEncoded: false, input: text)
    }

    /// Parses the percent-encoded form `INSTANCE/CLASS/CODE/datasets/DATASETCODE`.
    ///
    /// - parameters:
    ///     - percentEncoded: The percent-encoded form.
    /// - throws: An ``IdentifierError`` if the text does not have five valid parts with `datasets`
    ///   as the fourth.
    public init(percentEncoded: String) throws(IdentifierError) {
        let segments = try IdentifierParsing.split(percentEncoded, kind: .dataset, partCounts: 5...5)
        try self.init(segments: segments, percentEncoded: true, input: percentEncoded)
    }

    /// Decodes a dataset id from a single string in canonical form.
    ///
    /// - parameters:
    ///     - decoder: The decoder to read from.
    /// - throws: `DecodingError.dataCorrupted` (wrapping an ``IdentifierError``) if the string is invalid.
    public init(from decoder: any Decoder) throws {
        self = try Self.decodeCanonical(from: decoder)
    }

    /// Encodes the dataset id as a single string in canonical form.
    ///
    /// - parameters:
    ///     - encoder: The encoder to write to.
    public func encode(to encoder: any Encoder) throws {
        try self.encodeCanonical(to: encoder)
    }

    /// The canonical form, for example `VN/GOV/000.00.00.G22/datasets/dan-cu`.
    public var canonical: String {
        IdentifierParsing.canonical(self.parts)
    }

    /// The percent-encoded form.
    public var percentEncoded: String {
        IdentifierParsing.percentEncoded(self.parts)
    }

    /// The parts in order, including the `datasets` marker.
    var parts: [String] {
        self.owner.parts + [IdentifierSyntax.datasetMarker, self.datasetCode]
    }
}
