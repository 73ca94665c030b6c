#if canImport(Glibc)
import Glibc
#endif

enum Environment {
    static var rssTestRequested: Bool { getenv("RINGCACHE_RSS_TEST") != nil }

    /// RINGCACHE_RSS_TRIM: call malloc_trim(0) now and then, as a server's timer could.
    static var trimRequested: Bool { getenv("RINGCACHE_RSS_TRIM") != nil }

    static func trim() { _ = cMallocTrim(0) }

    /// How many times the limit the RSS test writes (default 4).
    static var rssWriteFactor: Int {
        guard let text = getenv("RINGCACHE_RSS_FACTOR") else { return 4 }
        return Int(String(cString: text)) ?? 4
    }

    /// Resident set size from /proc/self/statm.
    static func residentBytes() -> Int {
        guard let file = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(file) }
        var size = 0
        var resident = 0
        guard fscanf_pair(file, &size, &resident) else { return 0 }
        return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func fscanf_pair(_ file: UnsafeMutablePointer<FILE>, _ a: inout Int, _ b: inout Int) -> Bool {
        var buffer = [CChar](repeating: 0, count: 128)
        guard fgets(&buffer, 128, file) != nil else { return false }
        let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let fields = line.split(separator: " ")
        guard fields.count >= 2, let x = Int(fields[0]), let y = Int(fields[1]) else { return false }
        a = x
        b = y
        return true
    }
}

/// glibc's malloc_trim (malloc.h is not in the Glibc module).
@_silgen_name("malloc_trim") func cMallocTrim(_ pad: Int) -> Int32
