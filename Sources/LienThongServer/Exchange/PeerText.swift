import Foundation

/// Text that came from a peer (an error message relayed by a provider's server, a header value
/// quoted in a message): bounded and made safe before it is logged, recorded or relayed.
public enum PeerText {
    /// The longest text kept, in UTF-8 bytes (an ellipsis marks a cut).
    public static let maximumBytes = 1024

    /// `text` on one line and at most `limit` UTF-8 bytes: every control, format, line or
    /// paragraph separator character (CR, LF, NUL, ESC, U+2028, bidirectional overrides, …)
    /// becomes a space, and a longer text is cut at a character boundary and ends in `…`.
    public static func sanitised(_ text: String, limit: Int = maximumBytes) -> String {
        var result = String.UnicodeScalarView()
        var bytes = 0
        let ellipsis: Unicode.Scalar = "…"
        // Replacing a character never makes it longer: a text within the limit is never cut.
        let mustCut = text.utf8.count > limit
        let budget = max(0, limit - ellipsis.utf8.count)
        for scalar in text.unicodeScalars {
            let safe: Unicode.Scalar
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned: safe = " "
            default: safe = scalar
            }
            if mustCut && bytes + safe.utf8.count > budget {
                result.append(ellipsis)
                break
            }
            bytes += safe.utf8.count
            result.append(safe)
        }
        return String(result)
    }
}
