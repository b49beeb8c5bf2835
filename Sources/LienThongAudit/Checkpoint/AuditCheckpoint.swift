import LienThongCore

/// What a security server's audit log says about itself at the end of a checkpoint window, signed
/// with the member key and posted to the registry (`docs/audit-log.md` §Checkpoints).
///
/// It carries the signed tree head of the log partition, the link to the previous checkpoint (its
/// tree head and an RFC 6962 consistency proof from it, so that anyone holding both can check the
/// log only grew), and usage counters for the records in the window: exactly the leaves
/// `previous.treeSize..<tree.treeSize`, counted per client × service × dataset × agreement ×
/// outcome × error type. Anyone holding the records can recount them.
///
/// The signed bytes are ``canonicalBytes``, RFC 8785 canonical JSON (schema:
/// `schemas/audit-checkpoint.schema.json`).
public struct AuditCheckpoint: Sendable, Hashable {
    /// The format version this code writes and reads.
    public static let currentVersion: Int64 = 1

    /// The security server whose log this is, e.g. `VN/GOV/000.00.00.G01/ss1`.
    public var server: String
    /// The log partition (security-server node), `default` for a single node.
    public var node: String
    /// The checkpoint's number in this partition, from 0.
    public var sequence: UInt64
    /// The tree head the checkpoint signs.
    public var tree: TreeHead
    /// The previous checkpoint's tree head; `nil` only for checkpoint 0.
    public var previous: TreeHead?
    /// The consistency proof from ``previous`` to ``tree``; empty for checkpoint 0 and when the
    /// log did not grow.
    public var consistencyProof: [MerkleHash]
    /// When the window started: the previous checkpoint's ``windowEnd`` (or the log's first record).
    public var windowStart: AuditTimestamp
    /// When the window ended: when this checkpoint was made.
    public var windowEnd: AuditTimestamp
    /// Usage counters for the records in the window, sorted by ``UsageCounter/key``.
    public var usage: [UsageCounter]

    /// Creates a checkpoint; `usage` is sorted into canonical order.
    public init(server: String, node: String, sequence: UInt64, tree: TreeHead, previous: TreeHead?,
                consistencyProof: [MerkleHash], windowStart: AuditTimestamp, windowEnd: AuditTimestamp,
                usage: [UsageCounter]) {
        self.server = server
        self.node = node
        self.sequence = sequence
        self.tree = tree
        self.previous = previous
        self.consistencyProof = consistencyProof
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.usage = usage.sorted { $0.key < $1.key }
    }

    /// The number of records in the window.
    /// (0 if ``previous`` is larger than ``tree``, which a parsed checkpoint never is.)
    public var windowRecordCount: UInt64 {
        let (count, overflow) = tree.treeSize.subtractingReportingOverflow(previous?.treeSize ?? 0)
        return overflow ? 0 : count
    }

    /// The canonical JSON value.
    public var canonicalJSON: CanonicalJSON {
        var members: [String: CanonicalJSON] = [
            "v": .integer(Self.currentVersion),
            "server": .string(server),
            "node": .string(node),
            "sequence": .integer(Int64(truncatingIfNeeded: sequence)),
            "tree": tree.canonicalJSON,
            "consistency_proof": .array(consistencyProof.map { .string($0.base64URL) }),
            "window_start": .string(windowStart.rfc3339),
            "window_end": .string(windowEnd.rfc3339),
            "usage": .array(usage.map(\.canonicalJSON)),
        ]
        if let previous { members["previous"] = previous.canonicalJSON }
        return .object(members)
    }

    /// The bytes the server signs and the registry countersigns.
    public var canonicalBytes: [UInt8] { canonicalJSON.canonicalBytes }

    /// The SHA-256 digest of ``canonicalBytes``, which the JWS signs.
    public var digest: MessageDigest { MessageDigest.sha256(of: canonicalBytes) }

