/// A sum or product of numbers that came from outside the process (the wire, a file, a database
/// row written from the wire) would not fit its type: refused with this error instead of trapping
/// (`docs/robustness.md` §Untrusted numbers).
public struct ArithmeticOverflow: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was being computed, e.g. `usage.3.latency_buckets` or `usage_monthly.duration_total`.
    public var what: String

    /// Creates an error about `what`.
    public init(_ what: String) { self.what = what }

    /// `"<what> is out of range: the total does not fit"`.
    public var description: String { "\(what) is out of range: the total does not fit" }
}

/// Checked arithmetic for untrusted numbers: every operation either returns the exact result or
/// throws ``ArithmeticOverflow``; none traps. `scripts/check-arithmetic.py` insists that
/// untrusted values are combined through these (or through an allow-listed, reviewed line).
public enum Checked {
    /// The largest integer every JSON reader keeps exactly (2^53 − 1), and the bound of every
    /// count, total and size LienThong accepts from outside.
    public static let maximumSafeInteger: Int64 = 9_007_199_254_740_991

    /// `a + b`, or ``ArithmeticOverflow`` naming `what`.
    @inlinable
    public static func add<T: FixedWidthInteger>(_ a: T, _ b: T, _ what: @autoclosure () -> String) throws(ArithmeticOverflow) -> T {
        let (result, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw ArithmeticOverflow(what()) }
        return result
    }

    /// `a - b`, or ``ArithmeticOverflow`` naming `what`.
    @inlinable
    public static func subtract<T: FixedWidthInteger>(_ a: T, _ b: T, _ what: @autoclosure () -> String) throws(ArithmeticOverflow) -> T {
        let (result, overflow) = a.subtractingReportingOverflow(b)
        guard !overflow else { throw ArithmeticOverflow(what()) }
        return result
    }

    /// `a * b`, or ``ArithmeticOverflow`` naming `what`.
    @inlinable
    public static func multiply<T: FixedWidthInteger>(_ a: T, _ b: T, _ what: @autoclosure () -> String) throws(ArithmeticOverflow) -> T {
        let (result, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw ArithmeticOverflow(what()) }
        return result
    }

    /// The sum of `values`, or ``ArithmeticOverflow`` naming `what`.
    @inlinable
    public static func sum<S: Sequence>(_ values: S, _ what: @autoclosure () -> String) throws(ArithmeticOverflow) -> S.Element
    where S.Element: FixedWidthInteger {
        var total: S.Element = 0
        for value in values {
            let (result, overflow) = total.addingReportingOverflow(value)
            guard !overflow else { throw ArithmeticOverflow(what()) }
            total = result
        }
        return total
    }

    /// `value`, if it lies in `0 ... maximumSafeInteger`; otherwise ``ArithmeticOverflow``.
    @inlinable
    public static func safe<T: FixedWidthInteger>(_ value: T, _ what: @autoclosure () -> String) throws(ArithmeticOverflow) -> T {
        guard value >= 0, Int64(exactly: value).map({ $0 <= maximumSafeInteger }) == true else { throw ArithmeticOverflow(what()) }
        return value
    }
}

extension FixedWidthInteger {
    /// `self += other`, or ``ArithmeticOverflow`` naming `what` (and `self` unchanged).
    @inlinable
    public mutating func checkedAdd(_ other: Self, _ what: @autoclosure () -> String) throws(ArithmeticOverflow) {
        self = try Checked.add(self, other, what())
    }
}
