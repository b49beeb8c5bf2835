import LienThongCore
import LienThongServer

/// A client's request as the security server's client port parses it: the input's first line is
/// `METHOD TARGET`, every further line a `name: value` header.
///
/// Properties: no crash; an accepted request has a parsable client and service and its canonical
/// request (what is signed) can be built and is canonical JSON that decodes back to the same message.
enum ClientRequestFuzz {
    static func run(_ input: [UInt8]) {
        let lines = input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        guard let requestLine = lines.first else { return }
        let parts = requestLine.split(separator: UInt8(ascii: " "), maxSplits: 1, omittingEmptySubsequences: false)
        let method = String(decoding: parts[0], as: UTF8.self)
        let target = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : ""
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            var value = line[line.index(after: colon)...]
            while value.first == UInt8(ascii: " ") { value = value.dropFirst() }
            headers.append((name, String(decoding: value, as: UTF8.self)))
        }
        _ = RepresentedParty(headerValue: headers.last?.value ?? "")
        guard let request = try? ParsedClientRequest(method: method, rawTarget: target, headers: headers,
                                                     generateMessageId: { "fuzz-generated-id" }) else { return }
        let message = request.canonicalRequest(bodyDigest: MessageDigest.sha256(of: input), time: Int64(input.count))
        SignatureFuzz.checkCanonicalRoundTrip(message, input)
    }
}
