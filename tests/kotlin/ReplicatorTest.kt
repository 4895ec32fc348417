package org.p2psync.test

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.p2psync.ActivityLevel
import org.p2psync.AuthException
import org.p2psync.BasicAuthenticator
import org.p2psync.BusyException
import org.p2psync.Conflict
import org.p2psync.Database
import org.p2psync.ConflictException
import org.p2psync.Direction
import org.p2psync.DocumentReplication
import org.p2psync.InvalidArgumentException
import org.p2psync.Listener
import org.p2psync.ListenerConfig
import org.p2psync.P2PSync
import org.p2psync.P2PError
import org.p2psync.P2PSyncException
import org.p2psync.ReplicatedDocument
import org.p2psync.ReplicationCollection
import org.p2psync.Replicator
import org.p2psync.ReplicatorConfig
import org.p2psync.ReplicatorEvent
import org.p2psync.ReplicatorStatus
import org.p2psync.ReplicatorType
import org.p2psync.Resolution
import org.p2psync.ServerTrust
import org.p2psync.TLSIdentity
import org.p2psync.TlsPinMismatchException
import java.lang.ref.WeakReference
import java.util.Collections
import java.util.concurrent.atomic.AtomicInteger

class ReplicatorTest : SyncTestBase() {
    private val passwordCalls = AtomicInteger()

    /** A listener accepting alice/secret through the authenticator lambda. */
    private fun passwordListener() = startListener(ListenerConfig(passwordAuthenticator = { user, password ->
        passwordCalls.incrementAndGet()
        user == "alice" && password == "secret"
    }))

    private fun docIds(db: org.p2psync.Collection) = db.changes().filter { !it.deleted }.map { it.id }.toSet()

    @Test
    fun pushAndPullOverTlsWithPasswordThenPinned() {
        for (i in 1..3) localDocs.save("local-$i", """{"n":$i,"from":"local"}""")
        for (i in 1..2) remoteDocs.save("remote-$i", """{"n":$i,"from":"remote"}""")
        val listener = passwordListener()
        val first = replicator(listener) {
            ReplicatorConfig(it, trust = ServerTrust.SelfSignedOnly, authenticator = BasicAuthenticator("alice", "secret"))
        }
        assertEquals(setOf("local-1", "local-2", "local-3"), first.pendingDocumentIds(localDocs))
        assertTrue(first.isDocumentPending(localDocs, "local-2"))
        assertNull(first.serverCertificate)

        assertStoppedCleanly(runToStop(first))
        val all = setOf("local-1", "local-2", "local-3", "remote-1", "remote-2")
        assertEquals(all, docIds(localDocs))
        assertEquals(all, docIds(remoteDocs))
        assertEquals("""{"n":2,"from":"local"}""", remoteDocs.get("local-2").json)
        assertEquals("""{"n":1,"from":"remote"}""", localDocs.get("remote-1").json)
        // (only the pushed documents: whether pulled ones count is the engine's business)
        assertEquals(emptySet<String>(), first.pendingDocumentIds(localDocs).filter { it.startsWith("local-") }.toSet())
        assertFalse(first.isDocumentPending(localDocs, "local-2"))
        assertTrue(passwordCalls.get() >= 1)

        // pin on first use: the certificate seen by the first run is the listener's
        val pem = first.serverCertificate!!
        keep(listener.tlsIdentity()!!).let { served -> assertEquals(served.chainPem.trim(), pem.trim()) }
        remoteDocs.save("remote-3", """{"n":3}""")
        val pinned = replicator(listener) {
            ReplicatorConfig(it, type = ReplicatorType.PULL, trust = ServerTrust.Pinned(pem),
                authenticator = BasicAuthenticator("alice", "secret"))
        }
        assertStoppedCleanly(runToStop(pinned))
        assertEquals("""{"n":3}""", localDocs.get("remote-3").json)
        try {
            pinned.pendingDocumentIds(localDocs)
            throw AssertionError("expected InvalidArgumentException for a pull-only replicator")
        } catch (e: InvalidArgumentException) {
        }

        // a pin of another certificate is refused, and not retried
        val stranger = TLSIdentity.create().use { it.chainPem }
        val wrongPin = replicator(listener) {
            ReplicatorConfig(it, trust = ServerTrust.Pinned(stranger), authenticator = BasicAuthenticator("alice", "secret"))
        }
        val refused = runToStop(wrongPin)
        assertTrue(refused.error.toString(), refused.error is TlsPinMismatchException)
    }

