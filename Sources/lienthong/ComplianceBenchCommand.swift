import ArgumentParser
import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongTrust

/// `lienthong registry bench-compliance`: loads a year of synthetic usage for a national-scale
/// registry into a checkpoint ledger through the registry's own ingestion code, then times the
/// compliance view over a quarter (`docs/compliance.md` §Benchmark).
struct ComplianceBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-compliance",
        abstract: "Benchmark the compliance view: a year of synthetic usage for 85 agencies, then timed quarter queries.",
        discussion: """
        Builds a registry of 85 members (22 ministries, 63 provinces) with one security server and two subsystems \
        each, 214 datasets and the given number of agreements; generates usage for every 5-minute window of the \
        given number of days (a skewed choice of agreements per window, office-hours profile, both sides, boundary \
        straddles, refusals, failures, attempts without agreement, dormant agreements and a few injected \
        discrepancies) and ingests it, one day per transaction, through the same code as accepted checkpoints \
        (without signatures); then runs the compliance queries over the last quarter. Build with -c release.
        """
    )

    @Option(help: "Days of usage to generate.") var days: Int = 365
    @Option(help: "Number of agreements.") var agreements: Int = 2_000
    @Option(help: "Directory for the ledger database, which is then kept (default: a temporary directory, removed).") var dir: String?
    @Option(help: "Agreements with exchanges in an average 5-minute window.") var busyAgreements: Int = 12
    @Option(help: "National average exchanges per second.") var rate: Double = 20
    @Option(help: "How many times to run each query.") var repetitions: Int = 3

    func validate() throws {
        guard (1...3_650).contains(days), (1...1_000_000).contains(agreements), busyAgreements >= 1, rate > 0, repetitions >= 1 else {
            throw ValidationError("--days must be 1 to 3650, --agreements 1 to 1000000, --busy-agreements and --repetitions at least 1, --rate positive")
        }
    }

    func run() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-bench-compliance-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let databaseDirectory = dir.map { URL(fileURLWithPath: $0) } ?? scratch
        try FileManager.default.createDirectory(at: databaseDirectory, withIntermediateDirectories: true)
        let databasePath = databaseDirectory.appendingPathComponent("bench-compliance-\(UUID().uuidString.prefix(8)).sqlite").path
        func progress(_ line: String) { FileHandle.standardError.write(Data("… \(line)\n".utf8)) }

        progress("creating a development PKI and the ledger \(databasePath)")
        let pki = try DevelopmentPKI.initialise(at: scratch.appendingPathComponent("pki"), instance: "VN", ocspURL: nil)
        let signer = try DetachedJWS.Signer(
            key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(pki.url(.configurationSigningKey))),
            chain: try PEMFiles.readCertificates(pki.url(.configurationSigningCertificate)))
        let ledger = try CheckpointLedger(path: databasePath, instance: "VN", signer: signer,
                                          validator: CertificateValidator(trustAnchors: [pki.rootCertificate], revocation: nil))

        let start = Date(timeIntervalSince1970: 1_735_689_600) // 2025-01-01T00:00:00Z
        let end = start.addingTimeInterval(Double(days) * 86_400)
        let model = try SyntheticUsageModel(agreements: agreements, start: start, days: days, busyAgreements: busyAgreements, rate: rate)
        progress("registry: \(model.snapshot.members.count) members, \(model.snapshot.datasets.count) datasets, \(model.snapshot.agreements.count) agreements; generating and ingesting \(days) days × 288 windows")

        // Generate day d+1 while day d is written.
        let clock = ContinuousClock()
        let ingestStart = clock.now
        var stats = SyntheticUsageModel.Stats()
        var pending = Task.detached { model.day(0) }
        var waiting: Duration = .zero
        for day in 0..<days {
            let waitStart = clock.now
            let batch = await pending.value
            waiting += clock.now - waitStart
            if day + 1 < days { pending = Task.detached { model.day(day + 1) } }
            stats.add(batch.stats)
            try await ledger.ingestSynthetic(batch.checkpoints)
            if (day + 1) % 30 == 0 || day + 1 == days {
                progress("day \(day + 1)/\(days): \(stats.counters) counters, \(String(format: "%.0f", Self.seconds(clock.now - ingestStart))) s")
            }
        }
        let ingestSeconds = Self.seconds(clock.now - ingestStart)

        // The queries, over the last calendar quarter (the three whole months before the end), the
        // last 90 days, and 90 days with unaligned ends.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let endMonth = calendar.date(from: calendar.dateComponents([.year, .month], from: end)) ?? end
        let from = max(start, calendar.date(byAdding: .month, value: -3, to: endMonth) ?? start)
        let engine = ComplianceEngine(ledger: ledger)
        let snapshot = model.snapshot
        let quarter = ComplianceQuery(from: from, to: endMonth)
        let last90 = ComplianceQuery(from: max(start, end.addingTimeInterval(-90 * 86_400)), to: end)
        let unaligned = ComplianceQuery(from: last90.from.addingTimeInterval(7 * 3_600 + 13 * 60), to: end.addingTimeInterval(-5 * 3_600))
        let year = ComplianceQuery(from: start, to: end)
        let cases: [(String, ComplianceQuery, Set<ComplianceSection>)] = [
            ("quarter, full report", quarter, Set(ComplianceSection.allCases)),
            ("last 90 days, full report", last90, Set(ComplianceSection.allCases)),
            ("90 days, unaligned ends, full", unaligned, Set(ComplianceSection.allCases)),
            ("quarter, kpis + daily", quarter, [.kpis, .daily]),
            ("quarter, agreements", quarter, [.agreements]),
            ("quarter, agencies", quarter, [.agencies]),
            ("quarter, dormant", quarter, [.dormant]),
            ("quarter, discrepancies", quarter, [.discrepancies]),
            ("quarter, without-agreement", quarter, [.withoutAgreement]),
            ("quarter, one agreement, full", ComplianceQuery(from: from, to: endMonth, agreement: model.hottestAgreement), Set(ComplianceSection.allCases)),
            ("whole period, full report", year, Set(ComplianceSection.allCases)),
        ]
        var rows: [(String, [Double])] = []
        var lastQuarter: ComplianceReport?
        for (name, query, sections) in cases {
            var times: [Double] = []
            for repetition in 1...repetitions {
                progress("\(name), run \(repetition)")
                let began = clock.now
                let report = try await engine.report(query, snapshot: snapshot, now: end, sections: sections)
                times.append(Self.seconds(clock.now - began))
                if name == "quarter, full report" { lastQuarter = report }
            }
            rows.append((name, times))
        }
        var encodeTimes: [Double] = []
        var jsonBytes = 0
        if let lastQuarter {
            for _ in 1...repetitions {
                let began = clock.now
                jsonBytes = try RegistryJSON.makeEncoder().encode(lastQuarter).count
                encodeTimes.append(Self.seconds(clock.now - began))
            }
            rows.append(("quarter report → JSON", encodeTimes))
        }

        // Results.
        print("synthetic usage: \(days) days × 288 windows, \(model.snapshot.members.count) members, \(model.snapshot.agreements.count) agreements, "
              + "\(busyAgreements) busy agreements per window on average, \(String(format: "%.0f", rate)) exchanges/s on average")
        print("generated: \(stats.counters) usage counters (\(stats.checkpoints) synthetic checkpoints), \(stats.exchanges) exchanges (consumer side), "
              + "\(stats.injectedDiscrepancies) injected discrepancies (\(stats.injectedDiscrepancies(from: from, to: endMonth)) in the quarter), "
              + "\(stats.straddles) boundary straddles")
        print(String(format: "generate + ingest: %.1f s (%.0f counters/s; %.1f s of it waiting for the generator)", ingestSeconds,
                     Double(stats.counters) / max(ingestSeconds, 1e-9), Self.seconds(waiting)))
        for (table, count) in try ledger.usageTableRowCounts() {
            print("  \(table.padding(toLength: 22, withPad: " ", startingAt: 0)) \(String(format: "%12d", count)) rows")
        }
        let bytes = ["", "-wal"].compactMap { try? FileManager.default.attributesOfItem(atPath: databasePath + $0)[.size] as? NSNumber }
            .reduce(0) { $0 + $1.intValue }
        print(String(format: "  database file: %.1f MiB", Double(bytes) / 1_048_576))
        print("")
        func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0) }
        print("\(pad("query (\(RegistryJSON.timestamp(quarter.from).prefix(10)) to \(RegistryJSON.timestamp(quarter.to).prefix(10)))", 34)) \(pad("median s", 9)) \(pad("max s", 9))")
        for (name, times) in rows {
            let sorted = times.sorted()
            let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            print("\(pad(name, 34)) \(String(format: "%9.3f", median)) \(String(format: "%9.3f", sorted.last ?? 0))")
        }
        if let report = lastQuarter {
            print("")
            print("quarter report: \(report.agreements.count) agreements, \(report.agencies.count) agencies, \(report.dormant.count) dormant, "
                  + "\(report.notShared.count) not shared, \(report.withoutAgreement.count) without-agreement groups, "
                  + "\(report.discrepancies.count) discrepancies, \(report.pendingRequests.count) pending requests, "
                  + "\(report.refusals.count) refusals; served \(report.kpis.served), refused \(report.kpis.refused), failed \(report.kpis.failed); "
                  + "JSON \(jsonBytes / 1024) KiB")
            // An under-report that coincides with an exchange straddling into the same window
            // (the provider's count there is then net equal) is reported one window earlier.
            let (low, high) = (Int64(quarter.from.timeIntervalSince1970 * 1000), Int64(quarter.to.timeIntervalSince1970 * 1000))
            let injected = Set(stats.injected.filter { $0.window >= low && $0.window < high }.map { BenchWindow(agreement: $0.agreement, window: $0.window) })
            let flagged = Set(report.discrepancies.map { BenchWindow(agreement: $0.agreement, window: Int64($0.windowStart.timeIntervalSince1970 * 1000)) })
            let found = injected.filter { flagged.contains($0) || flagged.contains($0.previous) }
            let unexplained = flagged.filter { !injected.contains($0) && !injected.contains($0.next) }
            print("discrepancy check: \(injected.count) windows with an injected under-report in the quarter, \(flagged.count) flagged; "
                  + "\(found.count) injections found (\(injected.intersection(flagged).count) in their own window, the others one window early), "
                  + "\(unexplained.count) flagged without an injection; \(stats.straddles) straddles in the year, none of which may be flagged")
            for (label, keys) in [("flagged without an injection", unexplained), ("injected, not flagged", injected.subtracting(found))] where !keys.isEmpty {
                print("  \(label): " + keys.map { "\($0.agreement) \(RegistryJSON.timestamp(Date(timeIntervalSince1970: Double($0.window) / 1000)))" }
                    .sorted().prefix(8).joined(separator: ", "))
            }
            let quarterMedian = rows.first.map { $0.1.sorted()[$0.1.count / 2] } ?? 0
            print(quarterMedian < 1 ? String(format: "quarter full report median %.3f s: within the 1 s target", quarterMedian)
                                    : String(format: "quarter full report median %.3f s: OVER the 1 s target (is this a release build?)", quarterMedian))
        }
        if dir != nil { print("ledger kept at \(databasePath)") }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// The synthetic registry and its usage: deterministic (each day from its own seed), so the
