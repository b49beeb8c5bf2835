import Foundation
import LienThongTrust

/// The audit log's HMAC key on disk: raw bytes, mode 0600.
public enum AuditKeyFile {
    /// Reads the key at `url`, or creates one (32 random bytes) if the file does not exist. A new
    /// key is created `0600` atomically (``PrivateKeyFile/createExclusively(_:at:)``: never
    /// created first and restricted after); an existing one must not be readable by group or
    /// others (``PrivateKeyFile/checkPermissions(_:)``).
    /// - Throws: ``AuditStoreError`` if the file cannot be read or created, is readable by group or
    ///   others, or is shorter than 32 bytes.
    public static func loadOrCreate(_ url: URL) throws(AuditStoreError) -> [UInt8] {
        if !FileManager.default.fileExists(atPath: url.path) {
            var generator = SystemRandomNumberGenerator()
            let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            do {
                if try PrivateKeyFile.createExclusively(key, at: url) { return key }
            } catch {
                throw AuditStoreError(.unavailable, "cannot create the audit HMAC key \(url.path): \(error.message)")
            }
            // Created by someone else meanwhile: read theirs.
        }
        do { try PrivateKeyFile.checkPermissions(url.path) } catch {
            throw AuditStoreError(.unavailable, "the audit HMAC key: \(error.message)")
        }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw AuditStoreError(.unavailable, "cannot read the audit HMAC key \(url.path)")
        }
        guard data.count >= 32 else {
            throw AuditStoreError(.invalidRecord, "the audit HMAC key \(url.path) has \(data.count) bytes; at least 32 are needed")
        }
        return Array(data)
    }
}
