import ArgumentParser

/// `lienthong`: the command-line tool that wires LienThong's modules together (started by `main.swift`).
struct LienThongCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lienthong",
        abstract: "LienThong (liên thông): an X-Road-style data-exchange bus for Vietnam's government.",
        discussion: """
        Security servers sign, relay and audit every exchange; a central registry publishes who may \
        read what; auditors verify the evidence offline. See README.md and docs/.
        """,
        subcommands: [DemoCommand.self, PKICommand.self, MessageCommand.self, RegistryCommand.self, ServerCommand.self, AuditCommand.self, AuditorCommand.self, BenchCommand.self]
    )
}
