package hlv

import (
	"fmt"
	"sort"
	"strings"
)

// MaxEntries bounds the number of entries (versions and legacy revision IDs) a parsed
// vector may hold; a longer one is refused rather than allocated.
const MaxEntries = 4096

// Vector is a document's hybrid logical vector (HLV): its current version, the merge
// versions recorded when it resolved a conflict, and the previous versions of other
// sources it descends from. Legacy holds rev-tree revision IDs a peer sent after the
// previous versions (the rev-tree ancestry of a document upgraded from revision trees);
// they are kept and written back after the previous versions, never compared.
//
// The order of entries inside Merge and inside Previous carries no meaning (Sync Gateway
// writes them in random order); Equal compares them as sets.
type Vector struct {
	Current  Version
	Merge    []Version
	Previous []Version
	Legacy   []string
}

// IsZero reports whether v holds no version at all.
func (v Vector) IsZero() bool { return v.Current.IsZero() }

// Clone returns a copy sharing no slices with v.
func (v Vector) Clone() Vector {
	return Vector{
		Current:  v.Current,
		Merge:    append([]Version(nil), v.Merge...),
		Previous: append([]Version(nil), v.Previous...),
		Legacy:   append([]string(nil), v.Legacy...),
	}
}

// String returns the full-vector text form: "cv", "cv;pv1,pv2", "cv,mv1,mv2;pv1" or,
// with merge versions but nothing after them, "cv,mv1,mv2;" (the trailing ';' keeps the
// merge versions from being read as previous versions in a rev message's history).
// Legacy revision IDs follow the previous versions. Nothing is written for a zero Vector.
func (v Vector) String() string {
	if v.IsZero() {
		return ""
	}
	b := v.Current.append(make([]byte, 0, 40*(1+len(v.Merge)+len(v.Previous))))
	for _, m := range v.Merge {
		b = append(b, ',')
		b = m.append(b)
	}
	return string(v.appendTail(b, len(v.Merge) > 0 || len(v.Previous) > 0 || len(v.Legacy) > 0))
}

// appendTail writes ";" (when semi) and then the previous versions and legacy IDs.
func (v Vector) appendTail(b []byte, semi bool) []byte {
	if semi {
		b = append(b, ';')
	}
	for i, p := range v.Previous {
		if i > 0 {
			b = append(b, ',')
		}
		b = p.append(b)
	}
	for i, l := range v.Legacy {
		if i > 0 || len(v.Previous) > 0 {
			b = append(b, ',')
		}
		b = append(b, l...)
	}
	return b
}

// History returns the text of a rev message's "history" property: the vector without
// its current version, "mv1,mv2;pv1,pv2" when there are merge versions (with a trailing
// ';' if nothing follows them), else just "pv1,pv2" (legacy IDs after them). It is ""
// when the vector is only a current version (the property is then omitted).
func (v Vector) History() string {
	if len(v.Merge) == 0 {
		return string(v.appendTail(nil, false))
	}
	var b []byte
	for i, m := range v.Merge {
		if i > 0 {
			b = append(b, ',')
		}
		b = m.append(b)
	}
	return string(v.appendTail(b, true))
}

// ParseVector parses the full-vector text form (a proposeChanges row, a stored vector):
// left of the single optional ';' are the current version and then merge versions,
// right of it the previous versions, possibly followed (or interleaved) by legacy
// rev-tree IDs. Spaces after a separator are tolerated. Malformed input is an error
// wrapping ErrSyntax; nothing is ever dropped or reordered silently (see Vector).
func ParseVector(s string) (Vector, error) {
	left, right, semi := strings.Cut(s, ";")
	if semi && strings.Contains(right, ";") {
		return Vector{}, fmt.Errorf("%w: more than one ';' in %q", ErrSyntax, clip(s))
	}
	var v Vector
	n := 0
	for i, item := range strings.Split(left, ",") {
		ver, err := ParseVersion(item)
		if err != nil {
			if IsLegacyRevID(strings.TrimLeft(item, " ")) {
				return Vector{}, fmt.Errorf("%w: rev-tree ID %q before the ';' of %q (only previous versions may be rev-tree IDs)", ErrSyntax, clip(item), clip(s))
			}
			return Vector{}, err
		}
		if n++; n > MaxEntries {
			return Vector{}, fmt.Errorf("%w: more than %d entries", ErrSyntax, MaxEntries)
		}
		if i == 0 {
			v.Current = ver
		} else {
			v.Merge = append(v.Merge, ver)
		}
	}
	if semi && strings.TrimLeft(right, " ") != "" {
		for _, item := range strings.Split(right, ",") {
			if n++; n > MaxEntries {
				return Vector{}, fmt.Errorf("%w: more than %d entries", ErrSyntax, MaxEntries)
			}
			if t := strings.TrimLeft(item, " "); IsLegacyRevID(t) && !strings.Contains(t, "@") {
				v.Legacy = append(v.Legacy, t)
				continue
			}
			ver, err := ParseVersion(item)
			if err != nil {
				return Vector{}, err
			}
			v.Previous = append(v.Previous, ver)
		}
	}
	if err := v.Validate(); err != nil {
		return Vector{}, fmt.Errorf("%w (in %q)", err, clip(s))
	}
	return v, nil
}

