package org.p2psync

/**
 * The JNI surface: one external per C function (jni/p2psync_jni.c). Text crosses as
 * UTF-8 byte arrays; handles as Long; failures as [P2PSyncException].
 */
internal object Native {
    /** Names the directory holding libp2psync_jni.so and libp2psync.so.2 (else the places below). */
    const val LIBRARY_PATH_PROPERTY = "p2psync.library.path"

    /** Written into the jar by `make install`: libdir=the directory the libraries were installed to. */
    private const val INSTALL_PROPERTIES = "/org/p2psync/install.properties"

    init {
        load()
    }

    /**
     * Loads libp2psync_jni.so (which finds libp2psync.so.2 beside itself) from the first of:
     * -Dp2psync.library.path=DIR; the install libdir baked into an installed jar; the jar's
     * own directory and DIR/../lib (the build tree's layout); then java.library.path.
     */
    private fun load() {
        val file = System.mapLibraryName("p2psync_jni")
        val explicit = System.getProperty(LIBRARY_PATH_PROPERTY)
        val tried = ArrayList<String>()
        if (!explicit.isNullOrEmpty()) {
            try {
                System.load(java.io.File(explicit, file).absolutePath)
                return
            } catch (e: UnsatisfiedLinkError) {
                throw loadError("$LIBRARY_PATH_PROPERTY=$explicit: ${e.message}", e)
            }
        }
        for (dir in candidateDirs()) {
            val lib = java.io.File(dir, file)
            if (!lib.isFile) {
                tried.add(lib.path + " (absent)")
                continue
            }
            try {
                System.load(lib.absolutePath)
                return
            } catch (e: UnsatisfiedLinkError) {
                throw loadError("${lib.path}: ${e.message}", e)
            }
        }
        try {
            System.loadLibrary("p2psync_jni")
        } catch (e: UnsatisfiedLinkError) {
            tried.add("java.library.path=${System.getProperty("java.library.path")} (${e.message})")
            throw loadError("tried ${tried.joinToString("; ")}", e)
        }
    }

    private fun candidateDirs(): List<java.io.File> {
        val dirs = ArrayList<java.io.File>()
        try {
            Native::class.java.getResourceAsStream(INSTALL_PROPERTIES)?.use { stream ->
                val props = java.util.Properties()
                props.load(stream)
                props.getProperty("libdir")?.let { if (it.isNotEmpty()) dirs.add(java.io.File(it)) }
            }
        } catch (e: java.io.IOException) {
            // An unreadable resource only removes one candidate.
        }
        try {
            val location = Native::class.java.protectionDomain?.codeSource?.location
            if (location != null && location.protocol == "file") {
                val jarDir = java.io.File(location.toURI()).parentFile
                if (jarDir != null) {
                    dirs.add(jarDir)
                    dirs.add(java.io.File(jarDir.parentFile, "lib"))
                }
            }
        } catch (e: Exception) {
            // SecurityException or a URI the platform cannot map: skip the jar-relative places.
        }
        return dirs
    }

    private fun loadError(detail: String, cause: Throwable): UnsatisfiedLinkError {
        // The JVM's own message names only one place; say where the library is looked for.
        val err = UnsatisfiedLinkError("cannot load ${System.mapLibraryName("p2psync_jni")} ($detail); put it and " +
            "libp2psync.so.2 in a directory and pass -D$LIBRARY_PATH_PROPERTY=DIR or -Djava.library.path=DIR, " +
            "or install both with `make install`")
        err.initCause(cause)
        return err
    }

    init {
        P2PLog.installDefault() // library records of warning and above go to java.util.logging
    }

    @JvmStatic external fun abiVersion(): Int
    @JvmStatic external fun logSetCallback(level: Int, domains: Int, sink: LogSink?)
    @JvmStatic external fun logSetConsole(level: Int, domains: Int)
    @JvmStatic external fun logSettings(): ByteArray
    @JvmStatic external fun version(): ByteArray
    @JvmStatic external fun liveHandles(): Long
    @JvmStatic external fun statusString(status: Int): ByteArray

    @JvmStatic external fun dbOpen(path: ByteArray, create: Boolean, maxRevTreeDepth: Int, deltaSync: Boolean): Long
    @JvmStatic external fun dbClose(db: Long)
    @JvmStatic external fun dbDelete(path: ByteArray)
    @JvmStatic external fun dbExists(path: ByteArray): Boolean
    @JvmStatic external fun dbName(db: Long): ByteArray
    @JvmStatic external fun dbPath(db: Long): ByteArray
    @JvmStatic external fun dbUuid(db: Long): ByteArray

