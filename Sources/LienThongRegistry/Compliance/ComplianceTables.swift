import Foundation
import LienThongAudit
import LienThongCore

extension ComplianceReport {
    /// One section as a table: snake_case column names and one row of text cells per entry, the
    /// same for the terminal and for CSV.
    ///
    /// Cells: dates as RFC 3339 UTC (whole seconds), rates as percentages with one decimal
    /// (`97.5%`), latencies in ms (`>10000` for a percentile in the overflow bucket), error-type
    /// counts as `type=count` joined by `; `, absent values as an empty cell.
    public func table(_ section: ComplianceSection) -> (header: [String], rows: [[String]]) {
        switch section {
        case .kpis:
            let k = kpis
            return (["indicator", "value"], [
                ["members_registered", String(k.membersRegistered)], ["members_connected", String(k.membersConnected)],
                ["ministries_registered", String(k.ministriesRegistered)], ["ministries_sharing", String(k.ministriesSharing)],
                ["provinces_registered", String(k.provincesRegistered)], ["provinces_sharing", String(k.provincesSharing)],
                ["agreements_in_force", String(k.agreementsInForce)],
                ["served", String(k.served)], ["refused", String(k.refused)], ["failed", String(k.failed)],
            ])
        case .daily:
            return (["day", "served", "refused", "failed"],
                    kpis.exchangesPerDay.map { [$0.day, String($0.served), String($0.refused), String($0.failed)] })
        case .agreements:
            return (["agreement", "consumer", "provider", "dataset", "purposes", "status", "valid_from", "valid_until", "last_used"]
                        + Self.figureColumns("consumer") + Self.figureColumns("provider"),
                    agreements.map { a in
                        [a.id, a.consumer.canonical, a.provider.canonical, a.dataset.canonical, a.purposes.joined(separator: " "), a.status.rawValue,
                         Self.text(a.validFrom), Self.text(a.validUntil), Self.text(a.lastUsed)]
                            + Self.figureCells(a.consumerSide) + Self.figureCells(a.providerSide)
                    })
        case .datasets:
            return (["dataset", "owner", "name", "agreements"] + Self.figureColumns("consumer") + Self.figureColumns("provider"),
                    datasets.map { d in
                        [d.id.canonical, d.owner.canonical, d.nameVi, String(d.agreementCount)]
                            + Self.figureCells(d.consumerSide) + Self.figureCells(d.providerSide)
                    })
        case .agencies:
            return (["member", "name", "kind", "disabled", "datasets_provided", "datasets_owned", "datasets_consumed", "agreements_as_consumer",
                     "agreements_as_provider", "agreements_used", "share_used", "provider_served", "provider_total", "fulfilment_rate"],
                    agencies.map { a in
                        [a.member.canonical, a.name, a.kind.rawValue, a.disabled ? "yes" : "no", String(a.datasetsProvided), String(a.datasetsOwned),
                         String(a.datasetsConsumed), String(a.agreementsAsConsumer), String(a.agreementsAsProvider), String(a.agreementsUsed),
                         Self.percent(a.shareUsed), String(a.providerServed), String(a.providerTotal), Self.percent(a.fulfilmentRate)]
                    })
        case .dormant:
            return (["agreement", "consumer", "provider", "dataset", "valid_from", "last_used", "idle_days"],
                    dormant.map { d in
                        [d.id, d.consumer.canonical, d.provider.canonical, d.dataset.canonical, Self.text(d.validFrom), Self.text(d.lastUsed),
                         String(d.idleDays)]
                    })
        case .notShared:
            return (["agreement", "consumer", "provider", "dataset", "basis", "total", "served", "refused", "failed", "share", "reasons"],
                    notShared.map { n in
                        [n.id, n.consumer.canonical, n.provider.canonical, n.dataset.canonical, n.basis, String(n.total), String(n.served),
                         String(n.refused), String(n.failed), Self.percent(n.share), Self.reasons(n.reasons)]
                    })
        case .withoutAgreement:
            return (["client", "consumer_member", "target", "target_kind", "refused_by", "attempts", "first_window", "last_window"],
                    withoutAgreement.map { w in
                        [w.client, w.consumerMember, w.target, w.targetKind, w.refusedBy, String(w.count), Self.text(w.firstWindow),
                         Self.text(w.lastWindow)]
                    })
        case .discrepancies:
            return (["agreement", "consumer_member", "provider_member", "window_start", "window_end", "consumer_served", "provider_served",
                     "difference", "unexplained", "settled"],
                    discrepancies.map { d in
                        [d.agreement, d.consumerMember, d.providerMember, Self.text(d.windowStart), Self.text(d.windowEnd), String(d.consumerServed),
                         String(d.providerServed), String(d.difference), String(d.unexplained), d.settled ? "yes" : "provisional"]
                    })
        case .pendingRequests:
            return (["access_request", "consumer", "dataset", "provider", "purposes", "requested_at", "age_days", "overdue"],
                    pendingRequests.map { p in
                        [p.id, p.consumer.canonical, p.dataset.canonical, p.provider.canonical, p.purposes.joined(separator: " "),
                         Self.text(p.requestedAt), String(p.ageDays), p.overdue ? "yes" : "no"]
                    })
        case .refusals:
            return (["access_request", "consumer", "dataset", "provider", "requested_at", "decided_at", "decided_by", "reason", "legal_basis"],
                    refusals.map { r in
                        [r.id, r.consumer.canonical, r.dataset.canonical, r.provider.canonical, Self.text(r.requestedAt), Self.text(r.decidedAt),
                         r.decidedBy, r.reason ?? "", r.legalBasis ?? ""]
                    })
        }
    }

