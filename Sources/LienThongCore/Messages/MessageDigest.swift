import Crypto
import Foundation

/// A SHA-256 digest of a message's canonical form, the thing a LienThong signature covers.
public struct MessageDigest: Sendable, Hashable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    /// Wraps 32 digest bytes; returns `nil` for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == SHA256.byteCount else { return nil }
        self.bytes = bytes
    }

    /// Parses the unpadded base64url form used on the wire and in logs.
    public init?(base64URL text: String) {
        guard let bytes = Base64URL.decode(text) else { return nil }
        self.init(bytes: bytes)
    }

    /// The SHA-256 digest of `data`.
    public static func sha256<Bytes: Sequence>(of data: Bytes) -> MessageDigest where Bytes.Element == UInt8 {
        MessageDigest(unchecked: Array(SHA256.hash(data: Array(data))))
    }

    init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    /// The unpadded base64url form.
    public var base64URL: String { Base64URL.encode(bytes) }

    /// Lower-case hexadecimal, for humans and test vectors.
    public var hex: String { Hex.lowercase(bytes) }

    /// The base64url form.
    public var description: String { base64URL }
}

/// Computes a body's SHA-256 incrementally, so that a streamed body never has to be held in memory.
public struct BodyDigester: Sendable {
    private var hasher = SHA256()
    /// Bytes seen so far.
    public private(set) var byteCount: Int = 0

    /// Starts an empty digest.
    public init() {}

    /// Feeds the next chunk of the body.
    public mutating func update<Bytes: DataProtocol>(_ chunk: Bytes) {
        hasher.update(data: chunk)
        byteCount += chunk.count
    }

    /// The digest of everything fed so far.
    public func finalize() -> MessageDigest {
        MessageDigest(unchecked: Array(hasher.finalize()))
    }
}
