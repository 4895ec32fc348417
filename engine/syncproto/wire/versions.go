package wire

import (
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
