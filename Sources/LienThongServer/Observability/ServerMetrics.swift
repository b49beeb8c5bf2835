import Foundation
import LienThongAudit
import LienThongCore
import Prometheus
import Synchronization

/// The Prometheus metrics of one security server, served at `/metrics`.
///
/// Each instance owns its own `PrometheusCollectorRegistry` (the global `MetricsSystem` is not
/// bootstrapped), so several servers can run in one process, as the tests and `lienthong demo` do.
///
/// | metric | type | labels |
/// |---|---|---|
/// | `lienthong_exchanges_total` | counter | `side`, `service`, `outcome` |
/// | `lienthong_exchange_duration_seconds` | histogram (``durationBuckets``) | `side`, `service` |
/// | `lienthong_globalconf_serial` | gauge | |
/// | `lienthong_globalconf_age_seconds` | gauge, computed when rendered | |
/// | `lienthong_globalconf_expires_in_seconds` | gauge, computed when rendered (negative once expired) | |
/// | `lienthong_ocsp_status_age_seconds` | gauge, computed when rendered | |
///
/// The gauges of the global configuration and the OCSP status appear once their inputs are set:
/// an absent series means "unknown", never 0.
///
/// Label cardinality is bounded: `side` (`LienThongAudit.ExchangeSide`) has two values; `outcome` is `success`, an error type of
/// ``XRoadErrorType/catalogue`` (both spellings map to the classic one) or `other`; `service` is a
/// canonical service id, and past ``maximumServices`` distinct ids further ones are counted under
/// ``overflowServiceLabel``.
public final class ServerMetrics: Sendable {
    /// The content type of ``render(at:)``'s text: Prometheus text exposition format 0.0.4.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The `service` label value of services past ``maximumServices``: `_other`.
    public static let overflowServiceLabel = "_other"

