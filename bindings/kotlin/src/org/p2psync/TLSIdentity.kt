package org.p2psync

/** Key algorithm of a new [TLSIdentity]. */
enum class KeyType(internal val code: Int) {
    /** ECDSA on NIST P-256: small and fast. */
    EC_P256(0),
    RSA_2048(1),
    /** Generation takes seconds. */
    RSA_3072(2)
}

/** What a new [TLSIdentity]'s certificate may be used for (ignored for a CA). */
enum class TLSUsage(internal val code: Int) {
    SERVER(0),
    CLIENT(1),
    SERVER_AND_CLIENT(2)
}

/**
 * How [TLSIdentity.create] makes a key and certificate. The defaults give a self-signed
 * EC P-256 server identity valid for 365 days. Subject fields left null are omitted.
 * [subjectAltNames] entries that are IP addresses become IP SANs, the others DNS names.
 * With an [issuer] (a CA identity, see [isCA]) the certificate is signed by it instead of
 * being self-signed.
 */
data class TLSIdentityOptions @JvmOverloads constructor(
    val keyType: KeyType = KeyType.EC_P256,
    val usage: TLSUsage = TLSUsage.SERVER,
    val isCA: Boolean = false,
    /** 0 = 365 days. */
    val validityDays: Int = 0,
    val commonName: String? = null,
    val organization: String? = null,
    val organizationalUnit: String? = null,
    val country: String? = null,
    val locality: String? = null,
    val province: String? = null,
    val subjectAltNames: List<String> = emptyList(),
    val issuer: TLSIdentity? = null
) {
    init {
        if (validityDays < 0) {
            throw InvalidArgumentException(P2PSyncException.DOMAIN_LIBRARY, -1, "validityDays must not be negative")
        }
    }
}

/** An identity written as PEM: the certificate chain (leaf first) and the PKCS#8 private key. */
data class IdentityPem(val certificatesPem: String, val privateKeyPem: String) {
    override fun toString() = "IdentityPem(certificatesPem=$certificatesPem, privateKeyPem=<hidden>)"
}

/**
 * A private key with its certificate chain, used by a [Listener] as its server identity
 * and by a [Replicator] as its client certificate. It is immutable, and whoever is given
 * one keeps its own reference: close it as soon as you no longer need the object itself.
 * Identities have no parent.
 */
class TLSIdentity internal constructor(handle: Long) : NativeObject(handle, null, Native::tlsIdentityClose) {
    companion object {
        /** Generates a key pair and a certificate as [options] say. */
        @JvmStatic
        @JvmOverloads
        fun create(options: TLSIdentityOptions = TLSIdentityOptions()): TLSIdentity {
            val subject = arrayOf(options.commonName, options.organization, options.organizationalUnit,
                options.country, options.locality, options.province).map { Native.utf8OrNull(it) }.toTypedArray()
            val sans = if (options.subjectAltNames.isEmpty()) null else Native.utf8(Json.encodeArray(options.subjectAltNames))
            return TLSIdentity(Native.tlsIdentityCreate(options.keyType.code, options.usage.code, options.isCA,
                options.validityDays, subject, sans, options.issuer?.handle ?: 0L))
        }

        /**
         * Reads a PKCS#12 (.p12/.pfx) file holding one key and its chain
         * ([WrongPasswordException] for a wrong password).
         */
        @JvmStatic
        @JvmOverloads
        fun importPkcs12(data: ByteArray, password: String? = null): TLSIdentity =
            TLSIdentity(Native.tlsIdentityImportPkcs12(data, Native.utf8OrNull(password)))

        /**
         * Builds an identity from PEM: [certificatesPem] holds the chain (any order), [privateKeyPem]
         * the key (PKCS#8, encrypted PKCS#8 with [password], PKCS#1 or SEC 1), or null when
         * [certificatesPem] holds the key too.
         */
        @JvmStatic
        @JvmOverloads
        fun importPem(certificatesPem: String, privateKeyPem: String? = null, password: String? = null): TLSIdentity =
            TLSIdentity(Native.tlsIdentityImportPem(Native.utf8(certificatesPem), Native.utf8OrNull(privateKeyPem),
                Native.utf8OrNull(password)))

        /**
         * SHA-256 fingerprint of the first certificate in [certificatePem] (for example
         * [Replicator.serverCertificate] or [chainPem]) as 64 lowercase hex digits, the form
         * [fingerprint] and every message use ([InvalidArgumentException] without a certificate).
         */
        @JvmStatic
        fun certificateFingerprint(certificatePem: String): String =
            Native.text(Native.tlsCertificateFingerprint(Native.utf8(certificatePem)))

        /**
         * Reads a fingerprint in any form users exchange (64 hex digits in either case, run
         * together or as colon- or space-separated pairs such as openssl's "AB:01:...",
         * optionally after "sha256:") and returns it as 64 lowercase hex digits
         * ([InvalidArgumentException] for anything else).
         */
        @JvmStatic
        fun normalizeFingerprint(fingerprint: String): String =
            Native.text(Native.tlsFingerprintNormalize(Native.utf8(fingerprint)))

        /** Wraps a handle the library just handed out; 0 means none. */
        internal fun takeOrNull(handle: Long): TLSIdentity? = if (handle == 0L) null else TLSIdentity(handle)
    }

