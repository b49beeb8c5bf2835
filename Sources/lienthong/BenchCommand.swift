import ArgumentParser
import AsyncHTTPClient
import Foundation
import LienThongTrust
import NIOCore
import NIOHTTP1

/// `lienthong bench ...`: measurements on a loopback network, reported as ratios against a
/// baseline measured in the same run.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks on loopback (build with -c release for meaningful figures).",
        subcommands: [ExchangeLatency.self, BenchNetworkCommand.self])

    struct ExchangeLatency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "exchange-latency",
            abstract: "Round-trip latency of one signed exchange (client → consumer server → provider server → backend) against a direct backend call, one request at a time, alternating in rounds.")
        @Option(help: "Measured requests per path.") var requests: Int = 1000
        @Option(help: "Warm-up requests per path (not measured).") var warmup: Int = 100
        @Option(help: "Rounds to alternate the two paths in.") var rounds: Int = 10
        @Flag(help: "Print JSON instead of a table.") var json = false

        func validate() throws {
            guard requests >= rounds, rounds > 0, warmup >= 0 else { throw ValidationError("need requests >= rounds > 0 and warmup >= 0") }
        }

        func run() async throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-bench-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            let ocspPort = try FreePort.find()
            let ocspURL = "http://127.0.0.1:\(ocspPort)/"
            let pki = try DevelopmentPKI.initialise(at: directory, instance: "VN", ocspURL: ocspURL)
            for member in [DemoRegistry.bca, DemoRegistry.hanoi] { try pki.issue(role: .member, holderId: member) }
            let ports = try DemoRegistry.ServerPorts.pick()
            let (requests, warmup, rounds) = (self.requests, self.warmup, self.rounds)
            let result: Measurement = try await DevelopmentOCSPService(pki: pki).withRunning(host: "127.0.0.1", port: ocspPort) { _ in
                var measured: Measurement?
                try await DemoRegistry.run(pki: pki, ocspURL: ocspURL, ports: ports, verbose: false, step: { _ in }) { registry in
                    measured = try await DemoExchange.withServers(pki: pki, registryURL: registry.globalConfigurationURL, ports: ports, quiet: true) { running in
                        try await Self.measure(running, requests: requests, warmup: warmup, rounds: rounds)
                    }
                }
                guard let measured else { throw DemoError("no measurement") }
                return measured
            }
            if json {
                print(result.json)
            } else {
                print(result.table)
            }
        }

        struct Measurement: Sendable {
            var direct: [Double]
            var exchange: [Double]
            var requests: Int
            var rounds: Int

            static func percentile(_ values: [Double], _ p: Double) -> Double {
                let sorted = values.sorted()
                guard !sorted.isEmpty else { return .nan }
                return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
            }

            var rows: [(String, Double, Double, Double)] {
                [("direct backend call", Self.percentile(direct, 0.5), Self.percentile(direct, 0.9), Self.percentile(direct, 0.99)),
                 ("signed exchange (2 security servers)", Self.percentile(exchange, 0.5), Self.percentile(exchange, 0.9), Self.percentile(exchange, 0.99))]
            }

            var table: String {
                var lines = ["LienThong exchange latency, sequential GET, \(requests) requests per path in \(rounds) alternating rounds (milliseconds)",
                             "path".padding(toLength: 40, withPad: " ", startingAt: 0) + "      p50       p90       p99"]
                for (name, p50, p90, p99) in rows {
                    lines.append(name.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: " %9.3f %9.3f %9.3f", p50, p90, p99))
                }
                let d = Self.percentile(direct, 0.5), e = Self.percentile(exchange, 0.5)
                lines.append(String(format: "added latency at p50: %.3f ms; ratio exchange/direct at p50: %.1f×", e - d, e / d))
                return lines.joined(separator: "\n")
            }

            var json: String {
                let d = Self.percentile(direct, 0.5), e = Self.percentile(exchange, 0.5)
                return String(format: #"{"requests":%d,"rounds":%d,"direct_ms":{"p50":%.4f,"p90":%.4f,"p99":%.4f},"exchange_ms":{"p50":%.4f,"p90":%.4f,"p99":%.4f},"added_p50_ms":%.4f,"ratio_p50":%.3f}"#,
                              requests, rounds, d, Self.percentile(direct, 0.9), Self.percentile(direct, 0.99),
                              e, Self.percentile(exchange, 0.9), Self.percentile(exchange, 0.99), e - d, e / d)
            }
        }

        static func measure(_ running: DemoExchange.Running, requests: Int, warmup: Int, rounds: Int) async throws -> Measurement {
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool.retryConnectionEstablishment = false
            let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            let result: Result<Measurement, any Error>
            do {
                let direct = "http://127.0.0.1:\(running.backendPort)/v1/001099012345"
                let exchange = "http://127.0.0.1:\(running.consumerPort)\(DemoExchange.lookup)/v1/001099012345"
                func once(_ url: String) async throws -> Double {
                    var request = HTTPClientRequest(url: url)
                    request.headers.add(name: "X-Road-Client", value: DemoExchange.motCua)
                    request.headers.add(name: "X-LienThong-Purpose", value: "1.004227")
                    let start = ContinuousClock.now
                    let response = try await http.execute(request, timeout: .seconds(30))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    guard response.status == .ok else { throw DemoError("\(url) answered \(response.status)") }
                    let elapsed = ContinuousClock.now - start
                    return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
                }
                for _ in 0..<warmup {
                    _ = try await once(direct)
                    _ = try await once(exchange)
                }
                var measurement = Measurement(direct: [], exchange: [], requests: requests, rounds: rounds)
                let perRound = requests / rounds
                for round in 0..<rounds {
                    // Alternate which path goes first, so that neither always follows the other.
                    let order = round.isMultiple(of: 2) ? [direct, exchange] : [exchange, direct]
                    for url in order {
                        for _ in 0..<perRound {
                            let ms = try await once(url)
                            if url == direct { measurement.direct.append(ms) } else { measurement.exchange.append(ms) }
                        }
                    }
                }
                result = .success(measurement)
            } catch {
                result = .failure(error)
            }
            try await http.shutdown()
            return try result.get()
        }
    }
}
