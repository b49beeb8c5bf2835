import LienThongAudit
import Testing

@Suite("Audit module")
struct AuditModuleTests {
    @Test func statusNamesWhatExists() {
        #expect(LienThongAudit.status.contains("audit"))
    }
}
