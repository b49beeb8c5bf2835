import ArgumentParser
import Foundation
import LienThongServer

/// `lienthong server ...`: run a security server.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "A security server: the X-Road REST client port, the signed mutual-TLS inter-server port, /healthz and /metrics.",
        subcommands: [Serve.self, CheckConfig.self])

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a security server from its JSON configuration (docs/security-server.md, schemas/security-server-config.schema.json).")
        @Option(help: "The JSON configuration file.") var config: String

        func run() async throws {
            let configuration = try load(config)
            try await LienThongSecurityServer(configuration: configuration).run { ports in
                let https = ports.clientHTTPS.map { ", client HTTPS on \(configuration.clientHttpsListener?.host ?? "127.0.0.1"):\($0)" } ?? ""
                print("LienThong security server \(configuration.serverId): clients on http://\(configuration.clientListener.host):\(ports.client)/r1/…\(https), "
                      + "peers on \(configuration.interServerListener.host):\(ports.interServer) (mutual TLS 1.3)")
                fflush(nil)   // flush every output stream: scripts wait for this line
            }
        }
    }

    struct CheckConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "check-config", abstract: "Validate a configuration file and print it with defaults filled in.")
        @Option(help: "The JSON configuration file.") var config: String

        func run() async throws {
            let configuration = try load(config)
            print(String(decoding: try configuration.jsonData(), as: UTF8.self))
        }
    }

    static func load(_ path: String) throws -> SecurityServerConfiguration {
        do {
            return try SecurityServerConfiguration.load(from: URL(fileURLWithPath: path))
        } catch {
            throw ValidationError(error.description)
        }
    }
}

private func load(_ path: String) throws -> SecurityServerConfiguration { try ServerCommand.load(path) }
