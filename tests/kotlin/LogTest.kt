package org.p2psync.test

import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.p2psync.ActivityLevel
import org.p2psync.AuthException
import org.p2psync.BasicAuthenticator
import org.p2psync.ListenerConfig
import org.p2psync.LogDomain
import org.p2psync.LogLevel
import org.p2psync.LogSinkSettings
import org.p2psync.P2PLog
import org.p2psync.P2PSync
import org.p2psync.ReplicatorConfig
import org.p2psync.ReplicatorType
import java.time.Duration
import java.time.Instant
import java.util.Collections
import java.util.logging.Handler
import java.util.logging.Level
import java.util.logging.LogRecord
import java.util.logging.Logger

/** The library log in Kotlin (a listener lambda; java.util.logging by default) and the
 * typed listener and replicator statistics. */
class LogTest : SyncTestBase() {
    data class Line(val level: LogLevel, val domain: Int, val message: String)

    private val lines = Collections.synchronizedList(ArrayList<Line>())

    private fun find(level: LogLevel, domain: Int, vararg parts: String): List<Line> =
        synchronized(lines) { lines.filter { l -> l.level == level && l.domain == domain && parts.all { it in l.message } } }

    private fun expect(level: LogLevel, domain: Int, vararg parts: String): Line {
        waitFor(20_000) { find(level, domain, *parts).isNotEmpty() }
        return find(level, domain, *parts).first()
    }

    @After
    fun restoreDefault() {
        P2PLog.setListener(LogLevel.WARNING, LogDomain.ALL, P2PLog.julListener)
    }

    @Test
    fun defaultGoesToJavaUtilLogging() {
        P2PSync.liveHandles() // loads the library
        assertEquals(LogSinkSettings(LogLevel.WARNING, LogDomain.ALL), P2PLog.listenerSettings)
        val records = Collections.synchronizedList(ArrayList<LogRecord>())
        val handler = object : Handler() {
            override fun publish(record: LogRecord) { records.add(record) }
            override fun flush() {}
            override fun close() {}
        }
        val jul = Logger.getLogger("p2psync.listener")
        jul.addHandler(handler)
        try {
            val listener = startListener(ListenerConfig(credentials = mapOf("ann" to "pw")))
            val status = runToStop(replicator(listener) {
                ReplicatorConfig(it, trust = org.p2psync.ServerTrust.SelfSignedOnly,
                    authenticator = BasicAuthenticator("ann", "wrong"))
            })
            assertTrue(status.error is AuthException)
            waitFor { records.any { it.level == Level.WARNING && "connection refused: credentials not accepted" in it.message } }
            assertTrue(records.none { it.level.intValue() < Level.WARNING.intValue() })
        } finally {
            jul.removeHandler(handler)
        }
    }

    @Test
    fun listenerLambdaCapturesConnectionsStatesAndErrors() {
        P2PLog.setListener(LogLevel.INFO, LogDomain.LISTENER or LogDomain.REPLICATOR) { level, domain, message ->
            lines.add(Line(level, domain, message))
        }
        assertEquals(LogSinkSettings(LogLevel.INFO, LogDomain.LISTENER or LogDomain.REPLICATOR), P2PLog.listenerSettings)
        remoteDocs.save("d1", """{"n":1}""")
        val listener = startListener(ListenerConfig(tlsEnabled = false, credentials = mapOf("ann" to "pw")))
        val url = "ws://127.0.0.1:${listener.port}/remote"
        val repl = keep(org.p2psync.Replicator(local, ReplicatorConfig(url, type = ReplicatorType.PULL,
            authenticator = BasicAuthenticator("ann", "pw"))))
        assertStoppedCleanly(runToStop(repl))

        val opened = expect(LogLevel.INFO, LogDomain.LISTENER, "connection opened", "peer=127.0.0.1:", "user=ann",
            "subprotocol=BLIP_3+CBMobile_4") // the default
        val peer = opened.message.substringAfter("peer=").substringBefore(" ")
        expect(LogLevel.INFO, LogDomain.LISTENER, "peer asked for collections", "peer=$peer", "collections=_default._default")
        expect(LogLevel.INFO, LogDomain.LISTENER, "connection closed", "peer=$peer", "user=ann", "docs_sent=1")
        expect(LogLevel.INFO, LogDomain.REPLICATOR, "replicator state changed", "from=stopped", "to=connecting")
        expect(LogLevel.INFO, LogDomain.REPLICATOR, "replicator state changed", "to=stopped")
        synchronized(lines) {
            assertTrue(lines.all { it.level.code >= LogLevel.INFO.code })
            assertTrue(lines.all { it.domain == LogDomain.LISTENER || it.domain == LogDomain.REPLICATOR })
        }
        val stats = repl.stats
        assertEquals(1L, stats.revsReceived)
        assertEquals(0L, stats.retries)
        assertNull(stats.lastError)
        assertTrue(stats.wireBytesReceived > 0)

        // A peer-caused error, then retries with their reason and delay.
        val bad = keep(org.p2psync.Replicator(local, ReplicatorConfig(url, type = ReplicatorType.PULL,
            authenticator = BasicAuthenticator("ann", "nope"))))
        assertTrue(runToStop(bad).error is AuthException)
        expect(LogLevel.WARNING, LogDomain.LISTENER, "connection refused: credentials not accepted", "username=ann")
        expect(LogLevel.ERROR, LogDomain.REPLICATOR, "replication stopped by a permanent error")
        assertTrue(bad.stats.lastError is AuthException)
        listener.stop()
        val retrying = keep(org.p2psync.Replicator(local, ReplicatorConfig(url, type = ReplicatorType.PULL,
            maxAttempts = 3, retryBaseMillis = 10, maxAttemptWaitMillis = 20)))
        assertEquals(ActivityLevel.STOPPED, runToStop(retrying).activity)
        expect(LogLevel.WARNING, LogDomain.REPLICATOR, "replication offline; retrying", "attempt=2", "delay=20ms", "reason=")
        assertEquals(2L, retrying.stats.retries)

        P2PLog.setListener(LogLevel.NONE, 0, null)
        assertEquals(LogLevel.NONE, P2PLog.listenerSettings.level)
        val before = lines.size
        listener.start()
        listener.stop()
        assertEquals(before, lines.size)
    }

