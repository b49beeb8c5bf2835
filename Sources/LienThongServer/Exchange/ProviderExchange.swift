import Foundation
import Hummingbird
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongTrust
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// The provider side of an exchange (ARCHITECTURE §4 steps 4–5): authenticate the peer server by
/// its pinned TLS certificate, verify the request's signature and certificate, check the agreement
/// and the local veto, call the backend, sign the answer bound to the request, record, answer.
struct ProviderExchange: Sendable {
    let runtime: SecurityServerRuntime

    /// What is known about the request once its signature verified: from then on every answer,
    /// refusals included, is signed and bound to it.
    struct Binding: Sendable {
        var parsed: ParsedClientRequest
        var canonical: CanonicalMessage
        var requestHash: String
        var requestId: String?
        var validator: CertificateValidator
    }

    func run(_ request: Request, channel: any Channel, event: inout ExchangeEvent, binding: inout Binding?) async throws(XRoadFault) -> Response {
        let runtime = self.runtime
        let now = runtime.now()
        // Configuration in force, then the TLS peer: a pinned server of the client's member.
        // Nothing of the request is parsed or read before these pass.
        let trust: TrustSnapshot
        do { trust = try await runtime.trust.snapshot(at: now) } catch { throw error.fault(side: .provider) }
        let index = trust.index
        // Before authentication, only the ids are noted for the record (bounded, unparsed).
        let rawHeaders = ExchangeHTTP.pairs(request.headers)
        event.messageId = ExchangeHTTP.value(XRoadHeader.id, in: rawHeaders).map { String($0.prefix(128)) }
        event.requestId = ExchangeHTTP.value(XRoadHeader.requestId, in: rawHeaders).map { String($0.prefix(64)) }
        let peerCertificate: NIOSSLCertificate?
        do { peerCertificate = try await channel.nioSSL_peerCertificate().get() } catch {
            throw XRoadFault(.providerSslAuthenticationFailed, "The peer's TLS certificate could not be read.")
        }
        guard let peerCertificate, let der = try? peerCertificate.toDERBytes() else {
            throw XRoadFault(.providerSslAuthenticationFailed, "The peer presented no TLS certificate.")
        }
        let pin = ExchangeHTTP.sha256Hex(der)
        guard let peerServer = index.server(tlsCertificateSHA256: pin) else {
            throw XRoadFault(.providerSslAuthenticationFailed, "The peer's TLS certificate (SHA-256 \(pin.prefix(16))…) is not pinned for any security server in the global configuration.")
        }
        event.peer = peerServer.id.canonical
        // The pin says which server this is; the certificate must still be a server TLS certificate
        // of an approved CA, in its validity period and not revoked (OCSP, within the freshness
        // limit). The TLS layer checks only the chain and the dates, and accepts a certificate
        // without extended key usage (a member signing certificate) or a revoked one.
        do {
            _ = try await trust.validations.validate(role: .server, chainKey: pin, stapled: nil, at: now) { () throws(CertificateValidationError) in
                do { return [try Certificate(derEncoded: der)] } catch {
                    throw CertificateValidationError(.missingCertificate, "the TLS certificate cannot be parsed: \(error)")
                }
            }
        } catch {
            switch error.code {
            case .expired, .notYetValid, .revoked, .revocationStatusUnknown:
                throw XRoadFault(.providerCertValidation, "The TLS certificate of the peer \(peerServer.id) is not acceptable: \(error)")
            case .missingCertificate, .untrustedChain, .wrongRole:
                throw XRoadFault(.providerSslAuthenticationFailed, "The TLS certificate of the peer \(peerServer.id) is not acceptable: \(error)")
            }
        }

        let parsed = try ParsedClientRequest(
            method: request.method.rawValue, rawTarget: request.head.path ?? "", headers: rawHeaders,
            limits: runtime.requestLimits, generateMessageId: { "" })
        event.messageId = parsed.messageIdWasGenerated ? nil : parsed.messageId
        event.client = parsed.client.canonical
        event.service = parsed.service.canonical
        event.purpose = parsed.purpose
        event.userId = parsed.userId
        event.path = parsed.servicePath
        let requestId = event.requestId
        guard !parsed.messageIdWasGenerated else {
            throw XRoadFault(.badRequest, "The request carries no \(XRoadHeader.id); a consumer security server always sends one.")
        }
        let signedTime = try InterServerHeader.signedTime(
            protocolHeader: ExchangeHTTP.value(InterServerHeader.protocolVersion, in: rawHeaders),
            timeHeader: ExchangeHTTP.value(InterServerHeader.time, in: rawHeaders))
        guard peerServer.id.owner == parsed.client.member else {
            throw XRoadFault(.providerSslAuthenticationFailed, "The peer \(peerServer.id) is not a security server of the client's member \(parsed.client.member).")
        }
        let metaservice = Metaservice(serviceCode: parsed.service.serviceCode)
        let local = runtime.localServices[parsed.service]
        if metaservice == nil {
            guard local != nil, index.service(parsed.service) != nil else {
                throw XRoadFault(.providerUnknownService, "Service \(parsed.service) is not provided by security server \(runtime.serverId).")
            }
        } else {
            guard parsed.service.subsystem.member == runtime.serverId.owner, index.hasSubsystem(parsed.service.subsystem) else {
                throw XRoadFault(.providerUnknownService, "Subsystem \(parsed.service.subsystem) is not served by security server \(runtime.serverId).")
            }
        }

        // The request itself: body within the limit, signature, signer certificate and revocation.
        let body = try await ExchangeHTTP.spool(request, limits: runtime.spoolLimits, tooLarge: .requestTooLarge, internalError: .providerInternalError)
        event.requestBytes = body.byteCount
        let canonical = parsed.canonicalRequest(bodyDigest: body.sha256, time: signedTime)
        event.requestDigest = canonical.digest.base64URL
        let signature = ExchangeHTTP.value(InterServerHeader.signature, in: rawHeaders)
        _ = try await SignedMessageCheck.verify(
            signature: signature, staple: ExchangeHTTP.value(InterServerHeader.ocsp, in: rawHeaders), message: canonical,
            signer: parsed.client.member, validations: trust.validations, verifyingSide: .provider, now: runtime.now())
        event.requestSignature = signature
        event.requestOCSP = ExchangeHTTP.value(InterServerHeader.ocsp, in: rawHeaders)
        binding = Binding(parsed: parsed, canonical: canonical,
                          requestHash: body.requestHasher.finalize(headerPart: XRoadRequestHash.headerPart(of: canonical)),
                          requestId: requestId, validator: trust.validator)
        // A verified request must be fresh (its signed time inside the window) and its id new for
        // its client, in the store every node shares (ReplayCheck); checked at this server's time now.
        try await runtime.replays.admit(provider: parsed.service.subsystem.member, client: parsed.client, messageId: parsed.messageId,
                                        signedAt: signedTime, now: runtime.now())

        if let metaservice {
            let answer = try runtime.metaservices(index: index).respond(
                to: metaservice, provider: parsed.service.subsystem, client: parsed.client, rawQuery: parsed.target.query, at: now)
            return try await signedResponse(status: 200, headers: [(name: "Content-Type", value: answer.contentType)],
                                            body: SpooledBody(bytes: answer.body), binding: binding, event: &event)
        }

        // Agreement, then the data owner's veto.
        event.dataset = index.dataset(exposedBy: parsed.service)?.canonical
        // The endpoint too: what a consumer signed is no licence for an endpoint its agreement does not cover.
        let agreement = try AccessPolicy.agreement(client: parsed.client, service: parsed.service, purpose: parsed.purpose,
                                                   method: parsed.method, path: parsed.target.remainingPath,
                                                   index: index, side: .provider, now: now)
        event.agreement = agreement.id
        event.dataset = agreement.dataset.canonical
        try runtime.veto.current.check(client: parsed.client, service: parsed.service,
                                       enabledInConfiguration: index.service(parsed.service)?.enabled ?? false, server: runtime.serverId)
        guard let local else {
            throw XRoadFault(.providerUnknownService, "Service \(parsed.service) has no backend on this server.")
        }

        // The backend, once the audit log is known to be writable.
        do { try await runtime.audit.checkWritable() } catch {
            throw XRoadFault(.providerLoggingFailed, ExchangeHTTP.loggingFailedMessage(error))
        }
        var backendHeaders = parsed.forwardedHeaders
        backendHeaders.append(contentsOf: parsed.xRoadHeaders)
        backendHeaders.append((name: XRoadHeader.service, value: parsed.service.percentEncoded))
        if let requestId { backendHeaders.append((name: XRoadHeader.requestId, value: requestId)) }
        let timeout = local.timeoutSeconds ?? runtime.configuration.limits.backendTimeoutSeconds
        let answer: BackendClient.Answer
        do {
            answer = try await runtime.backend.call(
                baseURL: local.backendURL, path: parsed.servicePath, method: parsed.method, headers: backendHeaders, body: body,
                timeout: timeout, responseLimits: runtime.spoolLimits)
        } catch {
            switch error {
            case .unreachable(let why):
                throw XRoadFault(.providerNetworkError, "The backend of \(parsed.service) cannot be reached: \(why)")
            case .timeout(let seconds):
                throw XRoadFault(.providerServiceFailed, "The backend of \(parsed.service) did not answer within \(seconds) s.")
            case .responseTooLarge(let limit):
                throw XRoadFault(.providerServiceFailed, "The backend's answer exceeds the limit of \(limit) bytes.")
            case .failed(let why):
                throw XRoadFault(.providerServiceFailed, "The backend of \(parsed.service) failed: \(why)")
            }
        }
        let answerHeaders = answer.headers.filter { !XRoadHeader.isResponseXRoadHeader($0.name) && !InterServerHeader.hopHeaders.contains($0.name.lowercased()) }
        return try await signedResponse(status: answer.status, headers: answerHeaders, body: answer.body, binding: binding, event: &event)
    }

