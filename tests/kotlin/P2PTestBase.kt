package org.p2psync.test

import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Rule
import org.junit.rules.TemporaryFolder
import org.p2psync.P2PSync
import java.io.File

/** Every test gets a scratch folder and must end with no live library handle. */
abstract class P2PTestBase {
    @get:Rule
    val tmp = TemporaryFolder()

    fun dbPath(name: String = "db"): String = File(tmp.root, name).path

    @After
    fun noLiveHandles() {
        assertEquals("a test left library objects open", 0L, P2PSync.liveHandles())
    }

    /** Polls [cond] until it holds or the deadline passes. */
    fun waitFor(timeoutMillis: Long = 10_000, cond: () -> Boolean) {
        val deadline = System.nanoTime() + timeoutMillis * 1_000_000
        while (!cond()) {
            if (System.nanoTime() > deadline) throw AssertionError("condition not met in time")
            Thread.sleep(5)
        }
    }
}
