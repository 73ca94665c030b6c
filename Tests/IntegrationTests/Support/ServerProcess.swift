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
    let process: Process
    let logPath: String
    private var stopped = false

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    private init(target: ServerTarget, port: UInt16, arguments: [String], process: Process, logPath: String) {
        self.target = target
        self.port = port
        self.arguments = arguments
        self.process = process
        self.logPath = logPath
    }

    /// Starts `target` with the standard flags plus `extraArguments` on a free port, and waits until
    /// it accepts connections. Retries on a fresh port if the chosen one was taken meanwhile.
    static func start(_ target: ServerTarget = .current, extraArguments: [String] = [],
                      startTimeout: Double = 15) throws -> ServerProcess {
        var lastError: Error?
        for _ in 0..<3 {
            let port = try freePort()
            let server = try launch(target, port: port, arguments: target.standardArguments(port: port, extra: extraArguments))
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
    static func launch(_ target: ServerTarget, port: UInt16, arguments: [String]) throws -> ServerProcess {
        try target.requireBinary()
        let logPath = NSTemporaryDirectory() + "ringcache-it-\(getpid())-\(port)-\(UInt32.random(in: 0...UInt32.max)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw IntegrationError("cannot create log file \(logPath)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: target.binary)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw IntegrationError("cannot start \(target.binary) \(arguments.joined(separator: " ")): \(error)")
        }
        try? log.close()
        return ServerProcess(target: target, port: port, arguments: arguments, process: process, logPath: logPath)
    }

    /// Connects until the server accepts, failing early if it exits.
    func waitUntilAccepting(timeout: Double) throws {
        let deadline = Deadline(seconds: timeout)
        while true {
            if !process.isRunning {
                throw IntegrationError("\(describe) exited with status \(process.terminationStatus) before accepting connections\n\(logExcerpt)")
            }
            if let client = try? TestClient(port: port, connectTimeout: 0.5) {
                client.close()
                return
            }
            if deadline.hasPassed {
                throw IntegrationError("\(describe) did not accept connections within \(timeout) s\n\(logExcerpt)")
            }
            usleep(20_000)
        }
    }

    /// SIGTERM, then SIGKILL if it is still running after `grace` seconds. Safe to call twice.
    func stop(grace: Double = 5) {
        guard !stopped else { return }
        stopped = true
        if process.isRunning {
            kill(pid, SIGTERM)
            if !waitForExit(timeout: grace) {
                kill(pid, SIGKILL)
                _ = waitForExit(timeout: 5)
            }
        }
        try? FileManager.default.removeItem(atPath: logPath)
    }

    /// Polls until the process exited; returns false at the deadline.
    @discardableResult
    func waitForExit(timeout: Double) -> Bool {
        let deadline = Deadline(seconds: timeout)
        while process.isRunning {
            if deadline.hasPassed { return false }
            usleep(10_000)
        }
        return true
    }

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
    let status: Int32
    let output: String

    static func run(_ executable: String, _ arguments: [String], timeout: Double,
                    environment: [String: String]? = nil) throws -> ToolRun {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw IntegrationError("\(executable) is not installed")
        }
        let outPath = NSTemporaryDirectory() + "ringcache-it-tool-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        guard let out = FileHandle(forWritingAtPath: outPath) else { throw IntegrationError("cannot create \(outPath)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        if let environment { process.environment = environment }
        try process.run()
        try? out.close()
        let deadline = Deadline(seconds: timeout)
        while process.isRunning && !deadline.hasPassed { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { usleep(10_000) }
            let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
            throw IntegrationError("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout) s; output:\n\(text)")
        }
        let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        return ToolRun(status: process.terminationStatus, output: text)
    }
}