// CurrentVersion returns the current version of a full vector string without parsing
// the rest, as Sync Gateway reads a proposeChanges row: the text before the first ';',
// then before the first ','.
func CurrentVersion(s string) (Version, error) {
	s, _, _ = strings.Cut(s, ";")
	s, _, _ = strings.Cut(s, ",")
	return ParseVersion(s)
}

// ParseRevHistory parses the "rev" and "history" properties of a rev message into a
// vector. As Sync Gateway reads them, a history containing ';' continues the current
// version with merge versions ("rev,history"); one without ';' holds only previous
// versions and legacy IDs ("rev;history").
func ParseRevHistory(rev, history string) (Vector, error) {
	switch {
	case history == "":
		return ParseVector(rev)
	case strings.Contains(history, ";"):
		return ParseVector(rev + "," + history)
	default:
		return ParseVector(rev + ";" + history)
	}
}

// Validate checks the rules every vector obeys: a non-zero current version, no source
// twice, except that the current version's source may also appear once among the merge
// versions with an older time (a merge made by the same source), and no duplicate legacy
// revision ID. Every entry must have a valid source and a non-zero time.
func (v Vector) Validate() error {
	if v.Current.Time == 0 {
		return fmt.Errorf("%w: no current version", ErrSyntax)
	}
	seen := make(map[string]struct{}, 1+len(v.Merge)+len(v.Previous))
	check := func(ver Version, where string) error {
		if ver.Time == 0 {
			return fmt.Errorf("%w: %s version with time zero", ErrSyntax, where)
		}
		if err := checkSource(ver.Source); err != nil {
			return err
		}
		if _, dup := seen[ver.Source]; dup {
			return fmt.Errorf("%w: source %s appears twice", ErrSyntax, ver.Source)
		}
		seen[ver.Source] = struct{}{}
		return nil
	}
	if err := check(v.Current, "current"); err != nil {
		return err
	}
	selfMerged := false
	for _, m := range v.Merge {
		if m.Source == v.Current.Source && !selfMerged {
			if m.Time >= v.Current.Time {
				return fmt.Errorf("%w: merge version %s is not older than the current version %s", ErrSyntax, m, v.Current)
			}
			if m.Time == 0 {
				return fmt.Errorf("%w: merge version with time zero", ErrSyntax)
			}
			selfMerged = true
			continue
		}
		if err := check(m, "merge"); err != nil {
			return err
		}
	}
	for _, p := range v.Previous {
		if err := check(p, "previous"); err != nil {
			return err
		}
	}
	legacy := make(map[string]struct{}, len(v.Legacy))
	for _, l := range v.Legacy {
		if !IsLegacyRevID(l) {
			return fmt.Errorf("%w: %q is not a rev-tree revision ID", ErrSyntax, clip(l))
		}
		if _, dup := legacy[l]; dup {
			return fmt.Errorf("%w: rev-tree ID %s appears twice", ErrSyntax, l)
		}
		legacy[l] = struct{}{}
	}
	return nil
}

// TimeOf returns the time the vector holds for source (the current version's if the
// source also appears as a merge version) and whether it holds one.
func (v Vector) TimeOf(source string) (uint64, bool) {
	if v.Current.Source == source {
		return v.Current.Time, true
	}
	for _, m := range v.Merge {
		if m.Source == source {
			return m.Time, true
		}
	}
	for _, p := range v.Previous {
		if p.Source == source {
			return p.Time, true
		}
	}
	return 0, false
}

// Contains reports whether the vector already includes ver: it holds ver's source at
// ver's time or later. A received version it contains is already known here.
func (v Vector) Contains(ver Version) bool {
	t, ok := v.TimeOf(ver.Source)
	return ok && t >= ver.Time
}

// Equal reports whether a and b are the same vector: same current version, same merge
// and previous versions as sets, same legacy IDs in order.
func (a Vector) Equal(b Vector) bool {
	if a.Current != b.Current || len(a.Merge) != len(b.Merge) || len(a.Previous) != len(b.Previous) || len(a.Legacy) != len(b.Legacy) {
		return false
	}
	return sameSet(a.Merge, b.Merge) && sameSet(a.Previous, b.Previous) && equalStrings(a.Legacy, b.Legacy)
}

func sameSet(a, b []Version) bool {
	m := make(map[Version]int, len(a))
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		if m[x] == 0 {
			return false
		}
		m[x]--
	}
	return true
}

func equalStrings(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sortDescending orders versions newest first, ties by source, so that derived vectors
// come out the same on every peer.
func sortDescending(vs []Version) {
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].Time != vs[j].Time {
			return vs[i].Time > vs[j].Time
		}
		return vs[i].Source < vs[j].Source
	})
}
