package hlv

import "fmt"

// Order is how one vector relates to another.
type Order int

const (
	// Same: both have the same current version.
	Same Order = iota
	// Older: the other vector already contains this one's current version (this one is
	// known there; received, it needs no write).
	Older
	// Newer: this vector contains the other's current version (received, it is a
	// fast-forward of the other).
	Newer
	// Conflicting: neither contains the other's current version.
	Conflicting
)

func (o Order) String() string {
	switch o {
	case Same:
		return "same"
	case Older:
		return "older"
	case Newer:
		return "newer"
	case Conflicting:
		return "conflicting"
	}
	return fmt.Sprintf("Order(%d)", int(o))
}

// compareVersion tells how v relates to a vector whose current version is ver.
func (v Vector) compareVersion(ver Version) Order {
	t, ok := v.TimeOf(ver.Source)
	switch {
	case !ok || t < ver.Time:
		return Older
	case t == ver.Time && v.Current == ver:
		return Same
	default:
		return Newer
	}
}

// Compare tells how a relates to b, the way Couchbase Lite compares vectors: only each
// side's current version is looked up in the other (a current version dominates its own
// history). Same if the current versions are equal; Newer if a holds b's current version
// (at that time or later) and b does not hold a's; Older the other way round; otherwise
// Conflicting. A document without a vector compares as its LegacyVersion.
func (a Vector) Compare(b Vector) Order {
	mine := a.compareVersion(b.Current)
	if mine == Same {
		return Same
	}
	theirs := b.compareVersion(a.Current)
	if mine == theirs {
		return Conflicting
	}
	return mine
}

// MergesSameVersions reports whether a and b both record a conflict resolution of the
// same conflict: both have merge versions and they are the same set. Sync Gateway takes
// such a pair as not in conflict (the conflict was already resolved elsewhere) and keeps
// the incoming vector.
func (a Vector) MergesSameVersions(b Vector) bool {
	return len(a.Merge) > 0 && len(a.Merge) == len(b.Merge) && sameSet(a.Merge, b.Merge)
}

// AddVersion returns the vector of a new local revision made on top of v by ver's
// source: ver becomes the current version, the old current and merge versions become
// previous versions, and any older entry of ver's source is dropped. ver must be newer
// than what v holds for its source. A zero v gives a vector of ver alone.
func (v Vector) AddVersion(ver Version) (Vector, error) {
	if err := checkSource(ver.Source); err != nil {
		return Vector{}, err
	}
	if ver.Time == 0 {
		return Vector{}, fmt.Errorf("%w: new version with time zero", ErrSyntax)
	}
	if v.IsZero() {
		return Vector{Current: ver}, nil
	}
	if t, ok := v.TimeOf(ver.Source); ok && t >= ver.Time {
		return Vector{}, fmt.Errorf("%w: new version %s is not newer than %x@%s already in the vector", ErrSyntax, ver, t, ver.Source)
	}
	out := Vector{Current: ver, Legacy: append([]string(nil), v.Legacy...)}
	out.Previous = make([]Version, 0, 1+len(v.Merge)+len(v.Previous))
	seen := map[string]bool{ver.Source: true}
	for _, group := range [][]Version{{v.Current}, v.Merge, v.Previous} {
		for _, e := range group {
			if !seen[e.Source] {
				seen[e.Source] = true
				out.Previous = append(out.Previous, e)
			}
		}
	}
	return out, nil
}

// Merge returns the vector of the revision that resolves the conflict between local and
// remote, written by ver's source: ver is the current version, the two conflicting
// current versions become the merge versions (newest first), and every other source of
// either vector is kept as a previous version at the later of its two times (newest
// first). The result is the same whichever side is local. ver must be newer than both
// current versions; the two current versions must have different sources.
func Merge(local, remote Vector, ver Version) (Vector, error) {
	a, b := local.Current, remote.Current
	if a.Source == b.Source {
		return Vector{}, fmt.Errorf("%w: merging two vectors whose current versions have the same source %s", ErrSyntax, a.Source)
	}
	if err := checkSource(ver.Source); err != nil {
		return Vector{}, err
	}
	if ver.Time <= a.Time || ver.Time <= b.Time {
		return Vector{}, fmt.Errorf("%w: merge version %s is not newer than both conflicting versions", ErrSyntax, ver)
	}
	out := Vector{Current: ver, Merge: []Version{a, b}}
	sortDescending(out.Merge)
	best := map[string]uint64{}
	var order []string
	for _, vec := range []Vector{local, remote} {
		for _, group := range [][]Version{{vec.Current}, vec.Merge, vec.Previous} {
			for _, e := range group {
				if e.Source == ver.Source || e.Source == a.Source || e.Source == b.Source {
					continue
				}
				if t, ok := best[e.Source]; !ok {
					order = append(order, e.Source)
					best[e.Source] = e.Time
				} else if e.Time > t {
					best[e.Source] = e.Time
				}
			}
		}
	}
	for _, s := range order {
		out.Previous = append(out.Previous, Version{Time: best[s], Source: s})
	}
	sortDescending(out.Previous)
	legacy := map[string]bool{}
	for _, l := range append(append([]string(nil), local.Legacy...), remote.Legacy...) {
		if !legacy[l] {
			legacy[l] = true
			out.Legacy = append(out.Legacy, l)
		}
	}
	if err := out.Validate(); err != nil {
		return Vector{}, err
	}
	return out, nil
}

// Prune returns v shortened the way Couchbase Lite prunes a vector: the current and
// merge versions are always kept; if the vector has more than maxCount versions, the
// oldest previous versions beyond maxCount are removed — only those older than before,
// when before is non-zero. Legacy revision IDs are cut to maxCount. Removing history can
// only make a later comparison report a conflict where there was none, never hide one.
func (v Vector) Prune(maxCount int, before uint64) Vector {
	out := v.Clone()
	if maxCount < 1 {
		maxCount = 1
	}
	if len(out.Legacy) > maxCount {
		out.Legacy = out.Legacy[:maxCount]
	}
	total := 1 + len(out.Merge) + len(out.Previous)
	if total <= maxCount {
		return out
	}
	keep := maxCount - 1 - len(out.Merge) // previous versions kept unconditionally
	if keep < 0 {
		keep = 0
	}
	sortDescending(out.Previous)
	kept := out.Previous[:keep]
	for _, p := range out.Previous[keep:] {
		if before != 0 && p.Time >= before {
			kept = append(kept, p)
		}
	}
	out.Previous = kept
	return out
}

// LocalWins applies Couchbase Lite 4's default conflict rule to two conflicting
// revisions: a deletion beats a live revision; otherwise the later current version (last
// writer by hybrid-logical-clock time) wins. Equal times (only possible from different
// sources) are broken by the larger source ID, so both peers pick the same winner.
func LocalWins(local Version, localDeleted bool, remote Version, remoteDeleted bool) bool {
	if localDeleted != remoteDeleted {
		return localDeleted
	}
	if local.Time != remote.Time {
		return local.Time > remote.Time
	}
	return local.Source > remote.Source
}
