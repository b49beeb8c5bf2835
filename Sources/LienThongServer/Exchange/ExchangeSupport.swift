import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import LienThongAudit
import LienThongCore
import LienThongRegistry
import NIOCore
import NIOHTTP1

/// Test-only switches that make a server misbehave on purpose, so that end-to-end tests can prove
/// that its peer refuses. They cannot be set from a configuration file.
public struct ExchangeTestHooks: Sendable {
    /// Flip one bit of every request signature this server sends.
    public var tamperRequestSignature: Bool
    /// Flip one bit of every response signature this server sends.
    public var tamperResponseSignature: Bool
    /// The server's clock: exchange checks and the global configuration's expiry use it (a test
    /// moves it forward to see the configuration expire).
    public var clock: @Sendable () -> Date
    /// Replace the usage counters of every checkpoint this server signs: a server that
    /// under-reports, for tests of the registry's discrepancy detection.
    public var misreportCheckpointUsage: (@Sendable ([UsageCounter]) -> [UsageCounter])?

    /// No misbehaviour.
    public init(tamperRequestSignature: Bool = false, tamperResponseSignature: Bool = false,
                clock: @escaping @Sendable () -> Date = { Date() },
                misreportCheckpointUsage: (@Sendable ([UsageCounter]) -> [UsageCounter])? = nil) {
        self.tamperRequestSignature = tamperRequestSignature
        self.tamperResponseSignature = tamperResponseSignature
        self.clock = clock
        self.misreportCheckpointUsage = misreportCheckpointUsage
    }
}

/// Helpers shared by both sides of the exchange path.
enum ExchangeHTTP {
    /// The refusal message when the audit sink says no: overdue checkpoints say so (the operator
    /// must restore the registry connection); storage faults stay generic (no paths to clients).
    static func loggingFailedMessage(_ error: any Error) -> String {
        if let store = error as? AuditStoreError, store.code == .checkpointOverdue {
            return "The audit log's checkpoints have not been countersigned by the registry in time; the exchange is refused."
        }
        return "The audit log cannot be written; the exchange is refused."
    }

    /// The headers of a Hummingbird request as name/value pairs, in order, names as received.
    static func pairs(_ fields: HTTPFields) -> [(name: String, value: String)] {
        fields.map { (name: $0.name.rawName, value: $0.value) }
    }

    /// The last value of `name` (case-insensitive) in `headers`.
    static func value(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        headers.last { XRoadHeader.matches($0.name, name) }?.value
    }

    /// Builds HTTP fields, skipping any name that is not a valid token.
    static func fields(_ headers: [(name: String, value: String)]) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers {
            guard let field = HTTPField.Name(name) else { continue }
            fields.append(HTTPField(name: field, value: value))
        }
        return fields
    }

    /// The response for a fault: `X-Road-Error` plus the JSON body.
    static func faultResponse(_ fault: XRoadFault) -> Response {
        let body = fault.jsonBody()
        return Response(status: .init(code: fault.httpStatus), headers: fields(fault.headers),
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A response streaming `body`.
    static func response(status: Int, headers: [(name: String, value: String)], body: SpooledBody) -> Response {
        Response(status: .init(code: status), headers: fields(headers), body: .init(asyncSequence: body.chunks()))
    }

    /// Reads a request body into a spool, refusing a declared or actual size over the limit.
    static func spool(_ request: Request, limits: BodySpoolLimits, tooLarge: XRoadErrorType, internalError: XRoadErrorType)
        async throws(XRoadFault) -> SpooledBody
    {
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limits.maximumSize {
            throw XRoadFault(tooLarge, "The request body (\(declared) bytes) exceeds the limit of \(limits.maximumSize) bytes.")
        }
        var spooler = BodySpooler(limits: limits)
        do {
            for try await chunk in request.body {
                try spooler.append(chunk)
            }
            return try spooler.finish()
        } catch let error as BodySpoolError {
            if case .tooLarge = error {
                throw XRoadFault(tooLarge, "The request body exceeds the limit of \(limits.maximumSize) bytes.")
            }
            throw XRoadFault(internalError, "The request body could not be stored: \(error)")
        } catch let error as HTTPParserError {
            // Malformed framing (a bad chunk size, say) is the sender's fault, not this server's.
            throw XRoadFault(.badRequest, "The request body is malformed: \(error)")
        } catch {
            throw XRoadFault(internalError, "The request body could not be read: \(error)")
        }
    }

    /// Lower-case hex SHA-256 of DER bytes: the form certificates are pinned by.
    static func sha256Hex(_ bytes: [UInt8]) -> String {
        Hex.lowercase(SHA256.hash(data: bytes))
    }

    /// Changes one character in the middle of the signature part of a compact detached JWS (test
    /// hooks only). The middle, because the last base64url character of a 64-byte signature also
    /// carries unused bits.
    static func tampered(_ compact: String) -> String {
        var bytes = Array(compact.utf8)
        guard let dots = bytes.lastIndex(of: UInt8(ascii: ".")), dots + 1 < bytes.count else { return compact }
        let middle = dots + 1 + (bytes.count - dots - 1) / 2
        bytes[middle] = bytes[middle] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension GlobalConfigurationError {
    /// The fault a side answers when it has no usable configuration.
    func fault(side: ExchangeSide) -> XRoadFault {
        switch code {
        case .expired, .noConfiguration:
            return XRoadFault(side == .consumer ? .consumerOutdatedGlobalConf : .providerOutdatedGlobalConf,
                              "The global configuration is not valid: \(message)")
        default:
            return XRoadFault(side == .consumer ? .consumerInternalError : .providerInternalError,
                              "The global configuration cannot be used: \(message)")
        }
    }
}

extension XRoadHeader {
    /// The X-Road headers a security server sets on its answer itself; copies from a backend or a
    /// peer are dropped so that a client sees only the values its own server vouches for.
    public static let responseHeaders: Set<String> = [
        id.lowercased(), client.lowercased(), service.lowercased(), requestId.lowercased(), requestHash.lowercased(), error.lowercased(),
    ]

    /// Whether `name` is one of ``responseHeaders`` (case-insensitive).
    public static func isResponseXRoadHeader(_ name: String) -> Bool {
        responseHeaders.contains(name.lowercased())
    }
}
