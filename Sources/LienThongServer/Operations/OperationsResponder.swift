import Crypto
import Foundation
import Hummingbird
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongTrust
import Logging
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// The operations API on the inter-server port (mutual TLS 1.3), routed by path before the
/// exchange path (`docs/security-server.md` §Operations API,
/// `schemas/security-server-operations.openapi.yaml`):
///
/// - `GET /auditor/v1/evidence/{exchangeId}` — for state auditors: the evidence bundle of one
///   exchange in this server's audit log, written exactly as `lienthong audit export` writes it;
/// - `GET` / `PUT /admin/v1/veto` — for the owner member's operators: the data owner's veto
///   in force (``VetoState``), replaced in memory.
///
/// The caller is the TLS client certificate. Who it is comes from the registry's registrations
/// as the global configuration in force publishes them (`data_plane_actors`, by certificate
/// SHA-256), plus the server's own `operations.veto_operators`; then the certificate is validated
/// against the approved CAs of that configuration, with OCSP (fail closed), through the runtime's
/// ``TrustState``. Errors are ``OperationsError``s.
struct OperationsResponder: Sendable {
    /// Every path under this prefix is the auditors' API.
    static let auditorPrefix = "/auditor/"
    /// Every path under this prefix is the administrators' API.
    static let adminPrefix = "/admin/"
    /// The evidence route, followed by the percent-encoded exchange id.
    static let evidencePrefix = "/auditor/v1/evidence/"
    /// The veto route.
    static let vetoPath = "/admin/v1/veto"
    /// The largest veto body accepted.
    static let maximumVetoBodyBytes = 1 << 20
    /// The longest exchange id accepted (after percent-decoding).
    static let maximumExchangeIdLength = 200
    /// The longest `X-LienThong-On-Behalf-Of` value accepted.
    static let maximumOnBehalfOfLength = 256

    let runtime: SecurityServerRuntime

    /// Whether a request target belongs to the operations API rather than to the exchange path.
    static func handles(target: String) -> Bool {
        target.hasPrefix(auditorPrefix) || target.hasPrefix(adminPrefix)
    }

    /// Answers one operations request that came on `channel`.
    func respond(to request: Request, channel: any Channel) async -> Response {
        let target = request.head.path ?? ""
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let method = request.method.rawValue
        do throws(OperationsError) {
            if path.hasPrefix(Self.evidencePrefix) {
                guard request.method == .get else { throw .methodNotAllowed(method, allowed: ["GET"]) }
                return try await evidence(rawId: String(path.dropFirst(Self.evidencePrefix.count)), request: request, channel: channel)
            }
            if path == Self.vetoPath {
                switch request.method {
                case .get: return try await readVeto(channel: channel)
                case .put: return try await replaceVeto(request, channel: channel)
                default: throw .methodNotAllowed(method, allowed: ["GET", "PUT"])
                }
            }
            throw .notFound("there is no operation \(method) \(Self.printable(path, limit: 120)) on this server")
        } catch {
            let metadata: Logger.Metadata = [
                "status": "\(error.status)", "type": "\(error.type)", "message": "\(runtime.loggable(error.message))", "detail": "\(error.body.detail)",
                "peer": "\(channel.remoteAddress?.ipAddress ?? "-")",
            ]
            if error.status >= 500 {
                runtime.logger.warning("operations request failed", metadata: metadata)
            } else {
                runtime.logger.info("operations request refused", metadata: metadata)
            }
            return error.response()
        }
    }

    // MARK: Auditor: evidence

