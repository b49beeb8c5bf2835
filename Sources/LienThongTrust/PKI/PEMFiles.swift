import Foundation
import SwiftASN1
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading and writing certificates and keys as PEM files, with private keys written `0600`.
public enum PEMFiles {
    /// Writes `contents` to `url` atomically, creating the file with the given permissions.
    ///
    /// The data goes to a temporary sibling that is created with `mode` (so a private key is
    /// never readable by others, not even for a moment), flushed with `fsync`, then renamed over
    /// the destination.
    public static func write(_ contents: String, to url: URL, mode: mode_t) throws(PKIError) {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw PKIError(.io, "cannot create \(temporary.path): \(String(cString: strerror(errno)))")
        }
        var bytes = Array(contents.utf8)
        var ok = true
        bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(fd, base.advanced(by: offset), buffer.count - offset)
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    ok = false
                    return
                }
                offset += n
            }
        }
        // `open` honours the umask; make the mode exact.
        if fchmod(fd, mode) != 0 { ok = false }
        if fsync(fd) != 0 { ok = false }
        close(fd)
        guard ok else {
            unlink(temporary.path)
            throw PKIError(.io, "cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw PKIError(.io, "cannot move \(temporary.path) to \(url.path): \(reason)")
        }
        bytes.removeAll()
    }

    /// Reads a whole text file.
    public static func readText(_ url: URL) throws(PKIError) -> String {
        do {
            return try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw PKIError(.io, "cannot read \(url.path): \(error.localizedDescription)")
        }
    }

    /// Writes a certificate as PEM (`0644`).
    public static func writeCertificate(_ certificate: Certificate, to url: URL) throws(PKIError) {
        do {
            try write(certificate.serializeAsPEM().pemString + "\n", to: url, mode: 0o644)
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError(.io, "cannot encode certificate for \(url.path): \(error)")
        }
    }

    /// Writes a private key as PKCS#8 PEM, readable by the owner only (`0600`).
    public static func writePrivateKey(_ key: Certificate.PrivateKey, to url: URL) throws(PKIError) {
        do {
            try write(key.serializeAsPEM().pemString + "\n", to: url, mode: 0o600)
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError(.io, "cannot encode private key for \(url.path): \(error)")
        }
    }

    /// Reads every certificate from a PEM file (a chain or a bundle), in file order.
    public static func readCertificates(_ url: URL) throws(PKIError) -> [Certificate] {
        let text = try readText(url)
        do {
            let documents = try PEMDocument.parseMultiple(pemString: text)
            let certificates = try documents.map { try Certificate(pemDocument: $0) }
            guard !certificates.isEmpty else { throw PKIError(.corrupt, "\(url.path) holds no certificate") }
            return certificates
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError(.corrupt, "\(url.path) is not a PEM certificate file: \(error)")
        }
    }

    /// Reads the first certificate from a PEM file.
    public static func readCertificate(_ url: URL) throws(PKIError) -> Certificate {
        // `readCertificates` never returns an empty array.
        guard let first = try readCertificates(url).first else {
            throw PKIError(.corrupt, "\(url.path) holds no certificate")
        }
        return first
    }

    /// Reads a PEM private key (PKCS#8, SEC1 or PKCS#1).
    public static func readPrivateKey(_ url: URL) throws(PKIError) -> Certificate.PrivateKey {
        let text = try readText(url)
        do {
            return try Certificate.PrivateKey(pemEncoded: text)
        } catch {
            throw PKIError(.corrupt, "\(url.path) is not a PEM private key: \(error)")
        }
    }
}
