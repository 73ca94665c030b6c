import Foundation
import Glibc
import Testing

extension IntegrationSuite {
    /// Starting the node the way Debian's /etc/memcached.conf does, and stopping it with signals.
    @Suite("Daemon and signals")
    struct DaemonTests {
        /// Debian's /etc/memcached.conf, as its init script passes it: `-d -u memcache -P <pidfile>
        /// -m 64 -p <port> -l 127.0.0.1`. The node daemonizes, writes its PID, and (started as root)
        /// runs as the memcache user. Started by a user other than root, `-u` is not needed and the
        /// node runs as that user (memcached ignores `-u` then).
        @Test("the Debian memcached.conf command line starts the node", arguments: [false, true])
        func debianCommandLine(asNobody: Bool) throws {
            let root = geteuid() == 0
            if asNobody && !root {
                // Already not root: the first run covered it.
                return
            }
            let memcacheUser = getpwnam("memcache")
            if root && memcacheUser == nil {
                Issue.record("the memcache user does not exist; install Debian's memcached package or `adduser --system memcache`")
                return
            }
            let target = ServerTarget.current
            try target.requireBinary()
            let dir = temporaryPath("daemon")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            chmod(dir, 0o777)  // the node writes its pidfile after dropping to the memcache user
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let pidFile = dir + "/ringcached.pid"
            let port = try freePort()
            let arguments = ["-d", "-u", "memcache", "-P", pidFile, "-m", "64", "-p", String(port), "-l", "127.0.0.1"]
            let nobody: uid_t = 65534
            let launcher = try ServerProcess.launch(target, port: port, arguments: arguments, setUID: asNobody ? nobody : nil)
            defer { launcher.stop() }

            // The process we started forks the daemon and exits 0.
            #expect(launcher.waitForExit(timeout: 10), "the -d process did not return")
            #expect(launcher.exit == .exited(0), "the -d process \(launcher.exit.map(String.init(describing:)) ?? "is running")\n\(launcher.logExcerpt)")

            let deadline = Deadline(seconds: 10)
            var daemonPID: pid_t?
            while daemonPID == nil && !deadline.hasPassed {
                if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                   let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 {
                    daemonPID = pid
                } else {
                    usleep(20_000)
                }
            }
            guard let pid = daemonPID else {
                Issue.record("no PID in \(pidFile) after 10 s\n\(launcher.logExcerpt)")
                return
            }
            defer {
                if ProcStatus.isAlive(pid: pid) {
                    kill(pid, SIGKILL)
                }
            }
            #expect(ProcStatus.isAlive(pid: pid), "PID \(pid) from the pidfile is not running")
            #expect(pid != launcher.pid, "the pidfile holds the launcher's PID, not the daemon's")
            #expect(ProcStatus.fields(pid: pid)?["PPid"] != String(getpid()), "the daemon is still our child")

            // It serves.
            var client: TestClient?
            while client == nil && !deadline.hasPassed {
                client = try? TestClient(port: port, connectTimeout: 0.5)
                if client == nil { usleep(20_000) }
            }
            let connection = try #require(client, "the daemon does not accept connections on \(port)")
            #expect(try connection.call("set debian 0 0 2\r\nok\r\n") == "STORED")
            #expect(try connection.getValue("debian")?.value == Array("ok".utf8))
            connection.close()

            // It runs as the memcache user when started as root, as the caller otherwise.
            let expectedUID: uid_t = asNobody ? nobody : (root ? memcacheUser!.pointee.pw_uid : geteuid())
            #expect(ProcStatus.effectiveUID(pid: pid) == expectedUID,
                    "the daemon runs as uid \(ProcStatus.effectiveUID(pid: pid).map(String.init) ?? "?"), expected \(expectedUID)")

            // SIGTERM stops it, and (as memcached does) it removes its pidfile.
            kill(pid, SIGTERM)
            let stopDeadline = Deadline(seconds: 5)
            while ProcStatus.isAlive(pid: pid) && !stopDeadline.hasPassed { usleep(10_000) }
            #expect(!ProcStatus.isAlive(pid: pid), "the daemon is still running 5 s after SIGTERM")
            #expect(!FileManager.default.fileExists(atPath: pidFile), "the pidfile is still there after the daemon stopped")
        }

        @Test("SIGTERM and SIGINT stop the node with status 0 within 5 s", arguments: [SIGTERM, SIGINT])
        func stopSignals(signal: Int32) throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            let idle = try server.connect()
            #expect(try idle.call("set a 0 0 1\r\n1\r\n") == "STORED")
            let started = Deadline.now()
            kill(server.pid, signal)
            let exited = server.waitForExit(timeout: 5)
            let took = Deadline.now() - started
            #expect(exited, "still running 5 s after signal \(signal)\n\(server.logExcerpt)")
            #expect(server.exit == .exited(0), "signal \(signal): \(server.exit.map(String.init(describing:)) ?? "running")\n\(server.logExcerpt)")
            print("signal \(signal): \(server.target.flavor) exited in \(String(format: "%.2f", took)) s")
        }

        /// Clients that reset while the node writes a large answer make its writes fail with
        /// EPIPE/ECONNRESET; the node must survive (SIGPIPE ignored or MSG_NOSIGNAL).
        @Test("clients resetting mid-answer do not kill the node (SIGPIPE)")
        func sigpipe() throws {
            let server = try ServerProcess.start()
            defer { server.stop() }
            let setup = try server.connect()
            let big = [UInt8](repeating: UInt8(ascii: "p"), count: 900_000)
            try setup.send(Array("set big 0 0 \(big.count)\r\n".utf8) + big + Array("\r\n".utf8))
            #expect(try setup.readLine() == "STORED")
            for round in 0..<30 {
                let client = try server.connect()
                try client.send(String(repeating: "get big\r\n", count: 20), drainWhileBlocked: false)
                if round % 3 != 0 { _ = try? client.readExactly(1000 * round, timeout: 2) }  // reset mid-value
                usleep(UInt32(2_000 * (round % 5)))
                client.reset()
            }
            usleep(200_000)
            #expect(server.isRunning, "the node died: \(server.exit.map(String.init(describing:)) ?? "")\n\(server.logExcerpt)")
            let after = try server.connect()
            #expect(try after.getValue("big")?.value.count == big.count)
            #expect(setup.isAlive())
        }
    }
}
