package org.p2psync

/**
 * A call into libp2psync failed. [code] is the C status (P2P_ERR_*); [domain] and
 * [domainCode] keep the underlying cause (e.g. an SQLite result code).
 */
open class P2PSyncException(
    val code: Int,
    val domain: Int,
    val domainCode: Int,
    message: String
) : RuntimeException(message) {
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
            -15 to ::TlsUntrustedException,
            -16 to ::TlsHostnameException,
            -17 to ::TlsExpiredException,
            -18 to ::TlsPinMismatchException,
            -19 to ::TlsClientCertException,
            -20 to ::TlsVersionException,
            -21 to ::WrongPasswordException,
            -22 to ::ForkedException,
            -99 to ::InternalException
        )

        /** Codes with a subclass (checked against the header by a test). */
        @JvmStatic
        val knownCodes: Set<Int>
            get() = BY_CODE.keys

        /** Called by the JNI glue to build the exception for a failed call. */
        @JvmStatic
        fun create(code: Int, domain: Int, domainCode: Int, messageUtf8: ByteArray): P2PSyncException {
            val message = String(messageUtf8, Charsets.UTF_8)
            val make = BY_CODE[code] ?: return P2PSyncException(code, domain, domainCode, message)
            return make(domain, domainCode, message)
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
class AuthException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-10, domain, domainCode, message)
class ProtocolException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-11, domain, domainCode, message)
class CancelledException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-12, domain, domainCode, message)
class TimeoutException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-13, domain, domainCode, message)
class UnsupportedException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-14, domain, domainCode, message)
class TlsUntrustedException(domain: Int, domainCode: Int, message: String) : TlsException(-15, domain, domainCode, message)
class TlsHostnameException(domain: Int, domainCode: Int, message: String) : TlsException(-16, domain, domainCode, message)
class TlsExpiredException(domain: Int, domainCode: Int, message: String) : TlsException(-17, domain, domainCode, message)
class TlsPinMismatchException(domain: Int, domainCode: Int, message: String) : TlsException(-18, domain, domainCode, message)
class TlsClientCertException(domain: Int, domainCode: Int, message: String) : TlsException(-19, domain, domainCode, message)
class TlsVersionException(domain: Int, domainCode: Int, message: String) : TlsException(-20, domain, domainCode, message)
class WrongPasswordException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-21, domain, domainCode, message)
/**
 * libp2psync was called in a child process created by fork() after the library was loaded
 * (P2P_ERR_FORKED): its Go runtime does not survive a fork. Start worker processes with
 * ProcessBuilder (fork + exec), which is unaffected.
 */
class ForkedException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-22, domain, domainCode, message)
class InternalException(domain: Int, domainCode: Int, message: String) : P2PSyncException(-99, domain, domainCode, message)
