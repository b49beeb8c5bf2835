import Foundation
import Logging
import Synchronization

extension PostgresAuditLeafStore {
    /// The pool's last failure to connect, so that a store operation that timed out waiting for a
    /// connection can say why ("connection refused", "password authentication failed", …)
    /// instead of only that it waited.
    final class ConnectionFailures: Sendable {
        private let last = Mutex<(text: String, at: ContinuousClock.Instant)?>(nil)

        /// Records a failure reported by the pool.
        func record(_ text: String) {
            last.withLock { $0 = (text, .now) }
        }

        /// The last failure, if it happened after `instant`.
        func latest(since instant: ContinuousClock.Instant) -> String? {
            last.withLock { last in
                guard let last, last.at >= instant else { return nil }
                return last.text
            }
        }
    }

    /// A log handler for the PostgresNIO client's background logger: forwards every message the
    /// store's own logger would show to that logger's handler, and hands the pool's
    /// "Connection creation failed" messages (logged at `info`) to ``ConnectionFailures`` whatever
    /// the configured level.
    struct FailureRecordingLogHandler: LogHandler {
        var inner: any LogHandler
        let failures: ConnectionFailures

        var metadataProvider: Logger.MetadataProvider? {
            get { inner.metadataProvider }
            set { inner.metadataProvider = newValue }
        }

        var metadata: Logger.Metadata {
            get { inner.metadata }
            set { inner.metadata = newValue }
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { inner[metadataKey: key] }
            set { inner[metadataKey: key] = newValue }
        }

        /// At most `info`, so that connection failures always arrive here.
        var logLevel: Logger.Level {
            get { min(inner.logLevel, .info) }
            set { inner.logLevel = newValue }
        }

        func log(event: LogEvent) {
            if event.message.description == "Connection creation failed",
               let error = event.metadata?.first(where: { $0.key.contains("error") })?.value {
                failures.record(Self.summary(of: "\(error)"))
            }
            if event.level >= inner.logLevel {
                inner.log(event: event)
            }
        }

        /// The useful part of PostgresNIO's debug description of a connection error: the server's
        /// message, or the underlying socket error.
        static func summary(of text: String) -> String {
            for marker in ["message: ", "underlying: "] {
                if let range = text.range(of: marker) {
                    var rest = text[range.upperBound...]
                    if marker == "message: ", let end = rest.firstIndex(where: { $0 == "," || $0 == "]" }) { rest = rest[..<end] }
                    var summary = String(rest.prefix(300)).trimmingCharacters(in: .whitespaces)
                    // Drop the closing brackets of the enclosing description, keep balanced ones.
                    while let last = summary.last, last == ")" || last == "]",
                          summary.filter({ $0 == last }).count > summary.filter({ $0 == (last == ")" ? "(" : "[") }).count {
                        summary.removeLast()
                    }
                    return summary
                }
            }
            return String(text.prefix(300))
        }
    }
}
