package org.p2psync.test

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.p2psync.ActivityLevel
import org.p2psync.Collection
import org.p2psync.Conflict
import org.p2psync.ListenerConfig
import org.p2psync.ReplicationCollection
import org.p2psync.ReplicatorConfig
import org.p2psync.ReplicatorType
import org.p2psync.Resolution
import org.p2psync.ServerTrust
import java.util.Collections

/**
 * Replication over BLIP_3+CBMobile_4 (version vectors, issue 16) through a TLS listener on
 * loopback: push, pull and push-pull, one-shot and continuous; afterwards every document
 * has one non-empty version and one body on both sides (a document received over
 * CBMobile_3 would have no version). A conflict (both sides edit, then sync both ways)
 * ends with the same current version and body on both sides, with the default resolver
 * (Couchbase Lite 4's rule: the later version wins) and with a custom resolver.
 */
class VersionsSyncTest : SyncTestBase() {
    private fun ids(c: Collection) = c.changes().map { it.id }.sorted()

    /** Both sides hold the same documents under the same non-empty version, vector and body. */
    private fun assertSameVersions() {
        val all = ids(localDocs)
        assertEquals(all, ids(remoteDocs))
        for (id in all) {
            val l = localDocs.get(id, includeDeleted = true)
            val r = remoteDocs.get(id, includeDeleted = true)
            assertTrue("$id has no version", l.version.isNotEmpty() && l.timestamp > 0)
            assertEquals(id, listOf(l.version, l.versionVector, l.deleted), listOf(r.version, r.versionVector, r.deleted))
            if (!l.deleted) assertEquals(id, l.json, r.json)
        }
    }

    private fun sameVersions() = try {
        assertSameVersions(); true
    } catch (e: AssertionError) {
        false
    }

    private fun oneShot(type: ReplicatorType = ReplicatorType.PUSH_AND_PULL, resolver: ((Conflict) -> Resolution)? = null) {
        val listener = startListener(ListenerConfig()) // CBMobile_4 by default
        val repl = replicator(listener) { url ->
            ReplicatorConfig(url, type = type, trust = ServerTrust.SelfSignedOnly,
                collections = listOf(ReplicationCollection(localDocs, conflictResolver = resolver)))
        }
        assertStoppedCleanly(runToStop(repl))
        repl.close()
        listener.close()
    }

    @Test
    fun oneShotPushPullAndBothOverTls() {
        for (type in ReplicatorType.values()) {
            for (i in 1..10) {
                localDocs.save("local-$type-$i", """{"side":"local","i":$i}""")
                remoteDocs.save("remote-$type-$i", """{"side":"remote","i":$i}""")
            }
            localDocs.delete("local-$type-1")
            oneShot(type)
            val (src, dst, prefix) = when (type) {
                ReplicatorType.PUSH -> Triple(localDocs, remoteDocs, "local-$type-")
                ReplicatorType.PULL -> Triple(remoteDocs, localDocs, "remote-$type-")
                ReplicatorType.PUSH_AND_PULL -> Triple(localDocs, remoteDocs, "")
            }
            if (type == ReplicatorType.PUSH_AND_PULL) {
                assertSameVersions()
                continue
            }
            val sent = ids(src).filter { it.startsWith(prefix) }
            assertEquals(10, sent.size)
            assertEquals(sent, ids(dst).filter { it.startsWith(prefix) })
            for (id in sent) {
                val s = src.get(id, includeDeleted = true)
                val d = dst.get(id, includeDeleted = true)
                assertTrue(s.version.isNotEmpty())
                assertEquals(listOf(s.version, s.versionVector, s.deleted, s.json), listOf(d.version, d.versionVector, d.deleted, d.json))
            }
            // nothing went the other way
            assertTrue(ids(src).none { it.startsWith(if (type == ReplicatorType.PUSH) "remote-$type-" else "local-$type-") })
        }
    }

