/// Splits one stream's bytes into lines, as they arrive in chunks of any size.
///
/// A line ends at `\n` (a `\r` before it is dropped). A line longer than `maxLine` bytes is handed
/// out in pieces of `maxLine`, each after the first marked as a continuation, so memory per stream
/// stays bounded whatever a worker writes. Not thread-safe: owned by the reading thread.
public struct LineSplitter {
    /// The longest piece handed out at once: 64 KiB.
    public static let maxLine = 65_536

    private var partial: [UInt8] = []
    private var continuing = false
    private let maxLine: Int

    /// Creates a splitter; `maxLine` is for tests.
    public init(maxLine: Int = LineSplitter.maxLine) {
        self.maxLine = maxLine
    }

    /// Whether no line is in progress: the next byte starts a new line.
    public var isBetweenLines: Bool { partial.isEmpty && !continuing }

    /// Calls `emit(text, continued)` for every line completed by `bytes`, and for every full piece of an
    /// overlong line.
    public mutating func feed(_ bytes: ArraySlice<UInt8>, emit: (ArraySlice<UInt8>, Bool) -> Void) {
        var rest = bytes
        while let newline = rest.firstIndex(of: 10) {
            if partial.isEmpty {
                emitPieces(rest[..<newline], final: true, emit: emit)
            } else {
                partial.append(contentsOf: rest[..<newline])
                let line = partial
                partial.removeAll(keepingCapacity: line.count <= 4096)
                emitPieces(line[...], final: true, emit: emit)
            }
            rest = rest[(newline + 1)...]
        }
        guard !rest.isEmpty else { return }
        partial.append(contentsOf: rest)
        // Full pieces of an overlong line go out only once more of its text is known to follow (the
        // line may end right after a piece, and a CR at the end may be the one dropped before its
        // LF), so the pieces are the same however the reads cut the bytes.
        let text = partial.count - (partial.last == 13 ? 1 : 0)
        if text > maxLine {
            let line = partial
            partial = []
            let whole = (text - 1) / maxLine * maxLine
            emitPieces(line[..<whole], final: false, emit: emit)
            partial.append(contentsOf: line[whole...])
        }
    }

    /// The stream ended: hands out a last line that had no newline.
    public mutating func finish(emit: (ArraySlice<UInt8>, Bool) -> Void) {
        guard !partial.isEmpty else { return }
        let line = partial
        partial = []
        emitPieces(line[...], final: true, emit: emit)
    }

    /// Emits `line` in pieces of at most `maxLine`; with `final`, the last piece ends the line.
    private mutating func emitPieces(_ line: ArraySlice<UInt8>, final: Bool, emit: (ArraySlice<UInt8>, Bool) -> Void) {
        var rest = line
        if final, rest.last == 13 { rest = rest.dropLast() }
        while rest.count > maxLine || (!final && !rest.isEmpty) {
            emit(rest.prefix(maxLine), continuing)
            continuing = true
            rest = rest.dropFirst(maxLine)
        }
        if final {
            emit(rest, continuing)
            continuing = false
        }
    }
}
