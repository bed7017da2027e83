// hostctl-fixture-worker: a worker for tests, so that tests need neither node nor python.
//
// It listens where hostctl says (PORT as a Unix socket path or a TCP port, or fd 3 with LISTEN_FDS=1),
// answers every HTTP request with `200 <app> <slot> <pid>`, and prints `listening <where>` once it does.
// A connection closed under it is no reason to die: it writes to sockets without SIGPIPE, as node does.
// Flags make it misbehave on purpose:
//   --crash-after MS     exit with --exit-code after MS milliseconds
//   --exit-code N        the status for --crash-after and --exit-now (default 1)
//   --exit-now           exit at once, before listening, after printing to stderr
//   --ignore-term        ignore SIGTERM
//   --start-delay MS     wait before listening
//   --never-listen       never listen (stays up)
//   --grandchild         start a grandchild (`sleep 3600`) in the same process group; prints `grandchild <pid>`
//   --spew N             write N numbered lines to stdout and N to stderr, then go on
//   --lines N            write N lines to stdout and N to stderr (`out <slot> <i> xxx…`, --line-bytes long,
//                        newline included, default 100), in 32 KiB writes, then exit 0 (or, with
//                        --then-serve, go on to listen and serve)
//   --echo               answer with the request line, headers and body size too
//   --silent             read requests but never answer them
//   --deaf               accept connections but never read from them (nor close them)
//   --drop-reused        close a connection, unanswered, when its second request arrives (as a worker that
//                        closed an idle keep-alive connection just as a request was sent on it)
//   (requests are answered as node does: an HTTP/1.0 one closes the connection unless it asks for
//   keep-alive, and `Connection: close` or a path ending in /close closes it after the response)
//   (a path ending in /invalid-status, /invalid-lengths or /invalid-head is answered with a response
//   that is not valid HTTP: no status line, two different Content-Lengths, a 100 KB header; one
//   ending in /lone-lf with a valid chunked response whose lines all end in a lone LF)
//   --die-on-request     exit unanswered on a request for a path ending in /die; on /half, send the
//                        response head and part of the body, then exit
//   --grow               on a request for a path ending in /grow, allocate and touch 64 MiB more (kept)
//   --graceful           on SIGTERM, stop accepting, finish the requests in progress, then exit 0
//   --log-requests       print `request <path>` to stdout for each request
//   --notify-ready-after MS   (ready: notify) send `STATUS=warming up` at once, then after MS `READY=1` with
//                        `STATUS=serving`, to NOTIFY_SOCKET
//   --notify-never       send `STATUS=warming up`, never READY=1
//   --notify-extend USEC send EXTEND_TIMEOUT_USEC=USEC first
//   --notify-mainpid     send MAINPID=1 along with READY=1
//   --notify-stopping    after READY=1, send RELOADING=1, then STOPPING=1 (and keep serving)
//   --watchdog-pings N   after READY=1, send WATCHDOG=1 N times at half of WATCHDOG_USEC, then stop
//   --print-env A,B,...  print `env A=value` (or `A=<unset>`) for each variable, and `args …` with its arguments
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

setvbuf(stdout, nil, _IOLBF, 0)
var arguments = Array(CommandLine.arguments.dropFirst())
func flag(_ name: String) -> Bool {
    guard let index = arguments.firstIndex(of: name) else { return false }
    arguments.remove(at: index)
    return true
}
func value(_ name: String) -> Int? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    let number = Int(arguments[index + 1])
    arguments.removeSubrange(index...index + 1)
    return number
}

