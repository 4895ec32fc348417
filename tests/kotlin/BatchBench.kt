package org.p2psync.test

import org.p2psync.Database
import org.p2psync.P2PSync
import java.io.File
import java.nio.file.Files

/*
 * Benchmark W8 (tests/bench/WORKLOAD.md) from the JVM: the W1 documents saved from Kotlin
 * in batches of 1,000 with Batch.saveMany and read back with Collection.getMany, against
 * the engine's own batched insert of the same documents measured in the same run (the
 * Go program tests/bench/store run with -engine-only -many -nobody, Batch.SaveMany, the path
 * the C bulk save takes, between the Kotlin runs).
 *
 * Run by `make bench` (not by `make test`):
 *   java -Djava.library.path=build/lib -cp <tests jar>:<jar>:<stdlib> \
 *       org.p2psync.test.BatchBenchKt <store bench binary> [n] [runs]
 */

private const val ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/** payload(i, L) of the shared workload specification. */
private fun payload(i: Int, length: Int): String {
    var x = ((i.toLong() * 2654435761L) and 0xFFFFFFFFL).toInt() xor 0x9E3779B9.toInt()
    if (x == 0) x = 1
    val sb = StringBuilder(length)
    repeat(length) {
        x = x xor (x shl 13)
        x = x xor (x ushr 17)
        x = x xor (x shl 5)
        sb.append(ALPHABET[x and 63])
    }
    return sb.toString()
}

/** ((i * 7919) mod 100000) / 100 as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it. */
private fun score(i: Int): String {
    val hundredths = (i.toLong() * 7919L % 100000L).toInt()
    val whole = hundredths / 100
    val frac = hundredths % 100
    return when {
        frac == 0 -> "$whole"
        frac % 10 == 0 -> "$whole.${frac / 10}"
        else -> "$whole.${"%02d".format(frac)}"
    }
}

/** Document i of the ~1 KB set, byte for byte as tests/bench/workload.Doc writes it. */
private fun doc(i: Int): Pair<String, String> =
    "doc-${"%06d".format(i)}" to ("{\"n\":$i,\"kind\":\"bench\",\"group\":\"g${i % 100}\",\"score\":${score(i)}," +
        "\"created\":\"2024-01-01T00:00:00.000Z\",\"payload\":\"${payload(i, 900)}\"}")

/** SHA-256 over ID then body of documents 1..20,000 of the ~1 KB set (tests/bench/WORKLOAD.md, W8). */
private const val W1_FINGERPRINT_20K = "78c541d4907a22edec9efb98db59534670a463d27cd32998ee92675081c2c6f3"

private fun fingerprint(docs: List<Pair<String, String>>): String {
    val md = java.security.MessageDigest.getInstance("SHA-256")
    for ((id, body) in docs) {
        md.update(id.toByteArray(Charsets.UTF_8))
        md.update(body.toByteArray(Charsets.UTF_8))
    }
    return md.digest().joinToString("") { "%02x".format(it) }
}

private fun engineRate(binary: String, n: Int, batch: Int): Double {
    val p = ProcessBuilder(binary, "-engine-only", "-many", "-nobody", "-n", "$n", "-runs", "1", "-batch", "$batch")
        .redirectErrorStream(true).start()
    val out = p.inputStream.bufferedReader().readText()
    check(p.waitFor() == 0) { "engine baseline failed: $out" }
    return out.trim().split(Regex("\\s+")).last().toDouble()
}

private fun rate(n: Int, block: () -> Unit): Double {
    val start = System.nanoTime()
    block()
    return n / ((System.nanoTime() - start) / 1e9)
}

private fun median(xs: List<Double>): Double {
    val s = xs.sorted()
    return if (s.size % 2 == 1) s[s.size / 2] else (s[s.size / 2 - 1] + s[s.size / 2]) / 2
}

fun main(args: Array<String>) {
    require(args.isNotEmpty()) { "usage: BatchBenchKt <tests/bench/store binary> [n] [runs]" }
    val binary = args[0]
    val n = args.getOrNull(1)?.toInt() ?: 20000
    val runs = args.getOrNull(2)?.toInt() ?: 3
    val batch = 1000
    val docs = (1..n).map { doc(it) }
    val ids = docs.map { it.first }
    if (n >= 20000) {
        check(fingerprint(docs.take(20000)) == W1_FINGERPRINT_20K) { "generated documents differ from workload.Doc's" }
    }
    val work = Files.createTempDirectory("bench-kotlin-").toFile()
    val results = linkedMapOf<String, MutableList<Double>>()
    println("W8 Kotlin bulk save/read: $n docs (~1 KB, W1's), batches of $batch, $runs runs")
    try {
        // Warm up the JIT with one unmeasured pass over all the documents.
        Database.open(File(work, "warm").path).use { db ->
            db.defaultCollection().use { c ->
                for (lo in 0 until n step batch) {
                    val hi = minOf(lo + batch, n)
                    db.inBatch { it.saveMany(c, docs.subList(lo, hi)) }
                    c.getMany(ids.subList(lo, hi))
                }
            }
        }
        File(work, "warm").deleteRecursively()
        for (r in 1..runs) {
            val eng = engineRate(binary, n, batch)
            results.getOrPut("engine batched insert") { mutableListOf() }.add(eng)
            val line = StringBuilder("  run $r: engine %.0f/s".format(eng))
            Database.open(File(work, "run-$r").path).use { db ->
                db.defaultCollection().use { coll ->
                    val save = rate(n) {
                        for (lo in 0 until n step batch) {
                            db.inBatch { it.saveMany(coll, docs.subList(lo, minOf(lo + batch, n))) }
                        }
                    }
                    val read = rate(n) {
                        for (lo in 0 until n step batch) {
                            val hi = minOf(lo + batch, n)
                            val got = coll.getMany(ids.subList(lo, hi))
                            check(got.last()!!.json == docs[hi - 1].second) { "read back differently" }
                        }
                    }
                    results.getOrPut("saveMany") { mutableListOf() }.add(save)
                    results.getOrPut("getMany") { mutableListOf() }.add(read)
                    line.append(" | saveMany %.0f/s | getMany %.0f/s".format(save, read))
                }
            }
            run {
                Database.open(File(work, "loop-$r").path).use { db ->
                    db.defaultCollection().use { coll ->
                        val loop = rate(n) {
                            for (lo in 0 until n step batch) {
                                db.inBatch { b -> for ((id, body) in docs.subList(lo, minOf(lo + batch, n))) b.save(coll, id, body) }
                            }
                        }
                        results.getOrPut("Batch.save loop") { mutableListOf() }.add(loop)
                        line.append(" | Batch.save loop %.0f/s".format(loop))
                    }
                }
            }
            println(line)
        }
        val engMed = median(results.getValue("engine batched insert"))
        for ((name, xs) in results) {
            val med = median(xs)
            println("%-24s docs/s  min %8.0f  median %8.0f  max %8.0f  ratio to engine insert %.2f"
                .format(name, xs.min(), med, xs.max(), med / engMed))
        }
        check(P2PSync.liveHandles() == 0L) { "live handles left" }
    } finally {
        work.deleteRecursively()
    }
}
