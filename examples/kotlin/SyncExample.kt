// SyncExample.kt — two databases in one process, synced over TLS with the Kotlin binding.
//
// "alpha" is served by a Listener (TLS with its anonymous identity, one accepted user, a
// port the system picks); "beta" runs a one-shot push-and-pull Replicator that pins
// alpha's certificate and logs in. Both sides create the same document first, so the
// replicator meets a conflict and resolves it (here: the local revision wins).
//
// Build and run from the repository root (make test-kotlin does the same):
//   make kotlin
//   kotlinc examples/kotlin/SyncExample.kt -cp build/kotlin/p2psync.jar -d build/sync-example.jar
//   java -Dp2psync.library.path=build/lib \
//     -cp build/sync-example.jar:build/kotlin/p2psync.jar:/usr/share/java/kotlin-stdlib.jar SyncExampleKt
import java.io.File
import java.nio.file.Files
import java.util.concurrent.atomic.AtomicInteger
import org.p2psync.ActivityLevel
import org.p2psync.BasicAuthenticator
import org.p2psync.Database
import org.p2psync.Listener
import org.p2psync.ListenerConfig
import org.p2psync.P2PSync
import org.p2psync.ReplicationCollection
import org.p2psync.Replicator
import org.p2psync.ReplicatorConfig
import org.p2psync.Resolution
import org.p2psync.ServerTrust

fun main() {
    val dir = Files.createTempDirectory("p2psync-kotlin-example").toFile()
    val conflicts = AtomicInteger()
    try {
        Database.open(File(dir, "alpha").path).use { alpha ->
            Database.open(File(dir, "beta").path).use { beta ->
                alpha.defaultCollection().use { alphaDocs ->
                    beta.defaultCollection().use { betaDocs ->
                        alpha.inBatch { batch -> (0 until 50).forEach { batch.save(alphaDocs, "alpha-$it", """{"n":$it}""") } }
                        beta.inBatch { batch -> (0 until 50).forEach { batch.save(betaDocs, "beta-$it", """{"n":$it}""") } }
                        alphaDocs.save("shared", """{"title":"shopping list","milk":2}""")
                        betaDocs.save("shared", """{"title":"shopping list","eggs":12}""")

                        val config = ListenerConfig(networkInterface = "127.0.0.1", credentials = mapOf("beta" to "s3cret"))
                        Listener(alpha, config).use { listener ->
                            listener.start()
                            val pin = listener.tlsIdentity()!!.use { id ->
                                println("alpha listening on ${listener.urls[0]}, certificate SHA-256 ${id.fingerprint}")
                                id.chainPem
                            }
                            val replication = ReplicatorConfig(
                                url = listener.urls[0],
                                authenticator = BasicAuthenticator("beta", "s3cret"),
                                trust = ServerTrust.Pinned(pin),
                                collections = listOf(ReplicationCollection(betaDocs, conflictResolver = { conflict ->
                                    conflicts.incrementAndGet()
                                    println("conflict on ${conflict.id}: keeping ${conflict.localJson} over ${conflict.remoteJson}")
                                    Resolution.Local
                                })))
                            Replicator(beta, replication).use { replicator ->
                                val started = System.nanoTime()
                                replicator.start()
                                val deadline = started + 60_000_000_000L
                                while (replicator.status.activity != ActivityLevel.STOPPED && System.nanoTime() < deadline) {
                                    Thread.sleep(20)
                                }
                                val status = replicator.status
                                status.error?.let { throw it.asException() }
                                check(status.activity == ActivityLevel.STOPPED) { "replication did not finish within 60 s" }
                                println("synced in ${(System.nanoTime() - started) / 1_000_000} ms: " +
                                    "alpha has ${alphaDocs.count} documents, beta has ${betaDocs.count}")
                            }
                        }
                        check(alphaDocs.count == 101L && betaDocs.count == 101L) { "expected 101 documents on each side" }
                        check(conflicts.get() == 1) { "expected one conflict, saw ${conflicts.get()}" }
                        check(alphaDocs.get("shared").json == """{"title":"shopping list","eggs":12}""") { "alpha did not get the resolution" }
                    }
                }
            }
        }
        check(P2PSync.liveHandles() == 0L) { "${P2PSync.liveHandles()} handles left open" }
        println("example OK")
    } finally {
        dir.deleteRecursively()
    }
}
