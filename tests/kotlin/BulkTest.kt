package org.p2psync.test

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.p2psync.Concurrency
import org.p2psync.ConflictException
import org.p2psync.Database
import org.p2psync.InvalidArgumentException

class BulkTest : P2PTestBase() {
    @Test
    fun saveManyMatchesSingleSavesAndGetManyMatchesGet() {
        Database.open(dbPath()).use { db ->
            db.defaultCollection().use { coll ->
                val docs = listOf("a" to "{\"n\": 1}", "b" to "{\"s\":\"é\\\"\\\\\\n\\u0001 😀\"}", "c" to "{ \"n\" : 3 }")
                val saved = db.inBatch { it.saveMany(coll, docs) }
                assertEquals(listOf("a", "b", "c"), saved.map { it.id })
                assertEquals(listOf(1L, 2L, 3L), saved.map { it.sequence })
                for (s in saved) {
                    val one = coll.get(s.id)
                    assertEquals(s.revId, one.revId)
                    assertEquals(s.version, one.version)
                }
                assertEquals(saved[0].revId, coll.save("a2", "{\"n\":1}").revId)

                coll.delete("c")
                val ids = listOf("b", "missing", "a", "c", "a")
                val many = coll.getMany(ids)
                assertNull(many[1])
                assertNull(many[3])
                for ((id, got) in ids.zip(many)) {
                    if (got != null) assertEquals(coll.get(id), got) // every field, body text included
                }
                val tomb = coll.getMany(listOf("c"), includeDeleted = true)[0]!!
                assertTrue(tomb.deleted)
                assertEquals(coll.get("c", includeDeleted = true), tomb)
                assertEquals(emptyList<Any?>(), coll.getMany(emptyList()))
            }
        }
    }

    @Test
    fun failureStopsAtTheDocumentAndKeepsTheBatch() {
        Database.open(dbPath()).use { db ->
            db.defaultCollection().use { coll ->
                db.inBatch { b ->
                    try {
                        b.saveMany(coll, listOf("m1" to "{}", "m2" to "[1]", "m3" to "{}"))
                        fail("expected InvalidArgumentException")
                    } catch (e: InvalidArgumentException) {
                        assertEquals(1, e.saved)
                        assertTrue(e.message!!, e.message!!.startsWith("document 1 (\"m2\"): "))
                    }
                    b.saveMany(coll, listOf("m3" to "{}"))
                }
                assertEquals(2L, coll.count)
                try {
                    coll.saveMany(listOf("n1" to "{}", "" to "{}"))
                    fail("expected InvalidArgumentException")
                } catch (e: InvalidArgumentException) {
                    assertEquals(1, e.saved)
                }
                assertNull(coll.getMany(listOf("n1"))[0]) // its own transaction was aborted
                try {
                    coll.getMany(listOf("ok", ""))
                    fail("expected InvalidArgumentException")
                } catch (e: InvalidArgumentException) {
                    assertEquals(-1, e.saved)
                }
                try {
                    coll.saveMany(listOf("x\u0000" to "{}"))
                    fail("expected InvalidArgumentException")
                } catch (e: InvalidArgumentException) {
                }
                assertEquals(emptyList<Any?>(), coll.saveMany(emptyList()))
            }
        }
    }

    @Test
    fun parentsAndConcurrency() {
        Database.open(dbPath()).use { db ->
            db.defaultCollection().use { coll ->
                val first = coll.saveMany(listOf("r" to "{\"v\":1}", "r" to "{\"v\":2}"))
                assertEquals(listOf("1-", "2-"), first.map { it.revId.substring(0, 2) })
                val fail = Concurrency.FAIL_ON_CONFLICT
                try {
                    coll.saveMany(listOf("r" to "{\"v\":3}"), fail, listOf(first[0].revId))
                    fail("expected ConflictException")
                } catch (e: ConflictException) {
                    assertEquals(0, e.saved)
                }
                val done = coll.saveMany(listOf("r" to "{\"v\":3}", "new" to "{}"), fail, listOf(first[1].revId, null))
                assertTrue(done[0].revId.startsWith("3-"))
                assertTrue(done[1].revId.startsWith("1-"))
                try {
                    coll.saveMany(listOf("x" to "{}"), parentRevIds = emptyList())
                    fail("expected IllegalArgumentException")
                } catch (e: IllegalArgumentException) {
                }
            }
        }
    }
}
