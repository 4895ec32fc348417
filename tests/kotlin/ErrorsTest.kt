package org.p2psync.test

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.p2psync.AuthException
import org.p2psync.BusyException
import org.p2psync.P2PSync
import org.p2psync.P2PSyncException
import org.p2psync.TlsException
import org.p2psync.WrongPasswordException
import java.io.File

class ErrorsTest : P2PTestBase() {
    private val header: String by lazy {
        var dir: File? = File(".").absoluteFile
        while (dir != null && !File(dir, "include/p2psync.h").exists()) dir = dir.parentFile
        File(dir, "include/p2psync.h").readText()
    }

    @Test
    fun everyHeaderCodeHasASubclass() {
        val codes = Regex("""#define (P2P_ERR_\w+)\s+(-\d+)""").findAll(header)
            .associate { it.groupValues[1] to it.groupValues[2].toInt() }
        assertTrue(codes.size >= 15)
        assertEquals(codes.values.toSet(), P2PSyncException.knownCodes)
        for ((name, code) in codes) {
            assertEquals(name, P2PSync.statusString(code))
            val e = P2PSyncException.create(code, P2PSyncException.DOMAIN_LIBRARY, code, "m".toByteArray())
            assertEquals(code, e.code)
            assertTrue(e.javaClass != P2PSyncException::class.java)
        }
        assertTrue(P2PSyncException.create(-5, 1, -5, "x".toByteArray()) is BusyException)
        val unknown = P2PSyncException.create(-77, 1, -77, "later".toByteArray())
        assertEquals(P2PSyncException::class.java, unknown.javaClass)
    }

    @Test
    fun extendedCodesBelongToTheirPrimaryFamily() {
        val codes = Regex("""#define (P2P_ERR_\w+)\s+(-\d+)""").findAll(header)
            .associate { it.groupValues[1] to it.groupValues[2].toInt() }
        val tls = codes.getValue("P2P_ERR_TLS")
        val auth = codes.getValue("P2P_ERR_AUTH")
        assertEquals(tls, P2PSyncException.primaryOf(codes.getValue("P2P_ERR_TLS_EXPIRED")))
        assertEquals(auth, P2PSyncException.primaryOf(codes.getValue("P2P_ERR_WRONG_PASSWORD")))
        assertEquals(0, P2PSyncException.primaryOf(0))
        val wrong = P2PSyncException.create(codes.getValue("P2P_ERR_WRONG_PASSWORD"), 1, 0, "pw".toByteArray())
        assertTrue(wrong is AuthException && wrong is WrongPasswordException)
        assertEquals(auth, wrong.primaryCode)
        // a TLS code a later library adds is still a TlsException, with its own code
        val later = -(9 or (77 shl 8))
        val e = P2PSyncException.create(later, 1, later, "later".toByteArray())
        assertTrue(e.javaClass.simpleName, e is TlsException)
        assertEquals(later, e.code)
        assertEquals(tls, e.primaryCode)
    }
}