    /// Signs an answer bound to the verified request and adds the X-Road response headers.
    func signedResponse(status: Int, headers: [(name: String, value: String)], body: SpooledBody, binding: Binding?,
                        event: inout ExchangeEvent) async throws(XRoadFault) -> Response {
        guard let binding else {
            throw XRoadFault(.providerInternalError, "An answer cannot be signed before the request is verified.")
        }
        let canonicalResponse = CanonicalMessage.response(to: binding.canonical, status: status, headers: headers, bodyDigest: body.sha256)
        let staple: [UInt8]
        do { staple = try await runtime.signer.stapledOCSP(validator: binding.validator, at: runtime.now()) } catch {
            throw XRoadFault(.providerCertValidation, "This server's own member signing certificate is not usable: \(error)")
        }
        var signature: String
        do { signature = try runtime.signer.sign(canonicalResponse).compact } catch {
            throw XRoadFault(.providerInternalError, "Signing the response failed: \(error)")
        }
        if runtime.hooks.tamperResponseSignature { signature = ExchangeHTTP.tampered(signature) }
        event.responseDigest = canonicalResponse.digest.base64URL
        event.responseSignature = signature
        event.responseOCSP = Data(staple).base64EncodedString()
        event.responseBytes = body.byteCount
        var all = headers
        all.append(contentsOf: [
            (name: XRoadHeader.id, value: binding.parsed.messageId),
            (name: XRoadHeader.client, value: binding.parsed.client.percentEncoded),
            (name: XRoadHeader.service, value: binding.parsed.service.percentEncoded),
            (name: XRoadHeader.requestHash, value: binding.requestHash),
            (name: InterServerHeader.signature, value: signature),
            (name: InterServerHeader.ocsp, value: Data(staple).base64EncodedString()),
        ])
        if let requestId = binding.requestId { all.append((name: XRoadHeader.requestId, value: requestId)) }
        return ExchangeHTTP.response(status: status, headers: all, body: body)
    }
}