/// figures are the same on every run.
struct SyntheticUsageModel: Sendable {
    /// One agreement's traffic plan.
    struct Plan: Sendable {
        var id: String
        var client: String
        var service: String
        var dataset: String
        var consumerServer: String
        var providerServer: String
        var validFrom: Int64
        var validUntil: Int64
        var active: Bool
        /// Used only before this time (agreements that fell silent).
        var silentAfter: Int64
        /// A provider that refuses or fails often.
        var poorProvider: Bool
        /// The latency profile: the usual latency bucket of a success.
        var bucket: Int
    }

    /// What a day's generation produced.
    struct Stats: Sendable {
        var counters = 0
        var checkpoints = 0
        var exchanges = 0
        var straddles = 0
        var injectedDiscrepancies = 0
        /// Where under-reports were injected: agreement and window start (ms).
        var injected: [(agreement: String, window: Int64)] = []

        mutating func add(_ other: Stats) {
            counters += other.counters
            checkpoints += other.checkpoints
            exchanges += other.exchanges
            straddles += other.straddles
            injectedDiscrepancies += other.injectedDiscrepancies
            injected += other.injected
        }

        func injectedDiscrepancies(from: Date, to: Date) -> Int {
            let (low, high) = (Int64(from.timeIntervalSince1970 * 1000), Int64(to.timeIntervalSince1970 * 1000))
            return Set(injected.filter { $0.window >= low && $0.window < high }.map { "\($0.agreement) \($0.window)" }).count
        }
    }

