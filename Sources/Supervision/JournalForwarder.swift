import LogStore
import Systemd

/// `logs.target: journal | both`: each worker line becomes a journal entry with
/// `SYSLOG_IDENTIFIER=<app>`, `HOSTCTL_APP`, `HOSTCTL_WORKER` and `PRIORITY` (3 for stderr, 6 for
/// stdout, 5 for hostctl's own lines about the worker).
struct JournalForwarder: LogForwarder {
    func forward(app: String, slot: Int?, stream: LogStream, text: ArraySlice<UInt8>) {
        let priority: String
        switch stream {
        case .err: priority = "3"
        case .out: priority = "6"
        case .hostctl: priority = "5"
        }
        var fields: [[UInt8]] = [
            Array("MESSAGE=".utf8) + text, Array("PRIORITY=\(priority)".utf8),
            Array("SYSLOG_IDENTIFIER=\(app)".utf8), Array("HOSTCTL_APP=\(app)".utf8),
        ]
        if let slot { fields.append(Array("HOSTCTL_WORKER=\(slot)".utf8)) }
        if stream == .hostctl { fields.append(Array("HOSTCTL_EVENT=1".utf8)) }
        Journal.send(fields)
    }
}