    /// Parses checkpoint bytes strictly: they must be exactly the canonical serialisation of a
    /// valid checkpoint.
    ///
    /// - Throws: ``AuditRecordError`` naming the member at fault.
    public init(canonicalBytes bytes: [UInt8]) throws(AuditRecordError) {
        let reader = try JSONObjectReader(try StrictJSONParser.parse(bytes), field: "", allowed: [
            "v", "server", "node", "sequence", "tree", "previous", "consistency_proof", "window_start", "window_end", "usage",
        ])
        let version = try reader.integer("v")
        guard version == Self.currentVersion else { throw .unsupportedVersion(version) }
        server = try reader.string("server")
        node = try reader.string("node")
        sequence = try reader.unsignedInteger("sequence")
        tree = try Self.treeHead(reader, "tree")
        previous = reader.value("previous") == nil ? nil : try Self.treeHead(reader, "previous")
        consistencyProof = try reader.array("consistency_proof").enumerated().map { index, item throws(AuditRecordError) in
            guard case .string(let text) = item, let hash = MerkleHash(base64URL: text), hash.base64URL == text else {
                throw .invalidValue(field: "consistency_proof.\(index)")
            }
            return hash
        }
        windowStart = try reader.timestamp("window_start")
        windowEnd = try reader.timestamp("window_end")
        usage = try reader.array("usage").enumerated().map { index, item throws(AuditRecordError) in
            try UsageCounter(json: item, field: "usage.\(index)")
        }
        guard (previous?.treeSize ?? 0) <= tree.treeSize else { throw .invalidValue(field: "previous.tree_size") }
        guard (previous == nil) == (sequence == 0) else { throw .invalidValue(field: "previous") }
        guard windowStart <= windowEnd else { throw .invalidValue(field: "window_end") }
        guard canonicalBytes == bytes else { throw .notCanonical }
    }

    /// Checks that this checkpoint's tree extends `previous` (the previous checkpoint's tree head),
    /// with its consistency proof; equal sizes need equal roots and no proof.
    ///
    /// - Throws: ``CheckpointError/Code/inconsistent``.
    public func verifyConsistency(from previous: TreeHead) throws(CheckpointError) {
        if previous.treeSize == 0 || previous.treeSize == tree.treeSize {
            guard consistencyProof.isEmpty else {
                throw CheckpointError(.inconsistent, "checkpoint \(sequence) carries a consistency proof where none is expected")
            }
            if previous.treeSize == tree.treeSize, previous.rootHash != tree.rootHash {
                throw CheckpointError(.inconsistent, "checkpoint \(sequence) has the previous tree's size but another root")
            }
            return
        }
        let proof = MerkleConsistencyProof(firstSize: previous.treeSize, secondSize: tree.treeSize, path: consistencyProof)
        do { try tree.verifyConsistency(from: previous, proof: proof) } catch {
            throw CheckpointError(.inconsistent, "checkpoint \(sequence)'s tree does not extend the previous one: \(error)")
        }
    }

    private static func treeHead(_ reader: JSONObjectReader, _ name: String) throws(AuditRecordError) -> TreeHead {
        guard let value = reader.value(name) else { throw .missingField(reader.path(name)) }
        let head = try JSONObjectReader(value, field: reader.path(name), allowed: ["tree_size", "root_hash"])
        let size = try head.unsignedInteger("tree_size")
        let text = try head.string("root_hash")
        guard let root = MerkleHash(base64URL: text), root.base64URL == text else {
            throw .invalidValue(field: head.path("root_hash"))
        }
        return TreeHead(treeSize: size, rootHash: root)
    }
}

