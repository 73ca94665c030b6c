import Foundation
import Glibc

/// Debian's twemproxy (`nutcracker`) on a free 127.0.0.1 port in front of some memcached-protocol
/// servers, configured as issue 4 requires: `hash: md5`, `distribution: ketama`, servers
/// `127.0.0.1:PORT:1` (no names, so ketama hashes `127.0.0.1:PORT`, or `127.0.0.1` for 11211).
///
/// Its stats port is a free port too (the default 22222 could collide). `stop()` stops it by PID
/// and removes its files; call it in every case (`defer`).
final class NutcrackerProcess {
    static let binary = "/usr/sbin/nutcracker"
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    let port: UInt16
    let child: ChildProcess
    let configPath: String
    let logPath: String
    let pidPath: String
    let configText: String
    private var stopped = false

    private init(port: UInt16, child: ChildProcess, configPath: String, logPath: String, pidPath: String, configText: String) {
        self.port = port
        self.child = child
        self.configPath = configPath
        self.logPath = logPath
        self.pidPath = pidPath
        self.configText = configText
    }

    /// The YAML for one pool listening on `port` in front of `serverPorts`.
    static func configuration(port: UInt16, serverPorts: [UInt16]) -> String {
        var yaml = """
            ringcache:
              listen: 127.0.0.1:\(port)
              hash: md5
              distribution: ketama
              timeout: 5000
              auto_eject_hosts: false
              preconnect: true
              servers:

            """
        for p in serverPorts { yaml += "    - 127.0.0.1:\(p):1\n" }
        return yaml
    }

    /// Starts nutcracker and waits until it accepts connections.
    static func start(serverPorts: [UInt16], timeout: Double = 10) throws -> NutcrackerProcess {
        guard isInstalled else { throw IntegrationError("\(binary) is missing: apt-get install nutcracker") }
        var lastError: Error?
        for _ in 0..<3 {
            let ports = try distinctFreePorts(2)
            let configPath = temporaryPath("nutcracker.yml")
            let logPath = temporaryPath("nutcracker.log")
            let pidPath = temporaryPath("nutcracker.pid")
            let text = configuration(port: ports[0], serverPorts: serverPorts)
            try text.write(toFile: configPath, atomically: true, encoding: .utf8)
            let child = try ChildProcess(binary, ["-c", configPath, "-s", String(ports[1]), "-a", "127.0.0.1",
                                                  "-p", pidPath, "-o", logPath, "-v", "4"],
                                         outputPath: logPath)
            let proxy = NutcrackerProcess(port: ports[0], child: child, configPath: configPath, logPath: logPath, pidPath: pidPath, configText: text)
            let deadline = Deadline(seconds: timeout)
            while true {
                if !child.isRunning {
                    let log = proxy.log()
                    proxy.stop()
                    lastError = IntegrationError("nutcracker \(child.exit.map(String.init(describing:)) ?? "exited"):\n\(log)\nconfig:\n\(text)")
                    if log.contains("in use") { break }
                    throw lastError!
                }
                if let c = try? TestClient(port: proxy.port, connectTimeout: 0.5) {
                    c.close()
                    return proxy
                }
                if deadline.hasPassed {
                    proxy.stop()
                    throw IntegrationError("nutcracker did not accept connections within \(timeout) s")
                }
                usleep(20_000)
            }
        }
        throw lastError ?? IntegrationError("nutcracker did not start")
    }

    func connect(timeout: Double = 10) throws -> TestClient { try TestClient(port: port, timeout: timeout) }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func stop() {
        guard !stopped else { return }
        stopped = true
        if child.isRunning {
            child.signal(SIGTERM)
            if !child.waitForExit(timeout: 5) { child.forceStop() }
        }
        try? FileManager.default.removeItem(atPath: configPath)
        try? FileManager.default.removeItem(atPath: logPath)
        try? FileManager.default.removeItem(atPath: pidPath)
    }
}