let exitCode = Int32(value("--exit-code") ?? 1)
let crashAfter = value("--crash-after")
let startDelay = value("--start-delay")
let spew = value("--spew")
let ignoreTerm = flag("--ignore-term")
let neverListen = flag("--never-listen")
let grandchild = flag("--grandchild")
let exitNow = flag("--exit-now")
let echo = flag("--echo")
let silent = flag("--silent")
let deaf = flag("--deaf")
let dropReused = flag("--drop-reused")
let dieOnRequest = flag("--die-on-request")
let rawResponses = [
    "lone-lf": "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n6;x=1\n world\n0\nX-T: 1\n\n",
    "invalid-status": "NOT HTTP AT ALL\r\n\r\n",
    "invalid-lengths": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk",
    "invalid-head":
        "HTTP/1.1 200 OK\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\nContent-Length: 2\r\n\r\nok",
]
let logRequests = flag("--log-requests")
let graceful = flag("--graceful")
let grow = flag("--grow")
var hoard: [UnsafeMutableRawPointer] = []
let thenServe = flag("--then-serve")
let notifyReadyAfter = value("--notify-ready-after")
let notifyNever = flag("--notify-never")
let notifyExtend = value("--notify-extend")
let notifyMainPID = flag("--notify-mainpid")
let notifyStopping = flag("--notify-stopping")
let watchdogPings = value("--watchdog-pings")
var printEnv: [String] = []
if let index = arguments.firstIndex(of: "--print-env"), index + 1 < arguments.count {
    printEnv = arguments[index + 1].split(separator: ",").map(String.init)
    arguments.removeSubrange(index...index + 1)
}
let environment = ProcessInfo.processInfo.environment
let app = environment["HOSTCTL_APP"] ?? "-"
let slot = environment["HOSTCTL_WORKER"] ?? "-"

if !printEnv.isEmpty {
    let values = printEnv.map { name in "\(name)=\(ProcessInfo.processInfo.environment[name] ?? "<unset>")" }
    print("env " + values.joined(separator: " "))
    print("args " + arguments.joined(separator: " "))
}
if exitNow {
    FileHandle.standardError.write(Data("Error: Cannot find module 'faye-websocket'\n".utf8))
    exit(exitCode)
}
if ignoreTerm { signal(SIGTERM, SIG_IGN) }
if grandchild {
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("3600"), nil]
    posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ)
    print("grandchild \(pid)")
}
if let lines = value("--lines") {
    let size = value("--line-bytes") ?? 100
    var chunks: [[UInt8]] = [[], []]
    func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written <= 0 { exit(1) }
            offset += written
        }
    }
    for index in 1...max(lines, 1) {
        for stream in 0...1 {
            var line = Array("\(stream == 0 ? "out" : "err") \(slot) \(index) ".utf8)
            if line.count < size - 1 { line += [UInt8](repeating: UInt8(ascii: "x"), count: size - 1 - line.count) }
            line.append(10)
            chunks[stream] += line
            if chunks[stream].count >= 32768 {
                writeAll(Int32(stream + 1), chunks[stream])
                chunks[stream].removeAll(keepingCapacity: true)
            }
        }
    }
    writeAll(1, chunks[0])
    writeAll(2, chunks[1])
    if !thenServe { exit(0) }
}
if let spew {
    for line in 1...max(spew, 1) {
        print("out \(line)")
        FileHandle.standardError.write(Data("err \(line)\n".utf8))
    }
}
if let crashAfter {
    Thread.detachNewThread {
        usleep(UInt32(crashAfter) * 1000)
        exit(exitCode)
    }
}
if let startDelay { usleep(UInt32(startDelay) * 1000) }
if neverListen {
    while true { sleep(3600) }
}

func listener() -> Int32 {
    if environment["LISTEN_FDS"] == "1", environment["LISTEN_PID"] == String(getpid()) {
        print("listening fd:3")
        return 3
    }
    guard let port = environment["PORT"] else {
        FileHandle.standardError.write(Data("no PORT and no LISTEN_FDS\n".utf8))
        exit(2)
    }
    if port.contains("/") {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in port.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        unlink(port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, Glibc.listen(fd, 128) == 0 else { perror("bind"); exit(2) }
        print("listening \(port)")
        return fd
    }
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var yes: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port) ?? 0).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, Glibc.listen(fd, 128) == 0 else { perror("bind"); exit(2) }
    print("listening 127.0.0.1:\(port)")
    return fd
}

let server = listener()

