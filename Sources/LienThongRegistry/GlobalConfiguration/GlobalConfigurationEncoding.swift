import LienThongCore
import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Unpadded base64url (RFC 4648 §5) for payloads of tens of megabytes: table-driven, over
/// contiguous bytes. Decoding is strict: no padding, no whitespace, no characters outside the
/// alphabet, and the unused low bits of the last character must be zero (one spelling per value).
enum GlobalConfigurationBase64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let invalid: UInt8 = 0xFF
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    /// Encodes `bytes`.
    static func encode(_ bytes: some Collection<UInt8>) -> [UInt8] {
        let input = Array(bytes)
        let count = input.count
        let outputCount = count / 3 * 4 + [0, 2, 3][count % 3]
        return input.withUnsafeBufferPointer { source in
            alphabet.withUnsafeBufferPointer { table in
                [UInt8](unsafeUninitializedCapacity: outputCount) { out, initialised in
                    var i = 0
                    var o = 0
                    while i + 3 <= count {
                        let v = UInt32(source[i]) << 16 | UInt32(source[i + 1]) << 8 | UInt32(source[i + 2])
                        out[o] = table[Int(v >> 18)]
                        out[o + 1] = table[Int(v >> 12 & 63)]
                        out[o + 2] = table[Int(v >> 6 & 63)]
                        out[o + 3] = table[Int(v & 63)]
                        i += 3
                        o += 4
                    }
                    switch count - i {
                    case 1:
                        let v = UInt32(source[i]) << 16
                        out[o] = table[Int(v >> 18)]
                        out[o + 1] = table[Int(v >> 12 & 63)]
                        o += 2
                    case 2:
                        let v = UInt32(source[i]) << 16 | UInt32(source[i + 1]) << 8
                        out[o] = table[Int(v >> 18)]
                        out[o + 1] = table[Int(v >> 12 & 63)]
                        out[o + 2] = table[Int(v >> 6 & 63)]
                        o += 3
                    default:
                        break
                    }
                    initialised = o
                }
            }
        }
    }

    /// Encodes `bytes` as a string.
    static func encodeString(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: encode(bytes), as: UTF8.self)
    }

    /// Decodes unpadded base64url; `nil` on anything that is not its one canonical spelling.
    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        Array(text).withUnsafeBufferPointer { decode(buffer: $0) }
    }

    /// Decodes unpadded base64url from contiguous bytes.
    static func decode(buffer source: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        let count = source.count
        guard count % 4 != 1 else { return nil }
        let outputCount = count / 4 * 3 + [0, 0, 1, 2][count % 4]
        var ok = true
        let result = reverse.withUnsafeBufferPointer { table in
            [UInt8](unsafeUninitializedCapacity: outputCount) { out, initialised in
                var i = 0
                var o = 0
                while i + 4 <= count {
                    let a = table[Int(source[i])], b = table[Int(source[i + 1])]
                    let c = table[Int(source[i + 2])], d = table[Int(source[i + 3])]
                    if (a | b | c | d) & 0xC0 != 0 { ok = false; break }
                    let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    out[o] = UInt8(truncatingIfNeeded: v >> 16)
                    out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                    out[o + 2] = UInt8(truncatingIfNeeded: v)
                    i += 4
                    o += 3
                }
                if ok {
                    switch count - i {
                    case 2:
                        let a = table[Int(source[i])], b = table[Int(source[i + 1])]
                        if (a | b) & 0xC0 != 0 || b & 0x0F != 0 { ok = false; break }
                        out[o] = a << 2 | b >> 4
                        o += 1
                    case 3:
                        let a = table[Int(source[i])], b = table[Int(source[i + 1])], c = table[Int(source[i + 2])]
                        if (a | b | c) & 0xC0 != 0 || c & 0x03 != 0 { ok = false; break }
                        out[o] = a << 2 | b >> 4
                        out[o + 1] = (b & 0x0F) << 4 | c >> 2
                        o += 2
                    default:
                        break
                    }
                }
                // Initialise the rest so the buffer is never left partly undefined.
                while o < outputCount {
                    out[o] = 0
                    o += 1
                }
                initialised = outputCount
            }
        }
        return ok ? result : nil
    }
}

/// Hex and digest helpers.
enum GlobalConfigurationDigest {
    /// Lower-case hex SHA-256 of `bytes`.
    static func sha256Hex(_ bytes: some Sequence<UInt8>) -> String {
        hex(SHA256.hash(data: Array(bytes)))
    }

    /// Lower-case hex SHA-256 of the UTF-8 bytes of `text`, without copying native strings.
    static func sha256Hex(utf8 text: String) -> String {
        var text = text
        text.makeContiguousUTF8()
        return text.utf8.withContiguousStorageIfAvailable { hex(SHA256.hash(data: UnsafeRawBufferPointer($0))) }
            ?? sha256Hex(Array(text.utf8))
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String {
        Hex.lowercase(digest)
    }
}

/// Durable file replacement: the cache of the client and the serial state of the publisher must
/// never be seen half-written, nor lost after a crash once the call returned.
enum GlobalConfigurationFiles {
    /// Writes `bytes` to `url` atomically and durably: a temporary sibling created `mode`,
    /// written in full, `fsync`ed, renamed over `url`, then the directory `fsync`ed.
    static func writeAtomically(_ bytes: [UInt8], to url: URL, mode: mode_t = 0o644) throws(GlobalConfigurationError) {
        let directory = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw GlobalConfigurationError(.storage, "cannot create \(directory.path): \(error.localizedDescription)")
        }
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UInt64.random(in: 0...UInt64.max)).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw GlobalConfigurationError(.storage, "cannot create \(temporary.path): \(String(cString: strerror(errno)))")
        }
        var failure: String?
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, base.advanced(by: offset), buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    failure = "cannot write \(temporary.path): \(String(cString: strerror(errno)))"
                    return
                }
                offset += n
            }
        }
        if failure == nil, fchmod(fd, mode) != 0 { failure = "cannot chmod \(temporary.path): \(String(cString: strerror(errno)))" }
        if failure == nil, fsync(fd) != 0 { failure = "cannot fsync \(temporary.path): \(String(cString: strerror(errno)))" }
        close(fd)
        if let failure {
            unlink(temporary.path)
            throw GlobalConfigurationError(.storage, failure)
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw GlobalConfigurationError(.storage, "cannot move \(temporary.path) to \(url.path): \(reason)")
        }
        // Make the rename itself durable.
        let directoryFD = open(directory.path, O_RDONLY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// Reads a whole file, or `nil` if it does not exist.
    static func read(_ url: URL) throws(GlobalConfigurationError) -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return Array(try Data(contentsOf: url))
        } catch {
            throw GlobalConfigurationError(.storage, "cannot read \(url.path): \(error.localizedDescription)")
        }
    }
}
