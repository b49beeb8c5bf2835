import Foundation
import LienThongAudit
import LienThongCore

/// Fetches the evidence of one exchange from the security servers' auditor endpoints
/// (`GET /auditor/v1/evidence/{id}` on their inter-server port) and merges the records into one
/// bundle. The registry relays; it keeps nothing of what it fetched.
///
/// It asks the servers of the client's member and of the service provider when the auditor names
/// them, and every registered server otherwise (at most ``concurrency`` at a time). A server that
/// fails to answer does not fail the fetch: the bundle says so (``EvidenceBundle/complete``).
public struct EvidenceRelay: Sendable {
    /// The client with the registry's auditor-role identity.
    let client: ServerOperationsClient
    /// How many servers are asked at once.
    public var concurrency = 8

    /// Creates a relay that authenticates with `client`'s certificate.
    public init(client: ServerOperationsClient) {
        self.client = client
    }

    /// Whether `id` (decoded) can be an exchange id: 1 to 200 printable ASCII characters, without
    /// `/` — the rule of the servers' operations API, which the relay asks with the id
    /// percent-encoded again (``ServerOperationsClient``).
    public static func isValidExchangeId(_ id: String) -> Bool {
        (1...200).contains(id.utf8.count) && id.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "/") }
    }

    /// The exchange id from the raw path segment of `GET /api/v1/auditor/evidence/{exchangeId}`:
    /// percent-decoded once (a client encodes `^`, `%`, `?`, `#` ... in a path), then checked with
    /// ``isValidExchangeId(_:)``; `nil` if it is not validly encoded or not an exchange id.
    public static func exchangeId(fromRawSegment raw: String) -> String? {
        guard raw.utf8.count <= 600, let decoded = raw.removingPercentEncoding, isValidExchangeId(decoded) else { return nil }
        return decoded
    }

    /// Asks the servers concerned for `exchange` and merges what they hold into one bundle, whose
    /// ``EvidenceBundle/sources`` say what each server answered and whose
    /// ``EvidenceBundle/complete`` is `false` when any of them failed to answer.
    public func fetch(exchange: String, client consumer: ClientId?, service: ServiceId?, servers: [SecurityServer],
                      onBehalfOf: String) async -> EvidenceBundle {
        var members: Set<MemberId> = []
        if let consumer { members.insert(consumer.member) }
        if let service { members.insert(service.subsystem.member) }
        let asked = members.isEmpty ? servers : servers.filter { members.contains($0.id.owner) }
        /// The side a server stands for, when the auditor's client and service tell it apart.
        func side(of server: SecurityServer) -> ExchangeSide? {
            let isConsumer = consumer?.member == server.id.owner, isProvider = service?.subsystem.member == server.id.owner
            return isConsumer == isProvider ? nil : isConsumer ? .consumer : .provider
        }
        var records: [EvidenceRecord] = []
        var sources: [EvidenceSource] = []
        await withTaskGroup(of: (EvidenceSource, [EvidenceRecord]).self) { group in
            var pending = asked.makeIterator()
            func next() {
                guard let server = pending.next() else { return }
                let side = side(of: server)
                group.addTask { await ask(server, side: side, exchange: exchange, onBehalfOf: onBehalfOf) }
            }
            for _ in 0..<max(1, concurrency) { next() }
            while let (source, found) = await group.next() {
                sources.append(source)
                records += found
                next()
            }
        }
        sources.sort { $0.server < $1.server }
        return EvidenceBundle(exchange: exchange, createdAt: Date(), records: records,
                              complete: !sources.contains { $0.status == .error }, sources: sources)
    }

    private func ask(_ server: SecurityServer, side: ExchangeSide?, exchange: String, onBehalfOf: String) async -> (EvidenceSource, [EvidenceRecord]) {
        let id = server.id.canonical
        do {
            let bytes = try await client.evidence(server: server.address, exchange: exchange, onBehalfOf: onBehalfOf)
            let bundle = try JSONDecoder().decode(EvidenceBundle.self, from: Data(bytes))
            guard bundle.exchange == exchange else {
                return (EvidenceSource(server: id, side: side, status: .error,
                                       error: "answered for another exchange (\(bundle.exchange.prefix(60)))"), [])
            }
            // A server speaks only for its own records.
            let own = bundle.records.filter { $0.server == id }
            let sides = Set(own.map(\.side))
            return (EvidenceSource(server: id, side: side ?? (sides.count == 1 ? sides.first : nil), status: .ok, records: own.count), own)
        } catch let error as ServerOperationsError where error.status == 404 {
            return (EvidenceSource(server: id, side: side, status: .notFound), [])
        } catch {
            return (EvidenceSource(server: id, side: side, status: .error, error: "\(error)"), [])
        }
    }

    /// How bundles are written (the same as `lienthong audit export`).
    public static func bundleEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
