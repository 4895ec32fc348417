package syncproto

import (
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// Sync Gateway's proposeChanges rules under CBMobile_4 (CBMOBILE4-AND-BLOBS.md §A.6),
// one case per rule, with the recorded versions.
func TestDecideVersionProposal(t *testing.T) {
	const (
		sg    = "18ed7b68a08c0000@pqL3hlqMVKn2VRNcx3X6BA"
		sgOld = "18ed7b689fea0000@pqL3hlqMVKn2VRNcx3X6BA"
		a     = "18ed7b68ac720000@dnZwcm9iZS1zb3VyY2UtQQ"
		aOld  = "18ed7b68ac6e0000@dnZwcm9iZS1zb3VyY2UtQQ"
		b     = "18ed7b68ac6f0000@dnZwcm9iZS1zb3VyY2UtQg"
		rev1  = "1-abababababababababababababababababababab"
	)
	withVec := func(vec string) store.CurrentRevision {
		v, _, _ := cutVersion(vec)
		return store.CurrentRevision{RevID: "2-cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd", Version: v, Vector: vec}
	}
	tests := []struct {
		name             string
		proposed, parent string
		cur              store.CurrentRevision
		want             wire.ProposeAnswer
	}{
		{"1 unparsable proposal", "garbage", "", withVec(sg), wire.ProposeAnswer{Status: 500}},
		{"1 unparsable parent", a, "x@", withVec(sg), wire.ProposeAnswer{Status: 500}},
		{"2 absent", a, "", store.CurrentRevision{}, wire.ProposeAnswer{}},
		{"3 rev-tree parent is ours", a, rev1, store.CurrentRevision{RevID: rev1}, wire.ProposeAnswer{}},
		{"3 proposal is our revision's stand-in", "1ababababab@Revision+Tree+Encoding", rev1, store.CurrentRevision{RevID: rev1}, wire.ProposeAnswer{Status: 304}},
		{"4 ours has no version", a, "", store.CurrentRevision{RevID: rev1}, wire.ProposeAnswer{Status: 409, CurrentRev: rev1}},
		{"5 parent is our version", a, sg, withVec(sg), wire.ProposeAnswer{}},
		{"6 we hold the proposal", aOld, "", withVec(sg + ";" + a), wire.ProposeAnswer{Status: 304}},
		{"7 newer version of our current source", a, "", withVec(aOld), wire.ProposeAnswer{}},
		{"8 the proposal holds our version", a + ";" + sg, sgOld, withVec(sg), wire.ProposeAnswer{}},
		{"9 conflict", a, b, withVec(sg), wire.ProposeAnswer{Status: 409, CurrentRev: sg}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decideVersionProposal(wire.ProposedChange{DocID: "d", RevID: tt.proposed, ParentRevID: tt.parent}, tt.cur)
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func cutVersion(vec string) (string, string, bool) {
	for i := 0; i < len(vec); i++ {
		if vec[i] == ';' || vec[i] == ',' {
			return vec[:i], vec[i+1:], true
		}
	}
	return vec, "", false
}
