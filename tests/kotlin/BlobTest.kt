package org.p2psync.test

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.p2psync.Blob
import org.p2psync.BusyException
import org.p2psync.CorruptException
import org.p2psync.Database
import org.p2psync.InvalidArgumentException
import org.p2psync.NotFoundException
import java.io.File

class BlobTest : P2PTestBase() {
    private val hello = "Hello from an inline attachment.\n".toByteArray(Charsets.UTF_8)
    private val helloDigest = "sha1-gyVDxtgNqLc9qt2O+DDtfuD1dQY="

    private fun blobFiles(suffix: String = ".blob"): List<String> =
        (File(dbPath(), "blobs").list() ?: arrayOf()).filter { it.endsWith(suffix) }.sorted()

    @Test
    fun roundTripFromBytes() {
        Database.open(dbPath()).use { db ->
            val blob = Blob.fromBytes(db, hello, "text/plain")
            assertEquals("{\"@type\":\"blob\",\"content_type\":\"text/plain\",\"digest\":\"$helloDigest\",\"length\":33}", blob.json)
            assertEquals(helloDigest, blob.digest)
            assertEquals(33L, blob.length)
            assertTrue(blob.exists())
            val again = db.getBlob(blob.json)
            assertEquals(blob, again)
            assertArrayEquals(hello, again.bytes())
            assertArrayEquals(hello, db.getBlob(helloDigest).bytes())
            again.openStream().use { s ->
                assertEquals(33L, s.length)
                val first = ByteArray(5)
                assertEquals(5, s.read(first))
                assertArrayEquals("Hello".toByteArray(), first)
                assertEquals('f'.toInt(), run { s.skip(1); s.read() })
            }
            try {
                db.getBlob("sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
                fail("missing blob found")
            } catch (e: NotFoundException) {
            }
            try {
                db.getBlob("{\"@type\":\"blob\"}")
                fail("malformed blob accepted")
            } catch (e: InvalidArgumentException) {
            }
        }
    }

    @Test
    fun outputStreamFinishesOrAbandons() {
        Database.open(dbPath()).use { db ->
            val blob = db.blobWriter("text/plain").use { w ->
                var i = 0
                while (i < hello.size) {
                    w.write(hello, i, minOf(4, hello.size - i))
                    i += 4
                }
                val b = w.finish()
                assertEquals(b, w.finish())
                b
            }
            assertEquals(helloDigest, blob.digest)
            assertEquals("text/plain", blob.contentType)
            val before = blobFiles()
            val w = db.blobWriter()
            w.write("never finished".toByteArray())
            assertEquals(1, blobFiles(".tmp").size)
            w.close()
            assertNull(w.blob)
            assertEquals(before, blobFiles())
            assertEquals(emptyList<String>(), blobFiles(".tmp"))
        }
    }

    @Test
    fun filesInAndOut() {
        Database.open(dbPath()).use { db ->
            val src = tmp.newFile("in.bin")
            val data = ByteArray(300_000) { (it * 7919).toByte() }
            src.writeBytes(data)
            val blob = Blob.fromFile(db, src.path, "application/octet-stream")
            assertEquals(300_000L, blob.length)
            val out = File(tmp.root, "out.bin")
            blob.saveTo(out.path)
            assertArrayEquals(data, out.readBytes())
            val copy = File(tmp.root, "copy.bin")
            blob.openStream().use { input -> copy.outputStream().use { input.copyTo(it, 7000) } }
            assertArrayEquals(data, copy.readBytes())
        }
    }

    @Test
    fun damagedBlobIsCorrupt() {
        Database.open(dbPath()).use { db ->
            val content = ByteArray(10_000) { it.toByte() }
            val blob = Blob.fromBytes(db, content)
            val file = File(File(dbPath(), "blobs"), blobFiles().single())
            val damaged = file.readBytes()
            damaged[100] = (damaged[100].toInt() xor 0xff).toByte()
            file.writeBytes(damaged)
            try {
                blob.bytes()
                fail("damaged blob read without error")
            } catch (e: CorruptException) {
            }
            val target = File(tmp.root, "out.bin")
            try {
                blob.saveTo(target.path)
                fail("damaged blob saved")
            } catch (e: CorruptException) {
            }
            assertFalse(target.exists())
        }
    }

    @Test
    fun documentsAndCompaction() {
        Database.open(dbPath()).use { db ->
            db.defaultCollection().use { coll ->
                val keep = Blob.fromBytes(db, "keep".toByteArray())
                val loose = Blob.fromBytes(db, "loose".toByteArray())
                coll.save("album", "{\"files\":[${keep.json}]}")
                try {
                    coll.save("bad", "{\"f\":{\"@type\":\"blob\",\"digest\":\"sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}}")
                    fail("a body naming a missing blob was saved")
                } catch (e: NotFoundException) {
                }
                assertEquals(0L, db.compact()["blobs_removed"])
                assertEquals(1L, db.compact()["blobs_removed"])
                assertFalse(loose.exists())
                assertTrue(keep.exists())
                coll.purge("album")
                db.compact()
                assertFalse(keep.exists())
            }
        }
    }

    @Test
    fun databaseStaysOpenUnderBlobStreams() {
        val db = Database.open(dbPath())
        val blob = Blob.fromBytes(db, "x".toByteArray())
        val w = db.blobWriter()
        val r = blob.openStream()
        try {
            db.close()
            fail("database closed under open blob streams")
        } catch (e: BusyException) {
        }
        w.close()
        r.close()
        db.close()
    }

    @Test
    fun largeBlobStreamsInChunks() {
        Database.open(dbPath()).use { db ->
            val chunk = ByteArray(1 shl 16) { it.toByte() }
            val count = 256 // 16 MiB
            val blob = db.blobWriter().use { w ->
                repeat(count) { w.write(chunk) }
                w.finish()
            }
            assertEquals(count.toLong() * chunk.size, blob.length)
            var total = 0L
            val buf = ByteArray(50_000)
            blob.openStream().use { s ->
                while (true) {
                    val n = s.read(buf)
                    if (n < 0) break
                    for (i in 0 until n) {
                        if (buf[i] != chunk[((total + i) % chunk.size).toInt()]) fail("content differs at ${total + i}")
                    }
                    total += n
                }
            }
            assertEquals(blob.length, total)
        }
    }
}