/// The usage of one side × usage window × client × service × dataset × agreement × outcome ×
/// error type, among the records of one checkpoint.
public struct UsageCounter: Sendable, Hashable {
    /// The upper bounds (milliseconds, inclusive) of the latency histogram's buckets; the last
    /// bucket counts everything slower.
    public static let latencyBucketBounds: [Int64] = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000]

    /// The length of a usage window: records are counted in the fixed, UTC-aligned 5-minute
    /// window their exchange started in, so that the registry can set both sides' counts of one
    /// agreement side by side, window by window, whatever the servers' checkpoint timing.
    public static let windowMilliseconds: Int64 = 300_000

    /// The start of the usage window `time` falls in.
    public static func window(containing time: AuditTimestamp) -> AuditTimestamp {
        let ms = time.millisecondsSince1970
        let start = ms - ((ms % windowMilliseconds) + windowMilliseconds) % windowMilliseconds
        return AuditTimestamp(millisecondsSince1970: start) ?? time
    }

    /// What is counted.
    public struct Key: Sendable, Hashable, Comparable {
        /// Which side wrote the records: a server that both consumes and provides keeps the two apart.
        public var side: ExchangeSide
        /// The start of the usage window (``UsageCounter/windowMilliseconds``) the exchanges started in.
        public var window: AuditTimestamp
        /// The consumer subsystem (`X-Road-Client`), if known.
        public var client: String?
        /// The service called, if known.
        public var service: String?
        /// The dataset the service belongs to, if any.
        public var dataset: String?
        /// The agreement the exchange was allowed under, if any.
        public var agreement: String?
        /// Success, refusal or failure.
        public var outcome: ExchangeOutcome
        /// The X-Road error type of a refusal or failure.
        public var errorType: String?

        /// Creates a key; `window` must be a window start (see ``UsageCounter/window(containing:)``).
        public init(side: ExchangeSide, window: AuditTimestamp, client: String?, service: String?, dataset: String?, agreement: String?,
                    outcome: ExchangeOutcome, errorType: String?) {
            self.side = side
            self.window = window
            self.client = client
            self.service = service
            self.dataset = dataset
            self.agreement = agreement
            self.outcome = outcome
            self.errorType = errorType
        }

        /// The key of the exchange `record` describes.
        public init(_ record: AuditRecord) {
            self.init(side: record.side, window: UsageCounter.window(containing: record.startedAt),
                      client: record.client, service: record.service, dataset: record.dataset,
                      agreement: record.agreement, outcome: record.outcome, errorType: record.errorType)
        }

        private var parts: [String] {
            [side.rawValue, window.rfc3339] + [client, service, dataset, agreement, outcome.rawValue, errorType].map { $0.map { "1" + $0 } ?? "0" }
        }

        /// Orders keys field by field (absent before present), for the canonical usage order.
        public static func < (lhs: Key, rhs: Key) -> Bool { lhs.parts.lexicographicallyPrecedes(rhs.parts) }
    }

    /// What is counted.
    public var key: Key
    /// How many records.
    public var count: UInt64
    /// The sum of their durations in milliseconds.
    public var durationMillisecondsTotal: Int64
    /// Their count per latency bucket (``latencyBucketBounds`` plus one overflow bucket).
    public var latencyBuckets: [UInt64]

    /// An empty counter for `key`.
    public init(key: Key) {
        self.key = key
        self.count = 0
        self.durationMillisecondsTotal = 0
        self.latencyBuckets = Array(repeating: 0, count: Self.latencyBucketBounds.count + 1)
    }

    /// Counts one record that took `durationMilliseconds`.
    ///
    /// Records can come from a file (`lienthong audit verify` recounts them), so nothing here may
    /// trap: the count and the buckets grow by one per record held in memory (they cannot reach
    /// 2^64), and the duration total saturates at ``AuditRecord/maximumInteger`` (2^53 − 1 ms,
    /// about 285,000 years), the largest a checkpoint may carry; the server that made the
    /// checkpoint and anyone recounting its records saturate alike.
    public mutating func add(durationMilliseconds: Int64) {
        count &+= 1
        let (total, overflow) = durationMillisecondsTotal.addingReportingOverflow(max(0, durationMilliseconds))
        durationMillisecondsTotal = overflow ? AuditRecord.maximumInteger : min(total, AuditRecord.maximumInteger)
        let bucket = Self.latencyBucketBounds.firstIndex { durationMilliseconds <= $0 } ?? Self.latencyBucketBounds.count
        latencyBuckets[bucket] &+= 1
    }

    /// The canonical JSON value (absent key parts omitted).
    public var canonicalJSON: CanonicalJSON {
        var members: [String: CanonicalJSON] = [
            "side": .string(key.side.rawValue),
            "window": .string(key.window.rfc3339),
            "outcome": .string(key.outcome.rawValue),
            "count": .integer(Int64(truncatingIfNeeded: count)),
            "duration_ms_total": .integer(durationMillisecondsTotal),
            "latency_buckets": .array(latencyBuckets.map { .integer(Int64(truncatingIfNeeded: $0)) }),
        ]
        let strings: [(String, String?)] = [
            ("client", key.client), ("service", key.service), ("dataset", key.dataset),
            ("agreement", key.agreement), ("error_type", key.errorType),
        ]
        for (name, value) in strings { if let value { members[name] = .string(value) } }
        return .object(members)
    }

    init(json: CanonicalJSON, field: String) throws(AuditRecordError) {
        let reader = try JSONObjectReader(json, field: field, allowed: [
            "side", "window", "client", "service", "dataset", "agreement", "outcome", "error_type", "count", "duration_ms_total",
            "latency_buckets",
        ])
        guard let side = ExchangeSide(rawValue: try reader.string("side")) else {
            throw .invalidValue(field: reader.path("side"))
        }
        let window = try reader.timestamp("window")
        guard UsageCounter.window(containing: window) == window else {
            throw .invalidValue(field: reader.path("window"))
        }
        guard let outcome = ExchangeOutcome(rawValue: try reader.string("outcome")) else {
            throw .invalidValue(field: reader.path("outcome"))
        }
        key = Key(side: side, window: window, client: try reader.optionalString("client"), service: try reader.optionalString("service"),
                  dataset: try reader.optionalString("dataset"), agreement: try reader.optionalString("agreement"),
                  outcome: outcome, errorType: try reader.optionalString("error_type"))
        count = try reader.unsignedInteger("count")
        durationMillisecondsTotal = Int64(try reader.unsignedInteger("duration_ms_total"))
        // Every bucket is a count like `count` (0 … 2^53 − 1), and their sum must be `count`:
        // checked, since hostile buckets may add up beyond 2^64.
        latencyBuckets = try reader.array("latency_buckets").enumerated().map { index, item throws(AuditRecordError) in
            guard case .integer(let value) = item else { throw .wrongType(field: reader.path("latency_buckets.\(index)")) }
            guard (0...AuditRecord.maximumInteger).contains(value) else { throw .valueOutOfRange(field: reader.path("latency_buckets.\(index)")) }
            return UInt64(value)
        }
        guard latencyBuckets.count == Self.latencyBucketBounds.count + 1 else { throw .invalidValue(field: reader.path("latency_buckets")) }
        let bucketTotal: UInt64
        do { bucketTotal = try Checked.sum(latencyBuckets, reader.path("latency_buckets")) } catch {
            throw .valueOutOfRange(field: reader.path("latency_buckets"))
        }
        guard bucketTotal == count else { throw .invalidValue(field: reader.path("latency_buckets")) }
    }
}

