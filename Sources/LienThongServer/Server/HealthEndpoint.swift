import Foundation
import Hummingbird
import LienThongCore
import LienThongRegistry
import LienThongTrust
import NIOCore

/// `GET /healthz`: the configuration's age and expiry and the member certificate's OCSP status,
/// as a ``HealthReport``; `200` when the server can exchange, `503` when it fails closed.
enum HealthEndpoint {
    static func response(runtime: SecurityServerRuntime) async -> Response {
        let now = runtime.now()
        let client = runtime.trust.configuration
        let status = await client.currentStatus()
        // The held document even if it has expired: health reports that it did.
        let held = try? await client.current(at: .distantPast)
        let freshness = await runtime.trust.revocation.policy.freshness
        if let snapshot = try? await runtime.trust.snapshot(at: now) {
            _ = try? await runtime.signer.stapledOCSP(validator: snapshot.validator, at: now)
        }
        let holder = runtime.serverId.owner.canonical
        // One read of the staple, and the report judged at a time taken after it: a concurrent
        // exchange may have fetched a newer status since `now`.
        let staple = await runtime.signer.currentStaple()
        let ocsp: HealthReport.OCSPInput
        if let staple {
            ocsp = HealthReport.OCSPInput(certificate: holder, status: .init(staple.status), thisUpdate: staple.thisUpdate,
                                          nextUpdate: staple.nextUpdate, freshness: freshness)
        } else {
            ocsp = .missing(certificate: holder)
        }
        if let held {
            runtime.metrics.setGlobalConfiguration(serial: held.serial, generatedAt: held.generatedAt, expiresAt: held.expiresAt)
        }
        runtime.metrics.setOCSPStatus(thisUpdate: staple?.thisUpdate)
        let report = HealthReport.evaluate(
            serverId: runtime.serverId, configuration: held.map(HealthReport.ConfigurationInput.init),
            lastRefreshError: status.lastError.map { "\($0)" }, ocsp: ocsp, now: max(now, runtime.now()))
        return Response(status: report.status == .ok ? .ok : .serviceUnavailable,
                        headers: ExchangeHTTP.fields([(name: "Content-Type", value: HealthReport.contentType)]),
                        body: .init(byteBuffer: ByteBuffer(bytes: report.jsonBody())))
    }
}
