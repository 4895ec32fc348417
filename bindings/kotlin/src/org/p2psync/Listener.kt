package org.p2psync

/**
 * Decides HTTP Basic credentials: true accepts, false refuses (401). Called on a library
 * thread once per connection attempt, possibly concurrently; it may block briefly (to
 * look a user up) and must not close its own listener. Throwing refuses.
 */
typealias PasswordAuthenticator = (username: String, password: String) -> Boolean

/**
 * Decides a client certificate from the chain the client presented (PEM, leaf first);
 * with trusted roots configured it is called only for chains that verified against them.
 * Threads as for [PasswordAuthenticator]; throwing refuses.
 */
typealias ClientCertificateAuthenticator = (chainPem: String) -> Boolean

/**
 * How a [Listener] serves its database. The defaults serve the default collection over
 * TLS with the database's anonymous identity (created at the first start and kept in the
 * database directory), on a port the system picks, on every interface, to anyone.
 *
 * Password authentication: give [credentials] (accepted user -> password), a
 * [passwordAuthenticator], or both (then users not in [credentials] go to the
 * authenticator). Client certificates (TLS only): [clientCertificateRootsPem], a
 * [clientCertificateAuthenticator], or both (a client must then pass both).
 */
data class ListenerConfig @JvmOverloads constructor(
    /** Collections served, of the listener's database; empty = the default collection. */
    val collections: List<Collection> = emptyList(),
    /** TCP port; 0 = the system picks one (see [Listener.port]). */
    val port: Int = 0,
    /** Interface name ("lo") or IP address to listen on; null = all. */
    val networkInterface: String? = null,
    /** Refuse pushes (403); pulls are served. */
    val readOnly: Boolean = false,
    /** false = plain ws:// (then no identity and no client certificates). */
    val tlsEnabled: Boolean = true,
    /** Server identity; null = the database's anonymous identity. */
    val identity: TLSIdentity? = null,
    val credentials: Map<String, String>? = null,
    val passwordAuthenticator: PasswordAuthenticator? = null,
    val clientCertificateRootsPem: String? = null,
    val clientCertificateAuthenticator: ClientCertificateAuthenticator? = null,
    /** true = offer delta sync to clients (if the database permits). */
    val enableDeltaSync: Boolean = false,
    /** Largest incoming message in bytes, measured inflated; 0 = 20 MiB. A larger pushed
     *  document fails with HTTP error 413 (the connection goes on). */
    val maxMessageSize: Long = 0,
    /** Incoming bytes one connection may hold (unread or being saved); 0 = 8 MiB. */
    val maxConnectionBuffer: Long = 0,
    /** Connections served at once; 0 = 256. More are answered HTTP 503. */
    val maxConnections: Int = 0,
    /** true = also accept BLIP_3+CBMobile_4 (version vectors, Couchbase Lite 4); false =
     *  CBMobile_3/2 only (revision trees, as before versions). See README "Versions". */
    val versionVectorsEnabled: Boolean = true,
    /** Largest checkpoint a connected replicator may store here, in bytes; 0 = 16 KiB;
     *  negative = only [maxMessageSize] caps it. A larger one is refused with HTTP error 413
     *  and not stored: the replication goes on, but its progress is not checkpointed, so
     *  that replicator's next run starts from its last stored checkpoint (a replicator of
     *  this library logs a warning saying so). See README "Resource limits". */
    val maxCheckpointSize: Int = 0,
    /** Checkpoints of connected replicators the database keeps (one per client ID); 0 =
     *  10,000; negative = no cap. Storing one under a new client ID past it deletes the
     *  least recently written other one (logged at info by the listener). */
    val maxPeerCheckpoints: Int = 0
) {
    init {
        if (port !in 0..65535) throw InvalidArgumentException(P2PSyncException.DOMAIN_LIBRARY, -1, "port $port is out of range")
        for ((name, value) in listOf("maxMessageSize" to maxMessageSize, "maxConnectionBuffer" to maxConnectionBuffer,
            "maxConnections" to maxConnections.toLong())) {
            if (value < 0) throw InvalidArgumentException(P2PSyncException.DOMAIN_LIBRARY, -1, "$name must not be negative")
        }
    }

    override fun toString() = "ListenerConfig(collections=$collections, port=$port, networkInterface=$networkInterface, " +
        "readOnly=$readOnly, tlsEnabled=$tlsEnabled, identity=$identity, credentials for ${credentials?.keys}, " +
        "passwordAuthenticator=${passwordAuthenticator != null}, clientCertificateRootsPem=${clientCertificateRootsPem != null}, " +
        "clientCertificateAuthenticator=${clientCertificateAuthenticator != null}, enableDeltaSync=$enableDeltaSync, " +
        "maxMessageSize=$maxMessageSize, maxConnectionBuffer=$maxConnectionBuffer, maxConnections=$maxConnections, " +
        "versionVectorsEnabled=$versionVectorsEnabled, maxCheckpointSize=$maxCheckpointSize, " +
        "maxPeerCheckpoints=$maxPeerCheckpoints)"
}

