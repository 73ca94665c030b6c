/// Every answer the parser gives on its own, byte for byte as memcached 1.6.18 sends it.
///
/// These are responses, not thrown errors: `ParseResult.reject` carries one to the connection.
/// Each was established by sending the request to Debian's memcached 1.6.18 (`-U 0`, default
/// `-I 1m`); the pairs are in `Tests/TextProtocolTests/MemcachedTranscriptTests.swift`, and the
/// rules behind them are summarised here.
///
/// Line framing
/// - A line ends at `\n`; one `\r` before it is dropped (a bare `\n` works). A NUL byte ends the
///   line early (memcached runs `strlen`): `get a\0 b` asks for `a` only.
/// - Tokens are split on spaces only: a tab, `\r` or any other byte is part of a key.
/// - An empty line, a line of spaces, a one-byte command and an unknown command: `ERROR`.
/// - No `\n` among more than 2048 unread bytes closes the connection, unless the bytes start
///   (after at most 100 spaces) with `get ` or `gets `; a longer line that arrives whole is parsed.
/// - An unknown command whose last token (of the first 23) starts with `HTTP/` closes the
///   connection (`GET / HTTP/1.1`), unless its name starts like a known command (g s a c i d t, or
///   a two-letter m…): `gimme / HTTP/1.1` is `ERROR`.
/// - A connection whose first byte is 0x80 (binary protocol) is closed (ringcached's rule; the
///   binary protocol is not served).
///
/// Classic commands
/// - Wrong number of tokens: `ERROR` (`set a 0 0`, `incr a`, `delete a 0 noreply x`, `get`).
/// - `noreply` is the last token, spelled exactly; it also silences the command's own
///   `CLIENT_ERROR`/`SERVER_ERROR` answers (then `response` is empty).
/// - Key over 250 bytes, bad flags/exptime/length/cas, negative length or length above
///   2^31-3: `CLIENT_ERROR bad command line format`, and the data block is NOT skipped: it is
///   parsed as the next command line (usually `ERROR`).
/// - Data block not followed by `\r\n`: memcached reads exactly length+2 bytes, answers
///   `CLIENT_ERROR bad data chunk`, and parses on right after them.
/// - Too large: `SERVER_ERROR object too large for cache`, the length+2 bytes are skipped, and for
///   `set` (not add/replace/append/prepend/cas) the key's current item is deleted.
/// - `delete <key> x`: `CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]`
///   (only `0` may stand between key and `noreply`).
/// - Bad delta: `CLIENT_ERROR invalid numeric delta argument`; bad exptime in `touch`, `gat`,
///   `gats`, `flush_all`: `CLIENT_ERROR invalid exptime argument`; bad `verbosity` level:
///   `CLIENT_ERROR bad command line format`; bad `cache_memlimit` value: `ERROR`.
///
/// Meta commands (`mg ms md ma`; `me`, `mn`)
/// - Fewer than a key: `ERROR` (`me`: `CLIENT_ERROR bad command line format`); key over 250
///   bytes (measured before base64 decoding): `CLIENT_ERROR bad command line format`.
/// - More than 17 flags (16 for `ms`): `mg` says `CLIENT_ERROR options flags are too long`,
///   `ms md ma` say `CLIENT_ERROR options flags too long`.
/// - Flags are judged by their first byte; a repeated one, or a byte >= 127:
///   `CLIENT_ERROR duplicate flag`; an unknown one: `CLIENT_ERROR invalid flag` (both stop at
///   once). Bad tokens: `N T R C` -> `CLIENT_ERROR bad token in command line format`,
///   `F` -> `CLIENT_ERROR bad command line format`, `D` -> `CLIENT_ERROR invalid numeric delta
///   value`, `J` -> `CLIENT_ERROR invalid numeric initial value`, `M` not one byte ->
///   `CLIENT_ERROR incorrect length for M token`, `b` with a key that does not decode ->
///   `CLIENT_ERROR error decoding key`; the last such error wins. `md` and `ma` answer every one
///   of these with `CLIENT_ERROR invalid or duplicate flag`.
/// - `O` token longer than 32 bytes including the `O`: `CLIENT_ERROR opaque token too long`.
/// - `ms` mode other than E A P R S: `CLIENT_ERROR invalid mode for ms M token`; `ma` mode other
///   than I + D -: `CLIENT_ERROR invalid mode for ma M token` (both before the opaque check).
/// - `ms`: missing, bad, negative or huge datalen: `CLIENT_ERROR bad command line format` and the
///   data is not skipped; every later error (flags, mode, opaque, too large) skips datalen+2 bytes.
///   `q` never hides an error. Too large also deletes the key's current item, in every mode.
/// - `me <key> b` with a key that does not decode: `CLIENT_ERROR bad command line format`.
public enum ErrorResponse {
    /// Nothing to send: a classic command with `noreply` whose error memcached does not answer.
    public static let silent: StaticString = ""
    public static let error: StaticString = "ERROR\r\n"
    public static let badCommandLineFormat: StaticString = "CLIENT_ERROR bad command line format\r\n"
    public static let deleteUsage: StaticString =
        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
    public static let badDataChunk: StaticString = "CLIENT_ERROR bad data chunk\r\n"
    public static let objectTooLarge: StaticString = "SERVER_ERROR object too large for cache\r\n"
    public static let invalidExptime: StaticString = "CLIENT_ERROR invalid exptime argument\r\n"
    public static let invalidDelta: StaticString = "CLIENT_ERROR invalid numeric delta argument\r\n"

    public static let duplicateFlag: StaticString = "CLIENT_ERROR duplicate flag\r\n"
    public static let invalidFlag: StaticString = "CLIENT_ERROR invalid flag\r\n"
    public static let invalidOrDuplicateFlag: StaticString = "CLIENT_ERROR invalid or duplicate flag\r\n"
    public static let badToken: StaticString = "CLIENT_ERROR bad token in command line format\r\n"
    public static let invalidDeltaValue: StaticString = "CLIENT_ERROR invalid numeric delta value\r\n"
    public static let invalidInitialValue: StaticString = "CLIENT_ERROR invalid numeric initial value\r\n"
    public static let modeTokenLength: StaticString = "CLIENT_ERROR incorrect length for M token\r\n"
    public static let errorDecodingKey: StaticString = "CLIENT_ERROR error decoding key\r\n"
    public static let opaqueTooLong: StaticString = "CLIENT_ERROR opaque token too long\r\n"
    /// `mg` only; the other meta commands use `flagsTooLong`.
    public static let flagsAreTooLong: StaticString = "CLIENT_ERROR options flags are too long\r\n"
    public static let flagsTooLong: StaticString = "CLIENT_ERROR options flags too long\r\n"
    public static let invalidSetMode: StaticString = "CLIENT_ERROR invalid mode for ms M token\r\n"
    public static let invalidArithmeticMode: StaticString = "CLIENT_ERROR invalid mode for ma M token\r\n"
}