    /** "ab01..." -> "AB:01:..." (how users read fingerprints). */
    private fun colons(hex: String) = hex.chunked(2).joinToString(":").toUpperCase()

    @Test
    fun pinnedByFingerprint() {
        val listener = passwordListener()
        val fingerprint = keep(listener.tlsIdentity()!!).fingerprint
        val auth = BasicAuthenticator("alice", "secret")
        for ((i, form) in listOf(fingerprint, colons(fingerprint), fingerprint.toUpperCase(), "SHA256:" + colons(fingerprint)).withIndex()) {
            remoteDocs.save("fp-$i", """{"n":$i}""")
            val repl = replicator(listener) {
                ReplicatorConfig(it, type = ReplicatorType.PULL, trust = ServerTrust.PinnedFingerprint(form), authenticator = auth)
            }
            assertStoppedCleanly(runToStop(repl))
            assertEquals("""{"n":$i}""", localDocs.get("fp-$i").json)
        }
        val callsBefore = passwordCalls.get()

        // another certificate's fingerprint: refused in the handshake, credentials never sent
        val stranger = TLSIdentity.create().use { it.fingerprint }
        val wrong = replicator(listener) {
            ReplicatorConfig(it, trust = ServerTrust.PinnedFingerprint(stranger), authenticator = auth, maxAttempts = 5)
        }
        val refused = runToStop(wrong)
        val error = refused.error
        assertTrue(error.toString(), error is TlsPinMismatchException)
        // one fingerprint form everywhere: both named as TLSIdentity.fingerprint gives them
        assertTrue(error!!.message, error.message!!.contains("expected $stranger, the server presented $fingerprint"))
        assertEquals(callsBefore, passwordCalls.get())

        // malformed fingerprints are refused when the replicator is created
        for (bad in listOf("abc", fingerprint.dropLast(1), "sha1:$fingerprint")) {
            try {
                Replicator(local, ReplicatorConfig(listener.urls.single(), trust = ServerTrust.PinnedFingerprint(bad))).close()
                throw AssertionError("expected InvalidArgumentException for $bad")
            } catch (e: InvalidArgumentException) {
            }
        }
    }

    @Test
    fun wrongPasswordIsAuthErrorWithoutRetry() {
        val listener = passwordListener()
        val repl = replicator(listener) {
            ReplicatorConfig(it, trust = ServerTrust.SelfSignedOnly, authenticator = BasicAuthenticator("alice", "guess"),
                retryBaseMillis = 10)
        }
        val queue = keep(repl.eventQueue())
        val status = runToStop(repl)
        val error = status.error
        assertTrue("got $error", error is AuthException)
        assertEquals(-10, error!!.code)
        assertEquals(P2PSyncException.DOMAIN_WEBSOCKET, error.domain)
        assertEquals(401, error.domainCode)
        assertEquals(1, passwordCalls.get()) // refused once, never retried
        // the queue is fed asynchronously: read it up to the final "stopped"
        val activities = ArrayList<ActivityLevel>()
        val deadline = System.currentTimeMillis() + 10_000
        while (activities.lastOrNull() != ActivityLevel.STOPPED && System.currentTimeMillis() < deadline) {
            (queue.nextEvent(200) as? ReplicatorEvent.StatusChanged)?.let { activities.add(it.status.activity) }
        }
        assertEquals(ActivityLevel.STOPPED, activities.last())
        assertFalse(activities.toString(), ActivityLevel.OFFLINE in activities)
        assertNull(queue.nextEvent(100))
        assertEquals(emptySet<String>(), docIds(remoteDocs))
    }

