import Crypto
import LienThongCore

/// A SHA-256 value in the audit log's Merkle tree (RFC 6962 §2.1): a leaf hash, an interior
/// node hash or a tree root. Always exactly 32 bytes.
///
/// The bytes are held inline (four words, no heap allocation), so building or proving over
/// millions of leaves does not allocate per hash. In JSON a hash is an unpadded base64url
/// string (`Codable`); ``hex`` is for logs and test vectors.
public struct MerkleHash: Hashable, Sendable {
    /// The number of bytes in a hash.
    public static let byteCount = 32

    private typealias Words = (UInt64, UInt64, UInt64, UInt64)

    /// The 32 bytes, in memory order (the words are only a container, never interpreted).
    private var words: Words

    private init(words: Words) { self.words = words }

    /// Reads 32 bytes from a raw buffer that holds exactly that many.
    private init(raw: UnsafeRawBufferPointer) {
        words = (
            raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
            raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
            raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
            raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
        )
    }

    /// A hash from exactly 32 bytes; `nil` for any other length.
    public init?(bytes: some Sequence<UInt8>) {
        let array = Array(bytes)
        guard array.count == Self.byteCount else { return nil }
        self = array.withUnsafeBytes { MerkleHash(raw: $0) }
    }

    /// A hash from 64 hexadecimal digits (either case); `nil` for anything else.
    public init?(hex: some StringProtocol) {
        let digits = Array(hex.utf8)
        guard digits.count == 2 * Self.byteCount else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(Self.byteCount)
        var index = 0
        while index < digits.count {
            guard let high = Self.hexValue(digits[index]), let low = Self.hexValue(digits[index + 1]) else {
                return nil
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        self.init(bytes: bytes)
    }

    /// A hash from its unpadded base64url form (43 characters, strict: see `Base64URL.decode`);
    /// `nil` for anything else.
    public init?(base64URL: some StringProtocol) {
        guard let bytes = Base64URL.decode(base64URL) else { return nil }
        self.init(bytes: bytes)
    }

    /// The 32 bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Lower-case hexadecimal, 64 digits.
    public var hex: String {
        withUnsafeBytes { Hex.lowercase($0) }
    }

    /// Unpadded base64url (RFC 4648 §5), 43 characters: the form used in JSON.
    public var base64URL: String { withUnsafeBytes { Base64URL.encode($0) } }

    /// Calls `body` with the 32 bytes.
    public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        var copy = words
        return try Swift.withUnsafeBytes(of: &copy) { (raw) throws(Failure) -> Result in try body(raw) }
    }

    /// `SHA-256(bytes)`: a plain digest (no domain-separation prefix).
    private static func sha256(_ raw: UnsafeRawBufferPointer) -> MerkleHash {
        var hasher = SHA256()
        hasher.update(bufferPointer: raw)
        return hasher.finalize().withUnsafeBytes { MerkleHash(raw: $0) }
    }

    /// The leaf hash of RFC 6962 §2.1: `SHA-256(0x00 ‖ bytes)`.
    public static func leaf(_ bytes: some Sequence<UInt8>) -> MerkleHash {
        var input: [UInt8] = [0x00]
        input.append(contentsOf: bytes)
        return input.withUnsafeBytes { sha256($0) }
    }

    /// The interior node hash of RFC 6962 §2.1: `SHA-256(0x01 ‖ left ‖ right)`.
    public static func node(_ left: MerkleHash, _ right: MerkleHash) -> MerkleHash {
        // 0x01, then the two hashes: 65 contiguous bytes on the stack.
        withUnsafeTemporaryAllocation(byteCount: 1 + 2 * byteCount, alignment: 8) { buffer in
            buffer[0] = 0x01
            Swift.withUnsafeBytes(of: left.words) { source in
                UnsafeMutableRawBufferPointer(rebasing: buffer[1..<(1 + byteCount)]).copyMemory(from: source)
            }
            Swift.withUnsafeBytes(of: right.words) { source in
                UnsafeMutableRawBufferPointer(rebasing: buffer[(1 + byteCount)...]).copyMemory(from: source)
            }
            return sha256(UnsafeRawBufferPointer(buffer))
        }
    }

    /// The root of the empty tree, RFC 6962 §2.1: `SHA-256("")`
    /// (`e3b0c442…b855`).
    public static let empty: MerkleHash = [UInt8]().withUnsafeBytes { sha256($0) }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Compares the 32 bytes.
    public static func == (lhs: MerkleHash, rhs: MerkleHash) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1
            && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3
    }

    /// Hashes the 32 bytes.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

extension MerkleHash: Codable {
    /// Decodes the unpadded base64url string form; anything that is not exactly 32 bytes in
    /// strict base64url is a `DecodingError.dataCorrupted`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let hash = MerkleHash(base64URL: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "not a 32-byte hash in unpadded base64url: \(text)")
        }
        self = hash
    }

    /// Encodes the unpadded base64url string form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(base64URL)
    }
}

extension MerkleHash: CustomStringConvertible {
    /// Lower-case hexadecimal.
    public var description: String { hex }
}
