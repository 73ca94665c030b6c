import Foundation
import Glibc

/// A child process started with `posix_spawn`, with a clean signal state.
///
/// Foundation's `Process` passes on the spawning thread's signal mask, and Swift Testing runs tests
/// on dispatch threads that block most signals: a server started that way never sees SIGTERM. Here
/// the child starts with an empty mask and default dispositions for the signals the tests send or
/// rely on (SIGPIPE among them, so the SIGPIPE test proves the server ignores it by itself).
/// stdout and stderr go to `outputPath`; stdin is /dev/null. The test reaps it with `waitpid`.
final class ChildProcess {
    enum Exit: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        var description: String {
            switch self {
            case .exited(let code): return "exited with status \(code)"
            case .signaled(let signal): return "killed by signal \(signal)"
            }
        }
    }

    let pid: pid_t
    let executable: String
    let arguments: [String]
    private(set) var exit: Exit?

    init(_ executable: String, _ arguments: [String], outputPath: String, environment: [String: String]? = nil,
         setUID: uid_t? = nil) throws {
        self.executable = executable
        self.arguments = arguments

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attr, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        // To run as another user (root only), the command goes through setpriv(1).
        let command = setUID.map { ["/usr/bin/setpriv", "--reuid=\($0)", "--regid=\($0)", "--clear-groups", executable] }
            ?? [executable]
        var argv: [UnsafeMutablePointer<CChar>?] = (command + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var envp: [UnsafeMutablePointer<CChar>?]? = environment.map { env in
            env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        }
        defer { envp?.forEach { free($0) } }

        var child: pid_t = 0
        let rc: Int32
        if envp != nil {
            rc = envp!.withUnsafeMutableBufferPointer { env in
                posix_spawn(&child, command[0], &actions, &attr, &argv, env.baseAddress)
            }
        } else {
            rc = posix_spawn(&child, command[0], &actions, &attr, &argv, environ)
        }
        guard rc == 0 else {
            throw IntegrationError("cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        pid = child
    }

    /// Reaps the child if it has exited.
    var isRunning: Bool {
        if exit != nil { return false }
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        if rc == pid {
            exit = (status & 0x7F) == 0 ? .exited((status >> 8) & 0xFF) : .signaled(status & 0x7F)
            return false
        }
        if rc < 0 && errno == ECHILD {
            exit = .exited(-1)
            return false
        }
        return true
    }

    /// Polls until the child exited; false at the deadline.
    @discardableResult
    func waitForExit(timeout: Double) -> Bool {
        let deadline = Deadline(seconds: timeout)
        while isRunning {
            if deadline.hasPassed { return false }
            usleep(5_000)
        }
        return true
    }

    func signal(_ sig: Int32) {
        if isRunning { kill(pid, sig) }
    }

    /// SIGKILL and reap, if still running.
    func forceStop() {
        guard isRunning else { return }
        kill(pid, SIGKILL)
        waitForExit(timeout: 10)
    }
}