    @Test
    fun continuousReplicationSeenByListenersAndEventQueue() {
        val listener = startListener()
        val repl = replicator(listener) { ReplicatorConfig(it, continuous = true, trust = ServerTrust.SelfSignedOnly) }
        val statuses = Collections.synchronizedList(ArrayList<ReplicatorStatus>())
        val documents = Collections.synchronizedList(ArrayList<DocumentReplication>())
        keep(repl.addStatusListener { statuses.add(it) })
        keep(repl.addDocumentListener { documents.add(it) })
        val queue = keep(repl.eventQueue())

        repl.start()
        waitForStatus(repl) { it.activity == ActivityLevel.IDLE }
        try {
            repl.start()
            throw AssertionError("expected BusyException")
        } catch (e: BusyException) {
        }
        localDocs.save("live", """{"v":1}""")
        waitFor { remoteDocs.getOrNull("live") != null }
        remoteDocs.save("back", """{"v":2}""")
        waitFor { localDocs.getOrNull("back") != null }
        assertEquals("""{"v":2}""", localDocs.get("back").json)

        fun seen(all: List<DocumentReplication>, direction: Direction, id: String) =
            all.any { r -> r.direction == direction && r.documents.any { it.id == id && it.error == null } }
        waitFor { seen(ArrayList(documents), Direction.PUSH, "live") && seen(ArrayList(documents), Direction.PULL, "back") }

        // the same story through the queue
        val queued = ArrayList<DocumentReplication>()
        val deadline = System.currentTimeMillis() + 10_000
        while (!(seen(queued, Direction.PUSH, "live") && seen(queued, Direction.PULL, "back")) && System.currentTimeMillis() < deadline) {
            (queue.nextEvent(200) as? ReplicatorEvent.DocumentsReplicated)?.let { queued.add(it.replication) }
        }
        assertTrue(seen(queued, Direction.PUSH, "live") && seen(queued, Direction.PULL, "back"))

        repl.stop()
        assertStoppedCleanly(repl.status)
        val heard = ArrayList(statuses).map { it.activity }
        assertTrue(heard.toString(), ActivityLevel.IDLE in heard)
        assertEquals(ActivityLevel.STOPPED, heard.last())
        val fromQueue = generateSequence { queue.nextEvent(0) }.toList()
        assertEquals(ActivityLevel.STOPPED, (fromQueue.last() as ReplicatorEvent.StatusChanged).status.activity)
    }

    /**
     * A merging resolver settles a conflict; a throwing one leaves it unsettled. Over
     * CBMobile_3 the received revision stays as a conflicting branch; over CBMobile_4 (the
     * default) it is not stored (a version has no branch to live on) and the next run
     * pulls it again, so the resolver is asked again.
     */
    @Test
    fun conflictResolverMergesAndThrowingResolverLeavesConflict() {
        for (versionVectors in listOf(true, false)) {
            val doc = "doc-$versionVectors"
            val bad = "bad-$versionVectors"
            localDocs.save(doc, """{"a":1}""")
            remoteDocs.save(doc, """{"b":2}""")
            localDocs.save(bad, """{"side":"local"}""")
            remoteDocs.save(bad, """{"side":"remote"}""")
            val conflicts = Collections.synchronizedList(ArrayList<Conflict>())
            val listener = startListener()
            val config = { url: String ->
                ReplicatorConfig(url, type = ReplicatorType.PULL, trust = ServerTrust.SelfSignedOnly,
                    versionVectorsEnabled = versionVectors,
                    collections = listOf(ReplicationCollection(localDocs, conflictResolver = { c ->
                        conflicts.add(c)
                        if (c.id.startsWith("bad")) throw IllegalStateException("resolver bug")
                        val local = c.localJson!!.removeSuffix("}")
                        val remote = c.remoteJson!!.removePrefix("{")
                        Resolution.Merged("$local,$remote")
                    })))
            }
            val repl = replicator(listener, config)
            val documents = Collections.synchronizedList(ArrayList<ReplicatedDocument>())
            keep(repl.addDocumentListener { documents.addAll(it.documents) })
            val status = runToStop(repl)
            assertEquals(ActivityLevel.STOPPED, status.activity)

            assertEquals("""{"a":1,"b":2}""", localDocs.get(doc).json)
            val seen = ArrayList(conflicts).associateBy { it.id }
            assertEquals(Conflict("_default._default", doc, """{"a":1}""", """{"b":2}"""), seen[doc])
            assertNotNull(seen[bad])
            // document events are delivered asynchronously, possibly after the status changed
            waitFor { ArrayList(documents).any { it.id == bad && it.error is ConflictException } }
            assertTrue(ArrayList(documents).filter { it.id == doc }.all { it.error == null })
            if (versionVectors) {
                assertEquals(0, localDocs.conflicts(bad).size) // no branch under CBMobile_4
                assertEquals("""{"side":"local"}""", localDocs.get(bad).json)
                conflicts.clear()
                assertEquals(ActivityLevel.STOPPED, runToStop(replicator(listener, config)).activity)
                assertTrue(ArrayList(conflicts).any { it.id == bad }) // pulled again, asked again
            } else {
                assertEquals(1, localDocs.conflicts(bad).size) // still in conflict
            }
        }
    }

