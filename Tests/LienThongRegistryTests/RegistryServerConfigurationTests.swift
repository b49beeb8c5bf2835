import Foundation
import LienThongRegistry
import Testing

@Suite("Registry server configuration file")
struct RegistryServerConfigurationTests {
    @Test("the example in docs/registry-api.md decodes, every field included")
    func documentedExampleDecodes() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/registry-api.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## Configuration file").last)
        let start = try #require(section.range(of: "```json\n")).upperBound
        let end = try #require(section.range(of: "\n```", range: start..<section.endIndex)).lowerBound
        let configuration = try RegistryJSON.makeDecoder().decode(RegistryServerConfiguration.self, from: Data(section[start..<end].utf8))
        #expect(configuration.instance == "VN")
        #expect(configuration.port == 4443)
        #expect(configuration.ocspURL == "http://127.0.0.1:8888/")
        #expect(configuration.configurationSigningKeyFile == "pki/ca/configuration-signing.key")
        #expect(configuration.checkpointIntervalSeconds == 60)
    }

    @Test("a missing field is a decoding error, not a silent default")
    func missingFieldRejected() {
        #expect(throws: DecodingError.self) {
            try RegistryJSON.makeDecoder().decode(RegistryServerConfiguration.self, from: Data(#"{"instance":"VN"}"#.utf8))
        }
    }
}
