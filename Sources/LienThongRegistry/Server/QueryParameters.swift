import Foundation
import Hummingbird
import LienThongCore

/// Query-parameter checks shared by the registry's routes (the management API, the auditor API
/// and the checkpoint ledger): a parameter a route does not know, or one given twice, is refused with
/// 400 `Client.BadRequest` naming it, never ignored (`docs/registry-api.md`, `docs/auditor-api.md`).
enum QueryParameters {
    /// Refuses a parameter whose name is not in `allowed`, and any parameter given more than once.
    static func allowOnly(_ allowed: Set<String>, in request: Request) throws {
        var seen: Set<String> = []
        for (name, _) in request.uri.queryParameters {
            let key = String(name)
            guard allowed.contains(key) else {
                let known = allowed.isEmpty ? "this query takes no parameters" : "known: \(allowed.sorted().joined(separator: ", "))"
                throw RegistryAPIError.badRequest("unknown query parameter \"\(key.prefix(40))\"; \(known)")
            }
            guard seen.insert(key).inserted else {
                throw RegistryAPIError.badRequest("query parameter \(key) is given more than once")
            }
        }
    }

    /// The integer in parameter `name` within `range`, or `value` when it is not given; anything
    /// else is refused.
    static func integer(_ request: Request, _ name: String, default value: Int64, range: ClosedRange<Int64>) throws -> Int64 {
        guard let text = request.uri.queryParameters[Substring(name)] else { return value }
        guard let number = Int64(text), range.contains(number) else {
            throw RegistryAPIError.badRequest("query parameter \(name)=\(text.prefix(40)) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    /// The security-server id in parameter `name`, if given; anything else is refused.
    static func securityServer(_ name: String, in request: Request) throws -> SecurityServerId? {
        guard let text = request.uri.queryParameters[Substring(name)] else { return nil }
        do {
            return try SecurityServerId(parsing: String(text))
        } catch {
            throw RegistryAPIError.badRequest(
                "query parameter \(name)=\(text.prefix(60)) must be a security-server id INSTANCE/CLASS/MEMBER/SERVER such as VN/GOV/000.00.00.G22/ss1: \(error.description)")
        }
    }

    /// Whether `id` has the shape of the agreement ids the registry issues: `AG-` and 6 to 18 digits.
    static func isAgreementId(_ id: some StringProtocol) -> Bool {
        isIssuedId(id, prefix: RegistryState.agreementPrefix)
    }

    /// Whether `id` has the shape of the access-request ids the registry issues: `AR-` and 6 to 18 digits.
    static func isAccessRequestId(_ id: some StringProtocol) -> Bool {
        isIssuedId(id, prefix: RegistryState.accessRequestPrefix)
    }

    private static func isIssuedId(_ id: some StringProtocol, prefix: String) -> Bool {
        guard id.hasPrefix(prefix) else { return false }
        let digits = id.utf8.dropFirst(prefix.utf8.count)
        return (6...18).contains(digits.count) && digits.allSatisfy { (0x30...0x39).contains($0) }
    }
}