    /// RFC 4180 CSV: the header line then one line per row, each ended by CRLF; a field is quoted
    /// (with `"` doubled) when it holds a comma, a quote, CR or LF, or begins or ends with a space.
    public static func csv(header: [String], rows: [[String]]) -> String {
        var out = ""
        for line in [header] + rows {
            out += line.map(csvField).joined(separator: ",")
            out += "\r\n"
        }
        return out
    }

    /// One CSV field, quoted when needed. Text that a spreadsheet would run as a formula (it
    /// starts with `=`, `+`, `@`, a tab, or a `-` that does not begin a number) gets a leading `'`
    /// (OWASP "CSV injection"): admin-entered reasons and names must not execute on an auditor's desk.
    static func csvField(_ field: String) -> String {
        var field = field
        if let first = field.unicodeScalars.first, "=+@\t\r".unicodeScalars.contains(first)
            || (first == "-" && Double(field) == nil) {
            field = "'" + field
        }
        let needsQuotes = field.unicodeScalars.contains { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }
            || field.hasPrefix(" ") || field.hasSuffix(" ")
        guard needsQuotes else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func figureColumns(_ side: String) -> [String] {
        ["served", "refused", "failed", "success_rate", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "refused_reasons", "failed_reasons"]
            .map { "\(side)_\($0)" }
    }

    static func figureCells(_ f: UsageFigures) -> [String] {
        func latency(_ value: Int?, _ name: String) -> String {
            if let value { return String(value) }
            return f.latencyOverflow.contains(name) ? ">\(UsageCounter.latencyBucketBounds.last ?? 10_000)" : ""
        }
        return [String(f.served), String(f.refused), String(f.failed), percent(f.successRate), latency(f.latencyP50Ms, "p50"),
                latency(f.latencyP95Ms, "p95"), latency(f.latencyP99Ms, "p99"), f.latencyMeanMs.map { String(format: "%.1f", $0) } ?? "",
                reasons(f.refusedByReason), reasons(f.failedByReason)]
    }

    static func reasons(_ counts: [ReasonCount]) -> String {
        counts.map { "\($0.errorType)=\($0.count)" }.joined(separator: "; ")
    }

    static func percent(_ value: Double?) -> String {
        value.map { String(format: "%.1f%%", $0 * 100) } ?? ""
    }

    static func text(_ date: Date?) -> String {
        date.map(RegistryJSON.timestamp) ?? ""
    }
}
