import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Private key files on disk: created readable by their owner only, atomically, and refused at
/// start when group or others may read them (as ssh refuses an unprotected private key).
public enum PrivateKeyFile {
    /// Refuses a key file that group or others may read, write or execute (any of the `0o077` bits).
    ///
    /// - Throws: ``PKIError`` (`.io`) saying `permissions 0644 for 'PATH' are too open`, or that
    ///   the file cannot be examined.
    public static func checkPermissions(_ path: String) throws(PKIError) {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw PKIError(.io, "cannot examine the private key file '\(path)': \(error.localizedDescription)")
        }
        guard let permissions = attributes[.posixPermissions] as? NSNumber else {
            throw PKIError(.io, "cannot read the permissions of the private key file '\(path)'")
        }
        let mode = permissions.uint32Value & 0o7777
        guard mode & 0o077 == 0 else {
            throw PKIError(.io, "UNPROTECTED PRIVATE KEY FILE: permissions \(String(format: "%04o", mode)) for '\(path)' are too open. "
                + "A private key must be readable by its owner only (chmod 600 '\(path)'); it is not used.")
        }
    }

    /// Creates `url` holding `bytes`, mode `0600`, atomically and only if it does not exist yet:
    /// the bytes go to a temporary sibling created `0600` (`O_CREAT | O_EXCL`), are flushed, and
    /// the sibling is then linked to `url` (which fails if `url` exists) and removed. The key is
    /// never readable by others, not even for a moment, and never half written under its name.
    ///
    /// - Returns: `false` if `url` already existed (nothing written), `true` once created.
    /// - Throws: ``PKIError`` (`.io`) if the file cannot be created.
    public static func createExclusively(_ bytes: [UInt8], at url: URL) throws(PKIError) -> Bool {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw PKIError(.io, "cannot create \(temporary.path): \(String(cString: strerror(errno)))")
        }
        defer { unlink(temporary.path) }
        var ok = true
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, base.advanced(by: offset), buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    ok = false
                    return
                }
                offset += n
            }
        }
        // `open` applied the umask, which can only have removed bits; make the mode exact.
        if fchmod(fd, 0o600) != 0 || fsync(fd) != 0 { ok = false }
        close(fd)
        guard ok else {
            throw PKIError(.io, "cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
        guard link(temporary.path, url.path) == 0 else {
            if errno == EEXIST { return false }
            throw PKIError(.io, "cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        return true
    }
}
