package org.p2psync

/**
 * A SQL++ statement compiled once (see [Database.prepare]): a SELECT, an EXPLAIN SELECT,
 * or CREATE INDEX / DROP INDEX. Run it with [execute] as often as needed, with different
 * parameters; watch it with [addChangeListener]. It keeps its [database] open; close it
 * (after removing its listeners) first. Not for concurrent use from several threads.
 */
class Query internal constructor(val database: Database, handle: Long) : NativeObject(handle, database, Native::queryClose) {
    /** The result column names: the keys a row may have. */
    val columns: List<String> get() = Json.strings(Native.text(Native.queryColumns(handle)))

    /**
     * Runs the query with [params] (a value for each `$name`: String, Number, Boolean,
     * null, List or Map) and returns its rows. Executing again abandons unread rows.
     */
    @JvmOverloads
    fun execute(params: Map<String, Any?>? = null): ResultSet = executeJson(params?.let { QueryJson.encode(it) })

    /** As [execute], with the parameters given as a JSON object text. */
    fun executeJson(paramsJson: String?): ResultSet {
        Native.queryExecute(handle, Native.utf8OrNull(paramsJson))
        return ResultSet(this)
    }

    /** The compiled SQLite statement and SQLite's EXPLAIN QUERY PLAN. */
    fun explain(): String = Native.text(Native.queryExplain(handle))

    /**
     * Watches the query (a live query): [listener] gets the current rows, then the new rows
     * whenever a committed change (local or replicated) to the collection changes them,
     * on a library thread, serially, at most once per commit. Remove the returned
     * subscription (allowed inside the listener) before closing the query.
     */
    @JvmOverloads
    fun addChangeListener(listener: QueryChangeListener, params: Map<String, Any?>? = null): QuerySubscription {
        val sink = object : ChangeSink {
            override fun onEvent(token: Long, json: ByteArray) = listener.onChange(QueryChange.parse(Native.text(json)))
        }
        val ids = Native.queryAddListener(handle, Native.utf8OrNull(params?.let { QueryJson.encode(it) }), sink)
        return QuerySubscription(this, ids[0], ids[1])
    }

    /** Kotlin-friendly overload of [addChangeListener]. */
    fun addChangeListener(params: Map<String, Any?>? = null, listener: (QueryChange) -> Unit): QuerySubscription =
        addChangeListener(object : QueryChangeListener {
            override fun onChange(change: QueryChange) = listener(change)
        }, params)

    internal fun nextRow(): String? = Native.queryNext(handle)?.let { Native.text(it) }
}

/** The rows of one [Query.execute], read once, in order. */
class ResultSet internal constructor(private val query: Query) : Iterator<Result>, Iterable<Result> {
    private var next: String? = null
    private var done = false

    override fun hasNext(): Boolean {
        if (next == null && !done) {
            next = query.nextRow()
            done = next == null
        }
        return next != null
    }

    override fun next(): Result {
        if (!hasNext()) throw NoSuchElementException()
        val row = next!!
        next = null
        return Result(row)
    }

    override fun iterator(): Iterator<Result> = this

    /** Every remaining row. */
    fun allResults(): List<Result> {
        val out = ArrayList<Result>()
        while (hasNext()) out.add(next())
        return out
    }
}

/**
 * One result row: a JSON object whose keys are the query's column names. A property
 * MISSING from the document is absent ([contains] is false); JSON null is kept.
 */
class Result(val json: String) {
    /** The row as a map (values: String, Long, Double, Boolean, null, List, Map). */
    val map: Map<String, Any?> by lazy { Json.obj(json) }
    val keys: Set<String> get() = map.keys

    operator fun contains(key: String): Boolean = map.containsKey(key)
    fun getValue(key: String): Any? = map[key]
    fun getString(key: String): String? = map[key] as? String
    fun getLong(key: String): Long = (map[key] as? Number)?.toLong() ?: 0L
    fun getInt(key: String): Int = getLong(key).toInt()
    fun getDouble(key: String): Double = (map[key] as? Number)?.toDouble() ?: 0.0
    fun getBoolean(key: String): Boolean = map[key] as? Boolean ?: false
    @Suppress("UNCHECKED_CAST")
    fun getMap(key: String): Map<String, Any?>? = map[key] as? Map<String, Any?>
    fun getList(key: String): List<Any?>? = map[key] as? List<Any?>

    override fun toString(): String = json
    override fun equals(other: Any?): Boolean = other is Result && other.json == json
    override fun hashCode(): Int = json.hashCode()
}

