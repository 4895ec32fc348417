package main

/*
#include <pthread.h>
#include <stdint.h>

static inline uintptr_t p2p_thread_self(void) { return (uintptr_t)pthread_self(); }
*/
import "C"

import (
	"context"

	"github.com/p2psync/libp2psync/engine/store"
)

// cThread names an application thread: the owner of the batches it begins (store.WithOwner).
type cThread uintptr

// callerContext is the context of a call from C: it names the calling thread (an exported
// function runs on the thread of its C caller), so that a thread holding an open batch
// gets P2P_ERR_BUSY from a write that would wait for that batch forever.
func callerContext() context.Context {
	return store.WithOwner(context.Background(), cThread(C.p2p_thread_self()))
}
