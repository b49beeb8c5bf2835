import Foundation
import LienThongAudit
import LienThongCore

/// Fetches the evidence of one exchange from the security servers' auditor endpoints
/// (`GET /auditor/v1/evidence/{id}` on their inter-server port) and merges the records into one
/// bundle. The registry relays; it keeps nothing of what it fetched.
///
/// It asks the servers of the client's member and of the service provider when the auditor names
/// them, and every registered server otherwise (at most ``concurrency`` at a time).
public struct EvidenceRelay: Sendable {
    /// What one server answered.
    public struct Source: Sendable, Hashable {
        /// The server's id.
        public var server: String
        /// `ok (n records)`, `not found`, or the error.
        public var status: String
    }

    /// The client with the registry's auditor-role identity.
    let client: ServerOperationsClient
    /// How many servers are asked at once.
    public var concurrency = 8

    /// Creates a relay that authenticates with `client`'s certificate.
    public init(client: ServerOperationsClient) {
        self.client = client
    }

    /// Whether `id` can be an exchange id: 1 to 200 printable ASCII characters, without `/` or `%`.
    public static func isValidExchangeId(_ id: String) -> Bool {
        (1...200).contains(id.utf8.count) && id.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "%") }
    }

    /// Asks the servers concerned for `exchange` and merges what they hold.
    public func fetch(exchange: String, client consumer: ClientId?, service: ServiceId?, servers: [SecurityServer],
                      onBehalfOf: String) async -> (bundle: EvidenceBundle, sources: [Source]) {
        var members: Set<MemberId> = []
        if let consumer { members.insert(consumer.member) }
        if let service { members.insert(service.subsystem.member) }
        let asked = members.isEmpty ? servers : servers.filter { members.contains($0.id.owner) }
        var records: [EvidenceRecord] = []
        var sources: [Source] = []
        await withTaskGroup(of: (Source, [EvidenceRecord]).self) { group in
            var pending = asked.makeIterator()
            func next() {
                guard let server = pending.next() else { return }
                group.addTask { await ask(server, exchange: exchange, onBehalfOf: onBehalfOf) }
            }
            for _ in 0..<max(1, concurrency) { next() }
            while let (source, found) = await group.next() {
                sources.append(source)
                records += found
                next()
            }
        }
        records.sort { ($0.side.rawValue, $0.server) < ($1.side.rawValue, $1.server) }
        return (EvidenceBundle(exchange: exchange, createdAt: Date(), records: records), sources.sorted { $0.server < $1.server })
    }

    private func ask(_ server: SecurityServer, exchange: String, onBehalfOf: String) async -> (Source, [EvidenceRecord]) {
        let id = server.id.canonical
        do {
            let bytes = try await client.evidence(server: server.address, exchange: exchange, onBehalfOf: onBehalfOf)
            let bundle = try JSONDecoder().decode(EvidenceBundle.self, from: Data(bytes))
            guard bundle.exchange == exchange else {
                return (Source(server: id, status: "answered for another exchange (\(bundle.exchange.prefix(60)))"), [])
            }
            // A server speaks only for its own records.
            let own = bundle.records.filter { $0.server == id }
            return (Source(server: id, status: "ok (\(own.count) record\(own.count == 1 ? "" : "s"))"), own)
        } catch let error as ServerOperationsError where error.status == 404 {
            return (Source(server: id, status: "not found"), [])
        } catch {
            return (Source(server: id, status: "error: \(error)"), [])
        }
    }

    /// How bundles are written (the same as `lienthong audit export`).
    public static func bundleEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
