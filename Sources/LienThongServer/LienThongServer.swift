import LienThongAudit
import LienThongCore
import LienThongTrust

/// The security server: the client-facing X-Road REST port, the mutual-TLS inter-server port,
/// signing, verification, access checks and audit records (ARCHITECTURE §4).
///
/// This module is the home of the security server. It is filled by issue 4; today it only
/// names itself, so that the dependency direction (Server → Audit/Trust → Core) is fixed.
public enum LienThongServer {
    /// What this module will provide, for `lienthong demo` and `--help` texts.
    public static let status = "security server: not built yet (issue 4)"
}
