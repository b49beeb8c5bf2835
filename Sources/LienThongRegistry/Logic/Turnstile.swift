/// Lets the holders of one actor's critical section through one at a time, across suspension
/// points (an actor alone does not: it is reentrant at every `await`). Kept in the actor's own
/// state; the actor calls ``enter(_:)`` and ``leave()`` around the section.
struct Turnstile {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// `true` if the caller may go on at once; otherwise the caller must wait with
    /// `await withCheckedContinuation { turnstile.wait($0) }`.
    mutating func enter() -> Bool {
        guard busy else {
            busy = true
            return true
        }
        return false
    }

    /// Queues a caller that ``enter()`` turned back.
    mutating func wait(_ continuation: CheckedContinuation<Void, Never>) {
        waiters.append(continuation)
    }

    /// Hands the section directly to the next waiter (it stays busy), or frees it.
    mutating func leave() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}
