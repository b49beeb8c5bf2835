import Foundation
import LienThongCore
import LienThongTrust

/// Measures building, encoding, signing and verifying a large global configuration; used by
/// `lienthong registry bench-config`.
public enum GlobalConfigurationBenchmark {
    /// The size of the synthetic registry.
    public struct Parameters: Sendable, Hashable {
        /// Ministries (members of kind `ministry`); 22 by default.
        public var ministries: Int
        /// Provinces (members of kind `province`); 63 by default.
        public var provinces: Int
        /// Subsystems, spread over the members; 10,000 by default.
        public var subsystems: Int
        /// Services, spread over the subsystems; 100,000 by default.
        public var services: Int
        /// Active agreements; 20,000 by default.
        public var agreements: Int
        /// Security servers per member; 2 by default.
        public var serversPerMember: Int
        /// How many times each phase runs; 3 by default.
        public var repetitions: Int

        /// Creates parameters (the defaults are the national-scale target).
        public init(ministries: Int = 22, provinces: Int = 63, subsystems: Int = 10_000, services: Int = 100_000,
                    agreements: Int = 20_000, serversPerMember: Int = 2, repetitions: Int = 3) {
            self.ministries = ministries
            self.provinces = provinces
            self.subsystems = subsystems
            self.services = services
            self.agreements = agreements
            self.serversPerMember = serversPerMember
            self.repetitions = repetitions
        }
    }

    /// The timings of one phase over the repetitions.
    public struct Phase: Sendable, Hashable {
        /// The phase name: `build`, `encode`, `sign`, `verify` or `total`.
        public var name: String
        /// The duration of each repetition, in seconds.
        public var seconds: [Double]

        /// The median duration.
        public var median: Double {
            let sorted = seconds.sorted()
            guard !sorted.isEmpty else { return 0 }
            return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }

        /// The longest duration.
        public var max: Double { seconds.max() ?? 0 }
    }

    /// The outcome of a run.
    public struct Report: Sendable {
        /// The parameters used.
        public var parameters: Parameters
        /// `build`, `encode`, `sign`, `verify`, then `total` (their sum per repetition).
        public var phases: [Phase]
        /// The number of members, subsystems, servers, services, datasets and agreements in the document.
        public var counts: [String: Int]
        /// The canonical JSON size, in bytes.
        public var payloadBytes: Int
        /// The signed (compact JWS) size, in bytes.
        public var jwsBytes: Int
        /// The serial of the last document.
        public var serial: Int64
        /// The last signed document (compact JWS), e.g. to measure its compressed size.
        public var jws: String
        /// The last document's canonical JSON.
        public var payload: [UInt8]

