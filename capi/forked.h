/* forked.h — private to capi: the one text of P2P_ERR_FORKED. abi.c reports it in a
 * forked child without entering Go; errors.go gives the same text to the table row,
 * so Go and C describe the code alike. */
#ifndef P2PSYNC_FORKED_H
#define P2PSYNC_FORKED_H

#define P2P_FORKED_MESSAGE                                                                \
    "libp2psync cannot be used in a process created by fork() after the library was "    \
    "loaded: the Go runtime inside it does not survive a fork. Start worker processes "  \
    "with spawn/exec (posix_spawn; Python multiprocessing's \"spawn\" or \"forkserver\" " \
    "start method), or load the library in the child only after the fork"

#endif
