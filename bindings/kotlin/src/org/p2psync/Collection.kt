package org.p2psync

/**
 * A collection of an open database. It keeps its [database] open; close it (and remove
 * its subscriptions) first.
 */
class Collection internal constructor(val database: Database, handle: Long) : NativeObject(handle, database, Native::collectionClose) {
    val name: String get() = Native.text(Native.collectionName(handle))
    val scope: String get() = Native.text(Native.collectionScopeName(handle))
    val fullName: String get() = "$scope.$name"

    /** Number of live (non-deleted) documents. */
    val count: Long get() = Native.collectionCount(handle)
    val lastSequence: Long get() = Native.collectionLastSequence(handle)

    /** Saves a new revision; [json] must be a JSON object. */
    @JvmOverloads
    fun save(id: String, json: String, parentRevId: String? = null,
             concurrency: Concurrency = Concurrency.LAST_WRITE_WINS): Document =
        Document.take(Native.collectionSave(handle, Native.utf8(id), Native.utf8(json), Native.utf8OrNull(parentRevId), concurrency.code))

    /** Deletes a document (a tombstone revision that replicates). */
    @JvmOverloads
    fun delete(id: String, parentRevId: String? = null,
               concurrency: Concurrency = Concurrency.LAST_WRITE_WINS): Document =
        Document.take(Native.collectionDelete(handle, Native.utf8(id), Native.utf8OrNull(parentRevId), concurrency.code))

    /** Removes a document and its history without a trace. */
    fun purge(id: String) = Native.collectionPurge(handle, Native.utf8(id))

    /**
     * Reads many documents in one call, from one snapshot: one entry per ID, in order,
     * null for a missing (or, unless [includeDeleted], deleted) document. Much faster
     * than [get] in a loop.
     */
    @JvmOverloads
    fun getMany(ids: List<String>, includeDeleted: Boolean = false): List<Document?> {
        val text = Native.text(Native.collectionGetMany(handle, ids.size, Native.pack(ids), includeDeleted))
        return (Json.parse(text) as List<*>).map { e ->
            @Suppress("UNCHECKED_CAST")
            (e as Map<String, Any?>?)?.let {
                Document(id = it["id"] as String, revId = it["rev_id"] as String, sequence = it["sequence"] as Long,
                    deleted = it["deleted"] as Boolean, json = it["json"] as String, version = it["version"] as String,
                    timestamp = it["timestamp"] as Long, versionVector = it["version_vector"] as String)
            }
        }
    }

    /**
     * Saves many documents (ID to JSON body pairs) in one transaction of their own:
     * [Batch.saveMany] in a batch that is committed, or aborted if a document fails (then
     * nothing is saved).
     */
    @JvmOverloads
    fun saveMany(docs: List<Pair<String, String>>, concurrency: Concurrency = Concurrency.LAST_WRITE_WINS,
                 parentRevIds: List<String?>? = null): List<SavedRevision> =
        database.inBatch { it.saveMany(this, docs, concurrency, parentRevIds) }

    /** The current revision ([NotFoundException] if missing, or deleted unless [includeDeleted]). */
    @JvmOverloads
    fun get(id: String, includeDeleted: Boolean = false): Document =
        Document.take(Native.collectionGet(handle, Native.utf8(id), includeDeleted))

    /** The current revision, or null if missing or deleted. */
    fun getOrNull(id: String): Document? = try {
        get(id)
    } catch (e: NotFoundException) {
        null
    }

    fun getRevision(id: String, revId: String): Document =
        Document.take(Native.collectionGetRevision(handle, Native.utf8(id), Native.utf8(revId)))

    /** Revision IDs of the live conflicting leaves other than the current revision. */
    fun conflicts(id: String): List<String> = Json.strings(Native.text(Native.collectionConflicts(handle, Native.utf8(id))))

    /** Purges the document automatically at [unixMillis]; 0 clears it. */
    fun setExpiration(id: String, unixMillis: Long) = Native.collectionSetExpiration(handle, Native.utf8(id), unixMillis)

    /** Expiration in milliseconds since the epoch, 0 if none. */
    fun expiration(id: String): Long = Native.collectionGetExpiration(handle, Native.utf8(id))

    /** Changes after sequence [since], one per document, ascending ([limit] 0 = all). */
    @JvmOverloads
    fun changes(since: Long = 0, limit: Int = 0): List<Change> = Change.list(Native.collectionChanges(handle, since, limit))

