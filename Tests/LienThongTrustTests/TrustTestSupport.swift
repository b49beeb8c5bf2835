import Foundation
import LienThongCore
import X509
@testable import LienThongTrust

/// A throwaway development PKI in a temporary directory.
struct TemporaryPKI {
    let directory: URL
    let pki: DevelopmentPKI

    init(instance: String = "VN", ocspURL: String? = "http://127.0.0.1:1/") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-pki-\(UUID().uuidString)")
        pki = try DevelopmentPKI.initialise(at: directory, instance: instance, ocspURL: ocspURL)
    }

    func chain(_ record: IssuedCertificateRecord) throws -> [Certificate] {
        try PEMFiles.readCertificates(directory.appendingPathComponent(record.certificatePath))
    }

    func path(_ relative: String) -> String { directory.appendingPathComponent(relative).path }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// Runs a command without blocking a concurrency thread (servers in the same process keep running).
func runProcess(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-proc-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: output.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: output) }
    let handle = try FileHandle(forWritingTo: output)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = handle
    process.standardError = handle
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do { try process.run() } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    try handle.close()
    return (status, try String(contentsOf: output, encoding: .utf8))
}

/// The first executable named `name` on PATH, if any.
func which(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}