    /** ListenerConfig.maxCheckpointSize: a replicator's checkpoint over it is refused (HTTP
     *  413); the replication still completes with the document, and the replicator warns
     *  that its progress was not checkpointed (its next run starts over).
     *  maxPeerCheckpoints = 1: a second client ID (a push after a pull: the client ID
     *  depends on the direction) deletes the first one's checkpoint, which the listener
     *  reports at info. */
    @Test
    fun listenerCheckpointLimits() {
        P2PLog.setListener(LogLevel.INFO, LogDomain.LISTENER or LogDomain.REPLICATOR) { level, domain, message ->
            lines.add(Line(level, domain, message))
        }
        remoteDocs.save("d1", """{"n":1}""")
        val small = startListener(ListenerConfig(tlsEnabled = false, maxCheckpointSize = 8))
        val pull = keep(org.p2psync.Replicator(local, ReplicatorConfig("ws://127.0.0.1:${small.port}/remote",
            type = ReplicatorType.PULL)))
        assertStoppedCleanly(runToStop(pull))
        assertEquals(1L, pull.stats.revsReceived)
        assertEquals("""{"n":1}""", localDocs.get("d1").json)
        expect(LogLevel.WARNING, LogDomain.REPLICATOR, "remote checkpoint refused by the peer",
            "collection=_default._default", "status=HTTP/413")
        small.stop()

        val few = startListener(ListenerConfig(tlsEnabled = false, maxPeerCheckpoints = 1))
        for (type in listOf(ReplicatorType.PULL, ReplicatorType.PUSH)) {
            val r = keep(org.p2psync.Replicator(local, ReplicatorConfig("ws://127.0.0.1:${few.port}/remote", type = type)))
            assertStoppedCleanly(runToStop(r))
        }
        expect(LogLevel.INFO, LogDomain.LISTENER, "peer checkpoint cap reached", "deleted=1", "cap=1")
        assertTrue(ListenerConfig(maxCheckpointSize = -1, maxPeerCheckpoints = -1).toString().contains("maxCheckpointSize=-1"))
    }

    @Test
    fun listenerStatusListsConnections() {
        remoteDocs.save("down", """{"n":1}""")
        localDocs.save("up", """{"n":2}""")
        val listener = startListener(ListenerConfig(tlsEnabled = false, credentials = mapOf("ann" to "pw")))
        val repl = keep(org.p2psync.Replicator(local, ReplicatorConfig("ws://127.0.0.1:${listener.port}/remote",
            continuous = true, authenticator = BasicAuthenticator("ann", "pw"))))
        repl.start()
        waitFor(20_000) {
            listener.status.connections.singleOrNull()?.let { it.docsSent == 1L && it.docsReceived == 1L } ?: false
        }
        val st = listener.status
        val c = st.connections.single()
        assertEquals(1, st.connectionCount)
        assertEquals(1L, st.totalConnectionCount)
        assertTrue(c.peer.startsWith("127.0.0.1:"))
        assertEquals("ann", c.user)
        assertEquals("BLIP_3+CBMobile_4", c.subprotocol) // the default
        assertEquals(listOf("_default._default"), c.collections)
        assertTrue(c.bytesSent > 0 && c.bytesReceived > 0)
        assertTrue(Duration.between(c.started, Instant.now()) < Duration.ofMinutes(1))
        repl.stop()
        waitFor(20_000) { listener.status.connectionCount == 0 }
        assertEquals(1L, listener.status.totalConnectionCount)
        assertTrue(listener.status.connections.isEmpty())
    }
}