    let snapshot: RegistrySnapshot
    let plans: [Plan]
    let cumulativeWeights: [Double]
    let servers: [String]
    let clients: [String]
    let datasets: [(id: String, service: String)]
    let startMs: Int64
    let busyAgreements: Int
    let meanPerPick: Int
    let hourFactors: [Double]
    let hottestAgreement: String

    init(agreements count: Int, start: Date, days: Int, busyAgreements: Int, rate: Double) throws {
        var random = BenchRandom(seed: 0x436F_6D70_6C69_616E)
        let created = start.addingTimeInterval(-90 * 86_400)
        var members: [Member] = []
        var servers: [SecurityServer] = []
        var subsystems: [Subsystem] = []
        var services: [Service] = []
        var datasets: [Dataset] = []
        for i in 0..<85 {
            let ministry = i < 22
            let number = ministry ? i + 1 : i - 21
            let id = try MemberId(instance: "VN", memberClass: "GOV", memberCode: String(format: ministry ? "000.00.00.G%02d" : "000.00.00.H%02d", number))
            members.append(Member(id: id, name: ministry ? "Bộ số \(number)" : "UBND tỉnh số \(number)", kind: ministry ? .ministry : .province,
                                  createdAt: created))
            servers.append(SecurityServer(id: try SecurityServerId(owner: id, serverCode: "SS1"), address: "ss1.\(id.memberCode):5500",
                                          tlsCertificate: "", tlsCertificateSHA256: String(repeating: "0", count: 64), createdAt: created))
            for s in ["LGSP", "DVC"] { subsystems.append(Subsystem(id: try SubsystemId(member: id, subsystemCode: s), createdAt: created)) }
            for d in 0..<(ministry ? 4 : 2) {
                let subsystem = try SubsystemId(member: id, subsystemCode: "LGSP")
                let service = try ServiceId(subsystem: subsystem, serviceCode: "tra-cuu-\(d + 1)", serviceVersion: "v1")
                services.append(Service(id: service, createdAt: created))
                datasets.append(Dataset(id: try DatasetId(owner: id, datasetCode: "csdl-\(d + 1)"), nameVi: "Cơ sở dữ liệu \(d + 1) của \(id.memberCode)",
                                        nameEn: "Database \(d + 1)", classification: .internal, personalData: d == 0,
                                        legalBasis: "Nghị định 47/2020/NĐ-CP", services: [service], createdAt: created))
            }
        }
        let ministryDatasets = datasets.filter { $0.owner.memberCode.contains("G") }
        let startMs = Int64(start.timeIntervalSince1970 * 1000)
        let endMs = startMs + Int64(days) * 86_400_000
        var agreements: [Agreement] = []
        var plans: [Plan] = []
        var weights: [Double] = []
        // Zipf-like popularity over a shuffled order of the agreements.
        var ranks = Array(1...max(1, count))
        for i in stride(from: ranks.count - 1, to: 0, by: -1) { ranks.swapAt(i, Int(random.next() % UInt64(i + 1))) }
        for i in 0..<count {
            let dataset = random.chance(0.75) ? ministryDatasets[random.int(ministryDatasets.count)] : datasets[random.int(datasets.count)]
            var consumer = subsystems[random.int(subsystems.count)]
            if consumer.id.member == dataset.owner { consumer = subsystems[((subsystems.firstIndex(of: consumer) ?? 0) + 2) % subsystems.count] }
            var validFrom = start.addingTimeInterval(-30 * 86_400)
            var validUntil = start.addingTimeInterval(Double(days + 365) * 86_400)
            if random.chance(0.10) { validFrom = start.addingTimeInterval(Double(random.int(max(1, days))) * 86_400) }
            if random.chance(0.05) { validUntil = start.addingTimeInterval(Double(random.int(max(1, days))) * 86_400 + 86_400) }
            let status: AgreementStatus = random.chance(0.02) ? .suspended : .active
            let id = String(format: "AG-%06d", i + 1)
            let agreement = Agreement(id: id, dataset: dataset.id, services: dataset.services, consumer: consumer.id,
                                      purposes: ["1.00\(1000 + i % 900)"], legalBasis: "Nghị định 47/2020/NĐ-CP",
                                      validFrom: validFrom, validUntil: validUntil, status: status, createdAt: created)
            agreements.append(agreement)
            let dormant = random.chance(0.06)
            let silent = random.chance(0.04)
            plans.append(Plan(
                id: id, client: consumer.id.canonical, service: dataset.services.first?.canonical ?? "", dataset: dataset.id.canonical,
                consumerServer: "\(consumer.id.member.canonical)/SS1", providerServer: "\(dataset.owner.canonical)/SS1",
                validFrom: Int64(validFrom.timeIntervalSince1970 * 1000), validUntil: Int64(validUntil.timeIntervalSince1970 * 1000),
                active: status == .active, silentAfter: silent ? startMs + (endMs - startMs) * 2 / 5 : .max,
                poorProvider: random.chance(0.03), bucket: 3 + random.int(3)))
            weights.append(dormant ? 0 : 1 / pow(Double(ranks[i]), 1.1))
        }
        var requests: [AccessRequest] = []
        for i in 0..<70 {
            let dataset = datasets[random.int(datasets.count)]
            let consumer = subsystems[random.int(subsystems.count)]
            let requestedAt = Date(timeIntervalSince1970: Double(endMs) / 1000 - Double(1 + random.int(60)) * 86_400)
            let decision = i < 40 ? nil : AccessDecision(
                outcome: .refused, reason: "Mục đích sử dụng chưa phù hợp với chức năng, nhiệm vụ", legalBasis: "Điều 16 Nghị định 194/2025/NĐ-CP",
                decidedBy: "CN=admin-\(i % 3)", decidedAt: requestedAt.addingTimeInterval(Double(1 + random.int(10)) * 86_400), agreementId: nil)
            requests.append(AccessRequest(id: String(format: "AR-%06d", i + 1), consumer: consumer.id, dataset: dataset.id, services: [],
                                          purposes: ["1.00\(2000 + i)"], justification: "Giải quyết thủ tục hành chính",
                                          legalBasis: "Luật Giao dịch điện tử 2023", requestedUntil: nil, requestedAt: requestedAt,
                                          decision: decision))
        }
        snapshot = RegistrySnapshot(revision: 1, members: members, subsystems: subsystems, servers: servers, services: services,
                                    datasets: datasets, agreements: agreements, accessRequests: requests)
        self.plans = plans
        var total = 0.0
        cumulativeWeights = weights.map { total += $0; return total }
        self.servers = servers.map(\.id.canonical)
        clients = subsystems.map(\.id.canonical)
        self.datasets = datasets.map { ($0.id.canonical, $0.services.first?.canonical ?? "") }
        self.startMs = startMs
        self.busyAgreements = busyAgreements
        meanPerPick = max(1, Int(rate * 300 / Double(busyAgreements)))
        let raw: [Double] = [0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 1.2, 1.9, 2.2, 2.2, 2.0, 1.3, 1.7, 2.1, 2.1, 1.8, 1.2, 0.7, 0.5, 0.4, 0.3, 0.2, 0.2]
        let sum = raw.reduce(0, +)
        hourFactors = raw.map { $0 * 24 / sum }
        hottestAgreement = weights.indices.max { weights[$0] < weights[$1] }.map { plans[$0].id } ?? "AG-000001"
    }

