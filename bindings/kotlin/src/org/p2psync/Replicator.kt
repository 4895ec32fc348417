package org.p2psync

/** Which way a [Replicator] moves revisions. */
enum class ReplicatorType(internal val code: Int) {
    PUSH_AND_PULL(0),
    PUSH(1),
    PULL(2)
}

/** How a [Replicator] decides whether to trust the listener's certificate (wss:// only). */
sealed class ServerTrust(internal val code: Int) {
    /** The system's roots, with the host name checked (the default). */
    object SystemRoots : ServerTrust(0)

    /** Only certificates issued by [rootsPem] (an application CA), with the host name checked. */
    data class Roots(val rootsPem: String) : ServerTrust(1)

    /** A lone valid self-signed certificate, whatever the host name (peer-to-peer on a LAN). */
    object SelfSignedOnly : ServerTrust(2)

    /**
     * Exactly [certificatePem] (one certificate); chain and host name are not checked. Pin on
     * first use: connect once with [SelfSignedOnly] after the user compared fingerprints,
     * then save [Replicator.serverCertificate] and pin it.
     */
    data class Pinned(val certificatePem: String) : ServerTrust(3)

    /**
     * Exactly the certificate whose SHA-256 fingerprint is [fingerprint], as users exchange
     * it (what the listener shows, [TLSIdentity.fingerprint]): 64 hex digits, either case,
     * with or without colons (or spaces) between the pairs, optionally after "sha256:". Chain and host name are not checked; the
     * certificate must be currently valid. Another certificate stops the replicator with
     * [TLSPinMismatchException] before any credentials are sent; a malformed fingerprint
     * makes the [Replicator] constructor throw [InvalidArgumentException].
     */
    data class PinnedFingerprint(val fingerprint: String) : ServerTrust(3)
}

/** HTTP Basic credentials, sent pre-emptively. */
data class BasicAuthenticator(val username: String, val password: String) {
    override fun toString() = "BasicAuthenticator(username=$username, password=<hidden>)"
}

/**
 * A revision offered to a push or pull filter; [json] is "{}" for a deletion.
 * [accessRemoved] (pull filters only): the remote revoked access to the document (Sync
 * Gateway channel removal or access revocation) and it is about to be purged here
 * (auto-purge on); [json] is "{}". Returning false keeps the local copy.
 */
data class ReplicatedRevision(val collection: String, val id: String, val revId: String, val deleted: Boolean, val json: String,
                              val accessRemoved: Boolean = false)

/**
 * Decides whether a revision is replicated: true replicates, false skips it. Called on a
 * library thread while the replicator runs; it may block (replication of that collection
 * waits) but must not call the same replicator. Throwing skips the revision.
 */
typealias ReplicationFilter = (ReplicatedRevision) -> Boolean

/** A conflict between the local revision and a pulled remote one; a null body is a deletion. */
data class Conflict(val collection: String, val id: String, val localJson: String?, val remoteJson: String?)

/** What a [ConflictResolver] decides. */
sealed class Resolution(internal val code: Int) {
    /** Keep the remote revision. */
    object Remote : Resolution(0)

    /** Keep the local revision (its body, or its deletion). */
    object Local : Resolution(1)

    /** Save [json] (a JSON object) as the result. */
    data class Merged(val json: String) : Resolution(2)

    /** Delete the document. */
    object Delete : Resolution(3)
}

/**
 * Resolves a conflict. Threads as for [ReplicationFilter]. Throwing leaves the document
 * in conflict and reports it as a document error ([ConflictException]).
 */
typealias ConflictResolver = (Conflict) -> Resolution

/**
 * One replicated collection, of the replicator's database. Null [documentIds] or
 * [channels] mean all. Without a [conflictResolver] the default rule applies: a deletion
 * wins, else the higher generation, else the larger revision ID.
 */
data class ReplicationCollection @JvmOverloads constructor(
    val collection: Collection,
    val documentIds: List<String>? = null,
    /** Sync Gateway channels (a libp2psync or Couchbase Lite listener refuses them). */
    val channels: List<String>? = null,
    val pushFilter: ReplicationFilter? = null,
    val pullFilter: ReplicationFilter? = null,
    val conflictResolver: ConflictResolver? = null
)

