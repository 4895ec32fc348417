package org.p2psync.test

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.p2psync.ActivityLevel
import org.p2psync.Database
import org.p2psync.InvalidArgumentException
import org.p2psync.P2PError
import org.p2psync.P2PSyncException
import org.p2psync.Replicator
import org.p2psync.ReplicatorConfig
import org.p2psync.ReplicatorType
import org.p2psync.ServerTrust
import org.p2psync.TimeoutException
import org.p2psync.TlsException

class RoughEdgesTest : SyncTestBase() {
    @Test
    fun everyTlsFailureIsATlsException() {
        for (code in listOf(-9, -265, -521, -777, -1033, -1289, -1545)) {
            val e = P2PSyncException.create(code, P2PSyncException.DOMAIN_LIBRARY, code, "m".toByteArray())
            assertTrue("code $code gives ${e.javaClass.simpleName}", e is TlsException)
            assertEquals(code, e.code)
        }
        assertTrue(P2PSyncException.create(-8, 1, -8, "n".toByteArray()) !is TlsException)
    }

    @Test
    fun invalidArgumentIsAnIllegalArgumentExceptionAndEveryErrorAP2PError() {
        // From the library, through the JNI glue: catchable as the JDK's class.
        try {
            Database.open("")
            fail("expected InvalidArgumentException")
        } catch (e: IllegalArgumentException) {
            assertTrue(e.javaClass.name, e is InvalidArgumentException)
            val error = e as P2PError
            assertEquals(-1, error.code)
            assertEquals(-1, error.primaryCode)
            assertEquals(P2PSyncException.DOMAIN_LIBRARY, error.domain)
            assertTrue(error.message!!, error.message!!.isNotEmpty())
            assertTrue(error.asException() === e)
        }
        // Every code gives a RuntimeException that is a P2PError with that code; all but
        // P2P_ERR_INVALID_ARGUMENT are P2PSyncExceptions (one superclass on the JVM).
        for (code in P2PSyncException.knownCodes + listOf(-42, -9 - (9 shl 8), -10 - (7 shl 8))) {
            val e = P2PSyncException.create(code, 4, 401, "m".toByteArray())
            assertEquals(code, e.code)
            assertEquals(401, e.domainCode)
            assertEquals(code == -1, e is IllegalArgumentException)
            assertEquals(code != -1, e is P2PSyncException)
        }
    }

    @Test
    fun errorMessagesAreOneLine() {
        val e = P2PSyncException.create(-8, 4, 401, "connect: HTTP 401\r\n  Unauthorized\n\nretry later\n".toByteArray())
        assertEquals("connect: HTTP 401 Unauthorized retry later", e.message)
        assertEquals("get \"a  b\": not found", P2PSyncException.create(-3, 1, -3, "get \"a  b\": not found".toByteArray()).message)
    }

    @Test
    fun awaitReturnsTheStoppedStatus() {
        val listener = startListener()
        remoteDocs.save("a", """{"n":1}""")
        val repl = replicator(listener) { ReplicatorConfig(it, type = ReplicatorType.PULL, trust = ServerTrust.SelfSignedOnly) }
        repl.start()
        val status = repl.await(30_000)
        assertEquals(ActivityLevel.STOPPED, status.activity)
        assertNull(status.error)
        assertEquals("""{"n":1}""", localDocs.get("a").json)
    }

    @Test
    fun awaitTimesOutWhileRunning() {
        // A continuous replicator towards a port nobody listens on keeps retrying.
        val repl = keep(Replicator(local, ReplicatorConfig("ws://127.0.0.1:9/db", continuous = true)))
        repl.start()
        try {
            repl.await(200)
            fail("await returned while the replicator runs")
        } catch (e: TimeoutException) {
            assertTrue(e.message!!, e.message!!.contains("after 200 ms"))
        }
        repl.stop()
        assertEquals(ActivityLevel.STOPPED, repl.await(java.time.Duration.ofSeconds(10)).activity)
    }
}