    @JvmStatic external fun dbDefaultCollection(db: Long): Long
    @JvmStatic external fun dbCreateCollection(db: Long, scope: ByteArray?, name: ByteArray): Long
    @JvmStatic external fun dbGetCollection(db: Long, scope: ByteArray?, name: ByteArray): Long
    @JvmStatic external fun dbDeleteCollection(db: Long, scope: ByteArray?, name: ByteArray)
    @JvmStatic external fun dbCollectionNames(db: Long, scope: ByteArray?): ByteArray
    @JvmStatic external fun dbScopeNames(db: Long): ByteArray
    @JvmStatic external fun collectionClose(coll: Long)
    @JvmStatic external fun collectionScopeName(coll: Long): ByteArray
    @JvmStatic external fun collectionName(coll: Long): ByteArray
    @JvmStatic external fun collectionCount(coll: Long): Long
    @JvmStatic external fun collectionLastSequence(coll: Long): Long

    @JvmStatic external fun collectionSave(coll: Long, id: ByteArray, json: ByteArray, parentRevId: ByteArray?, concurrency: Int): Long
    @JvmStatic external fun collectionDelete(coll: Long, id: ByteArray, parentRevId: ByteArray?, concurrency: Int): Long
    @JvmStatic external fun collectionPurge(coll: Long, id: ByteArray)
    @JvmStatic external fun collectionGet(coll: Long, id: ByteArray, includeDeleted: Boolean): Long
    @JvmStatic external fun collectionGetRevision(coll: Long, id: ByteArray, revId: ByteArray): Long
    @JvmStatic external fun collectionConflicts(coll: Long, id: ByteArray): ByteArray
    @JvmStatic external fun collectionSetExpiration(coll: Long, id: ByteArray, unixMs: Long)
    @JvmStatic external fun collectionGetExpiration(coll: Long, id: ByteArray): Long
    @JvmStatic external fun documentClose(doc: Long)
    @JvmStatic external fun documentJson(doc: Long): ByteArray
    @JvmStatic external fun documentId(doc: Long): ByteArray
    @JvmStatic external fun documentRevId(doc: Long): ByteArray
    @JvmStatic external fun documentSequence(doc: Long): Long
    @JvmStatic external fun documentDeleted(doc: Long): Boolean
    @JvmStatic external fun documentVersion(doc: Long): ByteArray
    @JvmStatic external fun documentVersionVector(doc: Long): ByteArray
    @JvmStatic external fun documentTimestamp(doc: Long): Long
    @JvmStatic external fun dbSourceId(db: Long): ByteArray

    @JvmStatic external fun dbGetLocal(db: Long, id: ByteArray): Array<ByteArray>
    @JvmStatic external fun dbPutLocal(db: Long, id: ByteArray, json: ByteArray, expectedRev: ByteArray?): ByteArray
    @JvmStatic external fun dbDeleteLocal(db: Long, id: ByteArray)

    @JvmStatic external fun dbBeginBatch(db: Long): Long
    @JvmStatic external fun batchSave(batch: Long, coll: Long, id: ByteArray, json: ByteArray, parentRevId: ByteArray?, concurrency: Int): Long
    @JvmStatic external fun batchDelete(batch: Long, coll: Long, id: ByteArray, parentRevId: ByteArray?, concurrency: Int): Long
    @JvmStatic external fun batchPurge(batch: Long, coll: Long, id: ByteArray)
    @JvmStatic external fun batchCommit(batch: Long)
    @JvmStatic external fun batchAbort(batch: Long)
    @JvmStatic external fun batchSaveMany(batch: Long, coll: Long, count: Int, ids: ByteArray, jsons: ByteArray,
                                          parents: ByteArray?, concurrency: Int, savedOut: LongArray): ByteArray
    @JvmStatic external fun collectionGetMany(coll: Long, count: Int, ids: ByteArray, includeDeleted: Boolean): ByteArray

    @JvmStatic external fun collectionChanges(coll: Long, since: Long, limit: Int): ByteArray
    /** Returns {token, glue pointer}; pass both to [subscriptionRemove]. */
    @JvmStatic external fun collectionAddChangeListener(coll: Long, docId: ByteArray?, sink: ChangeSink): LongArray
    @JvmStatic external fun collectionAddChangeQueue(coll: Long, capacity: Int): Long
    @JvmStatic external fun subscriptionNextEvent(token: Long, timeoutMs: Int): ByteArray?
    @JvmStatic external fun subscriptionRemove(token: Long, gluePointer: Long)