/** What a live query's listener receives: the new rows, or the error of a failed run. */
class QueryChange(val results: List<Result>?, val error: P2PError?) {
    internal companion object {
        @Suppress("UNCHECKED_CAST")
        fun parse(text: String): QueryChange {
            val ev = Json.obj(text)
            if (ev["event"] == "error") {
                val code = (ev["code"] as? Number)?.toInt() ?: -99
                val message = ev["message"] as? String ?: ""
                return QueryChange(null, P2PSyncException.create(code, P2PSyncException.DOMAIN_LIBRARY, code, message.toByteArray(Charsets.UTF_8)))
            }
            val rows = ev["rows"] as? List<Any?> ?: emptyList()
            return QueryChange(rows.map { Result(QueryJson.encode(it)) }, null)
        }
    }
}

/** Receives a live query's changes on a library thread (see [Query.addChangeListener]). */
interface QueryChangeListener {
    fun onChange(change: QueryChange)
}

/** A live query listener; [close] waits for a call in flight (unless called from inside it). */
class QuerySubscription internal constructor(val query: Query, token: Long, gluePointer: Long) :
    NativeObject(token, query, { t -> Native.subscriptionRemove(t, gluePointer) }) {
    fun remove() = close()
}

/** An index of a collection, for [createIndex]: Couchbase Lite's configuration classes. */
abstract class IndexConfiguration internal constructor(val expressions: List<String>)

/** A value index on SQL++ expressions, e.g. ValueIndexConfiguration("address.city"). */
class ValueIndexConfiguration(vararg expressions: String) : IndexConfiguration(expressions.toList())

/**
 * A full-text index for MATCH(name, 'terms') and RANK(name). [language] "en" stems English
 * words ("running" finds "run"); [ignoreAccents] folds diacritics ("cafe" finds "café").
 */
class FullTextIndexConfiguration(vararg expressions: String) : IndexConfiguration(expressions.toList()) {
    var language: String? = null
        private set
    var isIgnoringAccents: Boolean = false
        private set

    fun setLanguage(language: String?): FullTextIndexConfiguration = apply { this.language = language }
    fun ignoreAccents(ignore: Boolean): FullTextIndexConfiguration = apply { isIgnoringAccents = ignore }
}

private fun ident(name: String): String = "`" + name.replace("`", "``") + "`"

/** Compiles [text] (SQL++) against this database; see [Query]. */
fun Database.prepare(text: String): Query = Query(this, Native.queryPrepare(handle, Native.utf8(text)))

/** Runs [text] once with [params] and returns every row. */
@JvmOverloads
fun Database.query(text: String, params: Map<String, Any?>? = null): List<Result> =
    prepare(text).use { it.execute(params).allResults() }

/** The SQLite statement the SELECT [text] compiles to and SQLite's query plan (Python's `db.explain`). */
fun Database.explain(text: String): String = prepare(text).use { it.explain() }

/** Creates (or replaces, if its definition changed) the index [name] of this collection. */
fun Collection.createIndex(name: String, config: IndexConfiguration) {
    var text = "CREATE INDEX ${ident(name)} ON ${ident(scope)}.${ident(this.name)}(${config.expressions.joinToString(", ")})"
    if (config is FullTextIndexConfiguration) {
        text += " USING FTS WITH {\"language\": ${Json.quote(config.language ?: "")}, \"ignoreAccents\": ${config.isIgnoringAccents}}"
    }
    database.query(text)
}

/** Drops the index [name] (value or full-text); [NotFoundException] if there is none. */
fun Collection.deleteIndex(name: String) {
    database.query("DROP INDEX ${ident(name)} ON ${ident(scope)}.${ident(this.name)}")
}

/** JSON encoding of parameter values and rows. */
internal object QueryJson {
    fun encode(v: Any?): String = StringBuilder().also { write(it, v) }.toString()

    private fun write(b: StringBuilder, v: Any?) {
        when (v) {
            null -> b.append("null")
            is String -> b.append(Json.quote(v))
            is Boolean -> b.append(v)
            is Double -> b.append(if (v.isFinite()) v.toString() else throw InvalidArgumentException(P2PSyncException.DOMAIN_LIBRARY, -1, "$v is not a JSON number"))
            is Float -> write(b, v.toDouble())
            is Number -> b.append(v.toLong())
            is Map<*, *> -> {
                b.append('{')
                var first = true
                for ((k, x) in v) {
                    if (!first) b.append(',')
                    first = false
                    b.append(Json.quote(k.toString())).append(':')
                    write(b, x)
                }
                b.append('}')
            }
            is Iterable<*> -> {
                b.append('[')
                var first = true
                for (x in v) {
                    if (!first) b.append(',')
                    first = false
                    write(b, x)
                }
                b.append(']')
            }
            is Array<*> -> write(b, v.asList())
            else -> throw InvalidArgumentException(P2PSyncException.DOMAIN_LIBRARY, -1, "cannot encode ${v.javaClass.name} as JSON")
        }
    }
}
