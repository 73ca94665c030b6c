import Storage
import TextProtocol
import Testing

@testable import Server

/// Meta commands, each case checked byte for byte against memcached 1.6.18 (CAS uniques aside).
@Suite struct ExecutorMetaTests {
    static let mgCases: [ExchangeCase] = [
        ExchangeCase("mg hit: HD, VA, flags in the client's order", [
            ("ms a 3\r\nabc\r\n", "HD\r\n"),
            ("mg a\r\n", "HD\r\n"),
            ("mg a v\r\n", "VA 3\r\nabc\r\n"),
            ("mg a v k c f s t O123 q\r\n", "VA 3 ka c# f0 s3 t-1 O123\r\nabc\r\n"),
            ("mg a s v t f c k O9\r\n", "VA 3 s3 t-1 f0 c$1 ka O9\r\nabc\r\n"),
            ("mg a O\r\n", "HD O\r\n"),
        ]),
        ExchangeCase("mg miss echoes only O and k; q hides EN", [
            ("mg zz\r\n", "EN\r\n"),
            ("mg zz q\r\n", ""),
            ("mg zz k O1\r\n", "EN kzz O1\r\n"),
            ("mg zz s v t f c O1 k h l\r\n", "EN O1 kzz\r\n"),
            ("mg zz O1 q k\r\nmn\r\n", "MN\r\n"),
        ]),
        ExchangeCase("mg q still answers a hit", [
            ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("mg a q\r\n", "HD\r\n"),
            ("mg a q v\r\n", "VA 1\r\n1\r\n"),
            ("mg a q k\r\n", "HD ka\r\n"),
        ]),
        ExchangeCase("mg h l report the state before this fetch; u leaves it alone", [
            ("ms a 1\r\nx\r\n", "HD\r\n"),
            ("mg a u h\r\n", "HD h0\r\n"),
            ("mg a h l\r\n", "HD h0 l0\r\n"),
            ("mg a h\r\n", "HD h1\r\n"),
        ]),
        ExchangeCase("mg t before T shows the old TTL, after T the new one", [
            ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("mg a t T30\r\n", "HD t-1\r\n"),
            ("mg a t\r\n", "HD t30\r\n"),
            ("mg a T60 t\r\n", "HD t60\r\n"),
        ]),
        ExchangeCase("mg N vivifies: W to the first client, Z to the others", [
            ("mg v1 N30 v c t s k\r\n", "VA 0 c# t30 s0 kv1 W\r\n\r\n"),
            ("mg v1 N30 v c t\r\n", "VA 0 c$1 t30 Z\r\n\r\n"),
            ("mg v1 v c t\r\n", "VA 0 c$1 t30 Z\r\n\r\n"),
            ("ms v1 3 T60\r\nabc\r\n", "HD\r\n"),
            ("mg v1 v t\r\n", "VA 3 t60\r\nabc\r\n"),
            ("mg x1 t N30\r\n", "HD t-1 W\r\n"),
            ("mg x1 t\r\n", "HD t30 Z\r\n"),
            ("mg x3 T60 N30 t\r\n", "HD t30 W\r\n"),
            ("mg x3 t\r\n", "HD t30 Z\r\n"),
            // t between N and T on a vivify: the TTL of whichever came first.
            ("mg x5 N30 t T60\r\n", "HD t30 W\r\n"),
            ("mg x5 t\r\n", "HD t60 Z\r\n"),
            ("mg x6 T60 t N30\r\n", "HD t60 W\r\n"),
            ("mg x6 t\r\n", "HD t30 Z\r\n"),
        ]),
        ExchangeCase("mg R wins when the TTL left is under the token, once", [
            ("set y 0 100 1\r\n1\r\n", "STORED\r\n"),
            ("mg y R50 T10 t\r\n", "HD t10\r\n"),
            ("mg y t R50\r\n", "HD t10 W\r\n"),
            ("mg y t R50\r\n", "HD t10 Z\r\n"),
            ("set y2 0 100 1\r\n1\r\n", "STORED\r\n"),
            ("mg y2 T10 R50 t\r\n", "HD t10 W\r\n"),
            ("set y3 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("mg y3 R50 t\r\n", "HD t-1\r\n"),
            ("mg y3 T30 R50 t\r\n", "HD t30 W\r\n"),
        ]),
        ExchangeCase("md I marks stale: X, a new CAS, one W", [
            ("ms v 3 T60\r\nabc\r\n", "HD\r\n"),
            ("mg v c\r\n", "HD c#\r\n"),
            ("md v I T30\r\n", "HD\r\n"),
            ("mg v v t c\r\n", "VA 3 t30 c# X W\r\nabc\r\n"),
            ("mg v v t c\r\n", "VA 3 t30 c$2 Z X\r\nabc\r\n"),
            ("get v\r\n", "VALUE v 0 3\r\nabc\r\nEND\r\n"),
        ]),
    ]

    static let msCases: [ExchangeCase] = [
        ExchangeCase("ms echoes O k c in order and ignores the other return flags", [
            ("ms a 2 c k O1 f t s v h l T0 F3\r\nhi\r\n", "HD c# ka O1\r\n"),
            ("mg a c f v\r\n", "VA 2 c$1 f3\r\nhi\r\n"),
            ("ms a 2 C1\r\nhi\r\n", "EX\r\n"),
            ("ms zz 2 C1\r\nhi\r\n", "NF\r\n"),
            ("ms zz 2 C1 c k\r\nhi\r\n", "NF c0 kzz\r\n"),
        ]),
        ExchangeCase("ms modes", [
            ("ms b 1 ME\r\nx\r\n", "HD\r\n"),
            ("ms b 1 ME\r\nx\r\n", "NS\r\n"),
            ("ms b 1 MA\r\ny\r\n", "HD\r\n"),
            ("ms b 1 MP\r\nw\r\n", "HD\r\n"),
            ("mg b v\r\n", "VA 3\r\nwxy\r\n"),
            ("ms c 1 MR\r\nx\r\n", "NS\r\n"),
            ("ms c 1 MA\r\nx\r\n", "NS\r\n"),
            ("ms c 1 MP\r\nx\r\n", "NS\r\n"),
            ("ms b 1 MR\r\nr\r\n", "HD\r\n"),
            ("ms b 1 MS\r\ns\r\n", "HD\r\n"),
            ("mg b v\r\n", "VA 1\r\ns\r\n"),
            ("ms b 1 MX\r\nx\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n"),
            ("ms b 1 Ms\r\nx\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n"),
            ("mg b v\r\n", "VA 1\r\ns\r\n"),
        ]),
        ExchangeCase("ms C compares the CAS", [
            ("ms b 1\r\nx\r\n", "HD\r\n"),
            ("mg b c\r\n", "HD c#\r\n"),
            ("ms b 1 C$1 c\r\ny\r\n", "HD c#\r\n"),
            ("ms b 1 C$1\r\nz\r\n", "EX\r\n"),
            ("mg b v c\r\n", "VA 1 c$2\r\ny\r\n"),
        ]),
        ExchangeCase("ms q hides HD only", [
            ("ms a 1 q\r\nx\r\n", ""),
            ("ms a 1 MA q\r\ny\r\n", ""),
            ("ms zz 1 MR q O4 k\r\ny\r\n", "NS O4 kzz\r\n"),
            ("ms zz 1 ME q\r\ny\r\n", ""),
            ("ms zz 1 ME q\r\ny\r\n", "NS\r\n"),
            ("ms a 1 C1 q\r\nx\r\n", "EX\r\n"),
            ("mn\r\n", "MN\r\n"),
            ("mg a v\r\n", "VA 2\r\nxy\r\n"),
        ]),
        ExchangeCase("ms F and T", [
            ("ms f 1 F42 T100\r\nx\r\n", "HD\r\n"),
            ("mg f f t v\r\n", "VA 1 f42 t100\r\nx\r\n"),
            ("get f\r\n", "VALUE f 42 1\r\nx\r\nEND\r\n"),
        ]),
        ExchangeCase("ms of an empty value", [
            ("ms e 0\r\n\r\n", "HD\r\n"),
            ("mg e v s\r\n", "VA 0 s0\r\n\r\n"),
        ]),
    ]

    static let mdCases: [ExchangeCase] = [
        ExchangeCase("md codes, C, q", [
            ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("md a C1\r\n", "EX\r\n"),
            ("md a C1 q\r\n", "EX\r\n"),
            ("md a q\r\n", ""),
            ("md a q\r\n", "NF\r\n"),
            ("md nope O1 k\r\n", "NF O1 knope\r\n"),
            ("mn\r\n", "MN\r\n"),
        ]),
        ExchangeCase("md with the right C deletes; T without I still deletes", [
            ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("mg a c\r\n", "HD c#\r\n"),
            ("md a C$1 k O7\r\n", "HD ka O7\r\n"),
            ("mg a\r\n", "EN\r\n"),
            ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("md a T30\r\n", "HD\r\n"),
            ("mg a\r\n", "EN\r\n"),
        ]),
        ExchangeCase("md I echoes only O and k", [
            ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("md a I k O1 c t\r\n", "HD ka O1\r\n"),
            ("md a I k O1\r\n", "HD ka O1\r\n"),
            ("mg a v\r\n", "VA 1 X W\r\n1\r\n"),
            ("md zz I k O1 c t\r\n", "NF kzz O1\r\n"),
        ]),
    ]

    static let maCases: [ExchangeCase] = [
        ExchangeCase("ma modes, N J D, v", [
            ("ma n\r\n", "NF\r\n"),
            ("ma n N0 J10 v\r\n", "VA 2\r\n10\r\n"),
            ("ma n v\r\n", "VA 2\r\n11\r\n"),
            ("ma n v MD D5\r\n", "VA 1\r\n6\r\n"),
            ("ma n v M- D500\r\n", "VA 1\r\n0\r\n"),
            ("ma n v M+ D7 t c k O1 T100\r\n", "VA 1 t-1 c# kn O1\r\n7\r\n"),
            ("ma n v MI t\r\n", "VA 1 t100\r\n8\r\n"),
            ("ma n v Mi\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n"),
            ("ma n C1 v\r\n", "EX\r\n"),
            ("ma n\r\n", "HD\r\n"),
            // Like memcached, a shorter result is written in place and padded with spaces.
            ("mg n v\r\n", "VA 2\r\n9 \r\n"),
            ("ma n D18446744073709551615 v\r\n", "VA 1\r\n8\r\n"),
        ]),
        ExchangeCase("ma q hides every success except a creation", [
            ("set n 0 0 1\r\n5\r\n", "STORED\r\n"),
            ("ma n q\r\n", ""),
            ("ma n q v\r\n", ""),
            ("ma n q k O3\r\n", ""),
            ("mn\r\n", "MN\r\n"),
            ("mg n v\r\n", "VA 1\r\n8\r\n"),
            ("ma n2 N0 J5 q\r\n", "HD\r\n"),
            ("ma n2 N0 J5 q\r\n", ""),
            ("ma n9 N100 q O1 k v\r\n", "VA 1 O1 kn9\r\n0\r\n"),
            ("ma n C1 c t k O1 v q\r\n", "EX kn O1\r\n"),
            ("ma zz c t k O1 v q\r\n", "NF kzz O1\r\n"),
        ]),
        ExchangeCase("ma t shows the TTL at its place among T and N", [
            ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("ma a t c T50\r\n", "HD t-1 c#\r\n"),
            ("ma a T50 t\r\n", "HD t50\r\n"),
            ("ma a t T60\r\n", "HD t50\r\n"),
            ("mg a t\r\n", "HD t60\r\n"),
            ("ma n4 t N100\r\n", "HD t-1\r\n"),
            ("ma n5 N100 t\r\n", "HD t100\r\n"),
            ("ma n6 t N100 T50\r\n", "HD t-1\r\n"),
            ("mg n6 t\r\n", "HD t50\r\n"),
            ("ma n7 T50 N100 t\r\n", "HD t100\r\n"),
            ("mg n7 t\r\n", "HD t100\r\n"),
            ("ma m8 N100 t T50\r\n", "HD t100\r\n"),
            ("mg m8 t\r\n", "HD t50\r\n"),
            ("ma m9 T50 t N100\r\n", "HD t50\r\n"),
            ("mg m9 t\r\n", "HD t100\r\n"),
            ("ma n3 N100 J5 v t c\r\n", "VA 1 t100 c#\r\n5\r\n"),
        ]),
        ExchangeCase("ma on a non-number", [
            ("set s 0 0 1\r\nx\r\n", "STORED\r\n"),
            ("ma s\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
            ("ma s q\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
        ]),
    ]

    static let keyCases: [ExchangeCase] = [
        ExchangeCase("b keys: decoded for the store, re-encoded by k with a trailing b", [
            ("ms YQ== 2 T0 F5 c k O1 b\r\nhi\r\n", "HD c# kYQ== b O1\r\n"),
            ("mg a f v\r\n", "VA 2 f5\r\nhi\r\n"),
            ("mg YQ== b k v\r\n", "VA 2 kYQ== b\r\nhi\r\n"),
            ("me YQ== b\r\n", "ME YQ== exp=-1 la=0 cas=$1 fetch=yes cls=1 size=#\r\n"),
            ("mg Yg== b k v O5\r\n", "EN kYg== b O5\r\n"),
            ("md YQ== b k O1\r\n", "HD kYQ== b O1\r\n"),
            ("md YQ== b k O1\r\n", "NF kYQ== b O1\r\n"),
            ("ma YQ== b k O1\r\n", "NF kYQ== b O1\r\n"),
            ("ma YQ== b k O1 N0 v\r\n", "VA 1 kYQ== b O1\r\n0\r\n"),
            ("get a\r\n", "VALUE a 0 1\r\n0\r\nEND\r\n"),
        ]),
        ExchangeCase("a binary key with bytes no text key can hold", [
            ("ms AAEg/w== 1 b\r\nx\r\n", "HD\r\n"),
            ("mg AAEg/w== b v k\r\n", "VA 1 kAAEg/w== b\r\nx\r\n"),
        ]),
    ]

    static let meCases: [ExchangeCase] = [
        ExchangeCase("me", [
            ("set a 0 100 1\r\n1\r\n", "STORED\r\n"),
            ("me a\r\n", "ME a exp=-100 la=0 cas=# fetch=no cls=1 size=61\r\n"),
            ("me zz\r\n", "EN\r\n"),
            ("set p 0 0 1\r\n1\r\n", "STORED\r\n"),
            ("get p\r\n", "VALUE p 0 1\r\n1\r\nEND\r\n"),
            ("me p\r\n", "ME p exp=-1 la=0 cas=# fetch=yes cls=1 size=61\r\n"),
        ]),
    ]

    @Test(arguments: mgCases) func mg(_ c: ExchangeCase) { c.run() }
    @Test(arguments: msCases) func ms(_ c: ExchangeCase) { c.run() }
    @Test(arguments: mdCases) func md(_ c: ExchangeCase) { c.run() }
    @Test(arguments: maCases) func ma(_ c: ExchangeCase) { c.run() }
    @Test(arguments: keyCases) func base64Keys(_ c: ExchangeCase) { c.run() }
    @Test(arguments: meCases) func me(_ c: ExchangeCase) { c.run() }

    @Test func meCountsTimeAndAccess() {
        let session = ExecutorSession()
        session.run([
            ("set a 0 100 1\r\n1\r\n", "STORED\r\n"),
            ("mg a\r\n", "HD\r\n"),
        ])
        session.advance(seconds: 3)
        session.expect("me a\r\n", "ME a exp=-97 la=3 cas=# fetch=yes cls=1 size=61\r\n")
        session.expect("mg a l h\r\n", "HD l3 h1\r\n")
    }

    @Test func mnEndsAQuietPipeline() {
        let session = ExecutorSession()
        session.expect(
            "ms a 1 q\r\n1\r\nms b 1 q\r\n2\r\nmg a q v k\r\nmg zz q v k\r\nmg b q v k\r\nmd zz q\r\nmn\r\n",
            "VA 1 ka\r\n1\r\nVA 1 kb\r\n2\r\nNF\r\nMN\r\n")
    }

    @Test func recacheTokenClearsWhenTheItemIsReplaced() {
        let session = ExecutorSession()
        session.run([
            ("mg r N30 c\r\n", "HD c# W\r\n"),
            ("mg r c\r\n", "HD c$1 Z\r\n"),
            ("ms r 1 C$1\r\nx\r\n", "HD\r\n"),
            ("mg r v\r\n", "VA 1\r\nx\r\n"),
        ])
    }

    @Test func metaCommandsMixWithClassicOnes() {
        let session = ExecutorSession()
        session.run([
            ("set a 3 0 2\r\nhi\r\n", "STORED\r\n"),
            ("mg a f v\r\n", "VA 2 f3\r\nhi\r\n"),
            ("ms b 2 F9\r\nyo\r\n", "HD\r\n"),
            ("gets b\r\n", "VALUE b 9 2 #\r\nyo\r\nEND\r\n"),
            ("mg b c\r\n", "HD c$1\r\n"),
        ])
    }
}
