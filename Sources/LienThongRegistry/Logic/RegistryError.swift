import Foundation
import LienThongCore

/// Why the registry refused an operation. A refused operation changes nothing: not the
/// in-memory state, not the store, not the revision, not the audit trail.
public struct RegistryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The category of refusal, which fixes the HTTP status and the X-Road error type.
    public enum Code: String, Sendable, Hashable, CaseIterable, Codable {
        /// An id names nothing the registry holds.
        case notFound
        /// The id or code is already taken.
        case duplicate
        /// The input breaks a rule (syntax, missing reason, bad dates, wrong owner, ...).
        case invalid
        /// The operation does not fit the entity's current state (a second decision, a
        /// forbidden status transition).
        case conflict
        /// The store failed; the registry's state is unchanged.
        case storage
        /// The caller's role or member does not allow the operation (another member's object, a
        /// request the caller submitted itself, an administrator's operation).
        case forbidden
    }

    /// The category.
    public var code: Code
    /// A message for the operator, naming the ids involved.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The HTTP status for the management API: 404, 409, 400, 409 or 500.
    public var httpStatus: Int {
        switch code {
        case .notFound: 404
        case .duplicate: 409
        case .invalid: 400
        case .conflict: 409
        case .storage: 500
        case .forbidden: 403
        }
    }

    /// The X-Road style error type: `Client.NotFound`, `Client.Duplicate`, `Client.BadRequest`,
    /// `Client.Conflict` or `Server.Registry.StorageError`.
    public var xroadType: String {
        switch code {
        case .notFound: "Client.NotFound"
        case .duplicate: "Client.Duplicate"
        case .invalid: "Client.BadRequest"
        case .conflict: "Client.Conflict"
        case .storage: "Server.Registry.StorageError"
        case .forbidden: "Client.Forbidden"
        }
    }

    /// The error as an X-Road error body.
    ///
    /// - parameters:
    ///     - detail: The identifier under which the failure is logged (a fresh UUID by default).
    public func errorBody(detail: String = UUID().uuidString) -> XRoadErrorBody {
        XRoadErrorBody(type: xroadType, message: message, detail: detail)
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }

    static func notFound(_ message: String) -> RegistryError { RegistryError(.notFound, message) }
    static func duplicate(_ message: String) -> RegistryError { RegistryError(.duplicate, message) }
    static func invalid(_ message: String) -> RegistryError { RegistryError(.invalid, message) }
    static func conflict(_ message: String) -> RegistryError { RegistryError(.conflict, message) }
    static func forbidden(_ message: String) -> RegistryError { RegistryError(.forbidden, message) }
}