    @JvmStatic external fun tlsIdentityCreate(keyType: Int, usage: Int, isCa: Boolean, validityDays: Int,
                                              subject: Array<ByteArray?>, subjectAltNamesJson: ByteArray?, issuer: Long): Long
    @JvmStatic external fun tlsIdentityImportPkcs12(data: ByteArray, password: ByteArray?): Long
    @JvmStatic external fun tlsIdentityExportPkcs12(identity: Long, password: ByteArray?): ByteArray
    @JvmStatic external fun tlsIdentityImportPem(certPem: ByteArray, keyPem: ByteArray?, password: ByteArray?): Long
    /** Returns {certificate chain PEM, private key PEM}. */
    @JvmStatic external fun tlsIdentityExportPem(identity: Long, password: ByteArray?): Array<ByteArray>
    @JvmStatic external fun tlsIdentityFingerprint(identity: Long): ByteArray
    @JvmStatic external fun tlsIdentityNotAfter(identity: Long): Long
    @JvmStatic external fun tlsIdentityChainPem(identity: Long): ByteArray
    @JvmStatic external fun tlsIdentityClose(identity: Long)
    @JvmStatic external fun tlsCertificateFingerprint(certPem: ByteArray): ByteArray
    @JvmStatic external fun tlsFingerprintNormalize(fingerprint: ByteArray): ByteArray

    @JvmStatic external fun keystoreOpen(path: ByteArray, password: ByteArray): Long
    @JvmStatic external fun keystoreStore(keystore: Long, label: ByteArray, identity: Long)
    @JvmStatic external fun keystoreGet(keystore: Long, label: ByteArray): Long
    @JvmStatic external fun keystoreList(keystore: Long): ByteArray
    @JvmStatic external fun keystoreDelete(keystore: Long, label: ByteArray)
    @JvmStatic external fun keystoreClose(keystore: Long)

    /** sinks = {PasswordSink?, ClientCertSink?}. Returns {listener, glue pointer}; pass both to [listenerClose]. */
    @JvmStatic external fun listenerCreate(db: Long, collections: LongArray, port: Int, networkInterface: ByteArray?,
                                           readOnly: Boolean, disableTls: Boolean, identity: Long, credentialsJson: ByteArray?,
                                           clientCertRootsPem: ByteArray?, enableDeltaSync: Boolean, disableVersionVectors: Boolean, maxMessageSize: Long,
                                           maxConnectionBuffer: Long, maxConnections: Int, maxCheckpointSize: Int,
                                           maxPeerCheckpoints: Int, sinks: Array<Any?>): LongArray
    @JvmStatic external fun listenerClose(listener: Long, gluePointer: Long)
    @JvmStatic external fun listenerStart(listener: Long)
    @JvmStatic external fun listenerStop(listener: Long)
    @JvmStatic external fun listenerPort(listener: Long): Int
    @JvmStatic external fun listenerUrls(listener: Long): ByteArray
    @JvmStatic external fun listenerStatus(listener: Long): ByteArray
    /** A new identity handle, or 0 when stopped or without TLS. */
    @JvmStatic external fun listenerTlsIdentity(listener: Long): Long

    /**
     * Per collection i: collections[i], docIdsJson[i], channelsJson[i] and
     * sinks[3i..3i+2] = {push FilterSink?, pull FilterSink?, ResolverSink?}.
     * Returns {replicator, glue pointer}; pass both to [replicatorClose].
     */
    @JvmStatic external fun replicatorCreate(db: Long, url: ByteArray, type: Int, continuous: Boolean, headersJson: ByteArray?,
                                             heartbeatMs: Int, maxAttempts: Int, maxAttemptWaitMs: Int, retryBaseMs: Int,
                                             disableAutoPurge: Boolean, enableDeltaSync: Boolean, disableVersionVectors: Boolean,
                                             username: ByteArray?, password: ByteArray?, clientIdentity: Long,
                                             trustMode: Int, trustedRootsPem: ByteArray?, pinnedCertificatePem: ByteArray?,
                                             pinnedFingerprint: ByteArray?, serverName: ByteArray?, collections: LongArray, docIdsJson: Array<ByteArray?>,
                                             channelsJson: Array<ByteArray?>, sinks: Array<Any?>, maxMessageSize: Long,
                                             maxConnectionBuffer: Long): LongArray
    @JvmStatic external fun replicatorClose(replicator: Long, gluePointer: Long)
    @JvmStatic external fun replicatorStart(replicator: Long, resetCheckpoint: Boolean)
    @JvmStatic external fun replicatorStop(replicator: Long)
    @JvmStatic external fun replicatorStatus(replicator: Long): ByteArray
    @JvmStatic external fun replicatorStats(replicator: Long): ByteArray
    @JvmStatic external fun replicatorServerCertificate(replicator: Long): ByteArray?
    /** Status events, or document events with [documents]. Returns {token, glue pointer} for [subscriptionRemove]. */
    @JvmStatic external fun replicatorAddListener(replicator: Long, documents: Boolean, sink: ChangeSink): LongArray
    @JvmStatic external fun replicatorAddEventQueue(replicator: Long, capacity: Int): Long
    @JvmStatic external fun replicatorPendingDocumentIds(replicator: Long, coll: Long): ByteArray
    @JvmStatic external fun replicatorIsDocumentPending(replicator: Long, coll: Long, docId: ByteArray): Boolean

