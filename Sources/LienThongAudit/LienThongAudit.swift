import LienThongCore
import LienThongTrust

/// The audit log: signed, hash-linked (Merkle tree, RFC 6962 style), durable evidence of every
/// exchange, checkpointed to the registry and verifiable offline (ARCHITECTURE §5).
///
/// Today: canonical records (`Record/`), the RFC 6962 tree (`Merkle/`), the SQLite store with group
/// commit (`Store/`), and the log with its offline verifier (`Log/`). Signed tree heads, registry
/// checkpoints and evidence bundles are still to come (issue 5).
public enum LienThongAudit {
    /// What this module provides so far, for `lienthong demo` and `--help` texts.
    public static let status = "audit log: durable Merkle-tree records on SQLite with offline verification; signed tree heads and checkpoints are not built yet (issue 5)"
}
