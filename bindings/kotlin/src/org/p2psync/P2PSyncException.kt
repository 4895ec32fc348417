package org.p2psync

/**
 * What every exception of libp2psync carries, whatever JDK class it extends: [code] is the C
 * status (P2P_ERR_*); [domain] and [domainCode] keep the underlying cause (e.g. an SQLite
 * result code or an HTTP status); [primaryCode] is the primary code of [code]
 * (P2P_ERR_PRIMARY). Every [P2PError] is a [RuntimeException]: nearly all are
 * [P2PSyncException]s, and [InvalidArgumentException] is an [IllegalArgumentException].
 * To catch every failure of the library in one handler:
 * `catch (e: RuntimeException) { if (e !is P2PError) throw e; ... }`.
 */
interface P2PError {
    val code: Int
    val domain: Int
    val domainCode: Int
    val message: String?

    /** The primary code of [code]: itself for a primary code, else the one it refines. */
    val primaryCode: Int
        get() = P2PSyncException.primaryOf(code)

    /** Set by [Batch.saveMany] and [Collection.saveMany] when they fail: how many documents
     * they saved before the one that failed (that document's index); -1 for every other
     * failure. */
    val saved: Int

    /** This error as the exception it is, to throw it (e.g. a [ReplicatorStatus.error]). */
    fun asException(): RuntimeException = this as RuntimeException
}

/**
 * A call into libp2psync failed: the base class of every exception of the library except
 * [InvalidArgumentException] (which extends [IllegalArgumentException]; the JVM allows one
 * superclass). The classes follow [primaryCode], so the TLS codes are [TlsException]s and
 * P2P_ERR_WRONG_PASSWORD is an [AuthException]. See [P2PError] for the fields.
 */
open class P2PSyncException(
    override val code: Int,
    override val domain: Int,
    override val domainCode: Int,
    message: String
) : RuntimeException(message), P2PError {
    override var saved: Int = -1
        internal set

    companion object {
        const val DOMAIN_LIBRARY = 1
        const val DOMAIN_POSIX = 2
        const val DOMAIN_SQLITE = 3
        const val DOMAIN_WEBSOCKET = 4

        /** Status code -> subclass constructor. Unknown codes give the base class. */
        private val BY_CODE: Map<Int, (Int, Int, String) -> RuntimeException> = mapOf(
            -1 to { d: Int, c: Int, m: String -> InvalidArgumentException(d, c, m) },
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

        private val LINE_BREAKS = Regex("[ \t]*[\r\n]+[ \t]*")

        /** P2P_ERR_PRIMARY: the primary code of a status (-(|code| & 0xff)); 0 stays 0. */
        @JvmStatic
        fun primaryOf(code: Int): Int = if (code < 0) -((-code.toLong()).toInt() and 0xff) else code

        /** Codes with a subclass (checked against the header by a test). */
        @JvmStatic
        val knownCodes: Set<Int>
            get() = BY_CODE.keys

        /**
         * Called by the JNI glue to build the exception for a failed call: the class of
         * [code], always a [RuntimeException] ([P2PError.asException]).
         */
        @JvmStatic
        fun create(code: Int, domain: Int, domainCode: Int, messageUtf8: ByteArray): P2PError {
            // One line, as in Python: a reason a peer sent (an HTTP body, a close reason)
            // may carry line breaks; they become single spaces, none is left at either end.
            val message = String(messageUtf8, Charsets.UTF_8).replace(LINE_BREAKS, " ").trim()
            BY_CODE[code]?.let { return it(domain, domainCode, message) as P2PError }
            FAMILY[primaryOf(code)]?.let { return it(code, domain, domainCode, message) }
            return P2PSyncException(code, domain, domainCode, message)
        }
    }
}

/**
 * An argument was refused (P2P_ERR_INVALID_ARGUMENT): an [IllegalArgumentException], like
 * Kotlin's own `require` failures, and a [P2PError] with code -1. It is the one exception
 * of the library that is not a [P2PSyncException].
 */
class InvalidArgumentException(override val domain: Int, override val domainCode: Int, message: String) :
    IllegalArgumentException(message), P2PError {
    override val code: Int
        get() = -1

    override var saved: Int = -1
        internal set

    /** For callers that raise it themselves: domain library, code -1. */
    constructor(message: String) : this(P2PSyncException.DOMAIN_LIBRARY, -1, message)
}
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