/**
 * How a [Replicator] syncs with one listener at [url] (wss://host:port/<database>, or
 * ws:// without TLS). Zero durations and counts mean the library's defaults.
 */
data class ReplicatorConfig @JvmOverloads constructor(
    val url: String,
    val type: ReplicatorType = ReplicatorType.PUSH_AND_PULL,
    /** true = keep replicating until stopped; false = stop when caught up. */
    val continuous: Boolean = false,
    /** Extra HTTP headers. */
    val headers: Map<String, String> = emptyMap(),
    /** WebSocket ping interval; 0 = 300 s. */
    val heartbeatMillis: Int = 0,
    /** Connection attempts after network errors; 0 = 10 one-shot, unlimited continuous; negative = unlimited. */
    val maxAttempts: Int = 0,
    /** Cap of the wait between attempts; 0 = 300 s. */
    val maxAttemptWaitMillis: Int = 0,
    /** Unit of the exponential backoff; 0 = 1 s. */
    val retryBaseMillis: Int = 0,
    /** false = keep documents whose access the remote revoked. */
    val autoPurge: Boolean = true,
    /** true = use delta sync where the listener and database permit. */
    val enableDeltaSync: Boolean = false,
    val authenticator: BasicAuthenticator? = null,
    /** Client certificate presented when the listener asks for one. */
    val clientIdentity: TLSIdentity? = null,
    val trust: ServerTrust = ServerTrust.SystemRoots,
    /** SNI and the name checked in the CA modes; null = the URL's host. */
    val serverName: String? = null,
    /** Empty = the default collection. */
    val collections: List<ReplicationCollection> = emptyList(),
    /** Largest incoming message in bytes, measured inflated; 0 = 20 MiB. */
    val maxMessageSize: Long = 0,
    /** Incoming bytes the connection may hold; 0 = 8 MiB. */
    val maxConnectionBuffer: Long = 0,
    /** true = offer BLIP_3+CBMobile_4 (version vectors) first, then CBMobile_3; false =
     *  CBMobile_3/2 only (revision trees, as before versions). Delta sync works over
     *  either. See README "Versions". */
    val versionVectorsEnabled: Boolean = true
) {
    init {
        for ((name, value) in listOf("heartbeatMillis" to heartbeatMillis, "maxAttemptWaitMillis" to maxAttemptWaitMillis,
            "retryBaseMillis" to retryBaseMillis)) {
            if (value < 0) throw InvalidArgumentException(P2PSyncException.DOMAIN_LIBRARY, -1, "$name must not be negative")
        }
        if (maxMessageSize < 0 || maxConnectionBuffer < 0) {
            throw InvalidArgumentException(P2PSyncException.DOMAIN_LIBRARY, -1, "maxMessageSize and maxConnectionBuffer must not be negative")
        }
    }
}

/**
 * Syncs one open [database] with one listener, in the background between [start] and
 * [stop] (or until caught up, unless continuous). Progress and the outcome are reported
 * by [status], listeners and [eventQueue]s. It keeps the database open: close it first
 * (the database refuses with [BusyException] otherwise), after removing its
 * subscriptions. Once [close] returns its filters and resolvers are never called again.
 * A filter or resolver that holds the replicator keeps it from ever being cleaned up by
 * the garbage collector, so close replicators explicitly.
 */
