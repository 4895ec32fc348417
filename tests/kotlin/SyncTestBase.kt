package org.p2psync.test

import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Before
import org.p2psync.ActivityLevel
import org.p2psync.Collection
import org.p2psync.Database
import org.p2psync.Listener
import org.p2psync.ListenerConfig
import org.p2psync.Replicator
import org.p2psync.ReplicatorConfig
import org.p2psync.ReplicatorStatus
import org.p2psync.ServerTrust

/**
 * Two databases in one JVM: [remote] is served by listeners, [local] runs replicators.
 * Objects made with [keep] are closed (newest first) after each test, before the base
 * class checks that no handle is left.
 */
abstract class SyncTestBase : P2PTestBase() {
    lateinit var local: Database
    lateinit var remote: Database
    lateinit var localDocs: Collection
    lateinit var remoteDocs: Collection
    private val opened = ArrayList<AutoCloseable>()

    @Before
    fun openDatabases() {
        local = keep(Database.open(dbPath("local")))
        remote = keep(Database.open(dbPath("remote")))
        localDocs = keep(local.defaultCollection())
        remoteDocs = keep(remote.defaultCollection())
    }

    @After
    fun closeAll() {
        for (c in opened.asReversed()) c.close()
        opened.clear()
    }

    fun <T : AutoCloseable> keep(c: T): T {
        opened.add(c)
        return c
    }

    /** A started TLS listener on loopback serving [remote] with the anonymous identity. */
    fun startListener(config: ListenerConfig = ListenerConfig()): Listener {
        val listener = keep(Listener(remote, config.copy(networkInterface = "127.0.0.1")))
        listener.start()
        return listener
    }

    /** A replicator of [local] to [listener] trusting its self-signed certificate. */
    fun replicator(listener: Listener, config: (String) -> ReplicatorConfig = { ReplicatorConfig(it, trust = ServerTrust.SelfSignedOnly) }): Replicator =
        keep(Replicator(local, config(listener.urls.single())))

    /** Starts a one-shot replicator and returns its status once it stopped. */
    fun runToStop(replicator: Replicator): ReplicatorStatus {
        replicator.start()
        return waitForStatus(replicator) { it.activity == ActivityLevel.STOPPED }
    }

    fun waitForStatus(replicator: Replicator, cond: (ReplicatorStatus) -> Boolean): ReplicatorStatus {
        var last: ReplicatorStatus? = null
        try {
            waitFor(20_000) { replicator.status.let { last = it; cond(it) } }
        } catch (e: AssertionError) {
            throw AssertionError("replicator status still $last", e)
        }
        return last!!
    }

    fun assertStoppedCleanly(status: ReplicatorStatus) {
        assertEquals(ActivityLevel.STOPPED, status.activity)
        assertEquals(null, status.error)
    }
}