/**
 * Connection counts of a [Listener] (zeros when stopped), the connections served since it
 * was created ([totalConnectionCount]) and each connected replicator, oldest first.
 */
data class ListenerStatus(
    val connectionCount: Int, val activeConnectionCount: Int,
    val totalConnectionCount: Long = 0, val connections: List<ListenerConnection> = emptyList()
)

/**
 * One connected replicator: [peer] "host:port"; [user] its HTTP Basic user name, else its
 * client certificate's common name, else ""; the negotiated [subprotocol]; the
 * "scope.name" [collections] it replicates (empty until it asked); when it [started];
 * whether it is [active] (transferring); BLIP bytes each way; revisions it acknowledged
 * ([docsSent]) and revisions saved from it ([docsReceived]).
 */
data class ListenerConnection(
    val peer: String, val user: String, val subprotocol: String, val collections: List<String>,
    val started: java.time.Instant, val active: Boolean, val bytesSent: Long, val bytesReceived: Long,
    val docsSent: Long, val docsReceived: Long
) {
    internal companion object {
        @Suppress("UNCHECKED_CAST")
        fun from(m: Map<String, Any?>): ListenerConnection {
            fun n(k: String) = (m[k] as Number).toLong()
            return ListenerConnection(m["peer"] as String, m["user"] as String, m["subprotocol"] as String,
                m["collections"] as List<String>, java.time.Instant.parse(m["started"] as String), m["active"] as Boolean,
                n("bytes_sent"), n("bytes_received"), n("docs_sent"), n("docs_received"))
        }
    }
}

/**
 * Serves one open [database] to replicators (ours, Couchbase Lite peers) over
 * wss://host:port/<database name> (ws:// without TLS). Nothing is opened until [start].
 * It keeps the database open: close the listener first (the database refuses with
 * [BusyException] otherwise). After [close] returns its authenticators are never called
 * again. An authenticator that holds the listener keeps it from ever being cleaned up
 * by the garbage collector, so close listeners explicitly.
 */
class Listener private constructor(val database: Database, val config: ListenerConfig, ids: LongArray) :
    NativeObject(ids[0], database, { h -> Native.listenerClose(h, ids[1]) }) {

    @JvmOverloads
    constructor(database: Database, config: ListenerConfig = ListenerConfig()) : this(database, config, create(database, config))

    private companion object {
        fun create(database: Database, config: ListenerConfig): LongArray {
            val password = config.passwordAuthenticator?.let { auth ->
                object : PasswordSink {
                    override fun authenticate(username: ByteArray, password: ByteArray) = auth(Native.text(username), Native.text(password))
                }
            }
            val certificate = config.clientCertificateAuthenticator?.let { auth ->
                object : ClientCertSink {
                    override fun authenticate(chainPem: ByteArray) = auth(Native.text(chainPem))
                }
            }
            return Native.listenerCreate(database.handle, config.collections.map { it.handle }.toLongArray(), config.port,
                Native.utf8OrNull(config.networkInterface), config.readOnly, !config.tlsEnabled, config.identity?.handle ?: 0L,
                config.credentials?.let { Native.utf8(Json.encodeObject(it)) }, Native.utf8OrNull(config.clientCertificateRootsPem),
                config.enableDeltaSync, !config.versionVectorsEnabled, config.maxMessageSize, config.maxConnectionBuffer, config.maxConnections,
                config.maxCheckpointSize, config.maxPeerCheckpoints, arrayOf<Any?>(password, certificate))
        }
    }

    /**
     * Starts listening ([BusyException] if running; [IoException] for a port in use or an
     * unknown interface). A stopped listener may be started again.
     */
    fun start() = Native.listenerStart(handle)

    /** Stops listening; connected replicators are told to come back later. Returns when every connection ended. */
    fun stop() = Native.listenerStop(handle)

    /** TCP port while running, 0 when stopped. */
    val port: Int get() = Native.listenerPort(handle)

    /** URLs replicators can use, one per address; empty when stopped. */
    val urls: List<String> get() = Json.strings(Native.text(Native.listenerUrls(handle)))

    val status: ListenerStatus
        get() {
            val m = Json.obj(Native.text(Native.listenerStatus(handle)))
            @Suppress("UNCHECKED_CAST")
            val conns = (m["connections"] as List<Map<String, Any?>>).map { ListenerConnection.from(it) }
            return ListenerStatus((m["connection_count"] as Number).toInt(), (m["active_connection_count"] as Number).toInt(),
                (m["total_connection_count"] as Number).toLong(), conns)
        }

    /**
     * The identity the running listener serves (show its fingerprint to users who will pin
     * it), as a new object the caller closes; null for a listener without TLS
     * ([ListenerConfig.tlsEnabled] false). Throws [IllegalStateException] while the listener
     * is stopped: the identity (the anonymous one included) is only settled by [start].
     */
    fun tlsIdentity(): TLSIdentity? {
        val identity = Native.listenerTlsIdentity(handle)
        if (identity == 0L && config.tlsEnabled && port == 0) {
            throw IllegalStateException("Listener.tlsIdentity(): the listener is not running; call start() first")
        }
        return TLSIdentity.takeOrNull(identity)
    }
}
