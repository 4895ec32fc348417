package org.p2psync.test

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.p2psync.BusyException
import org.p2psync.ChangeEvent
import org.p2psync.Database
import org.p2psync.P2PSyncException
import java.util.Collections
import java.util.concurrent.atomic.AtomicInteger

class ChangesTest : P2PTestBase() {
    @Test
    fun listenerRunsOnLibraryThread() {
        Database.open(dbPath()).use { db ->
            db.defaultCollection().use { coll ->
                val events = Collections.synchronizedList(ArrayList<ChangeEvent>())
                val threads = Collections.synchronizedSet(HashSet<Long>())
                coll.addChangeListener { e ->
                    threads.add(Thread.currentThread().id)
                    events.add(e)
                }.use {
                    coll.save("a", "{}")
                    db.inBatch { b ->
                        b.save(coll, "b", "{}")
                        b.save(coll, "c", "{}")
                    }
                    waitFor { events.size == 2 }
                    try {
                        coll.close()
                        fail("expected BusyException")
                    } catch (e: BusyException) {
                    }
                }
                assertEquals(listOf("a"), events[0].changes.map { it.id })
                assertEquals(listOf("b", "c"), events[1].changes.map { it.id })
                assertEquals("_default._default", events[0].collection)
                assertTrue(threads.none { it == Thread.currentThread().id })
                coll.save("after", "{}")
                Thread.sleep(100)
                assertEquals(2, events.size)
            }
        }
    }

    @Test
    fun throwingListenerDoesNotEscape() {
        Database.open(dbPath()).use { db ->
            db.defaultCollection().use { coll ->
                val calls = AtomicInteger()
                coll.addChangeListener("watched") {
                    calls.incrementAndGet()
                    throw IllegalStateException("listener bug")
                }.use {
                    coll.save("other", "{}")
                    coll.save("watched", "{}")
                    coll.save("watched", "{}")
                    waitFor { calls.get() == 2 }
                }
                assertEquals(2L, coll.count) // the library carried on
            }
        }
    }

    @Test
    fun changeQueue() {
        Database.open(dbPath()).use { db ->
            db.defaultCollection().use { coll ->
                coll.changeQueue(capacity = 2).use { queue ->
                    assertNull(queue.nextEvent(50))
                    // Delivery is asynchronous: every change must be delivered or counted,
                    // and an overflow reported after the queue had filled.
                    val n = 40
                    for (i in 0 until n) coll.save("d$i", "{}")
                    val events = ArrayList<ChangeEvent>()
                    val deadline = System.currentTimeMillis() + 20_000
                    while (events.sumBy { it.changes.size + it.dropped } < n && System.currentTimeMillis() < deadline) {
                        queue.nextEvent(200)?.let { events.add(it) }
                    }
                    assertEquals(n, events.sumBy { it.changes.size + it.dropped })
                    val kinds = events.map { it.kind }
                    assertTrue(kinds.indexOf("overflow") >= 2)
                    assertTrue(events.filter { it.kind == "overflow" }.all { it.dropped > 0 })
                }
            }
        }
    }

    @Test
    fun removingQueueWakesReader() {
        Database.open(dbPath()).use { db ->
            db.defaultCollection().use { coll ->
                val queue = coll.changeQueue()
                var error: P2PSyncException? = null
                val reader = Thread {
                    try {
                        queue.nextEvent(30_000)
                    } catch (e: P2PSyncException) {
                        error = e
                    }
                }
                reader.start()
                Thread.sleep(100)
                queue.close()
                reader.join(5_000)
                assertTrue(!reader.isAlive)
                assertNotEquals(null, error)
            }
        }
    }
}
