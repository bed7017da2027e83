/// Somewhere else worker lines go besides (or instead of) the app's log files.
///
/// The systemd journal
/// with `logs.target: journal | both`. Called on the capture's reading thread, once per line.
public protocol LogForwarder: Sendable {
    /// One line of `app` (`slot` nil for a line about the whole app), as the worker wrote it.
    func forward(app: String, slot: Int?, stream: LogStream, text: ArraySlice<UInt8>)
}