    /// Representative durations (ms) of the latency buckets.
    static let bucketMilliseconds: [Int64] = [3, 8, 18, 38, 75, 175, 375, 750, 1_750, 3_750, 7_500, 15_000]

    /// One day's synthetic checkpoints: one per server per hour (idle servers too).
    func day(_ day: Int) -> (checkpoints: [AuditCheckpoint], stats: Stats) {
        var random = BenchRandom(seed: 0x5553_4147_4500_0000 ^ UInt64(day) &* 0x9E37_79B9_7F4A_7C15)
        var stats = Stats()
        var checkpoints: [AuditCheckpoint] = []
        checkpoints.reserveCapacity(servers.count * 24)
        let dayStart = startMs + Int64(day) * 86_400_000
        let head = TreeHead(treeSize: 0, rootHash: MerkleHash.empty)
        let totalWeight = cumulativeWeights.last ?? 0
        for hour in 0..<24 {
            var byServer: [String: [UsageCounter.Key: UsageCounter]] = [:]
            func add(_ server: String, _ side: ExchangeSide, _ window: Int64, _ plan: Plan?, client: String, service: String, dataset: String,
                     outcome: ExchangeOutcome, errorType: String?, count: Int, bucket: Int) {
                guard count > 0, let stamp = AuditTimestamp(millisecondsSince1970: window) else { return }
                let key = UsageCounter.Key(side: side, window: stamp, client: client, service: service, dataset: dataset, agreement: plan?.id,
                                           outcome: outcome, errorType: errorType)
                var counter = byServer[server]?[key] ?? UsageCounter(key: key)
                Self.spread(count, around: bucket, into: &counter)
                byServer[server, default: [:]][key] = counter
            }
            let factor = hourFactors[hour]
            for w in 0..<12 {
                let window = dayStart + Int64(hour) * 3_600_000 + Int64(w) * 300_000
                let expected = Double(busyAgreements) * factor
                let picks = Int(expected) + (random.unit() < expected - Double(Int(expected)) ? 1 : 0)
                for _ in 0..<picks {
                    guard totalWeight > 0 else { break }
                    let plan = plans[Self.sample(cumulativeWeights, random.unit() * totalWeight)]
                    guard plan.active, plan.validFrom <= window, window < plan.validUntil, window < plan.silentAfter else { continue }
                    let count = 1 + random.int(2 * meanPerPick - 1)
                    stats.exchanges += count
                    var served = count
                    // Vetoes (maintenance, disabled service): refused, both sides, agreement set.
                    let refusalShare = plan.poorProvider ? 0.3 : (random.chance(0.04) ? 0.01 : 0)
                    let refused = min(served, Int((Double(count) * refusalShare).rounded(.up)))
                    served -= refused
                    let vetoType = random.chance(0.5) ? "Server.ServerProxy.MaintenanceMode" : "Server.ServerProxy.ServiceDisabled"
                    // Backend failures: failed, both sides.
                    let failed = min(served, random.chance(0.03) ? 1 + random.int(5) : 0)
                    served -= failed
                    // Network failures the provider never saw: consumer side only.
                    let lost = min(served, random.chance(0.01) ? 1 + random.int(3) : 0)
                    served -= lost
                    // Boundary straddles and injected under-reporting by the provider.
                    let straddle = random.chance(0.1) ? min(served, 1 + random.int(2)) : 0
                    let missing = random.chance(0.0005) ? min(served - straddle, 1 + random.int(3)) : 0
                    stats.straddles += straddle > 0 ? 1 : 0
                    if missing > 0 {
                        stats.injectedDiscrepancies += 1
                        stats.injected.append((plan.id, window))
                    }
                    let c = plan.consumerServer, p = plan.providerServer
                    add(c, .consumer, window, plan, client: plan.client, service: plan.service, dataset: plan.dataset, outcome: .success,
                        errorType: nil, count: served, bucket: plan.bucket + 1)
                    add(p, .provider, window, plan, client: plan.client, service: plan.service, dataset: plan.dataset, outcome: .success,
                        errorType: nil, count: served - straddle - missing, bucket: plan.bucket)
                    add(p, .provider, window + 300_000, plan, client: plan.client, service: plan.service, dataset: plan.dataset, outcome: .success,
                        errorType: nil, count: straddle, bucket: plan.bucket)
                    for (server, side) in [(c, ExchangeSide.consumer), (p, .provider)] {
                        add(server, side, window, plan, client: plan.client, service: plan.service, dataset: plan.dataset, outcome: .refused,
                            errorType: vetoType, count: refused, bucket: 0)
                        add(server, side, window, plan, client: plan.client, service: plan.service, dataset: plan.dataset, outcome: .failed,
                            errorType: "Server.ServerProxy.ServiceFailed", count: failed, bucket: 9)
                    }
                    add(c, .consumer, window, plan, client: plan.client, service: plan.service, dataset: plan.dataset, outcome: .failed,
                        errorType: "Server.ClientProxy.NetworkError", count: lost, bucket: 10)
                }
                // Attempts without an agreement, refused by the consumer's own server.
                if random.chance(0.02) {
                    let client = clients[random.int(clients.count)]
                    let target = datasets[random.int(datasets.count)]
                    let server = client.split(separator: "/").prefix(3).joined(separator: "/") + "/SS1"
                    add(server, .consumer, window, nil, client: client, service: target.service, dataset: target.id, outcome: .refused,
                        errorType: "Server.ClientProxy.AccessDenied", count: 1 + random.int(3), bucket: 0)
                }
            }
            let hourStart = dayStart + Int64(hour) * 3_600_000
            for server in servers {
                guard let from = AuditTimestamp(millisecondsSince1970: hourStart), let to = AuditTimestamp(millisecondsSince1970: hourStart + 3_600_000)
                else { continue }
                var checkpoint = AuditCheckpoint(server: server, node: "default", sequence: UInt64(day * 24 + hour), tree: head, previous: nil,
                                                 consistencyProof: [], windowStart: from, windowEnd: to, usage: [])
                // Assigned after init: ingestion does not need the canonical order, and sorting
                // keys by their text form would dominate the generation time.
                checkpoint.usage = byServer[server].map { Array($0.values) } ?? []
                stats.counters += checkpoint.usage.count
                stats.checkpoints += 1
                checkpoints.append(checkpoint)
            }
        }
        return (checkpoints, stats)
    }

