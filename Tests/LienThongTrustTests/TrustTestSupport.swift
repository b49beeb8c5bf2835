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

/// Runs a command and returns its exit status and combined output.
func runProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
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
