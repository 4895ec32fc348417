package org.p2psync.test

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.p2psync.BusyException
import org.p2psync.Database
import org.p2psync.InvalidArgumentException
import org.p2psync.InvalidHandleException
import org.p2psync.IoException
import org.p2psync.NotFoundException
import org.p2psync.P2PSync
import org.p2psync.P2PSyncException
import java.io.File

class DatabaseTest : P2PTestBase() {
    @Test
    fun versions() {
        assertEquals(P2PSync.ABI_VERSION, P2PSync.abiVersion)
        assertTrue(P2PSync.libraryVersion.matches(Regex("""\d+\.\d+\.\d+""")))
    }

    @Test
    fun openCloseNames() {
        val path = dbPath()
        assertFalse(Database.exists(path))
        val uuid = Database.open(path).use { db ->
            assertEquals("db", db.name)
            assertEquals(32, db.uuid.length)
            db.uuid
        }
        assertTrue(Database.exists(path))
        Database.open(path, create = false, maxRevTreeDepth = 5).use { assertEquals(uuid, it.uuid) }
        Database.delete(path)
        assertFalse(Database.exists(path))
    }

    @Test(expected = NotFoundException::class)
    fun missingWithoutCreate() {
        Database.open(dbPath(), create = false)
    }

    @Test
    fun closeIsIdempotentAndUseAfterCloseFails() {
        val db = Database.open(dbPath())
        db.close()
        db.close()
        assertTrue(db.isClosed)
        try {
            db.defaultCollection()
            fail("expected InvalidHandleException")
        } catch (e: InvalidHandleException) {
            assertEquals(-2, e.code)
        }
    }

    @Test
    fun parentWithChildrenIsBusy() {
        val db = Database.open(dbPath())
        val coll = db.defaultCollection()
        try {
            db.close()
            fail("expected BusyException")
        } catch (e: BusyException) {
            assertEquals(0L, coll.count) // nothing was closed
        }
        coll.close()
        db.close()
    }

    @Test
    fun secondOpenerIsBusy() {
        Database.open(dbPath()).use {
            try {
                Database.open(dbPath())
                fail("expected BusyException")
            } catch (e: BusyException) {
                assertEquals(P2PSyncException.DOMAIN_LIBRARY, e.domain)
            }
            try {
                Database.delete(dbPath())
                fail("expected BusyException")
            } catch (e: BusyException) {
            }
        }
    }

    @Test
    fun badPaths() {
        val file = File(tmp.root, "plain").apply { writeText("not a database") }
        try {
            Database.open(file.path)
            fail("expected IoException")
        } catch (e: IoException) {
        }
        try {
            Database.open("/proc/p2psync-no-such-dir/db")
            fail("expected IoException")
        } catch (e: IoException) {
        }
        try {
            Database.open("")
            fail("expected InvalidArgumentException")
        } catch (e: InvalidArgumentException) {
        }
    }

    @Test
    fun localDocuments() {
        Database.open(dbPath()).use { db ->
            try {
                db.getLocal("checkpoint")
                fail("expected NotFoundException")
            } catch (e: NotFoundException) {
            }
            val rev = db.putLocal("checkpoint", """{"seq":1}""")
            assertEquals(Pair("""{"seq":1}""", rev), db.getLocal("checkpoint"))
            db.putLocal("checkpoint", """{"seq":2}""", rev)
            db.putLocal("checkpoint", """{"seq":3}""", "*")
            db.deleteLocal("checkpoint")
        }
    }

    // A separate frame, so that no local variable keeps the objects reachable.
    private fun openAndForget() {
        Database.open(dbPath()).defaultCollection()
    }

    @Test
    fun forgottenObjectsAreCleanedUp() {
        openAndForget()
        assertEquals(2L, P2PSync.liveHandles())
        // the collection's cleaner runs first: it keeps the database reachable until then
        waitFor { System.gc(); P2PSync.liveHandles() == 0L }
    }
}