    /// The index of the first cumulative weight above `value`.
    static func sample(_ cumulative: [Double], _ value: Double) -> Int {
        var low = 0, high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] > value { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// Adds `count` exchanges to `counter`, spread over the latency buckets around `bucket`.
    static func spread(_ count: Int, around bucket: Int, into counter: inout UsageCounter) {
        let last = UsageCounter.latencyBucketBounds.count
        let shares: [(Int, Double)] = [(-1, 0.15), (1, 0.25), (2, 0.08), (3, 0.02)]
        var remaining = count
        var parts: [(Int, Int)] = []
        for (offset, share) in shares {
            let part = Int(Double(count) * share)
            parts.append((min(last, max(0, bucket + offset)), part))
            remaining -= part
        }
        parts.append((min(last, max(0, bucket)), remaining))
        for (index, part) in parts where part > 0 {
            counter.latencyBuckets[index] += UInt64(part)
            counter.count += UInt64(part)
            counter.durationMillisecondsTotal += Int64(part) * bucketMilliseconds[index]
        }
    }
}

/// An agreement's usage window, in the benchmark's self-check.
struct BenchWindow: Hashable {
    var agreement: String
    var window: Int64

    var previous: BenchWindow { BenchWindow(agreement: agreement, window: window - 300_000) }
    var next: BenchWindow { BenchWindow(agreement: agreement, window: window + 300_000) }
}

/// SplitMix64, for deterministic synthetic data.
struct BenchRandom: Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Uniform in 0..<bound (bound ≥ 1).
    mutating func int(_ bound: Int) -> Int { Int(next() % UInt64(max(1, bound))) }

    mutating func chance(_ probability: Double) -> Bool { unit() < probability }
}
