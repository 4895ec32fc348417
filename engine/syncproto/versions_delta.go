package syncproto

import (
	"context"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// Delta sync under CBMobile_4 (PROTOCOL §6, CBMOBILE4-AND-BLOBS.md §A.4, §A.5): a
// delta's base is named by the form the receiver used for it. A changes answer lists
// what the receiver has (its current version first, then its rev-tree ID; Couchbase Lite
// and Sync Gateway take the first entry as the delta base), and a proposal's parent is
// the version the sender recorded as the receiver's; the sender sends deltaSrc = that
// version when it still holds the body of that version (its current revision's, or its
// parent's: store.Collection.GetRevisionByVersion), else tries the next entry, else sends
// the whole body. The receiver applies a version-named delta to its body of that
// version, found the same way; without one it answers HTTP/422 and the sender resends
// the whole body (as under CBMobile_3). A rev-tree ID among the known revisions (a
// revision saved without a version) still names its base by rev-tree ID, on either
// subprotocol. A version is made once, by one save, so a base named by version can only
// be the body it was made with on both sides; the sender still checks that applying the
// delta rebuilds its body byte for byte before sending it.

// deltaSource returns the stored revision named name (a delta base): by version under
// CBMobile_4 when name has a version's shape, else by rev-tree ID. An error (store.
// ErrNotFound: body not kept, or unknown here) means no delta against it.
func (s *Session) deltaSource(ctx context.Context, coll *store.Collection, docID, name string) (*store.Document, error) {
	if s.v4 && wire.IsVersion(name) {
		return coll.GetRevisionByVersion(ctx, docID, name)
	}
	return coll.GetRevision(ctx, docID, name)
}
