import Testing

/// Integration tests: the real release binary on 127.0.0.1, one process per test, on free ports.
///
/// Run them against ringcached (`swift build -c release` first, or set `RINGCACHED_BIN`), or
/// against Debian's memcached 1.6.18 with `RINGCACHE_TEST_AGAINST=memcached` to validate the
/// tests themselves. They run one at a time: several measure the server's memory and timing, and
/// the machine has two cores.
///
/// Needs Debian's memcached (the memcache user, and the second replay of the compatibility
/// table), libmemcached-tools (memccapable) and python3-pymemcache. Environment:
/// - `RINGCACHED_BIN`: the binary (default `<package>/.build/release/ringcached`)
/// - `RINGCACHE_TEST_AGAINST=memcached`: test /usr/bin/memcached instead (`MEMCACHED_BIN` to override)
/// - `RINGCACHE_COMPAT_CASE=a,b`: replay only these cases of the compatibility table
///
/// The table itself is re-recorded from memcached with `scripts/integration/record-compat.py`.
@Suite("Integration (real server binary)", .serialized)
struct IntegrationSuite {}

/// Traits for tests whose expectation is ringcached's own (memcached behaves differently or lacks
/// the feature).
enum Only {
    static var ringcached: ConditionTrait {
        .enabled(if: ServerTarget.isRingcached, "ringcached-only behaviour (RINGCACHE_TEST_AGAINST=memcached)")
    }
}
