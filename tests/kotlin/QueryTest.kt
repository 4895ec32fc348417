package org.p2psync.test

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.p2psync.BusyException
import org.p2psync.Database
import org.p2psync.FullTextIndexConfiguration
import org.p2psync.InvalidArgumentException
import org.p2psync.NotFoundException
import org.p2psync.QueryChange
import org.p2psync.QuerySubscription
import org.p2psync.ReplicatorConfig
import org.p2psync.ReplicatorType
import org.p2psync.ServerTrust
import org.p2psync.ValueIndexConfiguration
import org.p2psync.createIndex
import org.p2psync.deleteIndex
import org.p2psync.prepare
import org.p2psync.query
import java.util.Collections

class QueryTest : SyncTestBase() {
    private fun people() {
        localDocs.save("a", """{"name":"Ada","age":36,"address":{"city":"London"},"nick":null}""")
        localDocs.save("b", """{"name":"Bob","age":25,"tags":["x","y"]}""")
        localDocs.save("c", """{"name":"Cy","age":50}""")
        localDocs.delete("c")
    }

    @Test
    fun prepareExecuteRowsAsJsonAndTyped() {
        people()
        local.prepare("SELECT meta().id, name, address.city, nick, age * 2 FROM _ WHERE age > \$min ORDER BY name").use { q ->
            assertEquals(listOf("id", "name", "city", "nick", "\$1"), q.columns)
            val rows = q.execute(mapOf("min" to 20)).allResults()
            assertEquals(listOf("""{"id":"a","name":"Ada","city":"London","nick":null,"${'$'}1":72}""",
                """{"id":"b","name":"Bob","${'$'}1":50}"""), rows.map { it.json })
            val ada = rows[0]
            assertEquals("Ada", ada.getString("name"))
            assertEquals(72L, ada.getLong("\$1"))
            assertTrue("nick" in ada)
            assertNull(ada.getValue("nick"))
            assertFalse("city" in rows[1]) // MISSING: no key
            // again, with other parameters, iterating
            val names = ArrayList<String>()
            for (r in q.execute(mapOf("min" to 30))) names.add(r.getString("name")!!)
            assertEquals(listOf("Ada"), names)
            assertEquals(1, q.executeJson("""{"min": 30}""").allResults().size)
            try {
                q.execute()
                fail("expected InvalidArgumentException")
            } catch (e: InvalidArgumentException) {
                assertTrue(e.message!!.contains("\$min"))
            }
        }
        assertEquals(listOf(mapOf("n" to 2L)), local.query("SELECT COUNT(*) AS n FROM _").map { it.map })
        assertEquals(listOf("Bob"), local.query("SELECT name FROM _ WHERE ANY t IN tags SATISFIES t = \$t END", mapOf("t" to "y")).map { it.getString("name") })
        assertEquals(listOf("Ada"), local.query("SELECT name FROM _ WHERE meta().id IN \$ids AND age < 40", mapOf("ids" to listOf("a", "c"))).map { it.getString("name") })
        try {
            local.prepare("SELECT FROM _")
            fail("expected InvalidArgumentException")
        } catch (e: InvalidArgumentException) {
            assertTrue(e.message!!.contains("line 1, column 8"))
        }
    }

    @Test
    fun indexesAndExplain() {
        people()
        localDocs.createIndex("byAge", ValueIndexConfiguration("age"))
        local.prepare("SELECT name FROM _ WHERE age = 25").use { q ->
            assertTrue(q.explain().contains("USING INDEX qidx_1_byAge"))
        }
        localDocs.deleteIndex("byAge")
        try {
            localDocs.deleteIndex("byAge")
            fail("expected NotFoundException")
        } catch (e: NotFoundException) {
        }
        localDocs.save("h1", """{"overview":"Boats in the harbour, boats at sea"}""")
        localDocs.save("h2", """{"overview":"A harbour café"}""")
        localDocs.createIndex("ov", FullTextIndexConfiguration("overview").setLanguage("en").ignoreAccents(true))
        val ranked = local.query("SELECT meta().id, RANK(ov) AS r FROM _ WHERE MATCH(ov, \$t) ORDER BY RANK(ov) DESC", mapOf("t" to "boat"))
        assertEquals(listOf("h1"), ranked.map { it.getString("id") })
        assertTrue(ranked[0].getDouble("r") > 0)
        assertEquals(listOf("h2"), local.query("SELECT meta().id FROM _ WHERE MATCH(ov, 'cafe')").map { it.getString("id") })
        localDocs.delete("h2")
        assertEquals(0, local.query("SELECT meta().id FROM _ WHERE MATCH(ov, 'cafe')").size)
        localDocs.deleteIndex("ov")
    }

    @Test
    fun liveQueryLocalChangesAndRemovalInsideListener() {
        people()
        local.prepare("SELECT meta().id FROM _ WHERE age >= \$min ORDER BY meta().id").use { q ->
            val seen = Collections.synchronizedList(ArrayList<QueryChange>())
            val sub = q.addChangeListener(mapOf("min" to 30)) { seen.add(it) }
            waitFor { seen.isNotEmpty() }
            assertEquals(listOf("a"), seen.last().results!!.map { it.getString("id") })
            try {
                q.close()
                fail("expected BusyException")
            } catch (e: BusyException) {
            }
            localDocs.save("d", """{"age":70}""")
            waitFor { seen.last().results!!.size == 2 }
            val n = seen.size
            localDocs.save("e", """{"age":3}""") // rows unchanged: no call
            localDocs.delete("a")
            waitFor { seen.last().results!!.map { it.getString("id") } == listOf("d") }
            assertEquals(n + 1, seen.size)
            sub.remove()
            localDocs.save("f", """{"age":99}""")
            Thread.sleep(100)
            assertEquals(n + 1, seen.size)

            // removal from inside the listener does not wait for itself
            val calls = Collections.synchronizedList(ArrayList<QueryChange>())
            var self: QuerySubscription? = null
            val lock = Object()
            synchronized(lock) {
                self = q.addChangeListener(mapOf("min" to 0)) { c ->
                    synchronized(lock) { calls.add(c); self!!.remove() }
                }
            }
            waitFor { calls.size == 1 }
            localDocs.save("g", """{"age":1}""")
            Thread.sleep(100)
            assertEquals(1, calls.size)
        }
    }

    @Test
    fun liveQuerySeesReplicatedChanges() {
        local.prepare("SELECT meta().id, kind FROM _ WHERE kind = 'pulled'").use { q ->
            val seen = Collections.synchronizedList(ArrayList<QueryChange>())
            q.addChangeListener { seen.add(it) }.use {
                waitFor { seen.isNotEmpty() }
                assertEquals(0, seen.last().results!!.size)
                val listener = startListener()
                val repl = replicator(listener) { ReplicatorConfig(it, trust = ServerTrust.SelfSignedOnly, type = ReplicatorType.PULL, continuous = true) }
                repl.start()
                remoteDocs.save("p1", """{"kind":"pulled"}""")
                waitFor(20_000) { seen.last().results?.map { r -> r.json } == listOf("""{"id":"p1","kind":"pulled"}""") }
                remoteDocs.delete("p1")
                waitFor(20_000) { seen.last().results?.isEmpty() == true }
                repl.stop()
            }
        }
    }
}