    /** SHA-256 of the leaf certificate as 64 lowercase hex digits: what peers pin and users compare. */
    val fingerprint: String get() = Native.text(Native.tlsIdentityFingerprint(handle))

    /** End of the leaf certificate's validity, in milliseconds since the Unix epoch. */
    val notAfter: Long get() = Native.tlsIdentityNotAfter(handle)

    /** The certificate chain as PEM, leaf first, without the key. */
    val chainPem: String get() = Native.text(Native.tlsIdentityChainPem(handle))

    /** Writes the identity as a PKCS#12 file protected by [password] (null = ""). */
    @JvmOverloads
    fun exportPkcs12(password: String? = null): ByteArray =
        Native.tlsIdentityExportPkcs12(handle, Native.utf8OrNull(password))

    /** Writes the chain and the key as PEM; with a non-empty [password] the key is encrypted. */
    @JvmOverloads
    fun exportPem(password: String? = null): IdentityPem {
        val parts = Native.tlsIdentityExportPem(handle, Native.utf8OrNull(password))
        return IdentityPem(Native.text(parts[0]), Native.text(parts[1]))
    }
}

/**
 * A password-protected file of [TLSIdentity]s under labels. Every change rewrites the
 * file atomically. Open one keystore per file. Keystores have no parent, and identities
 * read from one are independent objects the caller closes.
 */
class Keystore private constructor(handle: Long) : NativeObject(handle, null, Native::keystoreClose) {
    companion object {
        /**
         * Opens the keystore at [path], creating an empty one if missing
         * ([WrongPasswordException] leaves the file untouched). [password] must not be empty.
         */
        @JvmStatic
        fun open(path: String, password: String): Keystore =
            Keystore(Native.keystoreOpen(Native.utf8(path), Native.utf8(password)))
    }

    /** Saves [identity] under [label], replacing any identity stored there. */
    fun store(label: String, identity: TLSIdentity) = Native.keystoreStore(handle, Native.utf8(label), identity.handle)

    /** Reads the identity under [label] ([NotFoundException] if there is none). */
    fun get(label: String): TLSIdentity = TLSIdentity(Native.keystoreGet(handle, Native.utf8(label)))

    /** The labels, sorted. */
    fun labels(): List<String> = Json.strings(Native.text(Native.keystoreList(handle)))

    /** Removes the identity under [label] ([NotFoundException] if there is none). */
    fun delete(label: String) = Native.keystoreDelete(handle, Native.utf8(label))
}
