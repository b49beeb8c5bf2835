import Foundation
import LienThongCore

/// Which security server wrote an exchange event.
public enum ExchangeSide: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// The consumer's server: it received the call from a local information system.
    case consumer
    /// The provider's server: it received the call from a peer server and called the backend.
    case provider

    /// The raw value.
    public var description: String { rawValue }
}

/// How an exchange ended, as the compliance view counts it (ARCHITECTURE §5, §6).
public enum ExchangeOutcome: String, Sendable, Hashable, Codable, CaseIterable {
    /// The provider answered (any HTTP status from its backend) and every check passed.
    case success
    /// A security server refused the call: a check of ARCHITECTURE §8 failed, nothing was sent on.
    case refused
    /// The call was allowed but could not be completed: backend or network failure, timeout.
    case failed
}

/// One exchange as one security server saw it: what the audit log records (issue 5 makes it
/// durable and Merkle-logged; this is the hook the exchange path writes to).
///
/// An event is held in memory only. Its `path`, `userId`, `purpose` and `errorMessage` may carry
/// personal identifiers; ``AuditRecord`` keys them out (HMAC) before anything is stored.
public struct ExchangeEvent: Sendable, Hashable, Codable {
    /// The side that recorded it.
    public var side: ExchangeSide
    /// The security server that recorded it (`INSTANCE/CLASS/MEMBER/SERVERCODE`).
    public var server: String
    /// `X-Road-Id`, the message id shared by both sides; `nil` if the request never got that far.
    public var messageId: String?
    /// `X-Road-Request-Id`: the consumer server's unique id of this exchange.
    public var requestId: String?
    /// The calling client (`X-Road-Client`), canonical form, if it could be parsed.
    public var client: String?
    /// The service called, canonical form, if it could be parsed.
    public var service: String?
    /// The dataset the service belongs to, if the global configuration names one.
    public var dataset: String?
    /// The agreement that allowed the call, if one did.
    public var agreement: String?
    /// `X-LienThong-Purpose`.
    public var purpose: String?
    /// `X-Road-UserId`.
    public var userId: String?
    /// HTTP method.
    public var method: String
    /// Service path and query as sent (still percent-encoded); the audit log keys personal identifiers out of it.
    public var path: String?
    /// The peer: the client's address on the consumer side, the peer server on the provider side.
    public var peer: String?
    /// Digest of the canonical request (base64url), once known.
    public var requestDigest: String?
    /// The request's detached JWS, once known.
    public var requestSignature: String?
    /// Digest of the canonical response (base64url), once known.
    public var responseDigest: String?
    /// The response's detached JWS, once known.
    public var responseSignature: String?
    /// The OCSP response stapled to the request signature (DER, standard base64): evidence that the
    /// signer's certificate was not revoked at the time.
    public var requestOCSP: String?
    /// The OCSP response stapled to the response signature (DER, standard base64).
    public var responseOCSP: String?
    /// HTTP status returned to the caller.
    public var status: Int
    /// The outcome.
    public var outcome: ExchangeOutcome
    /// The X-Road error type name, for refusals and failures.
    public var errorType: String?
    /// The error message, for refusals and failures.
    public var errorMessage: String?
    /// Request body size in bytes, if read.
    public var requestBytes: Int?
    /// Response body size in bytes, if any.
    public var responseBytes: Int?
    /// When the server received the request.
    public var startedAt: Date
    /// When the server finished handling it (before releasing the answer).
    public var endedAt: Date

    /// Creates an event for a request received at `startedAt`; the rest is filled in as the exchange proceeds.
    public init(side: ExchangeSide, server: String, method: String, startedAt: Date) {
        self.side = side
        self.server = server
        self.method = method
        self.startedAt = startedAt
        self.endedAt = startedAt
        self.status = 0
        self.outcome = .failed
    }

    /// Duration in seconds.
    public var duration: TimeInterval { endedAt.timeIntervalSince(startedAt) }
}

/// Where the exchange path writes its events. The security server awaits ``record(_:)`` before it
/// releases the answer it describes; if it throws, the exchange is refused with
/// `LoggingFailed` (fail closed, ARCHITECTURE §8).
public protocol ExchangeAuditSink: Sendable {
    /// Records `event` durably, or throws.
    func record(_ event: ExchangeEvent) async throws
    /// Throws if the sink is known not to be writable right now, so that an exchange is refused
    /// before anything is sent on (its refusal is then recorded, or fails to be, as usual).
    func checkWritable() async throws
}

extension ExchangeAuditSink {
    /// A sink with no way to know in advance is assumed writable; ``record(_:)`` still decides.
    public func checkWritable() async throws {}
}

/// Keeps events in memory, in order: for tests and for `lienthong demo` until issue 5's log lands.
/// It is not durable and must not be used in production.
public actor InMemoryExchangeAuditSink: ExchangeAuditSink {
    /// The events recorded so far.
    public private(set) var events: [ExchangeEvent] = []
    /// When set, ``record(_:)`` throws it: simulates an audit log that cannot be written.
    public var failure: (any Error)?

    /// Creates an empty sink.
    public init() {}

    /// Appends `event`, or throws ``failure``.
    public func record(_ event: ExchangeEvent) async throws {
        if let failure { throw failure }
        events.append(event)
    }

    /// Throws ``failure`` if set.
    public func checkWritable() async throws {
        if let failure { throw failure }
    }

    /// Sets or clears the simulated failure.
    public func setFailure(_ error: (any Error)?) { failure = error }

    /// Forgets every event.
    public func reset() { events.removeAll() }
}

/// Appends events as JSON lines to a file and fsyncs before returning: a simple durable hook until
/// the Merkle log of issue 5 replaces it.
public actor JSONLinesExchangeAuditSink: ExchangeAuditSink {
    /// The file written.
    public let url: URL
    private let handle: FileHandle
    private let encoder: JSONEncoder

    /// Opens (creating with mode 0600) `url` for appending.
    public init(url: URL) throws {
        // Created 0600 by `open` itself (never created first and restricted after); an existing file is kept.
        let fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: url.path])
        }
        close(fd)
        self.url = url
        self.handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Milliseconds matter for evidence: RFC 3339 UTC with fractional seconds.
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        self.encoder = encoder
    }

    /// Appends one line and fsyncs.
    public func record(_ event: ExchangeEvent) async throws {
        var line = try encoder.encode(event)
        line.append(0x0A)
        try handle.write(contentsOf: line)
        try handle.synchronize()
    }
}
