import LienThongCore
import LienThongRegistry
import Synchronization

/// The data owner's veto in force on a running server, replaceable at run time through
/// `PUT /admin/v1/veto` (``OperationsResponder``).
///
/// It starts from the configuration file's `veto`; a change lives in memory only, so the
/// configuration file's veto applies again at the next start. The provider path reads
/// ``current`` once per exchange; a replacement is atomic (an exchange sees the old veto or the
/// new one, never a mix).
public final class VetoState: Sendable {
    private let state: Mutex<ProviderVeto>

    /// Creates the state holding `initial`.
    public init(_ initial: ProviderVeto) {
        self.state = Mutex(initial)
    }

    /// The veto in force.
    public var current: ProviderVeto {
        state.withLock { $0 }
    }

    /// Replaces the veto and returns the one it replaced.
    @discardableResult
    public func replace(with veto: ProviderVeto) -> ProviderVeto {
        state.withLock { held in
            let before = held
            held = veto
            return before
        }
    }
}

/// Why a veto sent to `PUT /admin/v1/veto` was refused (nothing changes then).
public struct VetoSettingsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, naming the offending entry.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

extension ProviderVeto {
    /// Validates settings received over the operations API: every disabled service must parse
    /// as a service id (``ServiceId``) and every denied client as a subsystem or member id
    /// (``ClientId``); ids are kept in canonical form, duplicates once.
    ///
    /// - Throws: ``VetoSettingsError`` naming the first entry that does not parse.
    public init(validating settings: VetoSettings) throws(VetoSettingsError) {
        var services: Set<String> = []
        for (index, text) in settings.disabledServices.enumerated() {
            do { services.insert(try ServiceId(parsing: text).canonical) } catch {
                throw VetoSettingsError("disabled_services[\(index)] is not a service id: \(error)")
            }
        }
        var clients: Set<String> = []
        for (index, text) in settings.deniedClients.enumerated() {
            do { clients.insert(try ClientId(parsing: text).canonical) } catch {
                throw VetoSettingsError("denied_clients[\(index)] is not a subsystem or member id: \(error)")
            }
        }
        self.init(maintenance: settings.maintenance, disabledServices: services, deniedClients: clients)
    }

    /// The veto as the operations API shows it, ids sorted.
    public var settings: VetoSettings {
        VetoSettings(maintenance: maintenance, disabledServices: disabledServices.sorted(), deniedClients: deniedClients.sorted())
    }
}
