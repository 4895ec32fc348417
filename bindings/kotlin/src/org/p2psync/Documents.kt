package org.p2psync

/** What a save does when the document changed since the caller read it. */
enum class Concurrency(internal val code: Int) {
    /** The new revision follows whatever is current. */
    LAST_WRITE_WINS(0),
    /** [ConflictException] unless the parent revision is the current one. */
    FAIL_ON_CONFLICT(1)
}

/**
 * One revision of a document, read in full when it was returned. [json] is the body.
 * [version] is its current version "<hex time>@<source ID>" (Couchbase Lite 4's revision
 * identity), [timestamp] that version's time in hybrid-logical-clock nanoseconds since the
 * Unix epoch, [versionVector] the whole vector; "" and 0 for a revision without a version
 * (saved before versions existed, or received from a CBMobile_3 peer) until its next save.
 */
data class Document(
    val id: String,
    val revId: String,
    val sequence: Long,
    val deleted: Boolean,
    val json: String,
    val version: String = "",
    val timestamp: Long = 0,
    val versionVector: String = ""
) {
    internal companion object {
        /** Reads a p2p_document snapshot and releases it. */
        fun take(handle: Long): Document {
            try {
                return Document(
                    id = Native.text(Native.documentId(handle)),
                    revId = Native.text(Native.documentRevId(handle)),
                    sequence = Native.documentSequence(handle),
                    deleted = Native.documentDeleted(handle),
                    json = Native.text(Native.documentJson(handle)),
                    version = Native.text(Native.documentVersion(handle)),
                    timestamp = Native.documentTimestamp(handle),
                    versionVector = Native.text(Native.documentVersionVector(handle))
                )
            } finally {
                Native.documentClose(handle)
            }
        }
    }
}

/** One entry of the changes feed: a document at its latest sequence. */
data class Change(val sequence: Long, val id: String, val revId: String, val deleted: Boolean) {
    internal companion object {
        fun from(m: Map<String, Any?>) = Change(
            sequence = (m["sequence"] as Number).toLong(),
            id = m["id"] as String,
            revId = m["rev_id"] as String,
            deleted = m["deleted"] as Boolean
        )

        fun list(json: ByteArray): List<Change> = Json.objects(Native.text(json)).map { from(it) }
    }
}

/**
 * What a listener or change queue receives: the changes of one committed write, or
 * (kind "overflow") how many events a full queue dropped at this point.
 */
data class ChangeEvent(val kind: String, val collection: String, val changes: List<Change>, val dropped: Int) {
    internal companion object {
        @Suppress("UNCHECKED_CAST")
        fun parse(json: ByteArray): ChangeEvent {
            val m = Json.obj(Native.text(json))
            val changes = (m["changes"] as List<Map<String, Any?>>?).orEmpty().map { Change.from(it) }
            return ChangeEvent(m["event"] as String, m["collection"] as String, changes,
                (m["dropped"] as Number? ?: 0L).toInt())
        }
    }
}

/** Receives change events on a library thread; must return quickly. */
interface ChangeListener {
    fun onChange(event: ChangeEvent)
}
