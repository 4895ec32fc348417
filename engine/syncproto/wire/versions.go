package wire

import (
	"strconv"
	"strings"

	"github.com/p2psync/libp2psync/engine/hlv"
)

// CBMobile_4 (version vectors): a revision is named by its current version
// ("<hex time>@<source>") instead of a rev-tree ID, and its history is the rest of its
// version vector (CBMOBILE4-AND-BLOBS.md §A). A revision without a version keeps its
// rev-tree form even on a CBMobile_4 connection; IsVersion tells the two apart by shape,
// as Sync Gateway does.

// IsVersion reports whether a revision string of a CBMobile_4 message names a version
// (anything that is not a rev-tree ID "<positive decimal>-…").
func IsVersion(rev string) bool { return rev != "" && !hlv.IsLegacyRevID(rev) }

// RevVector returns the version vector a CBMobile_4 rev message carries in its rev and
// history properties (hlv.ParseRevHistory: a history with ';' starts with merge
// versions, one without holds previous versions, then any rev-tree IDs). An error wraps
// ErrBadMessage and hlv.ErrSyntax.
func RevVector(r Rev) (hlv.Vector, error) {
	v, err := hlv.ParseRevHistory(r.RevID, strings.Join(r.History, ","))
	if err != nil {
		return hlv.Vector{}, badf("rev %q: %w", r.DocID, err)
	}
	return v, nil
}

// SetRevVector names r by v's current version and puts the rest of v in its history
// (hlv.Vector.History: "mv…;pv…", or "pv…" without merge versions; omitted when v is
// only a current version).
func SetRevVector(r *Rev, v hlv.Vector) {
	r.RevID = v.Current.String()
	r.History = nil
	if h := v.History(); h != "" {
		r.History = []string{h}
	}
}

// RevTreeProperty is the rev message property that carries, next to a version, the
// revision's own rev-tree ID and then its rev-tree ancestors, newest first
// (Rev.RevTree). It is the property Sync Gateway's replicator adds for another Sync
// Gateway, which also keeps a revision tree next to each version vector
// (CBMOBILE4-AND-BLOBS.md §A.1), with the same meaning: the receiver stores the
// revision under that rev-tree ID instead of one of its own making. Couchbase Lite
// reads only the properties it knows, so it ignores this one. It is not put at the end
// of "history" (Sync Gateway's form for a peer whose copy predates versions, §A.4):
// Couchbase Lite 4 reads rev-tree IDs there as the document's history from before it
// had versions, and judges a revision whose listed IDs it does not share a conflict.
const RevTreeProperty = "revTree"

// MaxRevTree bounds the entries of a received revTree property (as MaxHistory-like
// bounds elsewhere: the sender cuts its list to the peer's maxHistory).
const MaxRevTree = 1000

// CheckRevTree validates a received revTree list: rev-tree IDs, newest first, whose
// generations descend one by one. An error wraps ErrBadMessage.
func CheckRevTree(docID string, ids []string) error {
	if len(ids) > MaxRevTree {
		return badf("rev %q: %d revTree entries (at most %d)", docID, len(ids), MaxRevTree)
	}
	prev := 0
	for i, id := range ids {
		if !hlv.IsLegacyRevID(id) {
			return badf("rev %q: revTree entry %q is not a rev-tree ID", docID, id)
		}
		gen, _ := strconv.Atoi(id[:strings.IndexByte(id, '-')])
		if i > 0 && gen != prev-1 {
			return badf("rev %q: revTree entry %q: generation %d after %d (generations must descend one by one)", docID, id, gen, prev)
		}
		prev = gen
	}
	return nil
}
