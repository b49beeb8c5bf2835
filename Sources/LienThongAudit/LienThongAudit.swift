import LienThongCore
import LienThongTrust

/// The audit log: signed, hash-linked (Merkle tree, RFC 6962 style), durable evidence of every
/// exchange, checkpointed to the registry and verifiable offline (ARCHITECTURE §5).
///
/// This module is the home of that log. It is filled by issue 5; today it only names itself,
/// so that the dependency direction (Audit → Trust → Core) is fixed from the start.
public enum LienThongAudit {
    /// What this module will provide, for `lienthong demo` and `--help` texts.
    public static let status = "audit log: exchange events are written to an audit hook (JSON lines, fsync); the Merkle log is not built yet (issue 5)"
}
