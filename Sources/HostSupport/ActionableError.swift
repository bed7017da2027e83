/// An error that reaches the user: a one-line summary, an optional hint that says what to do,
/// and the process exit code it maps to.
///
/// The executable's single presenter prints every such error as
/// `hostctl: error: <summary>` followed by `hint: <hint>`; anything that does not conform
/// prints as `internal error`.
public protocol ActionableError: Error, Sendable {
    /// One line, lower-case start, no trailing period: what went wrong.
    var summary: String { get }
    /// One line that tells the user what to do, or nil when the summary says it already.
    var hint: String? { get }
    /// The exit code: 1 for a failure the user can act on (DESIGN.md, CLI contract).
    var exitCode: Int32 { get }
    /// Lines printed before the summary, verbatim (for example `file:line:col: error: …` diagnostics).
    var details: [String] { get }
}

extension ActionableError {
    /// Every actionable failure exits 1 unless it says otherwise.
    public var exitCode: Int32 { 1 }
    /// Most errors have no detail lines.
    public var details: [String] { [] }
}
