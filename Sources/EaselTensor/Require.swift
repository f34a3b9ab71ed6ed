/// Checks a caller's argument (a shape, an axis, an index) and stops with `message` if
/// it is wrong. Unlike `precondition`, it stays on in `-Ounchecked` release builds: these
/// checks run once per operation, and a wrong shape must never read out of bounds.
@inlinable @inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError(message(), file: file, line: line) }
}
