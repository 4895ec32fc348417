package replicator

import (
	"testing"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/logging"
)

// A peer that refuses the replicator's checkpoint (here: over its MaxCheckpointSize)
// costs no data: the replication completes. But its progress is not checkpointed, so the
// next run starts over: the replicator says so at Warning, in the Replicator domain.
// Before, this was logged at Debug only.
func TestRemoteCheckpointRefusedIsAWarning(t *testing.T) {
	logs := captureLog(t, logging.Warning, logging.Replicator)
	remote := openDB(t, "cpserver")
	l := startListener(t, remote, func(c *listener.Config) { c.Limits.MaxCheckpointSize = 8 })
	local := openDB(t, "cpclient")
	saveDoc(t, local, "doc1", `{"n":1}`)
	res := replicateDirect(t, l, Config{Database: local, Type: Push, Logger: logging.Logger(logging.Replicator)})
	if res.status.Error != nil || !hasDoc(t, remote, "doc1") {
		t.Fatalf("push with the checkpoint refused: %+v", res.status)
	}
	logs.expect(t, logging.Warning, logging.Replicator, "remote checkpoint refused by the peer", "collection=_default._default", "status=HTTP/413")
}
