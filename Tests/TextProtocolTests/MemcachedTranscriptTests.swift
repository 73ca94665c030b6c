import Testing
@testable import TextProtocol

/// Request bytes -> what the parser makes of them, next to what memcached 1.6.18 answered to the
/// same bytes (Debian's build, `memcached -U 0 -l 127.0.0.1 -p PORT`, default `-I 1m`, each row
/// on a fresh connection, the keys' previous state noted where it mattered).
///
/// The transcript writes parser rejections as their exact bytes, commands as `{…}` (their answer
/// is the executor's; memcached's is in the third column), `{unlink key}` for `Parser.staleKey`,
/// and `<close>` for a closed connection. A row without `{` must equal memcached's bytes exactly.
/// Every row runs whole, one byte at a time (big rows: 997 bytes at a time), and pipelined
/// after a `version` line.
struct TranscriptRow: Sendable, CustomTestStringConvertible {
    let request: [UInt8]
    let expected: String
    let memcached: String
    /// ringcached's own rule, not memcached's (the binary protocol is refused).
    var ringcachedRule = false

    init(_ request: String, _ expected: String, mc memcached: String, ringcachedRule: Bool = false) {
        self.request = Array(request.utf8)
        self.expected = expected
        self.memcached = memcached
        self.ringcachedRule = ringcachedRule
    }

    init(bytes: [UInt8], _ expected: String, mc memcached: String, ringcachedRule: Bool = false) {
        self.request = bytes
        self.expected = expected
        self.memcached = memcached
        self.ringcachedRule = ringcachedRule
    }

    var testDescription: String {
        let text = String(decoding: request.prefix(80), as: UTF8.self)
        return (request.count > 80 ? text + "…(\(request.count) bytes)" : text).debugDescription
    }
}

func rep(_ s: String, _ n: Int) -> String { String(repeating: s, count: n) }

let badFormat = "CLIENT_ERROR bad command line format\r\n"
let usage = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
let chunk = "CLIENT_ERROR bad data chunk\r\n"
let tooLarge = "SERVER_ERROR object too large for cache\r\n"
let exptimeError = "CLIENT_ERROR invalid exptime argument\r\n"
let deltaError = "CLIENT_ERROR invalid numeric delta argument\r\n"
let invalidOrDup = "CLIENT_ERROR invalid or duplicate flag\r\n"
let k251 = rep("k", 251)
let big = rep("a", 2_000_000)

