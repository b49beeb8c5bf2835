import Foundation
import LienThongCore
import LienThongTrust
import X509

/// Where the publisher keeps the last serial it handed out, so that a restarted registry never
/// publishes a serial again or goes backwards.
///
/// ``record(serial:snapshotRevision:at:)`` must be durable when it returns: the publisher calls
/// it *before* it signs with that serial.
public protocol GlobalConfigurationSerialStore: Sendable {
    /// The last serial recorded, or 0 if none was.
    func lastSerial() throws(GlobalConfigurationError) -> Int64
    /// Records that `serial` is about to be published for `snapshotRevision` at `time`.
    func record(serial: Int64, snapshotRevision: Int64, at time: Date) throws(GlobalConfigurationError)
}

/// A ``GlobalConfigurationSerialStore`` in a small JSON file (e.g. next to the registry
/// database), replaced atomically and `fsync`ed on every write:
/// `{"last_serial":42,"published_at":"2026-01-31T08:00:00Z","snapshot_revision":17}`.
public struct GlobalConfigurationStateFile: GlobalConfigurationSerialStore {
    /// The file.
    public let url: URL

    /// Uses the file at `url` (created on the first publication).
    public init(url: URL) {
        self.url = url
    }

    private struct State: Codable {
        var lastSerial: Int64
        var snapshotRevision: Int64
        var publishedAt: String

        enum CodingKeys: String, CodingKey {
            case lastSerial = "last_serial"
            case snapshotRevision = "snapshot_revision"
            case publishedAt = "published_at"
        }
    }

    /// The last serial in the file; 0 if the file does not exist.
    /// - Throws: ``GlobalConfigurationError/Code/storage`` if the file exists but cannot be read
    ///   or parsed: the publisher must not guess (a guess of 0 would make every client refuse it).
    public func lastSerial() throws(GlobalConfigurationError) -> Int64 {
        guard let bytes = try GlobalConfigurationFiles.read(url) else { return 0 }
        do {
            let state = try JSONDecoder().decode(State.self, from: Data(bytes))
            guard state.lastSerial >= 0 else {
                throw GlobalConfigurationError(.storage, "\(url.path) holds a negative serial")
            }
            return state.lastSerial
        } catch let error as GlobalConfigurationError {
            throw error
        } catch {
            throw GlobalConfigurationError(
                .storage, "\(url.path) is not a global configuration state file (\(error)); fix it or restore it, never delete it")
        }
    }

    /// Writes the state atomically and durably.
    public func record(serial: Int64, snapshotRevision: Int64, at time: Date) throws(GlobalConfigurationError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do {
            data = try encoder.encode(State(lastSerial: serial, snapshotRevision: snapshotRevision,
                                            publishedAt: GlobalConfigurationTime.format(time)))
        } catch {
            throw GlobalConfigurationError(.storage, "cannot encode the global configuration state: \(error)")
        }
        try GlobalConfigurationFiles.writeAtomically(Array(data) + [UInt8(ascii: "\n")], to: url)
    }
}

