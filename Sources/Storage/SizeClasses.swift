/// memcached 1.6.18's item size arithmetic and slab class table (default `-n 48 -f 1.25`, 1 MiB
/// pages), so `me`, `stats items` and `stats slabs` report the classes and sizes memcached would.
/// Our store does not allocate from slabs; the classes only group items for statistics.
enum SizeClasses {
    /// memcached's `sizeof(item)` (48) plus the 8-byte CAS.
    static let memcachedHeader = 56

    /// memcached's ITEM_ntotal: header + key + NUL + (4 if flags != 0) + value + "\r\n".
    @inline(__always) static func memcachedItemSize(keyLength: Int, valueLength: Int, flags: UInt32) -> Int {
        memcachedHeader + keyLength + 1 + (flags == 0 ? 0 : 4) + valueLength + 2
    }

    /// Chunk size by class id; index 0 is unused (0).
    static let chunkSizes: [Int] = {
        var sizes = [0]
        let factor = 1.25
        let chunkMax = 512 * 1024  // slab_chunk_size_max = page / 2
        var size = 48 + 48  // sizeof(item) + chunk_size
        while sizes.count < 63 {
            if Double(size) >= Double(chunkMax) / factor { break }
            if size % 8 != 0 { size += 8 - size % 8 }
            sizes.append(size)
            size = Int(Double(size) * factor)
        }
        sizes.append(chunkMax)
        return sizes
    }()

    static var largestClass: Int { chunkSizes.count - 1 }

    /// Sizes up to this are looked up in `smallTable` (by 8-byte steps) instead of searched.
    static let smallLimit = 16 * 1024

    /// Class id for every size up to `smallLimit`, in 8-byte steps. Built once, never freed.
    nonisolated(unsafe) static let smallTable: UnsafeMutablePointer<UInt8> = {
        let entries = smallLimit / 8 + 1
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: entries)
        for step in 0..<entries { table[step] = UInt8(searchClassID(forSize: step * 8)) }
        return table
    }()

    /// The class memcached would put an item of this size in (larger items: the largest class).
    @inline(__always) static func classID(forSize size: Int) -> Int {
        if size <= smallLimit { return Int(smallTable[(size + 7) >> 3]) }
        return searchClassID(forSize: size)
    }

    static func searchClassID(forSize size: Int) -> Int {
        // Binary search over ~40 sorted entries.
        var low = 1
        var high = chunkSizes.count - 1
        if size >= chunkSizes[high] { return high }
        while low < high {
            let mid = (low + high) >> 1
            if chunkSizes[mid] >= size { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