    @Test
    fun continuousOverTlsAndSubprotocolInListenerStatus() {
        remoteDocs.save("before", """{"n":0}""")
        val listener = startListener(ListenerConfig())
        val repl = replicator(listener) { ReplicatorConfig(it, continuous = true, trust = ServerTrust.SelfSignedOnly) }
        repl.start()
        waitForStatus(repl) { it.activity == ActivityLevel.IDLE }
        val conns = listener.status.connections
        assertEquals(1, conns.size)
        assertEquals("BLIP_3+CBMobile_4", conns[0].subprotocol)
        for (i in 1..10) {
            localDocs.save("live-local-$i", """{"i":$i}""")
            remoteDocs.save("live-remote-$i", """{"i":$i}""")
        }
        remoteDocs.save("before", """{"n":1}""")
        localDocs.delete("live-local-10")
        waitFor(20_000) {
            sameVersions() && localDocs.get("before").json == """{"n":1}""" &&
                remoteDocs.get("live-local-10", includeDeleted = true).deleted
        }
        repl.stop()
        assertStoppedCleanly(waitForStatus(repl) { it.activity == ActivityLevel.STOPPED })
        assertSameVersions()
        assertEquals(21, ids(localDocs).size)
    }

    /** Syncs "clash", then edits it on [first] and later on [second]; returns both edited versions. */
    private fun conflict(first: Collection, second: Collection): Pair<String, String> {
        remoteDocs.save("clash", """{"side":"origin"}""")
        oneShot()
        assertSameVersions()
        first.save("clash", """{"side":"first","onlyFirst":true}""")
        Thread.sleep(2)
        second.save("clash", """{"side":"second"}""")
        return Pair(first.get("clash").version, second.get("clash").version)
    }

    /** A further replication changes nothing: the version stays [version] on both sides. */
    private fun assertSettled(version: String) {
        oneShot()
        assertEquals(version, localDocs.get("clash").version)
        assertEquals(version, remoteDocs.get("clash").version)
    }

    @Test
    fun conflictDefaultResolverRemoteLaterWins() {
        val (_, second) = conflict(localDocs, remoteDocs)
        oneShot()
        assertSameVersions()
        val outcome = localDocs.get("clash")
        assertEquals("""{"side":"second"}""", outcome.json)
        assertEquals(second, outcome.version) // the remote's version won unchanged
        assertSettled(outcome.version)
    }

    @Test
    fun conflictDefaultResolverLocalLaterWins() {
        val (first, second) = conflict(remoteDocs, localDocs)
        oneShot()
        assertSameVersions()
        val outcome = localDocs.get("clash")
        assertEquals("""{"side":"second"}""", outcome.json)
        // the local winner gets a version vector recording both sides
        assertTrue(outcome.versionVector, outcome.versionVector.contains(first) && outcome.versionVector.contains(second))
        assertSettled(outcome.version)
    }

    @Test
    fun conflictCustomResolver() {
        val (first, second) = conflict(remoteDocs, localDocs)
        val seen = Collections.synchronizedList(ArrayList<Conflict>())
        oneShot(resolver = { c ->
            seen.add(c)
            Resolution.Merged("""{"side":"merged","local":${c.localJson},"remote":${c.remoteJson}}""")
        })
        assertEquals(listOf(Conflict("_default._default", "clash", """{"side":"second"}""", """{"side":"first","onlyFirst":true}""")), ArrayList(seen))
        assertSameVersions()
        val outcome = localDocs.get("clash")
        assertEquals("""{"side":"merged","local":{"side":"second"},"remote":{"side":"first","onlyFirst":true}}""", outcome.json)
        assertNotEquals(first, outcome.version)
        assertNotEquals(second, outcome.version)
        assertTrue(outcome.versionVector, outcome.versionVector.contains(first) && outcome.versionVector.contains(second))
        assertSettled(outcome.version)
        assertEquals(1, seen.size)
    }

    /** versionVectorsEnabled = false on either side: the two speak CBMobile_3, so the
     *  received revision has no version. */
    @Test
    fun versionVectorsDisabledSpeaksCbMobile3() {
        for (side in listOf("replicator", "listener")) {
            val id = "old-$side"
            remoteDocs.save(id, """{"n":1}""")
            val listener = startListener(ListenerConfig(versionVectorsEnabled = side != "listener"))
            val repl = replicator(listener) {
                ReplicatorConfig(it, continuous = true, trust = ServerTrust.SelfSignedOnly, versionVectorsEnabled = side != "replicator")
            }
            repl.start()
            waitFor(20_000) { localDocs.changes().any { c -> c.id == id } && repl.status.activity == ActivityLevel.IDLE }
            assertEquals("BLIP_3+CBMobile_3", listener.status.connections.single().subprotocol)
            repl.stop()
            assertStoppedCleanly(waitForStatus(repl) { it.activity == ActivityLevel.STOPPED })
            assertTrue(remoteDocs.get(id).version.isNotEmpty())
            assertEquals("", localDocs.get(id).version)
            repl.close()
            listener.close()
        }
    }
}
