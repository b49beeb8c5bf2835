import Foundation
import LienThongCore
import Testing

@Suite("Base64url")
struct Base64URLTests {
    /// Foundation's base64, turned into unpadded base64url: the reference.
    func reference(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    @Test func matchesTheReferenceAndRoundTrips() {
        var generator = SystemRandomNumberGenerator()
        for length in Array(0...70) + [255, 256, 1000] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = Base64URL.encode(bytes)
            #expect(encoded == reference(bytes), "length \(length)")
            #expect(Base64URL.decode(encoded) == bytes, "length \(length)")
        }
        #expect(Base64URL.encode(Array("any carnal pleas".utf8)) == "YW55IGNhcm5hbCBwbGVhcw")
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
    }

    @Test func decodingIsStrict() {
        // "AB" and "ABC" leave non-zero unused bits; the rest are not unpadded base64url at all.
        for bad in ["A", "AB", "ABC", "YQ==", "YQ=", "Y Q", "Y+Q", "Y/Q", "éé", "AAAAA"] {
            #expect(Base64URL.decode(bad) == nil, "\(bad)")
        }
        #expect(Base64URL.decode("AA") == [0])
        #expect(Base64URL.decode("AAA") == [0, 0])
        #expect(Base64URL.decode("") == [])
        // The same 64-byte signature re-encoded with different unused bits no longer decodes.
        let signature = [UInt8](repeating: 0x5A, count: 64)
        var text = Array(Base64URL.encode(signature).utf8)
        text[text.count - 1] = text[text.count - 1] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let altered = String(decoding: text, as: UTF8.self)
        #expect(Base64URL.decode(altered) == nil || Base64URL.decode(altered) != signature)
    }
}

@Suite("Canonical JSON key order")
struct CanonicalKeyOrderTests {
    @Test func keysSortByUTF16CodeUnitsAsRFC8785Says() {
        // U+1F600 is D83D DE00 in UTF-16, so it sorts *before* U+FB33 although its code point is larger.
        let keys = ["\u{FB33}", "😀", "€", "a", "B", "aa", "\r", "1"]
        let object = CanonicalJSON.object(Dictionary(uniqueKeysWithValues: keys.map { ($0, CanonicalJSON.integer(1)) }))
        let order = ["\r", "1", "B", "a", "aa", "€", "😀", "\u{FB33}"]
        let expected = "{" + order.map { key -> String in
            let escaped = key == "\r" ? "\\r" : key
            return "\"\(escaped)\":1"
        }.joined(separator: ",") + "}"
        #expect(object.canonicalString == expected)
    }
}
