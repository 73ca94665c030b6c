import Testing

/// Integration tests: the real release binary on 127.0.0.1, one process per test, on free ports.
///
/// Run them against ringcached (`swift build -c release` first, or set `RINGCACHED_BIN`), or
/// against Debian's memcached 1.6.18 with `RINGCACHE_TEST_AGAINST=memcached` to validate the
/// tests themselves. They run one at a time: several measure the server's memory and timing, and
/// the machine has two cores.
@Suite("Integration (real server binary)", .serialized)
struct IntegrationSuite {}

/// Traits for tests whose expectation is ringcached's own (memcached behaves differently or lacks
/// the feature).
enum Only {
    static var ringcached: ConditionTrait {
        .enabled(if: ServerTarget.isRingcached, "ringcached-only behaviour (RINGCACHE_TEST_AGAINST=memcached)")
    }
}