    @JvmStatic external fun blobCreate(db: Long, data: ByteArray, contentType: ByteArray?): ByteArray
    @JvmStatic external fun blobCreateFromFile(db: Long, path: ByteArray, contentType: ByteArray?): ByteArray
    @JvmStatic external fun blobWriterCreate(db: Long, contentType: ByteArray?): Long
    @JvmStatic external fun blobWriterWrite(writer: Long, data: ByteArray, off: Int, len: Int)
    @JvmStatic external fun blobWriterFinish(writer: Long): ByteArray
    @JvmStatic external fun blobWriterClose(writer: Long)
    @JvmStatic external fun blobReaderOpen(db: Long, blob: ByteArray): Long
    @JvmStatic external fun blobReaderRead(reader: Long, buf: ByteArray, off: Int, len: Int): Int
    @JvmStatic external fun blobReaderLength(reader: Long): Long
    @JvmStatic external fun blobReaderClose(reader: Long)
    @JvmStatic external fun blobSaveToFile(db: Long, blob: ByteArray, path: ByteArray)
    @JvmStatic external fun blobInfo(db: Long, blob: ByteArray): ByteArray
    @JvmStatic external fun blobExists(db: Long, blob: ByteArray): Boolean
    @JvmStatic external fun dbCompact(db: Long): ByteArray

    @JvmStatic external fun queryPrepare(db: Long, text: ByteArray): Long
    @JvmStatic external fun queryColumns(query: Long): ByteArray
    @JvmStatic external fun queryExecute(query: Long, paramsJson: ByteArray?)
    @JvmStatic external fun queryNext(query: Long): ByteArray?
    @JvmStatic external fun queryExplain(query: Long): ByteArray
    @JvmStatic external fun queryClose(query: Long)
    /** Returns {token, glue pointer}; pass both to [subscriptionRemove]. */
    @JvmStatic external fun queryAddListener(query: Long, paramsJson: ByteArray?, sink: ChangeSink): LongArray

    /** UTF-8 for the C API. A NUL would silently cut C text short, so it is refused. */
    fun utf8(s: String): ByteArray {
        if (s.indexOf('\u0000') >= 0) {
            throw InvalidArgumentException(P2PSyncException.DOMAIN_LIBRARY, -1, "text contains a NUL character")
        }
        return s.toByteArray(Charsets.UTF_8)
    }

    fun utf8OrNull(s: String?): ByteArray? = s?.let { utf8(it) }

    /** Lays texts end to end in UTF-8, each ended by a NUL (null as ""), for the bulk calls. */
    fun pack(texts: Iterable<String?>): ByteArray {
        val out = java.io.ByteArrayOutputStream()
        for (t in texts) {
            if (t != null) out.write(utf8(t))
            out.write(0)
        }
        return out.toByteArray()
    }
    fun text(b: ByteArray): String = String(b, Charsets.UTF_8)

    init {
        val abi = abiVersion()
        if (abi != P2PSync.ABI_VERSION) {
            throw UnsatisfiedLinkError("libp2psync ABI version $abi does not match the binding's ${P2PSync.ABI_VERSION}")
        }
    }
}

/** Receives change events from the JNI glue on a library thread. */
/** Receives log records from jni/p2psync_jni.c (any library thread, possibly concurrently). */
internal interface LogSink {
    fun onLog(level: Int, domain: Int, message: ByteArray)
}

internal interface ChangeSink {
    fun onEvent(token: Long, json: ByteArray)
}

/** Decides HTTP Basic credentials for a listener, on a library thread. Throwing refuses. */
internal interface PasswordSink {
    fun authenticate(username: ByteArray, password: ByteArray): Boolean
}

/** Decides a client certificate chain (PEM) for a listener, on a library thread. Throwing refuses. */
internal interface ClientCertSink {
    fun authenticate(chainPem: ByteArray): Boolean
}

/** A push or pull filter, on a library thread. Throwing skips the revision. */
internal interface FilterSink {
    fun include(collection: ByteArray, docId: ByteArray, revId: ByteArray, deleted: Boolean, body: ByteArray, accessRemoved: Boolean): Boolean
}

/** A conflict resolver, on a library thread. Throwing leaves the document in conflict. */
internal interface ResolverSink {
    fun resolve(collection: ByteArray, docId: ByteArray, local: ByteArray?, remote: ByteArray?): ResolvedConflict
}

/** A resolver's answer as the glue reads it: a P2P_RESOLVE_* code and, for merged, the body. */
internal class ResolvedConflict(@JvmField val decision: Int, @JvmField val merged: ByteArray?)
