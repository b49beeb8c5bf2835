import Foundation
import LienThongAudit
import SwiftASN1
import X509

/// Evidence bundles through the offline verifier (`lienthong audit verify-bundle`), with the
/// development trust anchor the seed corpus's bundle chains to.
/// Property: no crash, whatever the bundle claims.
enum EvidenceFuzz {
    nonisolated(unsafe) static var anchors: [Certificate] = []

    static func prepare() {
        anchors = FuzzTrustAnchors.load() ?? []
    }

    static func run(_ input: [UInt8]) {
        guard let bundle = try? JSONDecoder().decode(EvidenceBundle.self, from: Data(input)) else { return }
        let anchors = self.anchors
        _ = blocking { () async -> EvidenceReport? in try? await EvidenceVerifier.verify(bundle, anchors: anchors) }
    }
}

/// The trust anchor of the committed seed corpus: `certs/dev/fuzz/root-ca.pem` (test-only), or the
/// file named by `LIENTHONG_FUZZ_CA`.
enum FuzzTrustAnchors {
    static func load() -> [Certificate]? {
        let path = ProcessInfo.processInfo.environment["LIENTHONG_FUZZ_CA"] ?? "certs/dev/fuzz/root-ca.pem"
        guard let pem = try? String(contentsOfFile: path, encoding: .utf8),
              let certificate = try? Certificate(pemEncoded: pem) else {
            print("lienthong-fuzz: no trust anchor at \(path); signed inputs are checked without one")
            return nil
        }
        return [certificate]
    }
}

/// Runs async work to completion from libFuzzer's synchronous callback.
func blocking<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
    let box = BlockingBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.value = await work()
        done.signal()
    }
    done.wait()
    guard let value = box.value else { fatalError("async work finished without a value") }
    return value
}

/// The result slot of ``blocking(_:)``: written once by the task, read after the semaphore.
final class BlockingBox<T>: @unchecked Sendable {
    var value: T?
}
