package org.p2psync

/**
 * A call into libp2psync failed. [code] is the C status (P2P_ERR_*); [domain] and
 * [domainCode] keep the underlying cause (e.g. an SQLite result code). [primaryCode] is the
 * primary code of [code] (P2P_ERR_PRIMARY): the classes follow it, so the TLS codes are
 * [TlsException]s and P2P_ERR_WRONG_PASSWORD is an [AuthException].
 */
open class P2PSyncException(
    val code: Int,
    val domain: Int,
    val domainCode: Int,
    message: String
) : RuntimeException(message) {
    /** The primary code of [code]: itself for a primary code, else the one it refines. */
    val primaryCode: Int
        get() = primaryOf(code)

    /** Set by [Batch.saveMany] when it fails: how many documents it saved before the one
     * that failed (that document's index); -1 for every other failure. */
    var saved: Int = -1
        internal set

    companion object {
        const val DOMAIN_LIBRARY = 1
        const val DOMAIN_POSIX = 2
        const val DOMAIN_SQLITE = 3
        const val DOMAIN_WEBSOCKET = 4

        /** Status code -> subclass constructor. Unknown codes give the base class. */
        private val BY_CODE: Map<Int, (Int, Int, String) -> P2PSyncException> = mapOf(
            -1 to ::InvalidArgumentException,
            -2 to ::InvalidHandleException,
            -3 to ::NotFoundException,
            -4 to ::ConflictException,
            -5 to ::BusyException,
            -6 to ::IoException,
            -7 to ::CorruptException,
            -8 to ::NetworkException,
            -9 to { d: Int, c: Int, m: String -> TlsException(d, c, m) },
            -10 to ::AuthException,
            -11 to ::ProtocolException,
            -12 to ::CancelledException,
            -13 to ::TimeoutException,
            -14 to ::UnsupportedException,
            -22 to ::ForkedException,
            -99 to ::InternalException,
            // extended codes: -(primary | n << 8)
            -265 to ::TlsUntrustedException,
            -521 to ::TlsHostnameException,
            -777 to ::TlsExpiredException,
            -1033 to ::TlsPinMismatchException,
            -1289 to ::TlsClientCertException,
            -1545 to ::TlsVersionException,
            -266 to ::WrongPasswordException
        )

        /**
         * Families whose unknown extended codes (added by a later library) still get the
         * family's class, with the actual code.
         */
        private val FAMILY: Map<Int, (Int, Int, Int, String) -> P2PSyncException> = mapOf(
            -9 to { c: Int, d: Int, dc: Int, m: String -> TlsException(c, d, dc, m) },
            -10 to { c: Int, d: Int, dc: Int, m: String -> AuthException(c, d, dc, m) }
        )

        /** P2P_ERR_PRIMARY: the primary code of a status (-(|code| & 0xff)); 0 stays 0. */
        @JvmStatic
        fun primaryOf(code: Int): Int = if (code < 0) -((-code.toLong()).toInt() and 0xff) else code

        /** Codes with a subclass (checked against the header by a test). */
        @JvmStatic
        val knownCodes: Set<Int>
            get() = BY_CODE.keys

        /** Called by the JNI glue to build the exception for a failed call. */
        @JvmStatic
        fun create(code: Int, domain: Int, domainCode: Int, messageUtf8: ByteArray): P2PSyncException {
            val message = String(messageUtf8, Charsets.UTF_8)
            BY_CODE[code]?.let { return it(domain, domainCode, message) }
            FAMILY[primaryOf(code)]?.let { return it(code, domain, domainCode, message) }
            return P2PSyncException(code, domain, domainCode, message)
        }
    }
}

class InvalidArgumentException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-1, domain, domainCode, message)
class InvalidHandleException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-2, domain, domainCode, message)
class NotFoundException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-3, domain, domainCode, message)
class ConflictException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-4, domain, domainCode, message)
class BusyException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-5, domain, domainCode, message)
class IoException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-6, domain, domainCode, message)
class CorruptException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-7, domain, domainCode, message)
class NetworkException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-8, domain, domainCode, message)
/**
 * A TLS handshake or certificate failure (P2P_ERR_TLS), and the base class of the specific
 * TLS failures below, so that `catch (e: TlsException)` catches them all (as Python's TLSError).
 */
open class TlsException internal constructor(code: Int, domain: Int, domainCode: Int, message: String) :
    P2PSyncException(code, domain, domainCode, message) {
    constructor(domain: Int, domainCode: Int, message: String) : this(-9, domain, domainCode, message)
}
/**
 * Credentials refused (P2P_ERR_AUTH): by the peer, or, as [WrongPasswordException], a
 * password that opens no local secret. `catch (e: AuthException)` catches both.
 */
open class AuthException internal constructor(code: Int, domain: Int, domainCode: Int, message: String) :
    P2PSyncException(code, domain, domainCode, message) {
    constructor(domain: Int, domainCode: Int, message: String) : this(-10, domain, domainCode, message)
}
class ProtocolException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-11, domain, domainCode, message)
class CancelledException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-12, domain, domainCode, message)
class TimeoutException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-13, domain, domainCode, message)
class UnsupportedException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-14, domain, domainCode, message)
class TlsUntrustedException(domain: Int, domainCode: Int, message: String) : TlsException(-265, domain, domainCode, message)
class TlsHostnameException(domain: Int, domainCode: Int, message: String) : TlsException(-521, domain, domainCode, message)
class TlsExpiredException(domain: Int, domainCode: Int, message: String) : TlsException(-777, domain, domainCode, message)
class TlsPinMismatchException(domain: Int, domainCode: Int, message: String) : TlsException(-1033, domain, domainCode, message)
class TlsClientCertException(domain: Int, domainCode: Int, message: String) : TlsException(-1289, domain, domainCode, message)
class TlsVersionException(domain: Int, domainCode: Int, message: String) : TlsException(-1545, domain, domainCode, message)
class WrongPasswordException(domain: Int, domainCode: Int, message: String) : AuthException(-266, domain, domainCode, message)
/**
 * libp2psync was called in a child process created by fork() after the library was loaded
 * (P2P_ERR_FORKED): its Go runtime does not survive a fork. Start worker processes with
 * ProcessBuilder (fork + exec), which is unaffected.
 */
class ForkedException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-22, domain, domainCode, message)
class InternalException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-99, domain, domainCode, message)
