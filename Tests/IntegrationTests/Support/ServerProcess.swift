import Foundation
import Glibc

/// One server process started by a test on a free 127.0.0.1 port.
///
/// Its stdout and stderr go to a temporary file that failure messages quote. `stop()` is
/// idempotent and must run in every case: start it with `let server = try ServerProcess.start()`
/// and follow with `defer { server.stop() }`.
final class ServerProcess {
    let target: ServerTarget
    let port: UInt16
    let arguments: [String]
    let child: ChildProcess
    let logPath: String
    private var stopped = false

    var pid: Int32 { child.pid }
    var isRunning: Bool { child.isRunning }
    var exit: ChildProcess.Exit? { _ = child.isRunning; return child.exit }

    private init(target: ServerTarget, port: UInt16, arguments: [String], child: ChildProcess, logPath: String) {
        self.target = target
        self.port = port
        self.arguments = arguments
        self.child = child
        self.logPath = logPath
    }

    /// Starts `target` with the standard flags plus `extraArguments` on a free port, and waits until
    /// it accepts connections. Retries on a fresh port if the chosen one was taken meanwhile.
    static func start(_ target: ServerTarget = .current, overrides: [String: String] = [:],
                      extraArguments: [String] = [], startTimeout: Double = 15) throws -> ServerProcess {
        var lastError: Error?
        for _ in 0..<3 {
            let port = try freePort()
            let server = try launch(target, port: port, arguments: target.standardArguments(port: port, overrides: overrides, extra: extraArguments))
            do {
                try server.waitUntilAccepting(timeout: startTimeout)
                return server
            } catch {
                let log = server.log()
                server.stop()
                lastError = error
                if log.contains("in use") { continue }
                throw error
            }
        }
        throw lastError ?? IntegrationError("server did not start")
    }

    /// Starts `target` with exactly `arguments` (no standard flags added), without waiting.
    static func launch(_ target: ServerTarget, port: UInt16, arguments: [String], setUID: uid_t? = nil,
                       environment: [String: String]? = nil) throws -> ServerProcess {
        try target.requireBinary()
        let logPath = temporaryPath("server-\(port).log")
        let child = try ChildProcess(target.binary, arguments, outputPath: logPath, environment: environment, setUID: setUID)
        return ServerProcess(target: target, port: port, arguments: arguments, child: child, logPath: logPath)
    }

    /// Connects until the server accepts, failing early if it exits.
    func waitUntilAccepting(timeout: Double) throws {
        let deadline = Deadline(seconds: timeout)
        while true {
            if !child.isRunning {
                throw IntegrationError("\(describe) \(child.exit.map(String.init(describing:)) ?? "exited") before accepting connections\n\(logExcerpt)")
            }
            if let client = try? TestClient(port: port, connectTimeout: 0.5) {
                client.close()
                return
            }
            if deadline.hasPassed {
                throw IntegrationError("\(describe) did not accept connections within \(timeout) s\n\(logExcerpt)")
            }
            usleep(10_000)
        }
    }

    /// SIGTERM, then SIGKILL if it is still running after `grace` seconds. Safe to call twice.
    func stop(grace: Double = 5) {
        guard !stopped else { return }
        stopped = true
        if child.isRunning {
            child.signal(SIGTERM)
            if !child.waitForExit(timeout: grace) { child.forceStop() }
        }
        try? FileManager.default.removeItem(atPath: logPath)
    }

    @discardableResult
    func waitForExit(timeout: Double) -> Bool { child.waitForExit(timeout: timeout) }

    func connect(timeout: Double = 10) throws -> TestClient {
        try TestClient(port: port, timeout: timeout)
    }

    func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    var describe: String { "\(target.flavor) pid \(pid) (\(target.binary) \(arguments.joined(separator: " ")))" }

    /// The last part of the server's stderr/stdout, for failure messages.
    var logExcerpt: String {
        let text = log()
        if text.isEmpty { return "(server log empty)" }
        return "server log:\n" + String(text.suffix(3000))
    }

    /// Resident set size in bytes (VmRSS from /proc/PID/status).
    func rss() -> Int? { ProcStatus.rss(pid: pid) }
}

/// A fresh path in the temporary directory for this test process.
func temporaryPath(_ suffix: String) -> String {
    NSTemporaryDirectory() + "ringcache-it-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(suffix)"
}

/// Reads /proc/PID/status.
enum ProcStatus {
    static func fields(pid: Int32) -> [String: String]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            out[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return out
    }

    /// Waits (up to `timeout` s) until the process is stopped (state `T`): a SIGSTOP takes
    /// effect when the process is next scheduled, not when `kill` returns.
    @discardableResult
    static func waitUntilStopped(pid: Int32, timeout: Double = 5) -> Bool {
        let deadline = Deadline(seconds: timeout)
        while !deadline.hasPassed {
            if fields(pid: pid)?["State"]?.hasPrefix("T") == true { return true }
            usleep(1000)
        }
        return false
    }

    static func rss(pid: Int32) -> Int? {
        guard let value = fields(pid: pid)?["VmRSS"], let kb = Int(value.split(separator: " ").first ?? "") else { return nil }
        return kb * 1024
    }

    /// True while the process exists and is not a zombie.
    static func isAlive(pid: Int32) -> Bool {
        guard let state = fields(pid: pid)?["State"] else { return false }
        return !state.hasPrefix("Z") && !state.hasPrefix("X")
    }

    static func effectiveUID(pid: Int32) -> UInt32? {
        guard let uids = fields(pid: pid)?["Uid"] else { return nil }
        let parts = uids.split(whereSeparator: { $0 == " " || $0 == "\t" })
        return parts.count > 1 ? UInt32(parts[1]) : nil
    }
}

/// Binds 127.0.0.1:0, reads the port the kernel chose, and closes the socket.
func freePort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SocketError(operation: "socket", code: errno) }
    defer { close(fd) }
    var addr = TestClient.loopback(port: 0)
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { throw SocketError(operation: "bind", code: errno) }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return UInt16(bigEndian: addr.sin_port)
}

/// Runs a helper program to completion and captures its output.
struct ToolRun {
    let status: ChildProcess.Exit
    let output: String

    static func run(_ executable: String, _ arguments: [String], timeout: Double,
                    environment: [String: String]? = nil, setUID: uid_t? = nil) throws -> ToolRun {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw IntegrationError("\(executable) is not installed")
        }
        let outPath = temporaryPath("tool.out")
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        let child = try ChildProcess(executable, arguments, outputPath: outPath, environment: environment, setUID: setUID)
        let finished = child.waitForExit(timeout: timeout)
        if !finished { child.forceStop() }
        let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        guard finished, let exit = child.exit else {
            throw IntegrationError("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout) s; output:\n\(text)")
        }
        return ToolRun(status: exit, output: text)
    }
}