/// Sends one sd_notify datagram to NOTIFY_SOCKET.
func notify(_ text: String) {
    guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] else { return }
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
    }
    _ = text.withCString { bytes in
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, bytes, strlen(bytes), 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }
}
if notifyReadyAfter != nil || notifyNever {
    Thread.detachNewThread {
        if let notifyExtend { notify("EXTEND_TIMEOUT_USEC=\(notifyExtend)") }
        notify("STATUS=warming up")
        guard let notifyReadyAfter, !notifyNever else { return }
        usleep(UInt32(notifyReadyAfter) * 1000)
        notify("READY=1\nSTATUS=serving" + (notifyMainPID ? "\nMAINPID=1" : ""))
        if notifyStopping {
            notify("RELOADING=1")
            notify("STOPPING=1")
        }
        if let watchdogPings, let usec = ProcessInfo.processInfo.environment["WATCHDOG_USEC"].flatMap(UInt32.init) {
            for _ in 0..<watchdogPings {
                usleep(usec / 2)
                notify("WATCHDOG=1")
            }
        }
    }
}
let requestCount = UnsafeMutablePointer<Int>.allocate(capacity: 1)
requestCount.initialize(to: 0)
let countLock = NSLock()

/// Writes `text` to a client socket, without SIGPIPE: a client that went away is no reason to die.
func put(_ client: Int32, _ text: String) {
    _ = text.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
}