/// Counts records into ``UsageCounter``s.
public struct UsageTally: Sendable, Hashable {
    private var byKey: [UsageCounter.Key: UsageCounter] = [:]

    /// An empty tally.
    public init() {}

    /// Counts `record`.
    public mutating func add(_ record: AuditRecord) {
        let key = UsageCounter.Key(record)
        byKey[key, default: UsageCounter(key: key)].add(durationMilliseconds: record.durationMilliseconds)
    }

    /// The counters in canonical order.
    public var counters: [UsageCounter] { byKey.values.sorted { $0.key < $1.key } }

    /// The number of records counted.
    /// (Each counter counts records held in memory: the total cannot reach 2^64.)
    public var total: UInt64 { byKey.values.reduce(0) { $0 &+ $1.count } }
}

extension JSONObjectReader {
    /// A required non-negative integer member.
    func unsignedInteger(_ name: String) throws(AuditRecordError) -> UInt64 {
        let value = try integer(name)
        guard (0...AuditRecord.maximumInteger).contains(value) else { throw .valueOutOfRange(field: path(name)) }
        return UInt64(value)
    }

    /// A required array member.
    func array(_ name: String) throws(AuditRecordError) -> [CanonicalJSON] {
        switch value(name) {
        case nil: throw .missingField(path(name))
        case .array(let items): return items
        default: throw .wrongType(field: path(name))
        }
    }

    /// A required RFC 3339 timestamp member.
    func timestamp(_ name: String) throws(AuditRecordError) -> AuditTimestamp {
        guard let value = AuditTimestamp(rfc3339: try string(name)) else { throw .invalidValue(field: path(name)) }
        return value
    }
}
