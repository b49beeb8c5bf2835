// libFuzzer driver for LienThong's parsers. Built only when `LIENTHONG_FUZZ=1` is set (see
// Package.swift and scripts/fuzz.sh): `lienthong-fuzz TARGET [libFuzzer options] [CORPUS...]`.
//
// Each target feeds libFuzzer's bytes to one parser and checks a property that must hold for
// every input: no crash (Swift traps on overflow, bad indices and failed preconditions), and,
// where the format allows, a round trip or agreement with a second implementation. A broken
// property calls `fatalError`, which libFuzzer reports as a crash with the input that caused it.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One fuzz target: its name, what it checks, what it builds once before the first input (keys,
/// trust anchors), and the function run on each input.
struct FuzzTarget: Sendable {
    let name: String
    let summary: String
    var prepare: @Sendable () -> Void = {}
    let run: @Sendable ([UInt8]) -> Void
}

/// Every target, by name.
let fuzzTargets: [FuzzTarget] = [
    FuzzTarget(name: "identifiers", summary: "X-Road identifiers, X-Road-Client values and /r1/ request targets; round trips",
               run: IdentifierFuzz.run),
    FuzzTarget(name: "client-request", summary: "a client's request line and headers, as the security server parses them",
               run: ClientRequestFuzz.run),
    FuzzTarget(name: "jws", summary: "detached JWS message signatures and canonical messages; no input verifies as a signature",
               run: SignatureFuzz.run),
    FuzzTarget(name: "record", summary: "canonical audit records: the fast validator agrees with the strict parser",
               run: RecordFuzz.run),
    FuzzTarget(name: "globalconf", summary: "signed global configuration (JWS and JSON document); round trips",
               prepare: GlobalConfigurationFuzz.prepare, run: GlobalConfigurationFuzz.run),
    FuzzTarget(name: "evidence", summary: "evidence bundles through the offline verifier",
               prepare: EvidenceFuzz.prepare, run: EvidenceFuzz.run),
    FuzzTarget(name: "checkpoint", summary: "POST /checkpoints bodies through the registry's decode, verify and ingest path",
               prepare: CheckpointFuzz.prepare, run: CheckpointFuzz.run),
]

nonisolated(unsafe) var selectedTarget: FuzzTarget?

typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: FuzzCallback
) -> CInt

/// libFuzzer's per-input entry point.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let target = selectedTarget else { return 0 }
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    target.run(bytes)
    return 0
}

/// The program's entry point (SwiftPM links an executable's `main` to `<module>_main`): takes the
/// target name from the first argument and hands the rest to libFuzzer. The name is also put in
/// `LIENTHONG_FUZZ_TARGET`, because libFuzzer re-runs the program without it for `-merge=1`,
/// `-fork` and `-jobs`; a run whose first argument is not a target name takes the target from there.
@_cdecl("LienThongFuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    func usage() -> CInt {
        print("usage: lienthong-fuzz TARGET [libFuzzer options] [CORPUS_DIR...]\ntargets:")
        for target in fuzzTargets { print("  \(target.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(target.summary)") }
        return 2
    }
    guard argc >= 1, let argv else { return usage() }
    let first = argc >= 2 ? argv[1].map { String(cString: $0) } : nil
    let target: FuzzTarget
    var skipped = 1
    if let first, let named = fuzzTargets.first(where: { $0.name == first }) {
        target = named
        skipped = 2
        setenv("LIENTHONG_FUZZ_TARGET", named.name, 1)
    } else if let inherited = ProcessInfo.processInfo.environment["LIENTHONG_FUZZ_TARGET"],
              let named = fuzzTargets.first(where: { $0.name == inherited }) {
        target = named
    } else {
        return usage()
    }
    selectedTarget = target
    target.prepare()
    // libFuzzer sees the program name followed by everything after the target name.
    var arguments: [UnsafeMutablePointer<CChar>?] = [argv[0]]
    for index in skipped..<Int(argc) { arguments.append(argv[index]) }
    arguments.append(nil)
    var count = CInt(arguments.count - 1)
    return arguments.withUnsafeMutableBufferPointer { buffer in
        var pointer = buffer.baseAddress
        return LLVMFuzzerRunDriver(&count, &pointer, fuzzOneInput)
    }
}

/// Stops the run with a message libFuzzer reports as a crash, together with the input.
func violated(_ property: String, _ input: [UInt8]) -> Never {
    fatalError("property violated: \(property); input \(String(decoding: input.prefix(512), as: UTF8.self).debugDescription)")
}
