package org.p2psync

/** Library-wide information. */
object P2PSync {
    /** P2P_ABI_VERSION this binding was written for. */
    const val ABI_VERSION = 2

    /** Version of the loaded libp2psync, e.g. "2.0.0". */
    @JvmStatic
    val libraryVersion: String
        get() = Native.text(Native.version())

    @JvmStatic
    val abiVersion: Int
        get() = Native.abiVersion()

    /** Number of live library objects; tests assert it is 0 when they end. */
    @JvmStatic
    fun liveHandles(): Long = Native.liveHandles()

    /** Name of a status code, e.g. "P2P_ERR_BUSY". */
    @JvmStatic
    fun statusString(status: Int): String = Native.text(Native.statusString(status))
}
