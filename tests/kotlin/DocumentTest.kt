package org.p2psync.test

import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Before
import org.junit.Test
import org.p2psync.Collection
import org.p2psync.Concurrency
import org.p2psync.ConflictException
import org.p2psync.Database
import org.p2psync.InvalidArgumentException
import org.p2psync.InvalidHandleException
import org.p2psync.NotFoundException

class DocumentTest : P2PTestBase() {
    private lateinit var db: Database
    private lateinit var coll: Collection

    @Before
    fun open() {
        db = Database.open(dbPath())
        coll = db.defaultCollection()
    }

    @After
    fun closeAll() {
        coll.close()
        db.close()
    }

    private inline fun <reified T : Throwable> assertThrows(block: () -> Unit): T {
        try {
            block()
        } catch (e: Throwable) {
            if (e is T) return e
            throw AssertionError("expected ${T::class.java.simpleName}, got $e", e)
        }
        fail("expected ${T::class.java.simpleName}")
        throw IllegalStateException()
    }

    @Test
    fun saveAndGet() {
        val doc = coll.save("doc-1", """{ "name": "Ada", "city": "Zürich" }""")
        assertEquals("doc-1", doc.id)
        assertTrue(doc.revId.startsWith("1-"))
        assertEquals(1L, doc.sequence)
        val got = coll.get("doc-1")
        assertEquals("""{"name":"Ada","city":"Zürich"}""", got.json)
        assertEquals(doc.revId, got.revId)
        assertNull(coll.getOrNull("nope"))
        assertThrows<NotFoundException> { coll.get("nope") }
    }

    @Test
    fun versions() {
        val source = db.sourceId
        assertEquals(22, source.length)
        val first = coll.save("v", """{"n":1}""")
        assertEquals(java.lang.Long.toHexString(first.timestamp) + "@" + source, first.version)
        assertTrue(Math.abs(first.timestamp / 1_000_000_000L - System.currentTimeMillis() / 1000L) < 60)
        val second = coll.save("v", """{"n":2}""")
        assertTrue(second.timestamp > first.timestamp)
        assertEquals(second.version, second.versionVector)
        val got = coll.get("v")
        assertEquals(second.version, got.version)
        assertEquals(second.timestamp, got.timestamp)
    }

    @Test
    fun concurrencyControl() {
        val first = coll.save("d", """{"v":1}""")
        assertThrows<ConflictException> { coll.save("d", """{"v":2}""", concurrency = Concurrency.FAIL_ON_CONFLICT) }
        val second = coll.save("d", """{"v":2}""", first.revId, Concurrency.FAIL_ON_CONFLICT)
        assertTrue(second.revId.startsWith("2-"))
        assertEquals("""{"v":2}""", coll.getRevision("d", second.revId).json)
        assertEquals(emptyList<String>(), coll.conflicts("d"))
    }

    @Test
    fun deletePurgeExpiration() {
        coll.save("gone", "{}")
        assertTrue(coll.delete("gone").deleted)
        assertThrows<NotFoundException> { coll.get("gone") }
        assertTrue(coll.get("gone", includeDeleted = true).deleted)
        coll.purge("gone")
        assertThrows<NotFoundException> { coll.purge("gone") }

        coll.save("temp", "{}")
        val later = System.currentTimeMillis() + 3_600_000
        coll.setExpiration("temp", later)
        assertEquals(later, coll.expiration("temp"))
        coll.setExpiration("temp", 0)
        assertEquals(0L, coll.expiration("temp"))
    }

    @Test
    fun changesFeed() {
        for (i in 0 until 4) coll.save("c$i", """{"i":$i}""")
        coll.save("c0", """{"i":9}""")
        val changes = coll.changes()
        assertEquals(listOf("c1", "c2", "c3", "c0"), changes.map { it.id })
        assertEquals(listOf(2L, 3L, 4L, 5L), changes.map { it.sequence })
        assertEquals(2, coll.changes(limit = 2).size)
        assertEquals(changes.drop(2), coll.changes(since = 3))
    }

    @Test
    fun badInput() {
        for (body in listOf("{", "[1]", "\"s\"", "42", "null", "", """{"a":1} x""")) {
            assertThrows<InvalidArgumentException> { coll.save("bad", body) }
        }
        val e = assertThrows<InvalidArgumentException> { coll.save("bad", """{"a": tru}""") }
        assertTrue(e.message!!.contains("offset"))
        assertThrows<InvalidArgumentException> { coll.save("", "{}") }
        assertThrows<InvalidArgumentException> { coll.save("x".repeat(256), "{}") }
        assertThrows<InvalidArgumentException> { coll.save("nul\u0000inside", "{}") } // would cut C text short
        assertThrows<InvalidArgumentException> { coll.save("ok", "{\"a\":\"\u0000\"}") }
        coll.save("x".repeat(255), "{}")
        assertEquals(1L, coll.count)
    }

    @Test
    fun reservedTopLevelKeysRefused() {
        for (key in listOf("_id", "_rev", "_deleted", "_removed", "_attachments", "_exp", "_revisions", "_anything")) {
            val e = assertThrows<InvalidArgumentException> { coll.save("r", """{"a":1,"$key":true}""") }
            assertTrue(e.message, e.message!!.contains("\"$key\""))
            assertThrows<InvalidArgumentException> {
                db.inBatch { b -> b.save(coll, "r", """{"$key":1}""") }
            }
        }
        assertNull(coll.getOrNull("r"))
        coll.save("r", """{"nested":{"_id":1},"a_b":"_x"}""") // only top-level keys are reserved
        assertEquals(1L, coll.count)
    }

    @Test
    fun collections() {
        db.createCollection("users", "app").use { users ->
            assertEquals("app.users", users.fullName)
            users.save("u", "{}")
        }
        assertEquals(listOf("users"), db.collectionNames("app"))
        assertEquals(listOf("_default", "app"), db.scopeNames())
        assertThrows<InvalidArgumentException> { db.createCollection("bad name", "app") }
        assertThrows<InvalidArgumentException> { db.createCollection("_x") }
        db.deleteCollection("users", "app")
        assertThrows<NotFoundException> { db.collection("users", "app") }
        val closed = db.createCollection("tmp")
        closed.close()
        assertThrows<InvalidHandleException> { closed.save("d", "{}") }
    }
}
