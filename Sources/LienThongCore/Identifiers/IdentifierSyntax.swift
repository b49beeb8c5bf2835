/// The syntax rules shared by all X-Road identifiers.
///
/// Every part of an X-Road identifier (instance, member class, member code, subsystem code,
/// service code, service version, security server code, dataset code) follows the same rules,
/// taken from section 4.8 of the X-Road Message Protocol for REST:
///
/// - it is not empty;
/// - it contains only the letters `A-Z` and `a-z`, the digits `0-9` and the symbols `'()+,-.=?`;
/// - it is at most ``maximumPartLength`` UTF-8 bytes long (a LienThong limit; since only ASCII is
///   allowed, this is also the maximum number of characters);
/// - it is not a dot segment (`.` or `..`), because such a part cannot travel safely in a URL path.
///
/// In addition, ``datasetMarker`` (in any letter case) may not be used as a subsystem code or a
/// security server code, because as the fourth part it marks a ``DatasetId``.
public enum IdentifierSyntax {
    /// The maximum length of one identifier part, in UTF-8 bytes: 255.
    public static let maximumPartLength: Int = 255

    /// The punctuation allowed in identifier parts besides letters and digits: `'()+,-.=?`.
    public static let allowedPunctuation: String = "'()+,-.=?"

    /// The literal fourth part that marks a ``DatasetId``: `datasets`.
    ///
    /// A ``SubsystemId`` or ``SecurityServerId`` whose code is `datasets` in any letter case is
    /// rejected with ``IdentifierError/Code/reservedCode``.
    public static let datasetMarker: String = "datasets"

    /// The separator between the parts of an identifier: `/`.
    public static let separator: Unicode.Scalar = "/"

    /// Returns whether a Unicode scalar may appear in an identifier part.
    ///
    /// - parameters:
    ///     - scalar: The scalar to test.
    /// - returns: `true` for `A-Z`, `a-z`, `0-9` and `'()+,-.=?`, `false` for everything else.
    public static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x41...0x5A, 0x61...0x7A, 0x30...0x39:
            return true
        case 0x27, 0x28, 0x29, 0x2B, 0x2C, 0x2D, 0x2E, 0x3D, 0x3F:
            // ' ( ) + , - . = ?
            return true
        default:
            return false
        }
    }

    /// Returns whether a code is reserved as a subsystem or security server code.
    ///
    /// - parameters:
    ///     - code: The code to test.
    /// - returns: `true` if `code` equals ``datasetMarker`` ignoring ASCII letter case.
    public static func isReservedCode(_ code: String) -> Bool {
        let marker = IdentifierSyntax.datasetMarker.utf8
        let utf8 = code.utf8
        guard utf8.count == marker.count else {
            return false
        }
        return zip(utf8, marker).allSatisfy { IdentifierParsing.asciiLowercased($0) == $1 }
    }
}