    private func evidence(rawId: String, request: Request, channel: any Channel) async throws(OperationsError) -> Response {
        let caller = try await authenticate(channel, as: .auditor, action: "read evidence")
        let exchange = try Self.exchangeId(fromRawSegment: rawId)
        let onBehalfOf = try Self.onBehalfOf(ExchangeHTTP.value(ServerOperationsClient.onBehalfOfHeader, in: ExchangeHTTP.pairs(request.headers)))
        runtime.logger.info("auditor evidence query", metadata: [
            "auditor": "\(caller.subject)", "certificate_sha256": "\(caller.sha256)", "on_behalf_of": "\(onBehalfOf ?? "-")",
            "exchange": "\(exchange)", "certificate_serial": "\(caller.certificate.certificate.serialNumber)",
            "peer": "\(channel.remoteAddress?.ipAddress ?? "-")",
        ])
        guard let log = runtime.audit as? AuditLog else {
            throw .unavailable(.providerInternalError, "This server does not keep a queryable audit log.")
        }
        let records: [EvidenceRecord]
        do {
            records = try await EvidenceExporter.evidence(for: exchange, in: log.store)
        } catch let error as EvidenceExportError {
            switch error.code {
            case .notFound:
                throw .notFound("no record of exchange \(exchange) in the audit log of \(runtime.serverId)")
            case .notCheckpointed:
                let interval = try? await runtime.trust.configuration.current().policy.checkpointIntervalSeconds
                throw .conflict("exchange \(exchange) is in the audit log of \(runtime.serverId) but not yet covered by a signed checkpoint; retry after the next checkpoint\(interval.map { " (every \($0) s)" } ?? "")",
                                retryAfterSeconds: interval)
            case .damaged:
                throw unreadable(error)
            }
        } catch {
            throw unreadable(error)
        }
        let bundle = EvidenceBundle(exchange: exchange, createdAt: runtime.now(), records: records)
        let data: Data
        do { data = try Self.bundleEncoder().encode(bundle) } catch {
            throw .unavailable(.providerInternalError, "The evidence bundle could not be encoded.")
        }
        return Self.json(data)
    }

    /// The audit log cannot be read: the caller gets a generic message, the log the cause.
    private func unreadable(_ error: any Error) -> OperationsError {
        let failure = OperationsError.unavailable(.providerInternalError, "The audit log of \(runtime.serverId) cannot be read now; try again later.")
        runtime.logger.error("audit log unreadable for an evidence query", metadata: ["error": "\(error)", "detail": "\(failure.body.detail)"])
        return failure
    }

