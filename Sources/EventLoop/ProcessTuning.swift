import CLibevent
import Glibc

/// Process-wide settings of the C runtime, made once at start before any thread exists.
public enum ProcessTuning {
    /// Caps glibc's malloc arenas. Items are allocated by every worker and freed by any; with an
    /// arena per thread each keeps its own free memory and the process grows well past `-m`
    /// (measured by the storage tests: 81–120 MiB resident for a 64 MiB limit with default
    /// arenas, 76–77 MiB with one).
    public static func limitMallocArenas(_ count: Int32) {
        _ = mallopt(M_ARENA_MAX, count)
    }
}
