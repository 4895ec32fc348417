package org.p2psync.test

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.p2psync.InvalidArgumentException
import org.p2psync.KeyType
import org.p2psync.Keystore
import org.p2psync.NotFoundException
import org.p2psync.TLSIdentity
import org.p2psync.TLSIdentityOptions
import org.p2psync.TLSUsage
import org.p2psync.WrongPasswordException
import java.io.File

class TLSIdentityTest : P2PTestBase() {
    private fun certificateCount(pem: String) = Regex("-----BEGIN CERTIFICATE-----").findAll(pem).count()

    @Test
    fun createWithOptions() {
        val before = System.currentTimeMillis()
        val options = TLSIdentityOptions(commonName = "peer-1", organization = "p2psync tests",
            subjectAltNames = listOf("localhost", "127.0.0.1"), validityDays = 30)
        TLSIdentity.create(options).use { id ->
            assertTrue(id.fingerprint.matches(Regex("[0-9a-f]{64}")))
            val day = 24L * 3600 * 1000
            assertTrue(id.notAfter in (before + 29 * day)..(System.currentTimeMillis() + 31 * day))
            assertEquals(1, certificateCount(id.chainPem))
            TLSIdentity.create(options).use { other -> assertNotEquals(id.fingerprint, other.fingerprint) }
        }
        TLSIdentity.create(TLSIdentityOptions(keyType = KeyType.RSA_2048, usage = TLSUsage.CLIENT)).use { rsa ->
            assertEquals(64, rsa.fingerprint.length)
        }
        try {
            TLSIdentityOptions(validityDays = -1)
            throw AssertionError("expected InvalidArgumentException")
        } catch (e: InvalidArgumentException) {
        }
    }

    @Test
    fun pkcs12RoundTripAndWrongPassword() {
        TLSIdentity.create().use { id ->
            val p12 = id.exportPkcs12("s3cret")
            TLSIdentity.importPkcs12(p12, "s3cret").use { back ->
                assertEquals(id.fingerprint, back.fingerprint)
                assertEquals(id.notAfter, back.notAfter)
            }
            try {
                TLSIdentity.importPkcs12(p12, "wrong")
                throw AssertionError("expected WrongPasswordException")
            } catch (e: WrongPasswordException) {
                assertEquals(-266, e.code)
            }
            try {
                TLSIdentity.importPkcs12(byteArrayOf(1, 2, 3), "s3cret")
                throw AssertionError("expected InvalidArgumentException")
            } catch (e: InvalidArgumentException) {
            }
            TLSIdentity.importPkcs12(id.exportPkcs12()).use { assertEquals(id.fingerprint, it.fingerprint) }
        }
    }

    @Test
    fun pemRoundTripAndWrongPassword() {
        TLSIdentity.create().use { id ->
            val plain = id.exportPem()
            assertTrue(plain.privateKeyPem.startsWith("-----BEGIN PRIVATE KEY-----"))
            assertEquals(id.chainPem.trim(), plain.certificatesPem.trim())
            TLSIdentity.importPem(plain.certificatesPem, plain.privateKeyPem).use { assertEquals(id.fingerprint, it.fingerprint) }
            TLSIdentity.importPem(plain.certificatesPem + plain.privateKeyPem).use { assertEquals(id.fingerprint, it.fingerprint) }

            val sealed = id.exportPem("pem-pw")
            assertTrue(sealed.privateKeyPem.startsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
            assertTrue(!sealed.toString().contains("PRIVATE KEY"))
            TLSIdentity.importPem(sealed.certificatesPem, sealed.privateKeyPem, "pem-pw").use { assertEquals(id.fingerprint, it.fingerprint) }
            for (wrong in listOf("nope", null)) {
                try {
                    TLSIdentity.importPem(sealed.certificatesPem, sealed.privateKeyPem, wrong)
                    throw AssertionError("expected WrongPasswordException")
                } catch (e: WrongPasswordException) {
                }
            }
            TLSIdentity.create().use { other ->
                try { // a key that matches no certificate
                    TLSIdentity.importPem(plain.certificatesPem, other.exportPem().privateKeyPem)
                    throw AssertionError("expected InvalidArgumentException")
                } catch (e: InvalidArgumentException) {
                }
            }
        }
    }

    @Test
    fun certificateAuthoritySigns() {
        TLSIdentity.create(TLSIdentityOptions(isCA = true, commonName = "test CA")).use { ca ->
            TLSIdentity.create(TLSIdentityOptions(usage = TLSUsage.CLIENT, commonName = "client", issuer = ca)).use { leaf ->
                val chain = leaf.chainPem
                assertEquals(2, certificateCount(chain))
                assertTrue(chain.trim().endsWith(ca.chainPem.trim())) // leaf first, then its issuer
            }
            TLSIdentity.create().use { notCA ->
                try {
                    TLSIdentity.create(TLSIdentityOptions(issuer = notCA))
                    throw AssertionError("expected InvalidArgumentException")
                } catch (e: InvalidArgumentException) {
                }
            }
        }
    }

    @Test
    fun fingerprintFunctions() {
        TLSIdentity.create().use { id ->
            val fp = id.fingerprint
            assertEquals(fp, TLSIdentity.certificateFingerprint(id.chainPem))
            val colons = fp.chunked(2).joinToString(":").toUpperCase()
            for (form in listOf(fp, fp.toUpperCase(), colons, "SHA256:$colons", "sha256:$fp", colons.replace(':', ' '))) {
                assertEquals(form, fp, TLSIdentity.normalizeFingerprint(form))
            }
            for (bad in listOf("", "abc", fp.dropLast(1), "md5:$fp")) {
                try {
                    TLSIdentity.normalizeFingerprint(bad)
                    throw AssertionError("expected InvalidArgumentException for '$bad'")
                } catch (e: InvalidArgumentException) {
                }
            }
            try {
                TLSIdentity.certificateFingerprint("no certificate")
                throw AssertionError("expected InvalidArgumentException")
            } catch (e: InvalidArgumentException) {
            }
        }
    }

    @Test
    fun keystore() {
        val path = File(tmp.root, "keys.p2pks").path
        TLSIdentity.create().use { id ->
            Keystore.open(path, "store-pw").use { ks ->
                assertEquals(emptyList<String>(), ks.labels())
                ks.store("server", id)
                ks.store("again", id)
                assertEquals(listOf("again", "server"), ks.labels())
                ks.delete("again")
                try {
                    ks.get("again")
                    throw AssertionError("expected NotFoundException")
                } catch (e: NotFoundException) {
                }
            }
            try {
                Keystore.open(path, "wrong")
                throw AssertionError("expected WrongPasswordException")
            } catch (e: WrongPasswordException) {
            }
            Keystore.open(path, "store-pw").use { ks ->
                ks.get("server").use { back -> assertEquals(id.fingerprint, back.fingerprint) }
            }
        }
    }
}
