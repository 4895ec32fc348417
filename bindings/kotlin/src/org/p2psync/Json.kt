package org.p2psync

/**
 * A small reader for the JSON the library hands out (lists of names, changes, events),
 * and an encoder for the string lists and maps it takes in options. Values become Map<String, Any?>, List<Any?>, String, Long, Double, Boolean or null.
 * Document bodies are returned to the caller as text; this is not a general JSON API.
 */
internal class Json private constructor(private val s: String) {
    private var i = 0

    companion object {
        fun parse(text: String): Any? {
            val p = Json(text)
            val v = p.value()
            p.ws()
            if (p.i != text.length) throw IllegalArgumentException("trailing text at offset ${p.i}")
            return v
        }

        @Suppress("UNCHECKED_CAST")
        fun strings(text: String): List<String> = parse(text) as List<String>

        @Suppress("UNCHECKED_CAST")
        fun objects(text: String): List<Map<String, Any?>> = parse(text) as List<Map<String, Any?>>

        @Suppress("UNCHECKED_CAST")
        fun obj(text: String): Map<String, Any?> = parse(text) as Map<String, Any?>

        /** Encodes a string as a JSON string literal. */
        fun quote(v: String): String {
            val sb = StringBuilder("\"")
            for (c in v) {
                when {
                    c == '"' -> sb.append("\\\"")
                    c == '\\' -> sb.append("\\\\")
                    c < ' ' -> sb.append(String.format("\\u%04x", c.toInt()))
                    else -> sb.append(c)
                }
            }
            return sb.append('"').toString()
        }

        /** Encodes strings as a JSON array. */
        fun encodeArray(values: List<String>): String = values.joinToString(",", "[", "]") { quote(it) }

        /** Encodes a string map as a JSON object. */
        fun encodeObject(values: Map<String, String>): String =
            values.entries.joinToString(",", "{", "}") { quote(it.key) + ":" + quote(it.value) }
    }

    private fun ws() {
        while (i < s.length && s[i].isWhitespace()) i++
    }

    private fun value(): Any? {
        ws()
        if (i >= s.length) throw IllegalArgumentException("unexpected end of JSON")
        return when (s[i]) {
            '{' -> obj()
            '[' -> arr()
            '"' -> str()
            't' -> literal("true", true)
            'f' -> literal("false", false)
            'n' -> literal("null", null)
            else -> num()
        }
    }

    private fun literal(word: String, v: Any?): Any? {
        if (!s.startsWith(word, i)) throw IllegalArgumentException("bad literal at offset $i")
        i += word.length
        return v
    }

    private fun obj(): Map<String, Any?> {
        val m = LinkedHashMap<String, Any?>()
        i++
        ws()
        if (s[i] == '}') { i++; return m }
        while (true) {
            ws()
            val k = str()
            ws()
            expect(':')
            m[k] = value()
            ws()
            if (s[i] == ',') { i++; continue }
            expect('}')
            return m
        }
    }

    private fun arr(): List<Any?> {
        val l = ArrayList<Any?>()
        i++
        ws()
        if (s[i] == ']') { i++; return l }
        while (true) {
            l.add(value())
            ws()
            if (s[i] == ',') { i++; continue }
            expect(']')
            return l
        }
    }

    private fun expect(c: Char) {
        if (i >= s.length || s[i] != c) throw IllegalArgumentException("expected '$c' at offset $i")
        i++
    }

    private fun str(): String {
        expect('"')
        // Runs without escapes are copied whole (document bodies in bulk reads are long).
        var start = i
        while (i < s.length && s[i] != '"' && s[i] != '\\') i++
        if (i < s.length && s[i] == '"') return s.substring(start, i++)
        val sb = StringBuilder().append(s, start, i)
        while (true) {
            start = i
            while (i < s.length && s[i] != '"' && s[i] != '\\') i++
            sb.append(s, start, i)
            val c = s[i++]
            when (c) {
                '"' -> return sb.toString()
                '\\' -> {
                    val e = s[i++]
                    when (e) {
                        'n' -> sb.append('\n'); 't' -> sb.append('\t'); 'r' -> sb.append('\r')
                        'b' -> sb.append('\b'); 'f' -> sb.append('\u000c')
                        'u' -> { sb.append(s.substring(i, i + 4).toInt(16).toChar()); i += 4 }
                        else -> sb.append(e)
                    }
                }
                else -> sb.append(c)
            }
        }
    }

    private fun num(): Any {
        val start = i
        while (i < s.length && (s[i].isDigit() || s[i] in "+-.eE")) i++
        val t = s.substring(start, i)
        if (t.isEmpty()) throw IllegalArgumentException("unexpected character at offset $start")
        return t.toLongOrNull() ?: t.toDouble()
    }
}
