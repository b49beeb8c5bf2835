import Foundation
import LienThongCore
import NIOCore
import Testing
@testable import LienThongServer

/// Tests of ``BodySpooler`` and ``SpooledBody``: memory versus file, block writes, digests, the
/// size limit, reading back, and removal of spool files.
@Suite("Body spool")
struct BodySpoolTests {
    /// A fresh directory for one test's spool files.
    static func makeDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("spool-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func files(in directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path)
    }

    /// Deterministic, non-repeating-looking test bytes.
    static func bytes(_ count: Int, seed: UInt32 = 7) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
    }

    /// Feeds `bytes` to `spooler` in pieces of `piece` bytes.
    static func feed(_ bytes: [UInt8], piece: Int, into spooler: inout BodySpooler) throws(BodySpoolError) {
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + piece)
            try spooler.append(ByteBuffer(bytes: bytes[offset..<end]))
            offset = end
        }
    }

    static func canonicalRequest() throws -> CanonicalMessage {
        try ParsedClientRequest(
            method: "POST", rawTarget: "/r1/VN/GOV/000.00.00.G22/DANCU/nop-ho-so/v1/ho-so",
            headers: [(name: "X-Road-Client", value: "VN/GOV/000.00.00.H29/HOTICH")],
            generateMessageId: { "msg-1" }
        ).canonicalRequest(bodyDigest: MessageDigest.sha256(of: [UInt8]()), time: 1_767_225_600_000)
    }

    @Test func smallBodyStaysInMemory() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var spooler = BodySpooler(limits: BodySpoolLimits(maximumSize: 10_000, memoryThreshold: 1_000, directory: directory))
        let data = Self.bytes(1_000)
        try Self.feed(data, piece: 100, into: &spooler)
        let body = try spooler.finish()
        #expect(body.isInMemory)
        #expect(body.byteCount == 1_000)
        #expect(spooler.fileWriteSizes.isEmpty)
        #expect(try Self.files(in: directory).isEmpty)
    }

    @Test func largeBodyGoesToAFileInLargeBlocks() async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let limits = BodySpoolLimits(maximumSize: 1 << 20, memoryThreshold: 1_000, fileWriteSize: 4_096, directory: directory)
        var spooler = BodySpooler(limits: limits)
        let data = Self.bytes(20_050)
        try Self.feed(data, piece: 100, into: &spooler)
        let body = try spooler.finish()
        #expect(!body.isInMemory)
        #expect(body.byteCount == data.count)

        let writes = spooler.fileWriteSizes
        #expect(writes.reduce(0, +) == data.count)
        #expect(writes.count >= 2)
        #expect(writes.dropLast().allSatisfy { $0 >= 4_096 })

        let path = try #require(body.spoolFilePath)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.path
            == directory.standardizedFileURL.path)

        let collected = try await body.collect(upTo: data.count)
        #expect(Array(collected.readableBytesView) == data)
        await #expect(throws: BodySpoolError.tooLarge(limit: data.count - 1)) {
            _ = try await body.collect(upTo: data.count - 1)
        }
    }

    @Test(arguments: [0, 10, 999, 5_000])
    func digestsMatchTheBytes(count: Int) throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = Self.bytes(count, seed: UInt32(count))
        var spooler = BodySpooler(limits: BodySpoolLimits(maximumSize: 10_000, memoryThreshold: 1_000,
                                                          fileWriteSize: 1_500, directory: directory))
        try Self.feed(data, piece: 333, into: &spooler)
        let request = try Self.canonicalRequest()
        let headerPart = XRoadRequestHash.headerPart(of: request)
        let expectedHash = XRoadRequestHash.compute(for: request, body: data)
        for body in [try spooler.finish(), SpooledBody(bytes: data)] {
            #expect(body.byteCount == count)
            #expect(body.sha256 == MessageDigest.sha256(of: data))
            #expect(body.requestHasher.finalize(headerPart: headerPart) == expectedHash)
            #expect(body.requestHasher.bodyByteCount == count)
        }
    }

    @Test func emptyBody() async throws {
        let body = SpooledBody.empty
        #expect(body.byteCount == 0)
        #expect(body.isInMemory)
        #expect(body.sha256 == MessageDigest.sha256(of: [UInt8]()))
        var count = 0
        for try await _ in body.chunks() { count += 1 }
        #expect(count == 0)
        #expect(try await body.collect(upTo: 0).readableBytes == 0)
    }

    @Test func tooLargeAtLimitPlusOneRemovesTheFile() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let limit = 10_000
        let data = Self.bytes(limit + 1)

        // Exactly at the limit is accepted.
        var atLimit = BodySpooler(limits: BodySpoolLimits(maximumSize: limit, memoryThreshold: 100,
                                                          fileWriteSize: 1_000, directory: directory))
        try Self.feed(Array(data.prefix(limit)), piece: 256, into: &atLimit)
        #expect(try atLimit.finish().byteCount == limit)
        #expect(try Self.files(in: directory).isEmpty) // the finished body was released

        var spooler = BodySpooler(limits: BodySpoolLimits(maximumSize: limit, memoryThreshold: 100,
                                                          fileWriteSize: 1_000, directory: directory))
        try Self.feed(Array(data.prefix(limit)), piece: 256, into: &spooler)
        #expect(try Self.files(in: directory).count == 1)
        #expect(throws: BodySpoolError.tooLarge(limit: limit)) {
            try spooler.append(ByteBuffer(bytes: [data[limit]]))
        }
        #expect(try Self.files(in: directory).isEmpty)
        // The spooler stays failed.
        #expect(throws: BodySpoolError.tooLarge(limit: limit)) { _ = try spooler.finish() }
    }

    @Test func abandonedSpoolerRemovesItsFile() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            var spooler = BodySpooler(limits: BodySpoolLimits(maximumSize: 1 << 20, memoryThreshold: 100,
                                                              fileWriteSize: 100, directory: directory))
            try Self.feed(Self.bytes(5_000), piece: 500, into: &spooler)
            #expect(try Self.files(in: directory).count == 1)
        }
        #expect(try Self.files(in: directory).isEmpty)
    }

    @Test func chunksRoundTripFiveMebibytes() async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = Self.bytes(5 << 20)
        var spooler = BodySpooler(limits: BodySpoolLimits(maximumSize: 8 << 20, directory: directory))
        try Self.feed(data, piece: 16_384 + 3, into: &spooler)
        let body = try spooler.finish()
        #expect(!body.isInMemory)
        #expect(spooler.fileWriteSizes.dropLast().allSatisfy { $0 >= 1 << 20 })

        var received: [UInt8] = []
        received.reserveCapacity(data.count)
        var pieces = 0
        for try await chunk in body.chunks(size: 64 * 1024) {
            #expect(chunk.readableBytes <= 64 * 1024)
            received.append(contentsOf: chunk.readableBytesView)
            pieces += 1
        }
        #expect(received == data)
        #expect(pieces == 80)

        // A second pass reads the same bytes.
        var again = 0
        for try await chunk in body.chunks(size: 1_000_000) { again += chunk.readableBytes }
        #expect(again == data.count)

        let inMemory = SpooledBody(bytes: data)
        var memoryBytes: [UInt8] = []
        for try await chunk in inMemory.chunks(size: 100_000) { memoryBytes.append(contentsOf: chunk.readableBytesView) }
        #expect(memoryBytes == data)
    }

    @Test func fileIsRemovedWhenTheLastCopyIsReleased() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var spooler = BodySpooler(limits: BodySpoolLimits(maximumSize: 1 << 20, memoryThreshold: 100,
                                                          fileWriteSize: 100, directory: directory))
        try Self.feed(Self.bytes(5_000), piece: 500, into: &spooler)
        var first: SpooledBody? = try spooler.finish()
        var second = first
        let path = try #require(first?.spoolFilePath)
        #expect(FileManager.default.fileExists(atPath: path))
        first = nil
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(second?.byteCount == 5_000)
        second = nil
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