    /// How bundles are written: exactly like `lienthong audit export`, so that
    /// `lienthong audit verify-bundle` reads them.
    static func bundleEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// The exchange id of the evidence route: the rest of the path, percent-decoded once, 1 to
    /// 200 printable ASCII characters (`!`…`~`) without `/`.
    static func exchangeId(fromRawSegment raw: String) throws(OperationsError) -> String {
        guard !raw.isEmpty else { throw .badRequest("the exchange id is missing: GET /auditor/v1/evidence/{exchangeId}") }
        guard raw.utf8.count <= maximumExchangeIdLength * 3, let decoded = raw.removingPercentEncoding else {
            throw .badRequest("the exchange id is not validly percent-encoded")
        }
        let bytes = Array(decoded.utf8)
        guard (1...maximumExchangeIdLength).contains(bytes.count) else {
            throw .badRequest("the exchange id must be 1 to \(maximumExchangeIdLength) characters long")
        }
        guard bytes.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "/") }) else {
            throw .badRequest("the exchange id must be printable ASCII (! to ~) without '/'")
        }
        return decoded
    }

    /// The `X-LienThong-On-Behalf-Of` value, if any: 1 to 256 printable ASCII characters (spaces allowed).
    static func onBehalfOf(_ value: String?) throws(OperationsError) -> String? {
        guard let value else { return nil }
        let trimmed = value.trimmingSpacesAndTabs()
        guard (1...maximumOnBehalfOfLength).contains(trimmed.utf8.count), trimmed.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw .badRequest("\(ServerOperationsClient.onBehalfOfHeader) must be 1 to \(maximumOnBehalfOfLength) printable ASCII characters")
        }
        return String(trimmed)
    }

    // MARK: Admin: veto

    private func readVeto(channel: any Channel) async throws(OperationsError) -> Response {
        _ = try await authenticate(channel, as: .ownerOperator, action: "read the veto")
        return Self.json(try Self.encode(runtime.veto.current.settings))
    }

    private func replaceVeto(_ request: Request, channel: any Channel) async throws(OperationsError) -> Response {
        let admin = try await authenticate(channel, as: .ownerOperator, action: "change the veto")
        let body = try await Self.collect(request, limit: Self.maximumVetoBodyBytes)
        let settings = try Self.decodeVetoSettings(body)
        let veto: ProviderVeto
        do { veto = try ProviderVeto(validating: settings) } catch { throw .badRequest(error.message) }
        let after = try Self.encode(veto.settings)
        let before = runtime.veto.replace(with: veto)
        runtime.logger.notice("veto changed", metadata: [
            "admin": "\(admin.subject)", "certificate_sha256": "\(admin.sha256)", "server": "\(runtime.serverId)", "changed": "\(before != veto)",
            "before": "\(String(decoding: (try? Self.encode(before.settings)) ?? Data(), as: UTF8.self))",
            "after": "\(String(decoding: after, as: UTF8.self))",
        ])
        return Self.json(after)
    }

    /// Decodes a veto body strictly: a JSON object with exactly `maintenance`,
    /// `disabled_services` and `denied_clients` (a `PUT` replaces the whole veto, so a missing key
    /// is refused rather than read as empty).
    static func decodeVetoSettings(_ body: [UInt8]) throws(OperationsError) -> VetoSettings {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(body)) } catch {
            throw .badRequest("the body is not JSON")
        }
        guard let dictionary = object as? [String: Any] else {
            throw .badRequest("the body must be a JSON object {\"maintenance\", \"disabled_services\", \"denied_clients\"}")
        }
        let known: Set<String> = ["maintenance", "disabled_services", "denied_clients"]
        let unknown = dictionary.keys.filter { !known.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw .badRequest("unknown field\(unknown.count == 1 ? "" : "s") \(unknown.map { Self.printable($0, limit: 40) }.joined(separator: ", ")); the veto has maintenance, disabled_services and denied_clients")
        }
        do {
            return try JSONDecoder().decode(VetoSettings.self, from: Data(body))
        } catch let error as DecodingError {
            throw .badRequest(Self.describe(error))
        } catch {
            throw .badRequest("the body is not a veto: \(error)")
        }
    }

    // MARK: Authentication

    /// Who an operations route is for.
    enum Caller: Sendable {
        /// A state auditor: a certificate the global configuration in force publishes as an
        /// auditor's (`data_plane_actors.auditor_certificates_sha256`).
        case auditor
        /// An operator of this server's owner member: a certificate the global configuration in
        /// force publishes for that member (`data_plane_actors.member_operators`), or one listed
        /// in this server's `operations.veto_operators`.
        case ownerOperator
    }

    /// An authorised caller: its validated certificate, the certificate's SHA-256 (lower-case
    /// hex of the DER) and its subject, for the log.
    struct Authenticated: Sendable {
        var certificate: ValidatedCertificate
        var sha256: String
        var subject: String
    }

    /// Authenticates and authorises the TLS client certificate for `caller`.
    ///
    /// Who the holder is comes from the registry's records as the global configuration in force
    /// publishes them, never from the certificate's subject (an `OU=admin` or `OU=auditor`
    /// grants nothing): a certificate whose SHA-256 is not published for the route gets 403
    /// `Client.Forbidden`. A published one is then validated as a TLS client certificate —
    /// approved CA of that configuration, validity, key usage, OCSP (fail closed) — and gets
    /// 401 `Client.Unauthenticated` if that fails.
    private func authenticate(_ channel: any Channel, as caller: Caller, action: String) async throws(OperationsError) -> Authenticated {
        let peer: NIOSSLCertificate?
        do { peer = try await channel.nioSSL_peerCertificate().get() } catch {
            throw .unauthenticated("the TLS client certificate could not be read")
        }
        guard let peer, let der = try? peer.toDERBytes(), let certificate = try? Certificate(derEncoded: der) else {
            throw .unauthenticated("no readable TLS client certificate was presented")
        }
        let sha256 = Hex.lowercase(SHA256.hash(data: der))
        let now = runtime.now()
        let trust: TrustSnapshot
        do { trust = try await runtime.trust.snapshot(at: now) } catch {
            throw .unavailable(.providerOutdatedGlobalConf, "This server has no valid global configuration to check certificates against: \(error.message)")
        }
        let configuration = trust.index.configuration
        let actors = configuration.dataPlaneActors
        switch caller {
        case .auditor:
            guard actors.isAuditor(sha256) else {
                throw .forbidden("certificate \(sha256) is not a registered auditor's in the global configuration in force (serial \(configuration.serial)); only a registered auditor may \(action)")
            }
        case .ownerOperator:
            let owner = runtime.serverId.owner
            guard actors.isOperator(sha256, of: owner) || runtime.configuration.operations.vetoOperators.contains(sha256) else {
                throw .forbidden("certificate \(sha256) is not a registered operator of \(owner), the owner of \(runtime.serverId), in the global configuration in force (serial \(configuration.serial)), nor listed in this server's operations.veto_operators; only the owner's operators may \(action)")
            }
        }
        // The TLS layer exposes only the leaf; the chain is built from it to the approved CAs.
        let validated: ValidatedCertificate
        do {
            validated = try await trust.validator.validateTLSClient(chain: [certificate], at: now)
        } catch {
            throw .unauthenticated("client certificate rejected (\(error.code.rawValue)): \(error.message)")
        }
        return Authenticated(certificate: validated, sha256: sha256, subject: validated.holderId)
    }

    // MARK: Helpers

    static func json(_ data: Data) -> Response {
        Response(status: .ok,
                 headers: ExchangeHTTP.fields([(name: "Content-Type", value: "application/json; charset=utf-8"), (name: "Cache-Control", value: "no-store")]),
                 body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func encode(_ settings: VetoSettings) throws(OperationsError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return try encoder.encode(settings) } catch {
            throw .unavailable(.providerInternalError, "The veto could not be encoded.")
        }
    }

    /// Reads a request body of at most `limit` bytes.
    static func collect(_ request: Request, limit: Int) async throws(OperationsError) -> [UInt8] {
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw .requestTooLarge("the body (\(declared) bytes) exceeds the limit of \(limit) bytes")
        }
        var bytes: [UInt8] = []
        do {
            for try await chunk in request.body {
                guard bytes.count + chunk.readableBytes <= limit else {
                    throw OperationsError.requestTooLarge("the body exceeds the limit of \(limit) bytes")
                }
                bytes.append(contentsOf: chunk.readableBytesView)
            }
        } catch let error as OperationsError {
            throw error
        } catch {
            throw .badRequest("the body could not be read")
        }
        return bytes
    }

    /// `text` shortened and with anything but printable ASCII replaced, for messages.
    static func printable(_ text: String, limit: Int) -> String {
        let cleaned = String(text.unicodeScalars.prefix(limit).map { (0x20...0x7E).contains($0.value) ? Character($0) : "?" })
        return text.unicodeScalars.count > limit ? cleaned + "…" : cleaned
    }

    /// A readable account of a JSON decoding failure, naming the field.
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "" : " at \(keys.joined(separator: "."))"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field \(key.stringValue)\(path(context)); a PUT replaces the whole veto"
        case .typeMismatch(let type, let context):
            return "wrong type\(path(context)): expected \(type)"
        case .valueNotFound(let type, let context):
            return "missing value\(path(context)): expected \(type)"
        case .dataCorrupted(let context):
            return "invalid value\(path(context))"
        @unknown default:
            return "the body is not a veto"
        }
    }
}
