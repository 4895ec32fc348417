package org.p2psync

import java.util.logging.Level
import java.util.logging.Logger

/** Severity of a library log record (the C API's P2P_LOG_* values). [NONE] turns a sink off. */
enum class LogLevel(val code: Int) {
    DEBUG(0), VERBOSE(1), INFO(2), WARNING(3), ERROR(4), NONE(5);

    companion object {
        fun of(code: Int): LogLevel = values().firstOrNull { it.code == code } ?: ERROR
    }
}

/** Domains of library log records (P2P_LOG_DOMAIN_* bits); combine them with `or`. */
object LogDomain {
    const val DATABASE = 1
    const val REPLICATOR = 2
    const val LISTENER = 4
    const val NETWORK = 8
    const val TLS = 16
    const val ALL = 31

    /** "database", "replicator", "listener", "network" or "tls" for one domain bit. */
    fun name(domain: Int): String = when (domain) {
        DATABASE -> "database"
        REPLICATOR -> "replicator"
        LISTENER -> "listener"
        NETWORK -> "network"
        TLS -> "tls"
        else -> "domain$domain"
    }
}

/**
 * Receives library log records: [domain] is one [LogDomain] bit, [message] one line of
 * text ("connection opened peer=127.0.0.1:50412 user=alice ..."). Called on library
 * threads, possibly several at once: it must be thread-safe and return quickly. An
 * exception it throws is printed and dropped.
 */
typealias LogListener = (level: LogLevel, domain: Int, message: String) -> Unit

/** The settings of one sink: its level and domain mask. */
data class LogSinkSettings(val level: LogLevel, val domains: Int)

/**
 * The library log (see "logging" in p2psync.h): the listener logs each connection and each
 * error a peer caused, the replicator its state changes, retries and conflicts.
 *
 * By default, records of [LogLevel.WARNING] and above of every domain go to
 * java.util.logging, logger "p2psync.<domain>" (levels: DEBUG -> FINER, VERBOSE -> FINE,
 * INFO -> INFO, WARNING -> WARNING, ERROR -> SEVERE). [setListener] replaces that with a
 * lambda (or [julListener] at another level); the library filters by level and domain
 * before anything is formatted. Independently, the library's console sink writes to
 * standard error: configured by P2PSYNC_LOG=level[,domain...] when the library loads, or
 * by [setConsole].
 */
object P2PLog {
    /** Routes records to java.util.logging ("p2psync.<domain>"). */
    @JvmStatic
    val julListener: LogListener = { level: LogLevel, domain: Int, message: String ->
        val logger = Logger.getLogger("p2psync." + LogDomain.name(domain))
        val jul = when (level) {
            LogLevel.DEBUG -> Level.FINER
            LogLevel.VERBOSE -> Level.FINE
            LogLevel.INFO -> Level.INFO
            LogLevel.WARNING -> Level.WARNING
            else -> Level.SEVERE
        }
        if (logger.isLoggable(jul)) logger.logp(jul, "libp2psync", LogDomain.name(domain), message)
    }

    internal fun installDefault() = setListener(LogLevel.WARNING, LogDomain.ALL, julListener)

    /**
     * Sends records of [level] and above in [domains] to [listener], replacing the previous
     * listener; null (or [LogLevel.NONE]) removes it. Returns once the previous listener is
     * no longer called. Must not be called from inside a listener ([BusyException]).
     */
    @JvmStatic
    @Synchronized
    fun setListener(level: LogLevel, domains: Int, listener: LogListener?) {
        if (listener == null || level == LogLevel.NONE || domains == 0) {
            Native.logSetCallback(LogLevel.NONE.code, 0, null)
            return
        }
        Native.logSetCallback(level.code, domains, object : LogSink {
            override fun onLog(level: Int, domain: Int, message: ByteArray) =
                listener(LogLevel.of(level), domain, String(message, Charsets.UTF_8))
        })
    }

    /** Sets the library's console sink (standard error); [LogLevel.NONE] turns it off. */
    @JvmStatic
    fun setConsole(level: LogLevel, domains: Int = LogDomain.ALL) = Native.logSetConsole(level.code, domains)

    /** The application listener's settings (level NONE when there is none). */
    @JvmStatic
    val listenerSettings: LogSinkSettings get() = settings("callback")

    /** The console's settings. */
    @JvmStatic
    val consoleSettings: LogSinkSettings get() = settings("console")

    @Suppress("UNCHECKED_CAST")
    private fun settings(which: String): LogSinkSettings {
        val m = Json.obj(Native.text(Native.logSettings()))[which] as Map<String, Any?>
        return LogSinkSettings(LogLevel.of((m["level"] as Number).toInt()), (m["domains"] as Number).toInt())
    }
}