/// Builds, signs and holds the registry's current global configuration.
///
/// Every publication takes the next serial from the ``GlobalConfigurationSerialStore`` and
/// records it durably *before* signing, so serials only grow, across restarts too (they may
/// skip a number if signing fails after recording). ``refreshIfNeeded(snapshot:now:)`` re-signs
/// when the registry changed or when less than half of the validity remains, so that a security
/// server polling every minute always holds a document with minutes to spare.
///
/// Serve ``current()`` at `GET /globalconf` with `Content-Type: application/jose` and
/// `ETag: etag`; answer `304` when ``SignedGlobalConfiguration/matches(ifNoneMatch:)``.
public actor GlobalConfigurationPublisher {
    /// The signer.
    public let signer: GlobalConfigurationSigner
    private var builder: GlobalConfigurationBuilder
    private let serialStore: any GlobalConfigurationSerialStore
    private var signed: SignedGlobalConfiguration?
    private var signedRevision: Int64?
    private var lastSerial: Int64
    private var settingsChanged = false

    /// Creates a publisher.
    /// - Parameters:
    ///   - instance: the instance code.
    ///   - signer: the configuration signer.
    ///   - approvedCAs: the approved CAs and their OCSP URLs.
    ///   - policy: the instance policy.
    ///   - serialStore: where the last serial is kept.
    /// - Throws: ``GlobalConfigurationError/Code/invalidArgument`` for a bad policy,
    ///   ``GlobalConfigurationError/Code/storage`` if the serial store cannot be read.
    public init(instance: String, signer: GlobalConfigurationSigner, approvedCAs: [GlobalConfiguration.ApprovedCA],
                policy: GlobalConfiguration.Policy = .init(), serialStore: any GlobalConfigurationSerialStore) throws(GlobalConfigurationError) {
        try policy.validate()
        self.signer = signer
        self.builder = GlobalConfigurationBuilder(instance: instance, approvedCAs: approvedCAs, policy: policy)
        self.serialStore = serialStore
        self.lastSerial = try serialStore.lastSerial()
    }

    /// Creates a publisher whose serial lives in a ``GlobalConfigurationStateFile`` at `stateFile`.
    public init(instance: String, signer: GlobalConfigurationSigner, approvedCAs: [GlobalConfiguration.ApprovedCA],
                policy: GlobalConfiguration.Policy = .init(), stateFile: URL) throws(GlobalConfigurationError) {
        try self.init(instance: instance, signer: signer, approvedCAs: approvedCAs, policy: policy,
                      serialStore: GlobalConfigurationStateFile(url: stateFile))
    }

    /// The document being served, or `nil` before the first publication.
    public func current() -> SignedGlobalConfiguration? { signed }

    /// The last serial handed out (recorded in the store), 0 if none.
    public func latestSerial() -> Int64 { lastSerial }

    /// Replaces the approved CAs and the policy; the next ``refreshIfNeeded(snapshot:now:)`` re-signs.
    public func update(approvedCAs: [GlobalConfiguration.ApprovedCA], policy: GlobalConfiguration.Policy) throws(GlobalConfigurationError) {
        try policy.validate()
        builder.approvedCAs = approvedCAs
        builder.policy = policy
        settingsChanged = true
    }

    /// Builds and signs a new document for `snapshot` with the next serial, and serves it from now on.
    /// - Throws: ``GlobalConfigurationError/Code/storage`` if the serial cannot be recorded (nothing
    ///   is published then), ``GlobalConfigurationError/Code/signingFailed`` if signing fails.
    @discardableResult
    public func publish(snapshot: RegistrySnapshot, now: Date) throws(GlobalConfigurationError) -> SignedGlobalConfiguration {
        let (serial, overflow) = lastSerial.addingReportingOverflow(1)
        guard !overflow else {
            throw GlobalConfigurationError(.storage, "the global configuration serial is exhausted")
        }
        try serialStore.record(serial: serial, snapshotRevision: snapshot.revision, at: now)
        lastSerial = serial
        let document = builder.build(snapshot: snapshot, serial: serial, now: now)
        let result = try signer.sign(document)
        signed = result
        signedRevision = snapshot.revision
        settingsChanged = false
        return result
    }

    /// Whether a new document is due at `now` for a registry at `snapshotRevision`: none is
    /// served yet, the revision or the settings changed, or less than half of the validity remains.
    /// Lets the caller skip loading a snapshot when nothing is due.
    public func needsRefresh(snapshotRevision: Int64, now: Date) -> Bool {
        guard let signed, signedRevision == snapshotRevision, !settingsChanged else { return true }
        let validity = signed.configuration.expiresAt.timeIntervalSince(signed.configuration.generatedAt)
        return signed.configuration.expiresAt.timeIntervalSince(now) < validity / 2
    }

    /// Publishes a new document if ``needsRefresh(snapshotRevision:now:)``; returns the one served.
    @discardableResult
    public func refreshIfNeeded(snapshot: RegistrySnapshot, now: Date) throws(GlobalConfigurationError) -> SignedGlobalConfiguration {
        if let signed, !needsRefresh(snapshotRevision: snapshot.revision, now: now) {
            return signed
        }
        return try publish(snapshot: snapshot, now: now)
    }
}

extension GlobalConfigurationPublisher {
    /// Creates a publisher from a signing key and chain, with the serial in a state file.
    /// - Throws: as ``GlobalConfigurationSigner/init(key:certificateChain:)`` and
    ///   ``init(instance:signer:approvedCAs:policy:serialStore:)``.
    public init(instance: String, signingKey: MessageSigningKey, signingChain: [Certificate],
                approvedCAs: [GlobalConfiguration.ApprovedCA], policy: GlobalConfiguration.Policy = .init(),
                stateFile: URL) throws(GlobalConfigurationError) {
        try self.init(instance: instance, signer: try GlobalConfigurationSigner(key: signingKey, certificateChain: signingChain),
                      approvedCAs: approvedCAs, policy: policy, serialStore: GlobalConfigurationStateFile(url: stateFile))
    }
}

/// The instance policy carried in the global configuration (``GlobalConfiguration/Policy``).
public typealias GlobalConfigurationPolicy = GlobalConfiguration.Policy

/// An approved CA entry of the global configuration (``GlobalConfiguration/ApprovedCA``).
public typealias ApprovedCA = GlobalConfiguration.ApprovedCA