        /// A plain-text table of the results.
        public var table: String {
            func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: Swift.max(0, width - text.count)) }
            func seconds(_ value: Double) -> String { String(format: "%9.3f", value) }
            var lines = ["\(pad("phase", 8)) \(pad("median s", 9)) \(pad("max s", 9))"]
            for phase in phases {
                lines.append("\(pad(phase.name, 8)) \(seconds(phase.median)) \(seconds(phase.max))")
            }
            return lines.joined(separator: "\n")
        }
    }

    /// A deterministic synthetic registry: `ministries` + `provinces` members, subsystems spread
    /// round-robin over them, services round-robin over the subsystems (two endpoints each), one
    /// dataset per subsystem exposing up to three of its services, `serversPerMember` servers per
    /// member, and agreements from a pseudo-random consumer to a pseudo-random dataset, valid
    /// for a year around `now`.
    public static func syntheticSnapshot(_ parameters: Parameters, instance: String = "VN", now: Date) throws -> RegistrySnapshot {
        var random = GlobalConfigurationRandom(seed: 0x4C69_656E_5468_6F6E)
        let created = now.addingTimeInterval(-86_400)
        var members: [Member] = []
        for i in 0..<(parameters.ministries + parameters.provinces) {
            let ministry = i < parameters.ministries
            let number = ministry ? i + 1 : i - parameters.ministries + 1
            let code = ministry ? String(format: "000.00.00.G%02d", number) : String(format: "000.00.00.H%02d", number)
            members.append(Member(
                id: try MemberId(instance: instance, memberClass: "GOV", memberCode: code),
                name: ministry ? "Bộ số \(number)" : "Ủy ban nhân dân tỉnh số \(number)",
                kind: ministry ? .ministry : .province, createdAt: created))
        }
        var servers: [SecurityServer] = []
        for member in members {
            for s in 0..<parameters.serversPerMember {
                let id = try SecurityServerId(owner: member.id, serverCode: "SS\(s + 1)")
                servers.append(SecurityServer(
                    id: id, address: "ss\(s + 1).\(member.id.memberCode.lowercased()).gov.vn:5500", tlsCertificate: "",
                    tlsCertificateSHA256: GlobalConfigurationDigest.sha256Hex(Array(id.canonical.utf8)), createdAt: created))
            }
        }
        var subsystems: [Subsystem] = []
        for i in 0..<parameters.subsystems {
            guard !members.isEmpty else { break }
            let member = members[i % members.count]
            subsystems.append(Subsystem(id: try SubsystemId(member: member.id, subsystemCode: String(format: "HT%05d", i + 1)), createdAt: created))
        }
        var services: [Service] = []
        var servicesBySubsystem = [[ServiceId]](repeating: [], count: subsystems.count)
        for i in 0..<parameters.services {
            guard !subsystems.isEmpty else { break }
            let s = i % subsystems.count
            let id = try ServiceId(subsystem: subsystems[s].id, serviceCode: String(format: "dich-vu-%06d", i + 1), serviceVersion: "v1")
            servicesBySubsystem[s].append(id)
            services.append(Service(
                id: id, openAPI: "{}",
                endpoints: [ServiceEndpoint(method: "GET", path: "/v1/ho-so/{ma-ho-so}"), ServiceEndpoint(method: "POST", path: "/v1/tra-cuu")],
                enabled: i % 50 != 0, createdAt: created))
        }
        var datasets: [Dataset] = []
        for (s, subsystem) in subsystems.enumerated() {
            datasets.append(Dataset(
                id: try DatasetId(owner: subsystem.id.member, datasetCode: "CSDL-\(subsystem.id.subsystemCode)"),
                nameVi: "Cơ sở dữ liệu \(subsystem.id.subsystemCode)", nameEn: "Database \(subsystem.id.subsystemCode)",
                classification: DataClassification.allCases[s % DataClassification.allCases.count],
                personalData: s % 3 == 0, legalBasis: "Nghị định 47/2020/NĐ-CP",
                services: Array(servicesBySubsystem[s].prefix(3)), createdAt: created))
        }
        var agreements: [Agreement] = []
        for i in 0..<parameters.agreements {
            guard !datasets.isEmpty, !subsystems.isEmpty else { break }
            let d = Int(random.next() % UInt64(datasets.count))
            let consumer = subsystems[Int(random.next() % UInt64(subsystems.count))].id
            let exposed = datasets[d].services
            let covered = exposed.isEmpty ? [] : Array(exposed.prefix(1 + Int(random.next() % UInt64(exposed.count))))
            agreements.append(Agreement(
                id: String(format: "AG-%06d", i + 1), dataset: datasets[d].id, services: covered, consumer: consumer,
                purposes: ["1.00\(100 + i % 900)", "2.00\(100 + i % 37)"], legalBasis: "Nghị định 47/2020/NĐ-CP",
                validFrom: now.addingTimeInterval(-180 * 86_400), validUntil: now.addingTimeInterval(185 * 86_400),
                status: .active, createdAt: created))
        }
        return RegistrySnapshot(revision: 1, members: members, subsystems: subsystems, servers: servers, services: services,
                                datasets: datasets, agreements: agreements)
    }

    /// Runs the benchmark: creates a development PKI in `pkiDirectory` (which must not hold one),
    /// builds the synthetic snapshot, then times build, encode (canonical JSON), sign (JWS) and
    /// verify (parse, chain, signature, decode) `parameters.repetitions` times.
    /// - Parameter progress: called with a line of text before each step.
    public static func run(_ parameters: Parameters, pkiDirectory: URL,
                           progress: @Sendable (String) -> Void = { _ in }) async throws -> Report {
        let now = Date()
        progress("creating a development PKI in \(pkiDirectory.path)")
        let pki = try DevelopmentPKI.initialise(at: pkiDirectory, instance: "VN", ocspURL: "http://127.0.0.1:8888/")
        let signer = try GlobalConfigurationSigner(developmentPKI: pki)
        let verifier = GlobalConfigurationVerifier(trustAnchors: [pki.rootCertificate], expectedInstance: "VN")
        let builder = GlobalConfigurationBuilder(
            instance: "VN", approvedCAs: [try GlobalConfiguration.ApprovedCA(certificate: pki.rootCertificate, ocspURL: try pki.ocspURL())])
        progress("generating a synthetic registry: \(parameters.subsystems) subsystems, \(parameters.services) services, \(parameters.agreements) agreements")
        let snapshot = try syntheticSnapshot(parameters, now: now)

        var build: [Double] = [], encode: [Double] = [], sign: [Double] = [], verify: [Double] = [], total: [Double] = []
        var lastPayload: [UInt8] = []
        var lastJWS = ""
        var last: GlobalConfiguration?
        let clock = ContinuousClock()
        for repetition in 1...max(1, parameters.repetitions) {
            progress("repetition \(repetition)")
            var document: GlobalConfiguration?
            let tBuild = clock.measure { document = builder.build(snapshot: snapshot, serial: Int64(repetition), now: now) }
            guard let document else { throw GlobalConfigurationError(.signingFailed, "the builder produced nothing") }
            var payload: [UInt8] = []
            let tEncode = try clock.measure { payload = try document.canonicalJSON() }
            var signed: GlobalConfigurationJWS?
            let tSign = try clock.measure {
                signed = try GlobalConfigurationJWS.sign(payload: payload, key: signer.key, chain: signer.certificateChain)
            }
            guard let jws = signed else { throw GlobalConfigurationError(.signingFailed, "signing produced nothing") }
            let started = clock.now
            let verified = try await verifier.verify(jws.compact, at: now)
            let tVerify = clock.now - started
            guard verified == document else {
                throw GlobalConfigurationError(.malformed, "the verified document differs from the one signed")
            }
            let phases = [tBuild, tEncode, tSign, tVerify].map(Self.seconds)
            build.append(phases[0]); encode.append(phases[1]); sign.append(phases[2]); verify.append(phases[3])
            total.append(phases.reduce(0, +))
            lastPayload = payload
            lastJWS = jws.compact
            last = verified
        }
        let counts: [String: Int] = [
            "members": last?.members.count ?? 0, "subsystems": last?.subsystems.count ?? 0,
            "servers": last?.servers.count ?? 0, "services": last?.services.count ?? 0,
            "datasets": last?.datasets.count ?? 0, "agreements": last?.agreements.count ?? 0,
        ]
        return Report(
            parameters: parameters,
            phases: [Phase(name: "build", seconds: build), Phase(name: "encode", seconds: encode),
                     Phase(name: "sign", seconds: sign), Phase(name: "verify", seconds: verify),
                     Phase(name: "total", seconds: total)],
            counts: counts, payloadBytes: lastPayload.count, jwsBytes: lastJWS.utf8.count, serial: last?.serial ?? 0,
            jws: lastJWS, payload: lastPayload)
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// SplitMix64: a tiny deterministic generator, so the synthetic registry is the same every run.
struct GlobalConfigurationRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