    @Test
    fun pushFilterChoosesDocuments() {
        localDocs.save("p1", """{"public":true}""")
        localDocs.save("p2", """{"public":false}""")
        localDocs.save("p3", """{"public":true}""")
        localDocs.save("boom", """{"public":true}""")
        val offered = Collections.synchronizedSet(HashSet<String>())
        val listener = startListener()
        val repl = replicator(listener) { url ->
            ReplicatorConfig(url, type = ReplicatorType.PUSH, trust = ServerTrust.SelfSignedOnly,
                collections = listOf(ReplicationCollection(localDocs, pushFilter = { rev ->
                    offered.add(rev.id)
                    if (rev.id == "boom") throw IllegalStateException("filter bug")
                    rev.json.contains("\"public\":true")
                })))
        }
        assertStoppedCleanly(runToStop(repl))
        assertEquals(setOf("p1", "p2", "p3", "boom"), offered)
        assertEquals(setOf("p1", "p3"), docIds(remoteDocs))
    }

    @Test
    fun listenerMaxMessageSizeRefusesLargeDocument() {
        localDocs.save("small", """{"pad":"${"x".repeat(1000)}"}""")
        localDocs.save("huge", """{"pad":"${"y".repeat(200_000)}"}""")
        val listener = startListener(ListenerConfig(maxMessageSize = 64L * 1024, maxConnectionBuffer = 1L shl 20, maxConnections = 4))
        val repl = replicator(listener) { url ->
            ReplicatorConfig(url, type = ReplicatorType.PUSH, trust = ServerTrust.SelfSignedOnly, maxMessageSize = 1L shl 20)
        }
        val errors = Collections.synchronizedMap(HashMap<String, P2PError?>())
        val sub = repl.addDocumentListener { batch -> batch.documents.forEach { errors[it.id] = it.error } }
        runToStop(repl)
        sub.close()
        assertNull(errors["small"])
        val huge = errors["huge"]
        assertNotNull("the huge document must fail", huge)
        assertEquals(413, huge!!.domainCode)
        assertEquals(setOf("small"), docIds(remoteDocs))
    }

    @Test
    fun closingDatabaseUnderLiveReplicatorIsBusy() {
        val listener = startListener()
        val pulled = AtomicInteger()
        val repl = keep(Replicator(local, ReplicatorConfig(listener.urls.single(), type = ReplicatorType.PULL,
            trust = ServerTrust.SelfSignedOnly,
            collections = listOf(ReplicationCollection(localDocs, pullFilter = { pulled.incrementAndGet(); true })))))
        val sub = keep(repl.addStatusListener { })
        try {
            local.close()
            throw AssertionError("expected BusyException")
        } catch (e: BusyException) {
        }
        try {
            repl.close() // its subscription is still registered: nothing is closed
            throw AssertionError("expected BusyException")
        } catch (e: BusyException) {
        }
        sub.close()
        // the failed close kept the filter alive: the replicator still works
        remoteDocs.save("r", "{}")
        assertStoppedCleanly(runToStop(repl))
        assertEquals(1, pulled.get())
        repl.close()
        repl.close()
        assertTrue(repl.isClosed)
    }

    /** A replicator whose push filter holds [marker]; closed here unless [forget]. */
    private fun replicatorHolding(marker: Any, forget: Boolean) {
        val repl = Replicator(local, ReplicatorConfig("wss://127.0.0.1:9/nowhere", trust = ServerTrust.SelfSignedOnly,
            collections = listOf(ReplicationCollection(localDocs, pushFilter = { marker.hashCode() != 0 }))))
        val sub = repl.addDocumentListener { marker.hashCode() }
        sub.close()
        if (!forget) repl.close()
    }

    private fun listenerHolding(marker: Any, forget: Boolean) {
        val listener = Listener(remote, ListenerConfig(passwordAuthenticator = { _, _ -> marker.hashCode() != 0 }))
        if (!forget) listener.close()
    }

