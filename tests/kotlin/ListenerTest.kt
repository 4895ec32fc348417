package org.p2psync.test

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.p2psync.AuthException
import org.p2psync.BasicAuthenticator
import org.p2psync.BusyException
import org.p2psync.InvalidArgumentException
import org.p2psync.Listener
import org.p2psync.ListenerConfig
import org.p2psync.ListenerStatus
import org.p2psync.ReplicatorConfig
import org.p2psync.ReplicatorType
import org.p2psync.ServerTrust
import org.p2psync.TLSIdentity
import org.p2psync.TLSIdentityOptions
import org.p2psync.TLSUsage
import org.p2psync.TlsClientCertException
import java.util.Collections
import java.util.concurrent.atomic.AtomicInteger

class ListenerTest : SyncTestBase() {
    private fun leaf(chainPem: String): String {
        val end = "-----END CERTIFICATE-----"
        return chainPem.trim().let { it.substring(0, it.indexOf(end) + end.length) }
    }

    private fun assertTlsIdentityNeedsStart(listener: Listener) {
        try {
            listener.tlsIdentity()?.close()
            throw AssertionError("tlsIdentity() of a stopped TLS listener must fail")
        } catch (e: IllegalStateException) {
            assertTrue(e.message!!, e.message!!.contains("not running; call start() first"))
        }
    }

    @Test
    fun lifecycle() {
        val listener = keep(Listener(remote, ListenerConfig(networkInterface = "127.0.0.1")))
        assertEquals(0, listener.port)
        assertEquals(emptyList<String>(), listener.urls)
        assertTlsIdentityNeedsStart(listener)

        listener.start()
        try {
            listener.start()
            throw AssertionError("expected BusyException")
        } catch (e: BusyException) {
        }
        val port = listener.port
        assertTrue(port > 0)
        assertEquals(listOf("wss://127.0.0.1:$port/remote"), listener.urls)
        assertEquals(ListenerStatus(0, 0), listener.status)
        val fingerprint = listener.tlsIdentity()!!.use { it.fingerprint }
        try {
            remote.close()
            throw AssertionError("expected BusyException")
        } catch (e: BusyException) {
        }

        listener.stop()
        listener.stop()
        assertEquals(0, listener.port)
        assertTlsIdentityNeedsStart(listener)
        listener.start() // the anonymous identity is kept in the database directory
        assertEquals(fingerprint, listener.tlsIdentity()!!.use { it.fingerprint })
        listener.close()
        listener.close()
        assertTrue(listener.isClosed)
    }

    @Test
    fun explicitIdentityPlainTextAndBadOptions() {
        TLSIdentity.create(TLSIdentityOptions(commonName = "served")).use { id ->
            val listener = startListener(ListenerConfig(identity = id))
            assertEquals(id.fingerprint, listener.tlsIdentity()!!.use { it.fingerprint })
            listener.close()
            try {
                Listener(remote, ListenerConfig(tlsEnabled = false, identity = id))
                throw AssertionError("expected InvalidArgumentException")
            } catch (e: InvalidArgumentException) {
            }
        }
        val plain = startListener(ListenerConfig(tlsEnabled = false))
        assertTrue(plain.urls.single().startsWith("ws://127.0.0.1:"))
        assertNull(plain.tlsIdentity())
        try {
            ListenerConfig(port = 70000)
            throw AssertionError("expected InvalidArgumentException")
        } catch (e: InvalidArgumentException) {
        }
        try {
            Listener(remote, ListenerConfig(collections = listOf(localDocs)))
            throw AssertionError("expected InvalidArgumentException")
        } catch (e: InvalidArgumentException) {
        }
        assertTrue(!ListenerConfig(credentials = mapOf("alice" to "topsecret")).toString().contains("topsecret"))
    }

    @Test
    fun staticCredentialsReadOnlyAndThrowingAuthenticator() {
        remoteDocs.save("served", "{}")
        val calls = AtomicInteger()
        val listener = startListener(ListenerConfig(readOnly = true, credentials = mapOf("alice" to "secret"),
            passwordAuthenticator = { user, _ ->
                calls.incrementAndGet()
                throw IllegalStateException("authenticator bug for $user")
            }))
        fun run(user: String, password: String, type: ReplicatorType) = runToStop(replicator(listener) {
            ReplicatorConfig(it, type = type, trust = ServerTrust.SelfSignedOnly, authenticator = BasicAuthenticator(user, password))
        })
        assertStoppedCleanly(run("alice", "secret", ReplicatorType.PULL))
        assertEquals(setOf("served"), localDocs.changes().map { it.id }.toSet())
        assertEquals(0, calls.get()) // listed credentials never reach the authenticator

        val refused = run("bob", "whatever", ReplicatorType.PULL)
        assertTrue("got ${refused.error}", refused.error is AuthException)
        assertEquals(1, calls.get())

        localDocs.save("mine", "{}")
        val readOnly = run("alice", "secret", ReplicatorType.PUSH)
        assertTrue("a push to a read-only listener must fail", readOnly.error != null)
        assertNull(remoteDocs.getOrNull("mine"))
    }

    @Test
    fun clientCertificateAuthentication() {
        TLSIdentity.create(TLSIdentityOptions(isCA = true, commonName = "clients CA")).use { ca ->
            TLSIdentity.create(TLSIdentityOptions(usage = TLSUsage.CLIENT, commonName = "good client", issuer = ca)).use { client ->
                val chains = Collections.synchronizedList(ArrayList<String>())
                val listener = startListener(ListenerConfig(clientCertificateRootsPem = ca.chainPem,
                    clientCertificateAuthenticator = { chain -> chains.add(chain); true }))
                remoteDocs.save("secret-doc", "{}")
                val accepted = runToStop(replicator(listener) {
                    ReplicatorConfig(it, type = ReplicatorType.PULL, trust = ServerTrust.SelfSignedOnly, clientIdentity = client)
                })
                assertStoppedCleanly(accepted)
                assertEquals(leaf(client.chainPem), leaf(ArrayList(chains).single()))
                assertEquals("{}", localDocs.get("secret-doc").json)

                val noCertificate = runToStop(replicator(listener) {
                    ReplicatorConfig(it, type = ReplicatorType.PULL, trust = ServerTrust.SelfSignedOnly)
                })
                assertTrue("got ${noCertificate.error}", noCertificate.error is TlsClientCertException)
            }
        }
    }
}
