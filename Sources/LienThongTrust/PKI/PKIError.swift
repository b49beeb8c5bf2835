/// An error raised while creating, reading or using the development PKI.
public struct PKIError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, in a form code can switch on.
    public enum Code: String, Hashable, Sendable {
        /// The PKI directory already holds a CA; `pki init` never overwrites one.
        case alreadyInitialised
        /// The PKI directory holds no CA; run `pki init` first.
        case notInitialised
        /// The holder identifier does not fit the role.
        case invalidHolderId
        /// A certificate for this role and holder already exists.
        case alreadyIssued
        /// No certificate with that serial number was issued by this CA.
        case unknownSerial
        /// The certificate is already revoked.
        case alreadyRevoked
        /// A file could not be read or written.
        case io
        /// A file exists but does not hold what it should.
        case corrupt
        /// An argument is out of range (validity period, key type, ...).
        case invalidArgument
    }

    /// The error's code.
    public var code: Code
    /// A sentence for the operator, naming the offending value.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The operator-facing message.
    public var description: String { message }
}
