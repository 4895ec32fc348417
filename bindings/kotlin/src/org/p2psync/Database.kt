package org.p2psync

/**
 * An open database stored in one directory. Only one opener at a time
 * ([BusyException]). Closing it while collections or batches are open throws
 * [BusyException] and closes nothing.
 */
class Database private constructor(handle: Long) : NativeObject(handle, null, Native::dbClose) {
    companion object {
        /**
         * Opens (and by default creates) the database in directory [path].
         * [deltaSync] false forbids delta-encoded revisions for this database whatever its
         * listeners and replicators enable; true (default) permits them where both enable them.
         */
        @JvmStatic
        @JvmOverloads
        fun open(path: String, create: Boolean = true, maxRevTreeDepth: Int = 0, deltaSync: Boolean = true): Database =
            Database(Native.dbOpen(Native.utf8(path), create, maxRevTreeDepth, deltaSync))

        /** Deletes the closed database at [path] ([BusyException] if it is open). */
        @JvmStatic
        fun delete(path: String) = Native.dbDelete(Native.utf8(path))

        @JvmStatic
        fun exists(path: String): Boolean = Native.dbExists(Native.utf8(path))
    }

    val name: String get() = Native.text(Native.dbName(handle))
    val path: String get() = Native.text(Native.dbPath(handle))
    val uuid: String get() = Native.text(Native.dbUuid(handle))
    /** The source ID the database's versions carry after the '@' (22 base64 characters), never changed. */
    val sourceId: String get() = Native.text(Native.dbSourceId(handle))

    fun defaultCollection(): Collection = Collection(this, Native.dbDefaultCollection(handle))

    /** Creates the collection if missing and opens it. A null scope is "_default". */
    @JvmOverloads
    fun createCollection(name: String, scope: String? = null): Collection =
        Collection(this, Native.dbCreateCollection(handle, Native.utf8OrNull(scope), Native.utf8(name)))

    /** Opens an existing collection ([NotFoundException] if missing). */
    @JvmOverloads
    fun collection(name: String, scope: String? = null): Collection =
        Collection(this, Native.dbGetCollection(handle, Native.utf8OrNull(scope), Native.utf8(name)))

    @JvmOverloads
    fun deleteCollection(name: String, scope: String? = null) =
        Native.dbDeleteCollection(handle, Native.utf8OrNull(scope), Native.utf8(name))

    @JvmOverloads
    fun collectionNames(scope: String? = null): List<String> =
        Json.strings(Native.text(Native.dbCollectionNames(handle, Native.utf8OrNull(scope))))

    fun scopeNames(): List<String> = Json.strings(Native.text(Native.dbScopeNames(handle)))

    /** Begins a write transaction; see [Batch]. */
    fun beginBatch(): Batch = Batch(this, Native.dbBeginBatch(handle))

    /** Runs [block] in a batch: commits if it returns, aborts if it throws. */
    fun <T> inBatch(block: (Batch) -> T): T {
        val batch = beginBatch()
        try {
            val result = block(batch)
            batch.commit()
            return result
        } finally {
            batch.abort() // no-op after a commit
        }
    }

    /** Reads a local (never replicated) document: (JSON body, revision). */
    fun getLocal(id: String): Pair<String, String> {
        val parts = Native.dbGetLocal(handle, Native.utf8(id))
        return Pair(Native.text(parts[0]), Native.text(parts[1]))
    }

    /** Writes a local document; expectedRev null = must not exist, "*" = no check. */
    @JvmOverloads
    fun putLocal(id: String, json: String, expectedRev: String? = null): String =
        Native.text(Native.dbPutLocal(handle, Native.utf8(id), Native.utf8(json), Native.utf8OrNull(expectedRev)))

    fun deleteLocal(id: String) = Native.dbDeleteLocal(handle, Native.utf8(id))

    /**
     * The stored blob that [blob] names: its dictionary as JSON (as found in a document
     * body) or its digest. [NotFoundException] if its content is not stored here.
     */
    fun getBlob(blob: String): Blob = Blob(this, Native.text(Native.blobInfo(handle, Native.utf8(blob))))

    /** Starts a blob written in chunks; see [BlobOutputStream]. */
    @JvmOverloads
    fun blobWriter(contentType: String? = null): BlobOutputStream = BlobOutputStream(this, contentType)

    /**
     * Removes blobs no kept revision refers to, and leftovers of crashed writers; returns
     * {"blobs_removed", "bytes_removed", "blobs_kept", "temp_files_removed"}.
     */
    @Suppress("UNCHECKED_CAST")
    fun compact(): Map<String, Long> =
        Json.obj(Native.text(Native.dbCompact(handle))).mapValues { (it.value as Number).toLong() }
}
