package org.p2psync

import java.lang.ref.Cleaner

/**
 * Base of every object that owns a library handle (a java.io.Closeable, hence
 * AutoCloseable, so Kotlin's `use` works with the plain stdlib). [close] is idempotent and throws
 * on failure (e.g. [BusyException] while children are open); the Cleaner is only the
 * safety net for objects nobody closed.
 */
abstract class NativeObject internal constructor(
    handle: Long,
    parent: NativeObject?,
    private val closer: (Long) -> Unit
) : java.io.Closeable {
    // The cleaner action must not reference this object, only the handle holder. It does
    // hold the parent, so a forgotten parent is cleaned only after its children.
    private class State(@Volatile var handle: Long, @Volatile var parent: NativeObject?, private val closer: (Long) -> Unit) : Runnable {
        override fun run() {
            val h = handle
            handle = 0L
            parent = null
            if (h != 0L) {
                try {
                    closer(h)
                } catch (e: RuntimeException) {
                    // a forgotten object: nobody is left to tell
                }
            }
        }
    }

    private val state = State(handle, parent, closer)
    private val cleanable = CLEANER.register(this, state)

    /** The raw handle; 0 once closed (the library then reports InvalidHandleException). */
    val handle: Long
        get() = state.handle

    val isClosed: Boolean
        get() = state.handle == 0L

    override fun close() = finish(closer, endsOnFailure = false)

    /**
     * Runs [action] on the handle and marks the object ended. With [endsOnFailure] the
     * object ends even if the action throws, and an ended object is an error (commit).
     */
    @Synchronized
    internal fun finish(action: (Long) -> Unit, endsOnFailure: Boolean) {
        val h = state.handle
        if (h == 0L) {
            if (endsOnFailure) throw InvalidHandleException(P2PSyncException.DOMAIN_LIBRARY, -2, "object has already ended")
            return
        }
        try {
            action(h)
        } catch (e: RuntimeException) {
            if (endsOnFailure) ended()
            throw e
        }
        ended()
    }

    private fun ended() {
        state.handle = 0L
        state.parent = null
        cleanable.clean() // runs State.run with 0: nothing left to do
    }

    internal companion object {
        val CLEANER: Cleaner = Cleaner.create()
    }
}
