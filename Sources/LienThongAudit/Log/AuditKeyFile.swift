import Foundation

/// The audit log's HMAC key on disk: raw bytes, mode 0600.
public enum AuditKeyFile {
    /// Reads the key at `url`, or creates one (32 random bytes, mode 0600) if the file does not exist.
    /// - Throws: ``AuditStoreError`` if the file cannot be read or created, or is shorter than 32 bytes.
    public static func loadOrCreate(_ url: URL) throws(AuditStoreError) -> [UInt8] {
        let fm = FileManager.default
        if !fm.fileExists(atPath: url.path) {
            var generator = SystemRandomNumberGenerator()
            let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            guard fm.createFile(atPath: url.path, contents: Data(key), attributes: [.posixPermissions: 0o600]) else {
                throw AuditStoreError(.unavailable, "cannot create the audit HMAC key \(url.path)")
            }
            return key
        }
        guard let data = fm.contents(atPath: url.path) else {
            throw AuditStoreError(.unavailable, "cannot read the audit HMAC key \(url.path)")
        }
        guard data.count >= 32 else {
            throw AuditStoreError(.invalidRecord, "the audit HMAC key \(url.path) has \(data.count) bytes; at least 32 are needed")
        }
        return Array(data)
    }
}