    @Test
    fun glueReleasesCallbacksOnCloseAndCleanup() {
        val base = P2PSync.liveHandles()
        for (forget in listOf(false, true)) {
            // The JNI glue holds each lambda through a global ref until the close: once
            // it let go, nothing else holds the marker the lambdas captured.
            var marker: Any? = Any()
            val ref = WeakReference(marker)
            replicatorHolding(marker!!, forget)
            listenerHolding(marker, forget)
            marker = null
            waitFor {
                System.gc()
                ref.get() == null && P2PSync.liveHandles() == base
            }
        }
    }

    @Test
    fun deltaSyncStats() {
        val listener = startListener(ListenerConfig(enableDeltaSync = true))
        val pad = "x".repeat(2000)
        fun push(deltas: Boolean) = replicator(listener) {
            ReplicatorConfig(it, type = ReplicatorType.PUSH, trust = ServerTrust.SelfSignedOnly, enableDeltaSync = deltas)
        }.let { r -> assertStoppedCleanly(runToStop(r)); r.stats }

        localDocs.save("big", """{"kind":"bench","pad":"$pad"}""")
        val first = push(true)
        assertEquals(1L, first.revsSent)
        assertEquals(0L, first.deltasSent) // a new document has no base
        localDocs.save("big", """{"kind":"edit1","pad":"$pad"}""")
        val withDeltas = push(true)
        assertEquals(1L, withDeltas.revsSent)
        assertEquals(1L, withDeltas.deltasSent)
        assertTrue("${withDeltas}", withDeltas.bytesSent in 1..99 && withDeltas.fullBytesSent > 2000)
        assertEquals(0L, withDeltas.revsReceived)
        assertEquals(0L, withDeltas.deltaFallbacks)
        assertEquals("""{"kind":"edit1","pad":"$pad"}""", remoteDocs.get("big").json)
        localDocs.save("big", """{"kind":"edit2","pad":"$pad"}""")
        val without = push(false)
        assertEquals(0L, without.deltasSent)
        assertEquals(without.fullBytesSent, without.bytesSent)
        assertEquals("""{"kind":"edit2","pad":"$pad"}""", remoteDocs.get("big").json)
    }

    @Test
    fun databaseCanForbidDeltaSync() {
        // The listener and the replicator both enable deltas, but the serving database forbids
        // them: the edit travels whole.
        val strict = keep(Database.open(dbPath("strict"), deltaSync = false))
        val strictDocs = keep(strict.defaultCollection())
        val listener = keep(Listener(strict, ListenerConfig(enableDeltaSync = true, networkInterface = "127.0.0.1")))
        listener.start()
        val pad = "z".repeat(2000)
        for (kind in listOf("bench", "edit1")) {
            localDocs.save("big", """{"kind":"$kind","pad":"$pad"}""")
            val r = keep(Replicator(local, ReplicatorConfig(listener.urls.single(), type = ReplicatorType.PUSH,
                trust = ServerTrust.SelfSignedOnly, enableDeltaSync = true)))
            assertStoppedCleanly(runToStop(r))
            val stats = r.stats
            assertEquals(1L, stats.revsSent)
            assertEquals(0L, stats.deltasSent)
            assertEquals(stats.fullBytesSent, stats.bytesSent)
        }
        assertEquals("""{"kind":"edit1","pad":"$pad"}""", strictDocs.get("big").json)
    }

    @Test
    fun badConfigurations() {
        val listener = startListener()
        val url = listener.urls.single()
        for (config in listOf(
            ReplicatorConfig("not a url"),
            ReplicatorConfig(url, headers = mapOf("X" to "y"), trust = ServerTrust.Roots("not pem")),
            ReplicatorConfig(url.replace("wss:", "ws:"), trust = ServerTrust.SelfSignedOnly)
        )) {
            try {
                Replicator(local, config).close()
                throw AssertionError("expected InvalidArgumentException for $config")
            } catch (e: InvalidArgumentException) {
            }
        }
        remote.createCollection("other").use { foreign ->
            try {
                Replicator(local, ReplicatorConfig(url, collections = listOf(ReplicationCollection(foreign))))
                throw AssertionError("expected InvalidArgumentException")
            } catch (e: InvalidArgumentException) {
            }
        }
        try {
            ReplicatorConfig(url, heartbeatMillis = -1)
            throw AssertionError("expected InvalidArgumentException")
        } catch (e: InvalidArgumentException) {
        }
    }
}