let framingRows: [TranscriptRow] = [
    TranscriptRow("\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("   \r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("x\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("xy\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("GET / HTTP/1.1\r\n", "<close>", mc: "<close>"),
    TranscriptRow("POST /x HTTP/1.1\r\nHost: a\r\n\r\n", "<close>", mc: "<close>"),
    TranscriptRow("GETS / HTTP/1.0\r\n", "<close>", mc: "<close>"),
    TranscriptRow("FOO HTTP/1.0\r\n", "<close>", mc: "<close>"),
    TranscriptRow("HTTP/1.1\r\n", "<close>", mc: "<close>"),
    TranscriptRow("px / HTTP/1.1\r\n", "<close>", mc: "<close>"),
    TranscriptRow("mget / HTTP/1.1\r\n", "<close>", mc: "<close>"),
    TranscriptRow("quitx / HTTP/1.1\r\n", "<close>", mc: "<close>"),
    TranscriptRow("xx HTTP/1.1\0 z\r\n", "<close>", mc: "<close>"),
    TranscriptRow("xx" + rep(" y", 21) + " HTTP/1.1\r\n", "<close>", mc: "<close>"),
    TranscriptRow("xx" + rep(" y", 22) + " HTTP/1.1\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("xx" + rep(" y", 21) + " HTTP/1.1 z\r\n", "<close>", mc: "<close>"),
    TranscriptRow("xx" + rep(" y", 20) + " HTTP/1.1 z\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("get / HTTP/1.1\r\n", "{get / HTTP/1.1}", mc: "END\r\n"),
    TranscriptRow("gimme / HTTP/1.1\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("sx / HTTP/1.1\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("mx / HTTP/1.1\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("ta / HTTP/1.1\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("prepend / HTTP/1.1\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("version / HTTP/1.1\r\n", "{version}", mc: "VERSION 1.6.18\r\n"),
    TranscriptRow("flush_all / HTTP/1.1\r\n", exptimeError, mc: exptimeError),
    TranscriptRow("verbosity 1 HTTP/1.1\r\n", "{verbosity 1}", mc: "OK\r\n"),
    TranscriptRow("foo HTTP/ bar\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("xx HTTP\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("xx http/1.1\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow(bytes: [0x80, 0, 0, 0], "<close>", mc: "(waits for a binary header)", ringcachedRule: true),
    TranscriptRow(bytes: [0x80] + Array("abc\r\n".utf8), "<close>", mc: "(binary protocol)", ringcachedRule: true),
    TranscriptRow(bytes: Array("version\r\n".utf8) + [0x80] + Array("abc\r\n".utf8), "{version}ERROR\r\n",
                  mc: "VERSION 1.6.18\r\nERROR\r\n"),
    TranscriptRow("get z\0\r\n", "{get z}", mc: "VALUE z 0 1\r\nx\r\nEND\r\n"),
    TranscriptRow("\0get z\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("get \0\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("get a a\0 a\r\n", "{get a a}", mc: "VALUE a 0 1\r\n1\r\nVALUE a 0 1\r\n1\r\nEND\r\n"),
    TranscriptRow("set z 0 0 1\0junk\r\nx\r\n", "{set z}", mc: "STORED\r\n"),
    TranscriptRow("ms z 1 T0\0 zz\r\nx\r\nmn\r\n", "{ms z x}{mn}", mc: "HD\r\nMN\r\n"),
    TranscriptRow("get z\r\r\n", "{get z\r}", mc: "END\r\n (key \"z\\r\")"),
    TranscriptRow("get z\rz\r\n", "{get z\rz}", mc: "END\r\n"),
    TranscriptRow("mn\r\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("version\r\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("set foo\t0 0 1\r\nx\r\n", "ERROR\r\nERROR\r\n", mc: "ERROR\r\nERROR\r\n"),
    TranscriptRow("set foo\tbar 0 0 1\r\nx\r\nget foo\tbar\r\n", "{set foo\tbar}{get foo\tbar}",
                  mc: "STORED\r\nVALUE foo\tbar 0 1\r\nx\r\nEND\r\n"),
    TranscriptRow("get foo\tbar baz\r\n", "{get foo\tbar baz}", mc: "VALUE foo\tbar 0 1\r\nx\r\nEND\r\n"),
    TranscriptRow("   get foo\r\n", "{get foo}", mc: "END\r\n"),
    TranscriptRow("get  foo   bar  \r\n", "{get foo bar}", mc: "END\r\n"),
    TranscriptRow("quit\r\nversion\r\n", "{quit}", mc: "<close>"),
    TranscriptRow("quit foo\r\nversion\r\n", "{quit}", mc: "<close>"),
    TranscriptRow("version foo\r\n", "{version}", mc: "VERSION 1.6.18\r\n"),
    TranscriptRow("Get z\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("GET z\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("SET n 0 0 1\r\nx\r\n", "ERROR\r\nERROR\r\n", mc: "ERROR\r\nERROR\r\n"),
    TranscriptRow("setx n 0 0 1\r\nx\r\n", "ERROR\r\nERROR\r\n", mc: "ERROR\r\nERROR\r\n"),
    // Operator commands: the executor reads their words (lru needs one before it looks).
    TranscriptRow("slabs\r\n", "{slabs []}", mc: "ERROR\r\n"),
    TranscriptRow("slabs  automove  1\r\n", "{slabs [automove  1]}", mc: "OK\r\n"),
    TranscriptRow("lru_crawler\r\n", "{lruCrawler []}", mc: "ERROR\r\n"),
    TranscriptRow("lru_crawler metadump all\r\n", "{lruCrawler [metadump all]}", mc: "…END\r\n"),
    TranscriptRow("watch fetchers\r\n", "{watch [fetchers]}", mc: "OK\r\n"),
    TranscriptRow("lru\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("lru tune 10 20 0.1 2\r\n", "{lru [tune 10 20 0.1 2]}", mc: "OK\r\n"),
    // Commands ringcached does not serve; memcached answers these the same way.
    TranscriptRow("debugtime\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("extstore\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("misbehave\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
]

let storageRows: [TranscriptRow] = [
    TranscriptRow("set foo 0 0 5\r\nhello\r\n", "{set foo}", mc: "STORED\r\n"),
    TranscriptRow("set foo 0 0 5\nhello\r\nget foo\n", "{set foo}{get foo}", mc: "STORED\r\nVALUE foo 0 5\r\nhello\r\nEND\r\n"),
    TranscriptRow("set foo 0 0 3\r\nhello\r\n", chunk + "ERROR\r\n", mc: chunk + "ERROR\r\n"),
    TranscriptRow("set foo 0 0 7\r\nhello\r\n", "", mc: ""),
    TranscriptRow("set foo 0 0 7\r\nhello\r\nget foo\r\n", chunk + "ERROR\r\n", mc: chunk + "ERROR\r\n"),
    TranscriptRow("set foo 0 0 5\r\nhelloXY\r\n", chunk + "ERROR\r\n", mc: chunk + "ERROR\r\n"),
    TranscriptRow("set foo 0 0 5\r\nhello\n", "", mc: ""),
    TranscriptRow("set foo 0 0 -1\r\nhello\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("set foo 0 0\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("set foo 0 0 5 noreply extra\r\nhello\r\n", "ERROR\r\nERROR\r\n", mc: "ERROR\r\nERROR\r\n"),
    TranscriptRow("set foo 0 0 5 extra\r\nhello\r\n", "{set foo}", mc: "STORED\r\n"),
    TranscriptRow("set foo bar 0 5\r\nhello\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("set foo bar 0 5 noreply\r\nhello\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("set foo 0 0 3 noreply\r\nhello\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("set " + rep("k", 250) + " 0 0 1\r\nx\r\n", "{set \(rep("k", 250))}", mc: "STORED\r\n"),
    TranscriptRow("set " + k251 + " 0 0 1\r\nx\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("set " + k251 + " 0 0 1 noreply\r\nx\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("set foo 0 0 2000000\r\n" + rep("a", 100) + "\r\nget foo\r\n", "{unlink foo}" + tooLarge,
                  mc: "(nothing until the 2000002 bytes are in)"),
    TranscriptRow("set foo 0 0 2000000\r\n" + big + "XXmn\r\n", "{unlink foo}" + tooLarge + "{mn}", mc: tooLarge + "MN\r\n"),
    TranscriptRow("set foo 0 0 2000000 noreply\r\n" + big + "\r\nmn\r\n", "{unlink foo}{mn}", mc: "MN\r\n"),
    TranscriptRow("set t 0 0 1\r\nx\r\nset t 0 0 2000000\r\n" + big + "\r\nget t\r\n", "{set t}{unlink t}" + tooLarge + "{get t}",
                  mc: "STORED\r\n" + tooLarge + "END\r\n"),
    TranscriptRow("set t 0 0 1\r\nx\r\nadd t 0 0 2000000\r\n" + big + "\r\nget t\r\n", "{set t}" + tooLarge + "{get t}",
                  mc: "STORED\r\n" + tooLarge + "VALUE t 0 1\r\nx\r\nEND\r\n"),
    TranscriptRow("set t 0 0 1\r\nx\r\nappend t 0 0 2000000\r\n" + big + "\r\nget t\r\n", "{set t}" + tooLarge + "{get t}",
                  mc: "STORED\r\n" + tooLarge + "VALUE t 0 1\r\nx\r\nEND\r\n"),
    TranscriptRow("set t 0 0 1\r\nx\r\ncas t 0 0 2000000 1\r\n" + big + "\r\nget t\r\n", "{set t}" + tooLarge + "{get t}",
                  mc: "STORED\r\n" + tooLarge + "VALUE t 0 1\r\nx\r\nEND\r\n"),
    TranscriptRow("set q 0 0 1\r\nx\r\nreplace q 0 0 2000000\r\n" + big + "\r\nget q\r\n", "{set q}" + tooLarge + "{get q}",
                  mc: "STORED\r\n" + tooLarge + "VALUE q 0 1\r\nx\r\nEND\r\n"),
    TranscriptRow("set n 4294967296 0 1\r\nx\r\n", "{set n}", mc: "STORED\r\n (flags 0)"),
    TranscriptRow("set n -1 0 1\r\nx\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("set n \r5 0 1\r\nx\r\nget n\r\n", "{set n}{get n}", mc: "STORED\r\nVALUE n 5 1\r\nx\r\nEND\r\n"),
    TranscriptRow("set n 5x 0 1\r\nx\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("set n 0x5 0 1\r\nx\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("set n 0 0 2147483647\r\nx\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("set n 0 0 2147483646\r\nx\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("set n 0 0 4294967297\r\nx\r\n", "{set n}", mc: "STORED\r\n (1 byte)"),
    TranscriptRow("set n 0 x 1\r\nx\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("set n 0 99999999999999999999 1\r\nx\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("set n 0 0 0\r\n\r\nget n\r\n", "{set n}{get n}", mc: "STORED\r\nVALUE n 0 0\r\n\r\nEND\r\n"),
    TranscriptRow("set n 0 0 1 noreply\r\nx\r\nget n\r\n", "{set n noreply}{get n}", mc: "VALUE n 0 1\r\nx\r\nEND\r\n"),
    TranscriptRow("set n 0 0 1 norepl\r\nx\r\n", "{set n}", mc: "STORED\r\n"),
    TranscriptRow("set n 0 0 1 NOREPLY\r\nx\r\n", "{set n}", mc: "STORED\r\n"),
    TranscriptRow("set n 0 0 noreply\r\nx\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("set z 0 0 1 \r\nx\r\n", "{set z}", mc: "STORED\r\n"),
    TranscriptRow("set z 0 0 1 noreply \r\nx\r\nmn\r\n", "{set z noreply}{mn}", mc: "MN\r\n"),
    TranscriptRow("cas n 0 0 1\r\nx\r\n", "ERROR\r\nERROR\r\n", mc: "ERROR\r\nERROR\r\n"),
    TranscriptRow("cas n 0 0 1 x\r\nx\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("cas n 0 0 1 -1\r\nx\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("cas n 0 0 1 18446744073709551616\r\nx\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("cas n 0 0 1 1\r\nx\r\n", "{cas n}", mc: "EXISTS\r\n"),
    TranscriptRow("cas n 0 0 1 1 noreply\r\nx\r\n", "{cas n noreply}", mc: ""),
    TranscriptRow("cas n 0 0 1 1 noreply x\r\nx\r\n", "ERROR\r\nERROR\r\n", mc: "ERROR\r\nERROR\r\n"),
    TranscriptRow("cas n 0 0 1 1 x\r\nx\r\n", "{cas n}", mc: "EXISTS\r\n"),
    TranscriptRow("add n 0 0 1\r\nx\r\n", "{add n}", mc: "NOT_STORED\r\n"),
    TranscriptRow("replace n2 0 0 1\r\nx\r\n", "{replace n2}", mc: "NOT_STORED\r\n"),
    TranscriptRow("append n2 0 0 1\r\nx\r\n", "{append n2}", mc: "NOT_STORED\r\n"),
    TranscriptRow("prepend n2 0 0 1\r\nx\r\n", "{prepend n2}", mc: "NOT_STORED\r\n"),
    TranscriptRow("append n x 0 1\r\nx\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("append n 0 0\r\nx\r\n", "ERROR\r\nERROR\r\n", mc: "ERROR\r\nERROR\r\n"),
]

let retrievalRows: [TranscriptRow] = [
    TranscriptRow("get\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("get \r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("gets\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("gats\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("gat\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("gat 10\r\n", "{gat 10}", mc: "END\r\n"),
    TranscriptRow("gats 1\r\n", "{gats 1}", mc: "END\r\n"),
    TranscriptRow("gats 10 foo\r\n", "{gats 10 foo}", mc: "END\r\n"),
    TranscriptRow("gat -1 k1 k2\r\n", "{gat -1 k1 k2}", mc: "END\r\n"),
    TranscriptRow("gat x foo\r\n", exptimeError, mc: exptimeError),
    TranscriptRow("gat +5 z\r\n", "{gat 5 z}", mc: "VALUE z 0 1\r\nx\r\nEND\r\n"),
    TranscriptRow("gat 99999999999 z\r\n", "{gat 1215752191 z}", mc: "VALUE z 0 1\r\nx\r\nEND\r\n"),
    TranscriptRow("gat 99999999999999999999 z\r\n", exptimeError, mc: exptimeError),
    TranscriptRow("gat 0 " + k251 + "\r\n", badFormat, mc: badFormat),
    TranscriptRow("get " + k251 + "\r\n", badFormat, mc: badFormat),
    // memcached sends no VALUE for the existing key before the long one, only the error.
    TranscriptRow("get a " + k251 + " a\r\n", badFormat, mc: badFormat),
    TranscriptRow("get z" + rep(" z", 30) + " " + k251 + "\r\n", badFormat, mc: badFormat),
    TranscriptRow("get z HTTP/1.1\r\n", "{get z HTTP/1.1}", mc: "VALUE z 0 1\r\nx\r\nEND\r\n"),
    TranscriptRow("bget\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("bget t\r\n", "{get t}", mc: "VALUE t 0 1\r\nx\r\nEND\r\n"),
]

let otherClassicRows: [TranscriptRow] = [
    TranscriptRow("delete\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("set noreply 0 0 1\r\nx\r\ndelete noreply\r\n", "{set noreply}{delete noreply}", mc: "STORED\r\nDELETED\r\n"),
    TranscriptRow("delete e\r\n", "{delete e}", mc: "DELETED\r\n"),
    TranscriptRow("delete e 0\r\n", "{delete e}", mc: "NOT_FOUND\r\n"),
    TranscriptRow("delete e 1\r\n", usage, mc: usage),
    TranscriptRow("delete e 0 noreply\r\n", "{delete e noreply}", mc: ""),
    TranscriptRow("delete e 1 noreply\r\n", "", mc: ""),
    TranscriptRow("delete e noreply\r\n", "{delete e noreply}", mc: ""),
    TranscriptRow("delete e noreply 0\r\n", usage, mc: usage),
    TranscriptRow("delete e 0 0\r\n", usage, mc: usage),
    TranscriptRow("delete e 00\r\n", usage, mc: usage),
    TranscriptRow("delete e 0 noreply x\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("delete " + k251 + "\r\n", badFormat, mc: badFormat),
    TranscriptRow("delete " + k251 + " noreply\r\n", "", mc: ""),
    TranscriptRow("delete a noreply\r\ndelete a 0 noreply\r\nmn\r\n", "{delete a noreply}{delete a noreply}{mn}", mc: "MN\r\n"),
    TranscriptRow("incr\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("incr x\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("incr x 1\r\n", "{incr x 1}", mc: "NOT_FOUND\r\n"),
    TranscriptRow("incr x 1 noreply\r\n", "{incr x 1 noreply}", mc: ""),
    TranscriptRow("incr x 1 2\r\n", "{incr x 1}", mc: "NOT_FOUND\r\n"),
    TranscriptRow("incr x a\r\n", deltaError, mc: deltaError),
    TranscriptRow("incr x -1\r\n", deltaError, mc: deltaError),
    TranscriptRow("incr x 18446744073709551616\r\n", deltaError, mc: deltaError),
    TranscriptRow("incr x a noreply\r\n", "", mc: ""),
    TranscriptRow("incr x noreply\r\n", "", mc: ""),
    TranscriptRow("incr " + k251 + " 1\r\n", badFormat, mc: badFormat),
    TranscriptRow("decr x 1\r\n", "{decr x 1}", mc: "NOT_FOUND\r\n"),
    TranscriptRow("decr x abc\r\n", deltaError, mc: deltaError),
    TranscriptRow("set i 0 0 2\r\n10\r\nincr i 18446744073709551615\r\ndecr i 100\r\nincr i +5\r\nincr i -0\r\n",
                  "{set i}{incr i 18446744073709551615}{decr i 100}{incr i 5}{incr i 0}", mc: "STORED\r\n9\r\n0\r\n5\r\n5\r\n"),
    TranscriptRow("touch\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("touch x\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("touch x 10\r\n", "{touch x 10}", mc: "NOT_FOUND\r\n"),
    TranscriptRow("touch x abc\r\n", exptimeError, mc: exptimeError),
    TranscriptRow("touch x abc noreply\r\n", "", mc: ""),
    TranscriptRow("touch x 10 noreply\r\n", "{touch x 10 noreply}", mc: ""),
    TranscriptRow("touch x 10 20\r\n", "{touch x 10}", mc: "NOT_FOUND\r\n"),
    TranscriptRow("touch x 10 noreply 20\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("touch " + k251 + " 10\r\n", badFormat, mc: badFormat),
    TranscriptRow("touch z +5\r\n", "{touch z 5}", mc: "TOUCHED\r\n"),
    TranscriptRow("touch z 5x\r\n", exptimeError, mc: exptimeError),
    TranscriptRow("flush_all\r\n", "{flush_all 0}", mc: "OK\r\n"),
    TranscriptRow("flush_all 0\r\n", "{flush_all 0}", mc: "OK\r\n"),
    TranscriptRow("flush_all noreply\r\n", "{flush_all 0 noreply}", mc: ""),
    TranscriptRow("flush_all 10 noreply\r\nversion\r\n", "{flush_all 10 noreply}{version}", mc: "VERSION 1.6.18\r\n"),
    TranscriptRow("flush_all abc\r\n", exptimeError, mc: exptimeError),
    TranscriptRow("flush_all abc noreply\r\nversion\r\n", "{version}", mc: "VERSION 1.6.18\r\n"),
    TranscriptRow("flush_all 10 abc\r\n", "{flush_all 10}", mc: "OK\r\n"),
    TranscriptRow("flush_all -1\r\n", "{flush_all -1}", mc: "OK\r\n"),
    TranscriptRow("flush_all 1 2 3\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("flush_all noreply noreply\r\nversion\r\n", "{version}", mc: "VERSION 1.6.18\r\n"),
    TranscriptRow("flush_all 99999999999\r\n", "{flush_all 1215752191}", mc: "OK\r\n"),
    TranscriptRow("verbosity\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("verbosity 1\r\n", "{verbosity 1}", mc: "OK\r\n"),
    TranscriptRow("verbosity abc\r\n", badFormat, mc: badFormat),
    TranscriptRow("verbosity 1 noreply\r\nversion\r\n", "{verbosity 1 noreply}{version}", mc: "VERSION 1.6.18\r\n"),
    TranscriptRow("verbosity noreply\r\nversion\r\n", "{version}", mc: "VERSION 1.6.18\r\n"),
    TranscriptRow("verbosity 1 2\r\n", "{verbosity 1}", mc: "OK\r\n"),
    TranscriptRow("verbosity 1 2 3\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("verbosity -1\r\n", badFormat, mc: badFormat),
    TranscriptRow("cache_memlimit\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("cache_memlimit 100\r\n", "{cache_memlimit 100}", mc: "OK\r\n"),
    TranscriptRow("cache_memlimit abc\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("cache_memlimit 7\r\n", "{cache_memlimit 7}", mc: "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n"),
    TranscriptRow("cache_memlimit 1000000001\r\n", "{cache_memlimit 1000000001}",
                  mc: "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n"),
    TranscriptRow("cache_memlimit 100 noreply\r\nversion\r\n", "{cache_memlimit 100 noreply}{version}", mc: "VERSION 1.6.18\r\n"),
    TranscriptRow("cache_memlimit abc noreply\r\nversion\r\n", "{version}", mc: "VERSION 1.6.18\r\n"),
    TranscriptRow("cache_memlimit 100 200\r\n", "{cache_memlimit 100}", mc: "OK\r\n"),
    TranscriptRow("cache_memlimit 100 200 300\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("cache_memlimit -1\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("cache_memlimit 4294967304\r\n", "{cache_memlimit 8}", mc: "OK\r\n"),
    TranscriptRow("stats foo\r\n", "{stats foo}", mc: "ERROR\r\n"),
    TranscriptRow("stats reset extra\r\n", "{stats reset extra}", mc: "RESET\r\n"),
    TranscriptRow("stats  settings  \r\n", "{stats settings}", mc: "STAT maxbytes 67108864\r\n…END\r\n"),
    TranscriptRow("stats detail on\r\n", "{stats detail on}", mc: "OK\r\n"),
    TranscriptRow("shutdown\r\n", "{shutdown}", mc: "ERROR: shutdown not enabled\r\n"),
    TranscriptRow("shutdown graceful\r\n", "{shutdown}", mc: "ERROR: shutdown not enabled\r\n"),
    TranscriptRow("shutdown foo bar\r\n", "{shutdown}", mc: "ERROR: shutdown not enabled\r\n"),
]

let metaRows: [TranscriptRow] = [
    TranscriptRow("m\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("mg\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("ms\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("md\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("ma\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("mx foo\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("mget foo\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("mset foo\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("mdelete foo\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("marithmetic foo\r\n", "ERROR\r\n", mc: "ERROR\r\n"),
    TranscriptRow("mn\r\n", "{mn}", mc: "MN\r\n"),
    TranscriptRow("mn foo bar baz\r\n", "{mn}", mc: "MN\r\n"),
    TranscriptRow("mn" + rep(" x", 30) + "\r\n", "{mn}", mc: "MN\r\n"),
    TranscriptRow("me\r\n", badFormat, mc: badFormat),
    TranscriptRow("me foo\r\n", "{me foo}", mc: "EN\r\n"),
    TranscriptRow("me foo x\r\n", "{me foo}", mc: "EN\r\n"),
    TranscriptRow("me foo" + rep(" x", 30) + "\r\n", "{me foo}", mc: "ME foo exp=-1 la=1 cas=83 fetch=no cls=1 size=63\r\n"),
    TranscriptRow("me " + k251 + "\r\n", badFormat, mc: badFormat),
    TranscriptRow("me Zm9v b\r\n", "{me Zm9v b}", mc: "EN\r\n"),
    TranscriptRow("me Zm9v! b\r\n", "{me Zm9v! b}", mc: "ME foo exp=-1 la=0 cas=83 fetch=no cls=1 size=63\r\n"),
    TranscriptRow("me !!!! b\r\n", badFormat, mc: badFormat),
    TranscriptRow("me foo b\r\n", badFormat, mc: badFormat),
    // mg
    TranscriptRow("mg foo C5 N5 R5 T5 D5 F5 J5 MS\r\n", "{mg foo}", mc: "HD\r\n"),
    TranscriptRow("mg foo v v\r\n", "CLIENT_ERROR duplicate flag\r\n", mc: "CLIENT_ERROR duplicate flag\r\n"),
    TranscriptRow("mg foo vx v\r\n", "CLIENT_ERROR duplicate flag\r\n", mc: "CLIENT_ERROR duplicate flag\r\n"),
    TranscriptRow("mg foo vxyz\r\n", "{mg foo}", mc: "VA 2\r\n10\r\n"),
    TranscriptRow("mg foo O123 O456\r\n", "CLIENT_ERROR duplicate flag\r\n", mc: "CLIENT_ERROR duplicate flag\r\n"),
    TranscriptRow("mg foo P L Pfoo Lbar\r\n", "CLIENT_ERROR duplicate flag\r\n", mc: "CLIENT_ERROR duplicate flag\r\n"),
    TranscriptRow("mg foo Nx zz\r\n", "CLIENT_ERROR invalid flag\r\n", mc: "CLIENT_ERROR invalid flag\r\n"),
    TranscriptRow("mg foo zz Nx\r\n", "CLIENT_ERROR invalid flag\r\n", mc: "CLIENT_ERROR invalid flag\r\n"),
    TranscriptRow("mg foo Nx Ty\r\n", "CLIENT_ERROR bad token in command line format\r\n", mc: "CLIENT_ERROR bad token in command line format\r\n"),
    TranscriptRow("mg foo Fx Nx\r\n", "CLIENT_ERROR bad token in command line format\r\n", mc: "CLIENT_ERROR bad token in command line format\r\n"),
    TranscriptRow("mg foo Nx Fx\r\n", "CLIENT_ERROR bad token in command line format\r\n", mc: "CLIENT_ERROR bad token in command line format\r\n"),
    TranscriptRow("mg foo Nx Dx\r\n", "CLIENT_ERROR invalid numeric delta value\r\n", mc: "CLIENT_ERROR invalid numeric delta value\r\n"),
    TranscriptRow("mg foo Dx Nx\r\n", "CLIENT_ERROR bad token in command line format\r\n", mc: "CLIENT_ERROR bad token in command line format\r\n"),
    TranscriptRow("mg foo Dx Jx\r\n", "CLIENT_ERROR invalid numeric initial value\r\n", mc: "CLIENT_ERROR invalid numeric initial value\r\n"),
    TranscriptRow("mg foo Jx Dx\r\n", "CLIENT_ERROR invalid numeric delta value\r\n", mc: "CLIENT_ERROR invalid numeric delta value\r\n"),
    TranscriptRow("mg foo Mxx\r\n", "CLIENT_ERROR incorrect length for M token\r\n", mc: "CLIENT_ERROR incorrect length for M token\r\n"),
    TranscriptRow("mg foo M\r\n", "CLIENT_ERROR incorrect length for M token\r\n", mc: "CLIENT_ERROR incorrect length for M token\r\n"),
    TranscriptRow("mg foo Mx\r\n", "{mg foo}", mc: "HD\r\n"),
    TranscriptRow("mg foo Nx v v\r\n", "CLIENT_ERROR duplicate flag\r\n", mc: "CLIENT_ERROR duplicate flag\r\n"),
    TranscriptRow(bytes: Array("mg foo ".utf8) + [0x80] + Array("\r\n".utf8), "CLIENT_ERROR duplicate flag\r\n",
                  mc: "CLIENT_ERROR duplicate flag\r\n"),
    TranscriptRow("mg foo \u{7f}\r\n", "CLIENT_ERROR duplicate flag\r\n", mc: "CLIENT_ERROR duplicate flag\r\n"),
    TranscriptRow("mg foo T-1 v\r\n", "{mg foo}", mc: "EN\r\n"),
    TranscriptRow("mg foo T99999999999 v\r\n", "{mg foo}", mc: "EN\r\n"),
    TranscriptRow("mg foo C-1\r\n", "CLIENT_ERROR bad token in command line format\r\n", mc: "CLIENT_ERROR bad token in command line format\r\n"),
    TranscriptRow("mg foo C18446744073709551616\r\n", "CLIENT_ERROR bad token in command line format\r\n",
                  mc: "CLIENT_ERROR bad token in command line format\r\n"),
    TranscriptRow("mg foo F-1\r\n", badFormat, mc: badFormat),
    TranscriptRow("mg foo F4294967296\r\n", "{mg foo}", mc: "EN\r\n"),
    TranscriptRow("mg foo O" + rep("a", 31) + "\r\n", "{mg foo}", mc: "EN O" + rep("a", 31) + "\r\n"),
    // mg and ma check the O length while they write the answer, after the lookup: the executor's.
    TranscriptRow("mg foo O" + rep("a", 32) + "\r\n", "{mg foo}", mc: "CLIENT_ERROR opaque token too long\r\n"),
    TranscriptRow("mg nokey O" + rep("a", 32) + " q\r\n", "{mg nokey}", mc: "CLIENT_ERROR opaque token too long\r\n"),
    TranscriptRow("mg foo O" + rep("a", 40) + " zz\r\n", "CLIENT_ERROR invalid flag\r\n", mc: "CLIENT_ERROR invalid flag\r\n"),
    TranscriptRow("mg foo zz O" + rep("a", 40) + "\r\n", "CLIENT_ERROR invalid flag\r\n", mc: "CLIENT_ERROR invalid flag\r\n"),
    TranscriptRow("mg nokey q\r\nmn\r\n", "{mg nokey}{mn}", mc: "HD\r\nMN\r\n"),
    TranscriptRow("mg " + rep("k", 250) + " v\r\n", "{mg \(rep("k", 250))}", mc: "EN\r\n"),
    TranscriptRow("mg " + k251 + " v\r\n", badFormat, mc: badFormat),
    TranscriptRow("mg " + k251 + rep(" k", 20) + "\r\n", badFormat, mc: badFormat),
    TranscriptRow("mg " + k251 + " zz\r\n", badFormat, mc: badFormat),
    TranscriptRow("mg foo" + rep(" k", 17) + "\r\n", "CLIENT_ERROR duplicate flag\r\n", mc: "CLIENT_ERROR duplicate flag\r\n"),
    TranscriptRow("mg foo" + rep(" k", 18) + "\r\n", "CLIENT_ERROR options flags are too long\r\n",
                  mc: "CLIENT_ERROR options flags are too long\r\n"),
    TranscriptRow("mg foo" + rep(" k", 30) + "\r\n", "CLIENT_ERROR options flags are too long\r\n",
                  mc: "CLIENT_ERROR options flags are too long\r\n"),
    TranscriptRow("mg foo" + rep(" zz", 18) + "\r\n", "CLIENT_ERROR options flags are too long\r\n",
                  mc: "CLIENT_ERROR options flags are too long\r\n"),
    TranscriptRow("mg foo  v\r\n", "{mg foo}", mc: "EN\r\n"),
    TranscriptRow("mg Zm9v b v k\r\n", "{mg Zm9v}", mc: "EN kZm9v b\r\n"),
    TranscriptRow("mg Zm9v! b v k\r\n", "{mg Zm9v!}", mc: "EN kZm9v b\r\n"),
    TranscriptRow("mg !Zm9v b v k\r\n", "{mg !Zm9v}", mc: "EN kZm9v b\r\n"),
    TranscriptRow("mg Zm9 b v k\r\n", "CLIENT_ERROR error decoding key\r\n", mc: "CLIENT_ERROR error decoding key\r\n"),
    TranscriptRow("mg Zm8= b v k\r\n", "{mg Zm8=}", mc: "EN kZm8= b\r\n"),
    TranscriptRow("mg Zg=x b v k\r\n", "{mg Zg=x}", mc: "EN kZgA= b\r\n"),
    TranscriptRow("mg Zg==Zm9v b v k\r\n", "{mg Zg==Zm9v}", mc: "EN kZg== b\r\n"),
    TranscriptRow("mg ==== b v k\r\n", "CLIENT_ERROR error decoding key\r\n", mc: "CLIENT_ERROR error decoding key\r\n"),
    TranscriptRow("mg Zm9v bxyz v k\r\n", "{mg Zm9v}", mc: "EN kZm9v b\r\n"),
    TranscriptRow("mg foo b\r\n", "CLIENT_ERROR error decoding key\r\n", mc: "CLIENT_ERROR error decoding key\r\n"),
    TranscriptRow("mg A=== b k\r\n", "CLIENT_ERROR error decoding key\r\n", mc: "CLIENT_ERROR error decoding key\r\n"),
    TranscriptRow("mg Zm\t9v b k\r\n", "{mg Zm\t9v}", mc: "HD kfoo\r\n (a hit prints the decoded key raw, no b)"),
    TranscriptRow("mg Zm 9v b k\r\n", "CLIENT_ERROR invalid flag\r\n", mc: "CLIENT_ERROR invalid flag\r\n"),
    TranscriptRow("mg +/8= b k\r\n", "{mg +/8=}", mc: "EN k+/8= b\r\n"),
    TranscriptRow("mg k O\r\n", "{mg k}", mc: "EN O\r\n"),
    TranscriptRow("mg k Oab12 T30 N-1 R5 P/x Lpath\r\n", "{mg k}", mc: "HD Oab12 W\r\n"),
    TranscriptRow("me k bb\r\n", "{me k}", mc: "EN\r\n"),
    // ms
    TranscriptRow("ms foo 2\r\nhi\r\nmg foo v\r\n", "{ms foo hi}{mg foo}", mc: "HD\r\nVA 2\r\nhi\r\n"),
    TranscriptRow("ms foo\r\nhi\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("ms foo 2 T0 F5 c k O1 q\r\nhi\r\nmg foo v f\r\n", "{ms foo hi}{mg foo}", mc: "VA 2 f5\r\nhi\r\n"),
    TranscriptRow("ms foo x\r\nhi\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("ms foo -1\r\nhi\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("ms foo 2x\r\nhi\r\n", badFormat + "ERROR\r\n", mc: badFormat + "ERROR\r\n"),
    TranscriptRow("ms foo 3\r\nhi\r\n", "", mc: ""),
    TranscriptRow("ms foo 3\r\nhi\r\nmn\r\n", chunk + "ERROR\r\n", mc: chunk + "ERROR\r\n"),
    TranscriptRow("ms foo 1\r\nhi\r\nmn\r\n", chunk + "ERROR\r\n{mn}", mc: chunk + "ERROR\r\nMN\r\n"),
    TranscriptRow("ms foo 1 q\r\nhi\r\nmn\r\n", chunk + "ERROR\r\n{mn}", mc: chunk + "ERROR\r\nMN\r\n"),
    TranscriptRow("ms foo 2 zz\r\nhi\r\nmn\r\n", "CLIENT_ERROR invalid flag\r\n{mn}", mc: "CLIENT_ERROR invalid flag\r\nMN\r\n"),
    TranscriptRow("ms foo 2 v v\r\nhi\r\nmn\r\n", "CLIENT_ERROR duplicate flag\r\n{mn}", mc: "CLIENT_ERROR duplicate flag\r\nMN\r\n"),
    TranscriptRow("ms foo 2 O" + rep("a", 32) + "\r\nhi\r\nmn\r\n", "CLIENT_ERROR opaque token too long\r\n{mn}",
                  mc: "CLIENT_ERROR opaque token too long\r\nMN\r\n"),
    TranscriptRow("ms foo 2 O" + rep("a", 40) + " q\r\nhi\r\nmn\r\n", "CLIENT_ERROR opaque token too long\r\n{mn}",
                  mc: "CLIENT_ERROR opaque token too long\r\nMN\r\n"),
    TranscriptRow("ms foo 2 MX\r\nhi\r\nmn\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n{mn}",
                  mc: "CLIENT_ERROR invalid mode for ms M token\r\nMN\r\n"),
    TranscriptRow("ms foo 2 Ms\r\nhi\r\nmn\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n{mn}",
                  mc: "CLIENT_ERROR invalid mode for ms M token\r\nMN\r\n"),
    TranscriptRow("ms foo 2 Me\r\nhi\r\nmn\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n{mn}",
                  mc: "CLIENT_ERROR invalid mode for ms M token\r\nMN\r\n"),
    TranscriptRow("ms foo 2 MI\r\nhi\r\nmn\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n{mn}",
                  mc: "CLIENT_ERROR invalid mode for ms M token\r\nMN\r\n"),
    TranscriptRow("ms foo 2 Mxx\r\nhi\r\nmn\r\n", "CLIENT_ERROR incorrect length for M token\r\n{mn}",
                  mc: "CLIENT_ERROR incorrect length for M token\r\nMN\r\n"),
    TranscriptRow("ms foo 2 Nx\r\nhi\r\nmn\r\n", "CLIENT_ERROR bad token in command line format\r\n{mn}",
                  mc: "CLIENT_ERROR bad token in command line format\r\nMN\r\n"),
    TranscriptRow("ms foo 2 Fx\r\nhi\r\nmn\r\n", badFormat + "{mn}", mc: badFormat + "MN\r\n"),
    TranscriptRow("ms foo 2 Fx q\r\nhi\r\nmn\r\n", badFormat + "{mn}", mc: badFormat + "MN\r\n"),
    TranscriptRow("ms foo 2 S100\r\nhi\r\nmn\r\n", "CLIENT_ERROR invalid flag\r\n{mn}", mc: "CLIENT_ERROR invalid flag\r\nMN\r\n"),
    TranscriptRow("ms foo 2 MR Mx\r\nhi\r\nmn\r\n", "CLIENT_ERROR duplicate flag\r\n{mn}", mc: "CLIENT_ERROR duplicate flag\r\nMN\r\n"),
    TranscriptRow("ms foo 2 Mx Nx\r\nhi\r\nmn\r\n", "CLIENT_ERROR bad token in command line format\r\n{mn}",
                  mc: "CLIENT_ERROR bad token in command line format\r\nMN\r\n"),
    TranscriptRow("ms foo 2 Nx O" + rep("a", 40) + "\r\nhi\r\nmn\r\n", "CLIENT_ERROR bad token in command line format\r\n{mn}",
                  mc: "CLIENT_ERROR bad token in command line format\r\nMN\r\n"),
    TranscriptRow("ms foo 2 O" + rep("a", 40) + " Mx\r\nhi\r\nmn\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n{mn}",
                  mc: "CLIENT_ERROR invalid mode for ms M token\r\nMN\r\n"),
    TranscriptRow("ms foo 2 b\r\nhi\r\nmn\r\n", "CLIENT_ERROR error decoding key\r\n{mn}", mc: "CLIENT_ERROR error decoding key\r\nMN\r\n"),
    TranscriptRow("ms " + k251 + " 2\r\nhi\r\nmn\r\n", badFormat + "ERROR\r\n{mn}", mc: badFormat + "ERROR\r\nMN\r\n"),
    TranscriptRow("ms " + rep("Zm9v", 63) + " 2 b\r\nhi\r\nmn\r\n", badFormat + "ERROR\r\n{mn}", mc: badFormat + "ERROR\r\nMN\r\n"),
    TranscriptRow("ms foo 2" + rep(" k", 17) + "\r\nhi\r\nmn\r\n", "CLIENT_ERROR options flags too long\r\nERROR\r\n{mn}",
                  mc: "CLIENT_ERROR options flags too long\r\nERROR\r\nMN\r\n"),
    TranscriptRow("ms foo 2" + rep(" k", 16) + "\r\nhi\r\nmn\r\n", "CLIENT_ERROR duplicate flag\r\n{mn}",
                  mc: "CLIENT_ERROR duplicate flag\r\nMN\r\n"),
    TranscriptRow("ms foo 2147483646\r\nhi\r\nmn\r\n", badFormat + "ERROR\r\n{mn}", mc: badFormat + "ERROR\r\nMN\r\n"),
    TranscriptRow("ms foo 2147483645\r\nhi\r\nmn\r\n", "{unlink foo}" + tooLarge, mc: "(nothing until the data is in)"),
    TranscriptRow("ms foo 2000000\r\n" + big + "\r\nmn\r\n", "{unlink foo}" + tooLarge + "{mn}", mc: tooLarge + "MN\r\n"),
    TranscriptRow("ms foo 2000000 q\r\n" + big + "\r\nmn\r\n", "{unlink foo}" + tooLarge + "{mn}", mc: tooLarge + "MN\r\n"),
    TranscriptRow("set t 0 0 1\r\nx\r\nms t 2000000 ME\r\n" + big + "\r\nget t\r\n", "{set t}{unlink t}" + tooLarge + "{get t}",
                  mc: "STORED\r\n" + tooLarge + "END\r\n"),
    TranscriptRow("set t 0 0 1\r\nx\r\nms t 2000000 MA\r\n" + big + "\r\nget t\r\n", "{set t}{unlink t}" + tooLarge + "{get t}",
                  mc: "STORED\r\n" + tooLarge + "END\r\n"),
    TranscriptRow("set t 0 0 1\r\nx\r\nms dA== 2000000 b\r\n" + big + "\r\nget t\r\n", "{set t}{unlink dA== b}" + tooLarge + "{get t}",
                  mc: "STORED\r\n" + tooLarge + "END\r\n"),
    TranscriptRow("ms foo 4294967298\r\nhi\r\nmn\r\n", "{ms foo hi}{mn}", mc: "HD\r\nMN\r\n"),
    TranscriptRow("ms foo +2\r\nhi\r\nmn\r\n", "{ms foo hi}{mn}", mc: "HD\r\nMN\r\n"),
    TranscriptRow("ms Zm9v 2 b\r\nhi\r\nmg foo v\r\n", "{ms Zm9v hi}{mg foo}", mc: "HD\r\nVA 2\r\nhi\r\n"),
    TranscriptRow("ms foo 2 I\r\nhi\r\nmn\r\n", "{ms foo hi}{mn}", mc: "HD\r\nMN\r\n"),
    TranscriptRow("ms foo 2 C0\r\nhi\r\nmn\r\n", "{ms foo hi}{mn}", mc: "EX\r\nMN\r\n"),
    TranscriptRow("ms foo 2 MA N0\r\nhi\r\nmn\r\n", "{ms foo hi}{mn}", mc: "HD\r\nMN\r\n"),
    TranscriptRow("ms foo 2 MS\r\nhi\r\nmn\r\n", "{ms foo hi}{mn}", mc: "HD\r\nMN\r\n"),
    TranscriptRow("ms foo 2 ME\r\nhi\r\nmn\r\n", "{ms foo hi}{mn}", mc: "NS\r\nMN\r\n"),
    TranscriptRow("ms foo 2 MP\r\nhi\r\nmn\r\n", "{ms foo hi}{mn}", mc: "HD\r\nMN\r\n"),
    TranscriptRow("ms foo 2 MR\r\nhi\r\nmn\r\n", "{ms foo hi}{mn}", mc: "HD\r\nMN\r\n"),
    TranscriptRow("ms foo 0\r\n\r\nmg foo v s\r\n", "{ms foo }{mg foo}", mc: "HD\r\nVA 0 s0\r\n\r\n"),
    TranscriptRow("ms foo 2\nhi\r\nmn\r\n", "{ms foo hi}{mn}", mc: "HD\r\nMN\r\n"),
    TranscriptRow("ms foo 2 \r\nhi\r\nmn\r\n", "{ms foo hi}{mn}", mc: "HD\r\nMN\r\n"),
    // md
    TranscriptRow("md foo C5 T5 I q k O1\r\nmn\r\n", "{md foo}{mn}", mc: "EX kfoo O1\r\nMN\r\n"),
    TranscriptRow("md foo Cx\r\n", invalidOrDup, mc: invalidOrDup),
    TranscriptRow("md foo v v\r\n", invalidOrDup, mc: invalidOrDup),
    TranscriptRow("md foo zz\r\n", invalidOrDup, mc: invalidOrDup),
    TranscriptRow("md foo b\r\n", invalidOrDup, mc: invalidOrDup),
    TranscriptRow("md foo O" + rep("a", 32) + "\r\n", "CLIENT_ERROR opaque token too long\r\n", mc: "CLIENT_ERROR opaque token too long\r\n"),
    TranscriptRow("md foo O" + rep("a", 31) + "\r\n", "{md foo}", mc: "HD O" + rep("a", 31) + "\r\n"),
    TranscriptRow("md " + k251 + "\r\n", badFormat, mc: badFormat),
    TranscriptRow("md foo" + rep(" k", 17) + "\r\n", invalidOrDup, mc: invalidOrDup),
    TranscriptRow("md foo" + rep(" k", 18) + "\r\n", "CLIENT_ERROR options flags too long\r\n", mc: "CLIENT_ERROR options flags too long\r\n"),
    TranscriptRow("md Zm9v b k\r\n", "{md Zm9v}", mc: "NF kZm9v b\r\n"),
    TranscriptRow("md foo Mx\r\n", "{md foo}", mc: "NF\r\n"),
    TranscriptRow("md foo N5 R5 D5 J5 F5 MI\r\n", "{md foo}", mc: "NF\r\n"),
    // ma
    TranscriptRow("ma foo\r\n", "{ma foo}", mc: "NF\r\n"),
    TranscriptRow("ma foo Cx\r\n", invalidOrDup, mc: invalidOrDup),
    TranscriptRow("ma foo Dx\r\n", invalidOrDup, mc: invalidOrDup),
    TranscriptRow("ma foo D-1\r\n", invalidOrDup, mc: invalidOrDup),
    TranscriptRow("ma foo Jx\r\n", invalidOrDup, mc: invalidOrDup),
    TranscriptRow("ma foo Mxx\r\n", invalidOrDup, mc: invalidOrDup),
    TranscriptRow("ma foo b\r\n", invalidOrDup, mc: invalidOrDup),
    TranscriptRow("ma foo MI\r\n", "{ma foo}", mc: "NF\r\n"),
    TranscriptRow("ma foo M+\r\n", "{ma foo}", mc: "NF\r\n"),
    TranscriptRow("ma foo MD\r\n", "{ma foo}", mc: "NF\r\n"),
    TranscriptRow("ma foo M-\r\n", "{ma foo}", mc: "NF\r\n"),
    TranscriptRow("ma foo Mi\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n", mc: "CLIENT_ERROR invalid mode for ma M token\r\n"),
    TranscriptRow("ma foo Md\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n", mc: "CLIENT_ERROR invalid mode for ma M token\r\n"),
    TranscriptRow("ma foo Mx\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n", mc: "CLIENT_ERROR invalid mode for ma M token\r\n"),
    TranscriptRow("ma foo MS\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n", mc: "CLIENT_ERROR invalid mode for ma M token\r\n"),
    TranscriptRow("ma foo O" + rep("a", 32) + "\r\n", "{ma foo}", mc: "CLIENT_ERROR opaque token too long\r\n"),
    TranscriptRow("ma foo O" + rep("a", 32) + " N0\r\n", "{ma foo}", mc: "CLIENT_ERROR opaque token too long\r\n"),
    TranscriptRow("ma foo Mx O" + rep("a", 32) + "\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n",
                  mc: "CLIENT_ERROR invalid mode for ma M token\r\n"),
    TranscriptRow("ma " + k251 + "\r\n", badFormat, mc: badFormat),
    TranscriptRow("ma foo" + rep(" k", 17) + "\r\n", invalidOrDup, mc: invalidOrDup),
    TranscriptRow("ma foo" + rep(" k", 18) + "\r\n", "CLIENT_ERROR options flags too long\r\n", mc: "CLIENT_ERROR options flags too long\r\n"),
    TranscriptRow("ma foo q\r\nmn\r\n", "{ma foo}{mn}", mc: "MN\r\n"),
    TranscriptRow("ma foo v t c k O1 N0 T0\r\n", "{ma foo}", mc: "VA 1 t-1 c83 kfoo O1\r\n2\r\n"),
]

let allRows = framingRows + storageRows + retrievalRows + otherClassicRows + metaRows

@Suite("memcached 1.6.18 transcripts")
struct MemcachedTranscriptTests {
    @Test("whole", arguments: allRows)
    func whole(_ row: TranscriptRow) {
        let c = SimulatedConnection.run(row.request)
        #expect(c.transcript == row.expected)
    }

    @Test("one byte at a time", arguments: allRows)
    func drip(_ row: TranscriptRow) {
        let c = SimulatedConnection.run(row.request, chunk: row.request.count > 20_000 ? 997 : 1)
        #expect(c.transcript == row.expected)
    }

    @Test("pipelined behind another command", arguments: allRows)
    func pipelined(_ row: TranscriptRow) {
        // Not for rows that test a connection's first byte.
        guard !row.ringcachedRule else { return }
        let c = SimulatedConnection.run(Array("version\r\n".utf8) + row.request)
        #expect(c.transcript == "{version}" + row.expected)
    }

    @Test("rows the parser answers alone match memcached byte for byte", arguments: allRows)
    func matchesMemcached(_ row: TranscriptRow) {
        guard !row.expected.contains("{"), !row.ringcachedRule else { return }
        #expect(row.expected == row.memcached)
    }

    @Test("all rows back to back on one connection")
    func everythingPipelined() {
        // Rows that close the connection or leave a command waiting end a run, so only the rest.
        let rows = allRows.filter { r in
            !r.expected.contains("<close>") && !r.expected.contains("{quit}") && !r.ringcachedRule
                && SimulatedConnection.run(r.request).unread.isEmpty && SimulatedConnection.run(r.request).swallowing == 0
        }
        #expect(rows.count > 200)
        var bytes: [UInt8] = []
        var expected = ""
        for r in rows {
            bytes += r.request
            expected += r.expected
        }
        #expect(SimulatedConnection.run(bytes).transcript == expected)
        #expect(SimulatedConnection.run(bytes, chunk: 4093).transcript == expected)
    }
}