class Replicator private constructor(val database: Database, val config: ReplicatorConfig, ids: LongArray) :
    NativeObject(ids[0], database, { h -> Native.replicatorClose(h, ids[1]) }) {

    constructor(database: Database, config: ReplicatorConfig) : this(database, config, create(database, config))

    private companion object {
        fun filterSink(filter: ReplicationFilter?): FilterSink? = filter?.let { f ->
            object : FilterSink {
                override fun include(collection: ByteArray, docId: ByteArray, revId: ByteArray, deleted: Boolean, body: ByteArray,
                                     accessRemoved: Boolean) =
                    f(ReplicatedRevision(Native.text(collection), Native.text(docId), Native.text(revId), deleted, Native.text(body),
                                         accessRemoved))
            }
        }

        fun resolverSink(resolver: ConflictResolver?): ResolverSink? = resolver?.let { r ->
            object : ResolverSink {
                override fun resolve(collection: ByteArray, docId: ByteArray, local: ByteArray?, remote: ByteArray?): ResolvedConflict {
                    val resolution = r(Conflict(Native.text(collection), Native.text(docId), local?.let { Native.text(it) },
                        remote?.let { Native.text(it) }))
                    return ResolvedConflict(resolution.code, (resolution as? Resolution.Merged)?.let { Native.utf8(it.json) })
                }
            }
        }

        fun create(database: Database, config: ReplicatorConfig): LongArray {
            val colls = config.collections
            val trust = config.trust
            return Native.replicatorCreate(database.handle, Native.utf8(config.url), config.type.code, config.continuous,
                if (config.headers.isEmpty()) null else Native.utf8(Json.encodeObject(config.headers)),
                config.heartbeatMillis, config.maxAttempts, config.maxAttemptWaitMillis, config.retryBaseMillis,
                !config.autoPurge, config.enableDeltaSync, !config.versionVectorsEnabled,
                Native.utf8OrNull(config.authenticator?.username), Native.utf8OrNull(config.authenticator?.password),
                config.clientIdentity?.handle ?: 0L, trust.code,
                Native.utf8OrNull((trust as? ServerTrust.Roots)?.rootsPem),
                Native.utf8OrNull((trust as? ServerTrust.Pinned)?.certificatePem),
                Native.utf8OrNull((trust as? ServerTrust.PinnedFingerprint)?.fingerprint),
                Native.utf8OrNull(config.serverName),
                colls.map { it.collection.handle }.toLongArray(),
                colls.map { c -> c.documentIds?.let { Native.utf8(Json.encodeArray(it)) } }.toTypedArray(),
                colls.map { c -> c.channels?.let { Native.utf8(Json.encodeArray(it)) } }.toTypedArray(),
                colls.flatMap { c -> listOf(filterSink(c.pushFilter), filterSink(c.pullFilter), resolverSink(c.conflictResolver)) }
                    .toTypedArray(), config.maxMessageSize, config.maxConnectionBuffer)
        }
    }

    /**
     * Starts replicating in the background ([BusyException] if running); with
     * [resetCheckpoint] it starts over from the beginning.
     */
    @JvmOverloads
    fun start(resetCheckpoint: Boolean = false) = Native.replicatorStart(handle, resetCheckpoint)

    /**
     * Stops, saves the checkpoint and returns once stopped and every listener call for the
     * work done has returned (status and document listeners, and change listeners of the
     * replicated collections); none is made afterwards. Must not be called from the
     * replicator's own filters or resolvers.
     */
    fun stop() = Native.replicatorStop(handle)

    /**
     * Waits until the replicator has stopped and returns its status (a failure is in
     * [ReplicatorStatus.error], not thrown), like Python's `Replicator.wait()`. The status
     * reads stopped only once every listener call of the run has returned, so listeners
     * have seen everything when this returns. Throws [TimeoutException] if it is still
     * running after [timeoutMillis]. Polls [status]; call it from any thread but the
     * replicator's own listeners, filters and resolvers.
     */
    @JvmOverloads
    fun await(timeoutMillis: Long = 60_000, pollMillis: Long = 20): ReplicatorStatus {
        require(timeoutMillis >= 0 && pollMillis > 0) { "timeoutMillis must be >= 0 and pollMillis > 0" }
        val deadline = System.nanoTime() + timeoutMillis * 1_000_000
        while (true) {
            val current = status
            if (current.activity == ActivityLevel.STOPPED) return current
            val left = deadline - System.nanoTime()
            if (left <= 0) {
                throw TimeoutException(P2PSyncException.DOMAIN_LIBRARY, -13,
                    "replicator still ${current.activity.name.toLowerCase()} after $timeoutMillis ms")
            }
            Thread.sleep(minOf(pollMillis, left / 1_000_000 + 1))
        }
    }

    /** [await] with a [java.time.Duration]. */
    fun await(timeout: java.time.Duration): ReplicatorStatus = await(timeout.toMillis())

    /** The current status; it reads stopped only once every listener call of the run has returned. */
    val status: ReplicatorStatus get() = ReplicatorStatus.from(Json.obj(Native.text(Native.replicatorStatus(handle))))

    /** Revisions sent and received so far, with how many went as deltas (see [ReplicatorStats]). */
    val stats: ReplicatorStats get() = ReplicatorStats.from(Json.obj(Native.text(Native.replicatorStats(handle))))

    /**
     * The certificate the listener presented at the latest TLS handshake, trusted or not,
     * as PEM; null before any handshake. See [ServerTrust.Pinned].
     */
    val serverCertificate: String? get() = Native.replicatorServerCertificate(handle)?.let { Native.text(it) }

    /**
     * Calls [listener] with every status change, on a library thread, serially; it must
     * return quickly. Remove the subscription before closing the replicator.
     */
    fun addStatusListener(listener: (ReplicatorStatus) -> Unit): ReplicatorSubscription =
        subscribe(false) { json -> listener(ReplicatorStatus.from(Json.obj(Native.text(json)))) }

    /** The former name of [addStatusListener] (Python's `add_status_listener`). */
    @Deprecated("renamed addStatusListener, as in the Python binding", ReplaceWith("addStatusListener(listener)"))
    fun addChangeListener(listener: (ReplicatorStatus) -> Unit): ReplicatorSubscription = addStatusListener(listener)

    /** Calls [listener] with every batch of replicated documents; threads as for [addStatusListener]. */
    fun addDocumentListener(listener: (DocumentReplication) -> Unit): ReplicatorSubscription =
        subscribe(true) { json -> listener(DocumentReplication.from(Json.obj(Native.text(json)))) }

    private fun subscribe(documents: Boolean, deliver: (ByteArray) -> Unit): ReplicatorSubscription {
        val sink = object : ChangeSink {
            override fun onEvent(token: Long, json: ByteArray) = deliver(json)
        }
        val ids = Native.replicatorAddListener(handle, documents, sink)
        return ReplicatorSubscription(this, ids[0], ids[1])
    }

    /**
     * The pull-style alternative to both listeners: status and document events wait in a
     * bounded queue of [capacity] events (0 = 1024); when it is full, later events are
     * counted in one [ReplicatorEvent.Overflow] at the point of the gap.
     */
    @JvmOverloads
    fun eventQueue(capacity: Int = 0): ReplicatorEventQueue =
        ReplicatorEventQueue(this, Native.replicatorAddEventQueue(handle, capacity))

    /** IDs of the documents of [collection] with local changes not yet pushed. */
    fun pendingDocumentIds(collection: Collection): Set<String> =
        LinkedHashSet(Json.strings(Native.text(Native.replicatorPendingDocumentIds(handle, collection.handle))))

    /** Whether document [id] of [collection] has local changes not yet pushed. */
    fun isDocumentPending(collection: Collection, id: String): Boolean =
        Native.replicatorIsDocumentPending(handle, collection.handle, Native.utf8(id))
}

/** A registered replicator listener; [close] waits for calls in flight. */
open class ReplicatorSubscription internal constructor(val replicator: Replicator, token: Long, gluePointer: Long) :
    NativeObject(token, replicator, { t -> Native.subscriptionRemove(t, gluePointer) }) {
    fun remove() = close()
}

/** Events of a replicator, read with [nextEvent]. */
class ReplicatorEventQueue internal constructor(replicator: Replicator, token: Long) : ReplicatorSubscription(replicator, token, 0L) {
    /**
     * The next event, waiting up to [timeoutMillis] (0 = do not wait); null on timeout.
     * [CancelledException] if the queue is closed while waiting.
     */
    @JvmOverloads
    fun nextEvent(timeoutMillis: Int = 0): ReplicatorEvent? =
        Native.subscriptionNextEvent(handle, timeoutMillis)?.let { ReplicatorEvent.parse(Json.obj(Native.text(it))) }
}
