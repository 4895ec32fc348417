package org.p2psync.test

import org.junit.Assert.assertEquals
import org.junit.Assert.fail
import org.junit.Test
import org.p2psync.BusyException
import org.p2psync.Database
import org.p2psync.InvalidArgumentException
import org.p2psync.InvalidHandleException

class BatchTest : P2PTestBase() {
    @Test
    fun commitAbortAndInBatch() {
        Database.open(dbPath()).use { db ->
            db.defaultCollection().use { coll ->
                val batch = db.beginBatch()
                batch.save(coll, "a", "{}")
                batch.save(coll, "b", "{}")
                try {
                    batch.save(coll, "bad", "[1]")
                    fail("expected InvalidArgumentException")
                } catch (e: InvalidArgumentException) {
                }
                try {
                    db.close()
                    fail("expected BusyException")
                } catch (e: BusyException) {
                }
                batch.commit()
                assertEquals(2L, coll.count)
                try {
                    batch.commit()
                    fail("expected InvalidHandleException")
                } catch (e: InvalidHandleException) {
                }
                batch.abort() // harmless once ended

                try {
                    db.inBatch { b ->
                        b.save(coll, "c", "{}")
                        throw IllegalStateException("changed my mind")
                    }
                } catch (e: IllegalStateException) {
                }
                assertEquals(2L, coll.count)
                db.inBatch { b ->
                    b.delete(coll, "a")
                    b.purge(coll, "b")
                }
                assertEquals(0L, coll.count)
            }
        }
    }

    @Test
    fun foreignCollectionIsRejected() {
        Database.open(dbPath("one")).use { one ->
            Database.open(dbPath("two")).use { two ->
                two.defaultCollection().use { foreign ->
                    one.beginBatch().use { batch ->
                        try {
                            batch.save(foreign, "x", "{}")
                            fail("expected InvalidArgumentException")
                        } catch (e: InvalidArgumentException) {
                        }
                    }
                }
            }
        }
    }
}
