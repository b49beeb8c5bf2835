import Foundation
import LienThongAudit
import LienThongAuditPostgres
import LienThongTestSupport
import Logging
import Testing

/// The provider's persistent replay store (issue 15 item 6): the same behaviour from the SQLite
/// file and from a real PostgreSQL database shared by two nodes.
@Suite("Replay store")
struct ReplayStoreTests {
    static let provider = "VN/GOV/000.00.00.G22"
    static let client = "VN/GOV/000.00.00.H26/MOTCUA"

    static func entry(_ id: String, at time: Int64 = 1_767_225_600_000, client: String = client, provider: String = provider) -> SeenRequest {
        SeenRequest(provider: provider, client: client, messageId: id, signedAt: time)
    }

    /// What every store must do: admit once per (provider, client, id) whatever the time, prune by time.
    static func conformance(_ store: any ReplayStore, reopened: () throws -> any ReplayStore) async throws {
        #expect(try await store.admit(entry("a")))
        #expect(try await !store.admit(entry("a")), "the same request again")
        #expect(try await !store.admit(entry("a", at: 1_767_225_699_000)), "the same id with another signed time")
        #expect(try await store.admit(entry("a", client: "VN/GOV/000.00.00.H26/DVC")), "the same id from another client")
        #expect(try await store.admit(entry("a", provider: "VN/GOV/000.00.00.G13")), "the same id to another provider member")
        #expect(try await store.admit(entry("b", at: 1_767_225_500_000)))
        // Kept across a reopen (a restart).
        let again = try reopened()
        #expect(try await !again.admit(entry("a")), "remembered after reopening")
        #expect(try await !again.admit(entry("b")), "remembered after reopening")
        // Pruned by signed time: only "b" (older) goes; then its id may be used again.
        #expect(try await again.prune(signedBefore: 1_767_225_600_000) == 1)
        #expect(try await again.admit(entry("b", at: 1_767_225_800_000)))
        #expect(try await !again.admit(entry("a")))
    }

    @Test("SQLite: admitted once, remembered across a reopen, pruned by signed time, exactly one winner among racing tasks")
    func sqlite() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("replay.sqlite").path
        let store = try SQLiteReplayStore(path: path)
        try await Self.conformance(store) { try SQLiteReplayStore(path: path) }
        // Two handles on the same file (two processes would be the same), racing one id, many times.
        let other = try SQLiteReplayStore(path: path)
        for round in 0..<20 {
            let e = Self.entry("dua-\(round)")
            async let x = store.admit(e)
            async let y = other.admit(e)
            let wins = try await [x, y].filter { $0 }.count
            #expect(wins == 1, "round \(round): \(wins) winners")
        }
    }

    @Test("SQLite: a store that cannot be opened fails with a typed error")
    func sqliteUnavailable() async throws {
        #expect(throws: AuditStoreError.self) { _ = try SQLiteReplayStore(path: "/proc/no-such-dir/replay.sqlite") }
    }

    @Test("PostgreSQL: two nodes share the table; of eight tasks on two nodes racing one id exactly one wins; an unreachable database fails closed")
    func postgres() async throws {
        var logger = Logger(label: "replay-store-tests")
        logger.logLevel = .warning
        try await withPostgres { url in
            let configuration = try PostgresAuditLeafStore.Configuration(url: url)
            try await PostgresAuditLeafStore.withStore(configuration: configuration, node: "\(Self.provider)/ss1/node-a", logger: logger) { a in
                try await PostgresAuditLeafStore.withStore(configuration: configuration, node: "\(Self.provider)/ss1/node-b", logger: logger) { b in
                    try await Self.conformance(a) { b }
                    for round in 0..<10 {
                        let e = Self.entry("dua-\(round)")
                        let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                            for i in 0..<8 {
                                let node: PostgresAuditLeafStore = i.isMultiple(of: 2) ? a : b
                                group.addTask { try await node.admit(e) }
                            }
                            var wins = 0
                            for try await won in group where won { wins += 1 }
                            return wins
                        }
                        #expect(wins == 1, "round \(round): \(wins) winners")
                    }
                }
            }
        }
        // Nothing listens on port 1: admit fails with `unavailable`, it never answers "new".
        var unreachable = try PostgresAuditLeafStore.Configuration(url: "postgres://postgres@127.0.0.1:1/postgres")
        unreachable.connectionWaitTimeout = .seconds(2)
        let store = try PostgresAuditLeafStore(configuration: unreachable, node: "n", logger: logger)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await store.run() }
            do throws(AuditStoreError) {
                _ = try await store.admit(Self.entry("x"))
                Issue.record("admit on an unreachable database must fail")
            } catch {
                #expect(error.code == .unavailable, "\(error)")
            }
            group.cancelAll()
        }
    }
}
