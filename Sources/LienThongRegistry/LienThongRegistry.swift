import LienThongCore
import LienThongTrust

/// The central registry: members, subsystems, servers, services, datasets, sharing agreements,
/// access requests, the signed global configuration and the compliance view (ARCHITECTURE §6).
///
/// This module is the home of the registry. It is filled by issue 3; today it only names
/// itself, so that the dependency direction (Registry → Trust → Core) is fixed.
public enum LienThongRegistry {
    /// What this module will provide, for `lienthong demo` and `--help` texts.
    public static let status = "registry: not built yet (issue 3)"
}
