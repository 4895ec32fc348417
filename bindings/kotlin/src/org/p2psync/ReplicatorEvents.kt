package org.p2psync

/** What a [Replicator] is doing. */
enum class ActivityLevel {
    STOPPED,
    /** Waiting to retry after a network error. */
    OFFLINE,
    CONNECTING,
    /** Continuous and caught up. */
    IDLE,
    BUSY;

    internal companion object {
        fun of(name: String): ActivityLevel = valueOf(name.toUpperCase(java.util.Locale.ROOT))
    }
}

/**
 * A replicator's status. [error] is why it stopped or is retrying: the exception class of
 * its code (an [AuthException] for refused credentials, a [TlsException] or one of its finer
 * codes for TLS), typed [P2PError], whose [P2PError.domain] and [P2PError.domainCode] keep
 * the cause (e.g. the HTTP status 401 in the WebSocket domain); `error.asException()` to
 * throw it.
 */
data class ReplicatorStatus(val activity: ActivityLevel, val completed: Long, val total: Long, val error: P2PError?) {
    /** Whether the replicator has stopped (Python's `ReplicatorStatus.stopped`). */
    val stopped: Boolean
        get() = activity == ActivityLevel.STOPPED

    internal companion object {
        @Suppress("UNCHECKED_CAST")
        fun from(m: Map<String, Any?>): ReplicatorStatus {
            val progress = m["progress"] as Map<String, Any?>
            return ReplicatorStatus(ActivityLevel.of(m["activity"] as String), (progress["completed"] as Number).toLong(),
                (progress["total"] as Number).toLong(), errorOf(m["error"]))
        }
    }
}

/**
 * Revisions a replicator sent and received since it was created. [bytesSent] and
 * [bytesReceived] are rev bodies as they went over the connection (deltas or full bodies,
 * before compression); the full* fields are what the full bodies take, so delta sync shows
 * as bytes below full bytes. [deltaFallbacks]: deltas the peer refused and that were resent
 * whole; [deltasRefused]: deltas this side could not apply. [deltaBytesSavedSent] and
 * [deltaBytesSavedReceived]: what deltas saved (full bytes minus bytes); [wireBytesSent]
 * and [wireBytesReceived]: every BLIP frame byte of every connection; [conflictsResolved]:
 * conflicts settled and saved; [retries]: connection attempts made again after transient
 * errors; [lastError]: the last error met (a retry's reason, an unresolved conflict or
 * what stopped a run), null if none.
 */
data class ReplicatorStats(
    val revsSent: Long, val deltasSent: Long, val bytesSent: Long, val fullBytesSent: Long, val deltaFallbacks: Long,
    val revsReceived: Long, val deltasReceived: Long, val bytesReceived: Long, val fullBytesReceived: Long,
    val deltasRefused: Long,
    val deltaBytesSavedSent: Long = 0, val deltaBytesSavedReceived: Long = 0,
    val wireBytesSent: Long = 0, val wireBytesReceived: Long = 0,
    val conflictsResolved: Long = 0, val retries: Long = 0, val lastError: P2PError? = null
) {
    internal companion object {
        fun from(m: Map<String, Any?>): ReplicatorStats {
            fun n(k: String) = (m[k] as Number).toLong()
            return ReplicatorStats(n("revs_sent"), n("deltas_sent"), n("bytes_sent"), n("full_bytes_sent"), n("delta_fallbacks"),
                n("revs_received"), n("deltas_received"), n("bytes_received"), n("full_bytes_received"), n("deltas_refused"),
                n("delta_bytes_saved_sent"), n("delta_bytes_saved_received"), n("wire_bytes_sent"), n("wire_bytes_received"),
                n("conflicts_resolved"), n("retries"), errorOf(m["last_error"]))
        }
    }
}

/** Turns the library's error object ({"status", "domain", "code", "message"}) into an exception. */
@Suppress("UNCHECKED_CAST")
internal fun errorOf(value: Any?): P2PError? {
    val m = value as Map<String, Any?>? ?: return null
    return P2PSyncException.create((m["status"] as Number).toInt(), (m["domain"] as Number).toInt(),
        (m["code"] as Number).toInt(), (m["message"] as String? ?: "").toByteArray(Charsets.UTF_8))
}

/** Which way a document went. */
enum class Direction { PUSH, PULL }

/** One replicated revision, or (with [error]) one that failed to replicate. */
data class ReplicatedDocument(
    /** "scope.name" */
    val collection: String,
    val id: String,
    val revId: String,
    val deleted: Boolean,
    /** The remote revoked access to the document. */
    val accessRemoved: Boolean,
    val error: P2PError?
) {
    internal companion object {
        fun from(m: Map<String, Any?>) = ReplicatedDocument(m["collection"] as String, m["id"] as String,
            m["rev_id"] as String, m["deleted"] as Boolean, m["access_removed"] as Boolean, errorOf(m["error"]))
    }
}

/** A batch of documents a replicator pushed or pulled. */
data class DocumentReplication(val direction: Direction, val documents: List<ReplicatedDocument>) {
    internal companion object {
        @Suppress("UNCHECKED_CAST")
        fun from(m: Map<String, Any?>) = DocumentReplication(Direction.valueOf((m["direction"] as String).toUpperCase(java.util.Locale.ROOT)),
            (m["documents"] as List<Map<String, Any?>>).map { ReplicatedDocument.from(it) })
    }
}

/** What a [ReplicatorEventQueue] holds. */
sealed class ReplicatorEvent {
    data class StatusChanged(val status: ReplicatorStatus) : ReplicatorEvent()
    data class DocumentsReplicated(val replication: DocumentReplication) : ReplicatorEvent()
    /** The queue was full: [dropped] events were lost at this point. */
    data class Overflow(val dropped: Int) : ReplicatorEvent()

    internal companion object {
        fun parse(m: Map<String, Any?>): ReplicatorEvent = when (val kind = m["event"]) {
            "status" -> StatusChanged(ReplicatorStatus.from(m))
            "document" -> DocumentsReplicated(DocumentReplication.from(m))
            "overflow" -> Overflow((m["dropped"] as Number).toInt())
            else -> throw IllegalStateException("unknown replicator event $kind")
        }
    }
}