    /** Calls [listener] after each committed write to this collection (or to [docId] only). */
    @JvmOverloads
    fun addChangeListener(listener: ChangeListener, docId: String? = null): Subscription {
        val sink = object : ChangeSink {
            override fun onEvent(token: Long, json: ByteArray) = listener.onChange(ChangeEvent.parse(json))
        }
        val ids = Native.collectionAddChangeListener(handle, Native.utf8OrNull(docId), sink)
        return Subscription(this, ids[0], ids[1])
    }

    /** Kotlin-friendly overload of [addChangeListener]. */
    fun addChangeListener(docId: String? = null, listener: (ChangeEvent) -> Unit): Subscription =
        addChangeListener(object : ChangeListener {
            override fun onChange(event: ChangeEvent) = listener(event)
        }, docId)

    /** A pull-style alternative to a listener: events wait in a bounded queue. */
    @JvmOverloads
    fun changeQueue(capacity: Int = 0): ChangeQueue = ChangeQueue(this, Native.collectionAddChangeQueue(handle, capacity))
}

/** A registered change listener; [close] waits for calls in flight. */
open class Subscription internal constructor(val collection: Collection, token: Long, gluePointer: Long) :
    NativeObject(token, collection, { t -> Native.subscriptionRemove(t, gluePointer) }) {
    fun remove() = close()
}

/** Events of a collection, read with [nextEvent]. */
class ChangeQueue internal constructor(collection: Collection, token: Long) : Subscription(collection, token, 0L) {
    /** The next event, waiting up to [timeoutMillis]; null on timeout. */
    @JvmOverloads
    fun nextEvent(timeoutMillis: Int = 0): ChangeEvent? = Native.subscriptionNextEvent(handle, timeoutMillis)?.let { ChangeEvent.parse(it) }
}

/**
 * One write transaction: all of its writes land at [commit], or none do. Use
 * [Database.inBatch], or call [commit] / [abort] ([close] aborts).
 */
class Batch internal constructor(val database: Database, handle: Long) : NativeObject(handle, database, Native::batchAbort) {
    @JvmOverloads
    fun save(collection: Collection, id: String, json: String, parentRevId: String? = null,
             concurrency: Concurrency = Concurrency.LAST_WRITE_WINS): Document =
        Document.take(Native.batchSave(handle, collection.handle, Native.utf8(id), Native.utf8(json), Native.utf8OrNull(parentRevId), concurrency.code))

    @JvmOverloads
    fun delete(collection: Collection, id: String, parentRevId: String? = null,
               concurrency: Concurrency = Concurrency.LAST_WRITE_WINS): Document =
        Document.take(Native.batchDelete(handle, collection.handle, Native.utf8(id), Native.utf8OrNull(parentRevId), concurrency.code))

    fun purge(collection: Collection, id: String) = Native.batchPurge(handle, collection.handle, Native.utf8(id))

    /**
     * Saves many documents (ID to JSON body pairs) inside the batch in one library call,
     * in order, exactly as [save] for each would; [parentRevIds], if given, has one entry
     * per document (null: no parent). Returns one [SavedRevision] per document.
     *
     * Saving stops at the first document that fails: its exception is thrown with
     * [P2PError.saved] set to its index, the documents before it stay saved in the
     * batch (which stays open, as after a failed [save]), and the message starts with
     * `document <index> ("<ID>"): `.
     */
    @JvmOverloads
    fun saveMany(collection: Collection, docs: List<Pair<String, String>>,
                 concurrency: Concurrency = Concurrency.LAST_WRITE_WINS,
                 parentRevIds: List<String?>? = null): List<SavedRevision> {
        require(parentRevIds == null || parentRevIds.size == docs.size) {
            "${parentRevIds?.size} parentRevIds for ${docs.size} documents"
        }
        val saved = LongArray(1)
        val text = try {
            Native.batchSaveMany(handle, collection.handle, docs.size, Native.pack(docs.map { it.first }),
                Native.pack(docs.map { it.second }), parentRevIds?.let { Native.pack(it) }, concurrency.code, saved)
        } catch (e: RuntimeException) {
            when (e) {
                is P2PSyncException -> e.saved = saved[0].toInt()
                is InvalidArgumentException -> e.saved = saved[0].toInt()
            }
            throw e
        }
        return Json.objects(Native.text(text)).map {
            SavedRevision(it["id"] as String, it["rev_id"] as String, it["sequence"] as Long, it["version"] as String)
        }
    }

    /** Makes every write durable; the batch ends either way. */
    fun commit() = finish(Native::batchCommit, endsOnFailure = true)

    /** Discards the writes; harmless on an ended batch. */
    fun abort() = close()
}

/** What [Batch.saveMany] and [Collection.saveMany] report for each saved document. */
data class SavedRevision(val id: String, val revId: String, val sequence: Long, val version: String)