/// Reads one request (head and body by its framing) from `client`; nil at end of file.
func readRequest(_ client: Int32, _ received: inout [UInt8]) -> (head: String, body: [UInt8])? {
    var buffer = [UInt8](repeating: 0, count: 65536)
    func fill() -> Bool {
        let count = read(client, &buffer, buffer.count)
        if count <= 0 { return false }
        received += buffer[0..<count]
        return true
    }
    while received.firstRange(of: Array("\r\n\r\n".utf8)) == nil { if !fill() { return nil } }
    guard let end = received.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
    let head = String(decoding: received[..<end.lowerBound], as: UTF8.self)
    received.removeSubrange(0..<end.upperBound)
    let lower = head.lowercased()
    var body: [UInt8] = []
    if let range = lower.range(of: "\r\ncontent-length:") {
        let digits = lower[range.upperBound...].prefix { !$0.isNewline }.trimmingCharacters(in: .whitespaces)
        let length = Int(digits) ?? 0
        while received.count < length { if !fill() { return nil } }
        body = Array(received[..<length])
        received.removeSubrange(0..<length)
    } else if lower.contains("\r\ntransfer-encoding: chunked") {
        // Decode chunks: size line, data, CRLF; ends with a zero chunk and an empty line.
        while true {
            while received.firstRange(of: Array("\r\n".utf8)) == nil { if !fill() { return nil } }
            guard let lineEnd = received.firstRange(of: Array("\r\n".utf8)) else { return nil }
            let sizeText =
                String(decoding: received[..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            let size = Int(sizeText, radix: 16) ?? 0
            received.removeSubrange(0..<lineEnd.upperBound)
            if size == 0 {
                while received.firstRange(of: Array("\r\n".utf8)) == nil { if !fill() { return nil } }
                if let end = received.firstRange(of: Array("\r\n".utf8)) { received.removeSubrange(0..<end.upperBound) }
                break
            }
            while received.count < size + 2 { if !fill() { return nil } }
            body += received[..<size]
            received.removeSubrange(0..<(size + 2))
        }
    }
    return (head, body)
}

let activeRequests = UnsafeMutablePointer<Int>.allocate(capacity: 1)
activeRequests.initialize(to: 0)
let activeLock = NSLock()
var draining = false
var termPipe: [Int32] = [0, 0]
if graceful {
    // SIGTERM wakes a thread through a pipe (a signal handler may do little else).
    pipe(&termPipe)
    signal(SIGTERM) { _ in
        var byte: UInt8 = 1
        _ = write(termPipe[1], &byte, 1)
    }
    Thread.detachNewThread {
        var byte: UInt8 = 0
        while read(termPipe[0], &byte, 1) < 0 {}
        draining = true
        shutdown(server, Int32(SHUT_RDWR))
        // Requests in progress (held upgraded connections included) finish; then the worker is done.
        while activeLock.withLock({ activeRequests.pointee }) > 0 { usleep(1000) }
        exit(0)
    }
}

while true {
    let client = accept(server, nil, nil)
    if client < 0 {
        if draining { while true { sleep(3600) } }
        continue
    }
    if deaf { continue }  // the connection stays open, unread, for the process's life
    Thread.detachNewThread {
        var received = [UInt8]()
        var served = 0
        defer { close(client) }
        while let (head, body) = readRequest(client, &received) {
            if silent { continue }
            activeLock.withLock { activeRequests.pointee += 1 }
            defer { activeLock.withLock { activeRequests.pointee -= 1 } }
            served += 1
            if dropReused && served == 2 { return }
            let requestLine = head.split(separator: "\r\n").first.map(String.init) ?? ""
            let path = requestLine.split(separator: " ").dropFirst().first ?? ""
            if logRequests { print("request \(path)") }
            if grow && path.hasSuffix("/grow") {
                let size = 64 << 20
                let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
                memset(block, 1, size)
                countLock.withLock { hoard.append(block) }
            }
            if dieOnRequest && path.hasSuffix("/die") { exit(3) }
            if dieOnRequest && path.hasSuffix("/half") {
                let partial = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly part of it"
                put(client, partial)
                exit(3)
            }
            if let broken = rawResponses[String(path.split(separator: "/").last ?? "")] {
                put(client, broken)
                continue
            }
            if let size = path.split(separator: "/").last.flatMap({ Int($0) }), path.contains("/bytes/") {
                // N bytes of "x": a download large enough to make the proxy apply backpressure.
                let head = "HTTP/1.1 200 OK\r\nContent-Length: \(size)\r\n\r\n"
                put(client, head)
                let block = [UInt8](repeating: UInt8(ascii: "x"), count: 65536)
                var left = size
                while left > 0 {
                    let sent = block.withUnsafeBytes {
                        send(client, $0.baseAddress, min(left, $0.count), Int32(MSG_NOSIGNAL))
                    }
                    if sent <= 0 { return }
                    left -= sent
                }
                continue
            }
            if head.lowercased().contains("\r\nupgrade:") {
                // Switch protocols and echo every byte back until the client closes.
                let answer = "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n"
                put(client, answer)
                if !received.isEmpty {
                    _ = received.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                }
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let count = read(client, &buffer, buffer.count)
                    if count <= 0 { return }
                    _ = buffer.withUnsafeBytes { send(client, $0.baseAddress, count, Int32(MSG_NOSIGNAL)) }
                }
            }
            countLock.lock()
            requestCount.pointee += 1
            let count = requestCount.pointee
            countLock.unlock()
            var text = "\(app) \(slot) \(getpid())\n"
            if echo {
                text += "count \(count)\n"
                text += requestLine + "\n"
                for line in head.split(separator: "\r\n").dropFirst() { text += line + "\n" }
                text += "body \(body.count) \(String(decoding: body.prefix(64), as: UTF8.self))\n"
            }
            let isHead = requestLine.hasPrefix("HEAD ")
            // Persistence as node has it: an HTTP/1.0 request keeps the connection only when it asks
            // to, and `Connection: close` (or a path ending in /close) ends it after the response.
            let lowerHead = head.lowercased()
            let asksClose = lowerHead.contains("\r\nconnection: close") || path.hasSuffix("/close")
            let http10 = requestLine.hasSuffix("HTTP/1.0")
            let closes = asksClose || (http10 && !lowerHead.contains("\r\nconnection: keep-alive"))
            let connection = closes ? "Connection: close\r\n" : (http10 ? "Connection: keep-alive\r\n" : "")
            let response =
                "HTTP/1.1 200 OK\r\nContent-Length: \(text.utf8.count)\r\nContent-Type: text/plain\r\n\(connection)\r\n"
                + (isHead ? "" : text)
            put(client, response)
            if closes { return }
        }
    }
}
