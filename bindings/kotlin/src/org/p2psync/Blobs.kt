package org.p2psync

import java.io.InputStream
import java.io.OutputStream

/**
 * A blob stored in a database: binary content kept beside the documents and named by its
 * SHA-1 digest. [json] is its dictionary, to put into a document body:
 * {"@type":"blob","content_type":"image/png","digest":"sha1-...","length":1234}.
 * A Blob holds no library handle; its content stays until [Database.compact] removes it
 * because no document refers to it.
 */
class Blob internal constructor(val database: Database, val json: String) {
    private val props: Map<String, Any?> = Json.obj(json)

    val digest: String get() = props["digest"] as String
    val length: Long get() = (props["length"] as Number?)?.toLong() ?: -1L
    val contentType: String? get() = props["content_type"] as String?

    /** True if the content is stored in the database. */
    fun exists(): Boolean = Native.blobExists(database.handle, Native.utf8(json))

    /** Opens the content for reading ([NotFoundException] if it is not stored). */
    fun openStream(): BlobInputStream = BlobInputStream(database, json)

    /** The whole content, verified (held in memory: prefer [openStream] for large blobs). */
    fun bytes(): ByteArray = openStream().use { it.readBytes() }

    /** Writes the verified content to the file at [path], replaced only on success. */
    fun saveTo(path: String) = Native.blobSaveToFile(database.handle, Native.utf8(json), Native.utf8(path))

    override fun equals(other: Any?): Boolean = other is Blob && other.digest == digest
    override fun hashCode(): Int = digest.hashCode()
    override fun toString(): String = "Blob($json)"

    companion object {
        /** Stores [data] as a blob. */
        @JvmStatic
        @JvmOverloads
        fun fromBytes(database: Database, data: ByteArray, contentType: String? = null): Blob =
            Blob(database, Native.text(Native.blobCreate(database.handle, data, Native.utf8OrNull(contentType))))

        /** Stores the content of the file at [path] as a blob (streamed by the library). */
        @JvmStatic
        @JvmOverloads
        fun fromFile(database: Database, path: String, contentType: String? = null): Blob =
            Blob(database, Native.text(Native.blobCreateFromFile(database.handle, Native.utf8(path),
                Native.utf8OrNull(contentType))))
    }
}

/** The library handle of a blob stream (the streams extend java.io classes, not NativeObject). */
internal class BlobHandle(handle: Long, database: Database, closer: (Long) -> Unit) :
    NativeObject(handle, database, closer)

/**
 * Reads a stored blob. The end (-1) is reported only after the content was verified
 * against its digest and length; a damaged blob throws [CorruptException] instead, so
 * treat the bytes as good only once the end was reached. The database stays open
 * ([BusyException] on close) until the stream is closed.
 */
class BlobInputStream internal constructor(database: Database, blob: String) : InputStream() {
    private val h = BlobHandle(Native.blobReaderOpen(database.handle, Native.utf8(blob)), database, Native::blobReaderClose)

    /** The blob's length in bytes. */
    val length: Long get() = Native.blobReaderLength(h.handle)

    override fun read(): Int {
        val one = ByteArray(1)
        return if (read(one, 0, 1) < 0) -1 else one[0].toInt() and 0xff
    }

    override fun read(b: ByteArray, off: Int, len: Int): Int {
        if (off < 0 || len < 0 || len > b.size - off) throw IndexOutOfBoundsException()
        if (len == 0) return 0
        if (h.isClosed) throw java.io.IOException("blob stream is closed")
        return Native.blobReaderRead(h.handle, b, off, len)
    }

    override fun close() = h.close()
}

/**
 * Writes a new blob in chunks. [finish] stores it (durably, under its digest) and returns
 * the [Blob]; closing without [finish] abandons it and stores nothing. The database stays
 * open ([BusyException] on close) until the stream is closed.
 */
class BlobOutputStream internal constructor(private val database: Database, contentType: String?) : OutputStream() {
    private val h = BlobHandle(Native.blobWriterCreate(database.handle, Native.utf8OrNull(contentType)), database,
        Native::blobWriterClose)

    /** The blob once [finish] succeeded, else null. */
    var blob: Blob? = null
        private set

    override fun write(b: Int) = write(byteArrayOf(b.toByte()), 0, 1)

    override fun write(b: ByteArray, off: Int, len: Int) {
        if (off < 0 || len < 0 || len > b.size - off) throw IndexOutOfBoundsException()
        if (h.isClosed) throw java.io.IOException("blob stream is closed")
        Native.blobWriterWrite(h.handle, b, off, len)
    }

    /** Stores the blob and returns it; calling it again returns the same blob. */
    fun finish(): Blob {
        val done = blob
        if (done != null) return done
        val b = Blob(database, Native.text(Native.blobWriterFinish(h.handle)))
        blob = b
        return b
    }

    override fun close() = h.close()
}