    /// The histogram buckets, 1 ms to 30 s.
    public static let durationBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]

    /// The metric names.
    public enum Name {
        /// `lienthong_exchanges_total`.
        public static let exchanges = "lienthong_exchanges_total"
        /// `lienthong_exchange_duration_seconds`.
        public static let exchangeDuration = "lienthong_exchange_duration_seconds"
        /// `lienthong_globalconf_serial`.
        public static let globalConfigurationSerial = "lienthong_globalconf_serial"
        /// `lienthong_globalconf_age_seconds`.
        public static let globalConfigurationAge = "lienthong_globalconf_age_seconds"
        /// `lienthong_globalconf_expires_in_seconds`.
        public static let globalConfigurationExpiresIn = "lienthong_globalconf_expires_in_seconds"
        /// `lienthong_ocsp_status_age_seconds`.
        public static let ocspStatusAge = "lienthong_ocsp_status_age_seconds"
    }

    private enum Help {
        static let exchanges = "Exchanges handled, by side, canonical service id and outcome (success or X-Road error type)."
        static let exchangeDuration = "Duration of exchanges in seconds, by side and canonical service id."
        static let serial = "Serial of the global configuration in use."
        static let age = "Seconds since the global configuration in use was generated."
        static let expiresIn = "Seconds until the global configuration in use expires (negative once expired)."
        static let ocspAge = "Seconds since thisUpdate of the OCSP status of the member signing certificate."
    }

    private struct State {
        var services: Set<String> = []
        var configuration: (serial: Int64, generatedAt: Date, expiresAt: Date)?
        var ocspThisUpdate: Date?
        var ocspGauge: Gauge?
    }

    /// The registry the metrics live in.
    public let registry: PrometheusCollectorRegistry

    /// How many distinct `service` label values are kept; 10,000 by default.
    public let maximumServices: Int

    private let state = Mutex(State())

    /// Creates the metrics in a registry of their own (or in `registry`).
    ///
    /// - parameters:
    ///     - registry: The registry; a new one by default.
    ///     - maximumServices: How many distinct `service` label values are kept.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), maximumServices: Int = 10_000) {
        self.registry = registry
        self.maximumServices = maximumServices
    }

    // MARK: Exchanges

    /// The `outcome` label value for `outcome`: `success`, the classic name of an X-Road error type
    /// given in either spelling (see ``XRoadErrorType/init(parsing:)``), or `other` for anything else.
    ///
    /// - parameters:
    ///     - outcome: `success` or an X-Road error type name.
    public static func outcomeLabel(_ outcome: String) -> String {
        if outcome == "success" { return "success" }
        return XRoadErrorType(parsing: outcome)?.name ?? "other"
    }

    /// Counts one exchange and records its duration.
    ///
    /// - parameters:
    ///     - side: The side this server played.
    ///     - service: The canonical service id (`-` when the request never named a valid one).
    ///     - outcome: `success` or an X-Road error type name (either spelling); see ``outcomeLabel(_:)``.
    ///     - duration: How long the exchange took on this server.
    public func recordExchange(side: ExchangeSide, service: String, outcome: String, duration: Duration) {
        recordExchange(side: side, serviceLabel: service, outcomeLabel: Self.outcomeLabel(outcome), duration: duration)
    }

    /// Counts one exchange and records its duration given in seconds.
    ///
    /// - parameters:
    ///     - side: The side this server played.
    ///     - service: The canonical service id (`-` when the request never named a valid one).
    ///     - outcome: `success` or an X-Road error type name (either spelling); see ``outcomeLabel(_:)``.
    ///     - duration: How long the exchange took on this server, in seconds (e.g. `ExchangeEvent.duration`).
    public func recordExchange(side: ExchangeSide, service: String, outcome: String, duration: TimeInterval) {
        let nanoseconds = duration.isFinite ? max(0, min(duration * 1e9, Double(Int64.max))) : 0
        recordExchange(side: side, service: service, outcome: outcome, duration: .nanoseconds(Int64(nanoseconds)))
    }

    /// Counts one exchange and records its duration.
    ///
    /// - parameters:
    ///     - side: The side this server played.
    ///     - service: The service called.
    ///     - fault: The X-Road error answered, or `nil` when the exchange succeeded.
    ///     - duration: How long the exchange took on this server.
    public func recordExchange(side: ExchangeSide, service: ServiceId, fault: XRoadErrorType?, duration: Duration) {
        recordExchange(side: side, serviceLabel: service.canonical, outcomeLabel: fault?.name ?? "success", duration: duration)
    }

    private func recordExchange(side: ExchangeSide, serviceLabel: String, outcomeLabel: String, duration: Duration) {
        let service = boundedServiceLabel(serviceLabel)
        registry.makeCounter(
            descriptor: MetricNameDescriptor(metricName: "lienthong_exchanges", unitName: "total", helpText: Help.exchanges),
            labels: [("side", side.rawValue), ("service", service), ("outcome", outcomeLabel)]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(metricName: "lienthong_exchange_duration", unitName: "seconds", helpText: Help.exchangeDuration),
            labels: [("side", side.rawValue), ("service", service)],
            buckets: Self.durationBuckets
        ).record(max(duration, .zero))
    }

    private func boundedServiceLabel(_ service: String) -> String {
        state.withLock { state in
            if state.services.contains(service) { return service }
            guard state.services.count < maximumServices else { return Self.overflowServiceLabel }
            state.services.insert(service)
            return service
        }
    }

    // MARK: Global configuration and OCSP

    /// Records the global configuration now in use.
    ///
    /// - parameters:
    ///     - serial: Its serial.
    ///     - generatedAt: When the registry generated it.
    ///     - expiresAt: When it expires.
    public func setGlobalConfiguration(serial: Int64, generatedAt: Date, expiresAt: Date) {
        state.withLock { $0.configuration = (serial, generatedAt, expiresAt) }
        gauge(Name.globalConfigurationSerial, Help.serial).set(to: Double(serial))
    }

    /// Records the `thisUpdate` of the OCSP status of the member signing certificate now in use, or
    /// `nil` when the server holds no status (the gauge is then removed).
    ///
    /// - parameters:
    ///     - thisUpdate: The status's `thisUpdate`, or `nil`.
    public func setOCSPStatus(thisUpdate: Date?) {
        state.withLock { state in
            state.ocspThisUpdate = thisUpdate
            if thisUpdate == nil, let gauge = state.ocspGauge {
                state.ocspGauge = nil
                registry.unregisterGauge(gauge)
            }
        }
    }

    // MARK: Rendering

    /// The metrics in Prometheus text exposition format (served with ``contentType``). The age
    /// gauges are computed at `now`.
    ///
    /// - parameters:
    ///     - now: The current time.
    public func render(at now: Date = Date()) -> String {
        // Under the lock, so that a concurrent `setOCSPStatus(thisUpdate: nil)` cannot leave a gauge behind.
        state.withLock { state in
            if let configuration = state.configuration {
                gauge(Name.globalConfigurationAge, Help.age).set(to: now.timeIntervalSince(configuration.generatedAt))
                gauge(Name.globalConfigurationExpiresIn, Help.expiresIn).set(to: configuration.expiresAt.timeIntervalSince(now))
            }
            if let thisUpdate = state.ocspThisUpdate {
                let ocspGauge = gauge(Name.ocspStatusAge, Help.ocspAge)
                ocspGauge.set(to: now.timeIntervalSince(thisUpdate))
                state.ocspGauge = ocspGauge
            }
        }
        return registry.emitToString()
    }

    private func gauge(_ name: String, _ help: String) -> Gauge {
        // All gauge names are full names without a unit suffix of their own.
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help))
    }
}
